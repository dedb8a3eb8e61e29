package deploy_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: the log readers of the
// started binaries, or the gateway built from the manifests' configuration.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
