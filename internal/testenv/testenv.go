// Package testenv finds the programs that tests start, such as redis-server and chromium. A
// missing program skips the test on a developer's machine and fails it where the environment
// says the program is required, as CI does, so that a test never passes by not running.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Program returns the path of the named program on PATH. When it is not installed, the test is
// skipped, or fails when the environment variable requireEnv is "1". Messages start with
// helper, the package that asks.
func Program(tb testing.TB, helper, name, requireEnv string) string {
	tb.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			tb.Fatalf("%s: %s is not installed, and %s=1 requires it: %v", helper, name, requireEnv, err)
		}
		tb.Skipf("%s: %s is not installed (%v); set %s=1 to fail instead", helper, name, err, requireEnv)
	}
	return bin
}
