package server_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBackendsImportNothingOfTheGateway keeps the backends, their tests and the identity package
// they verify the gateway's calls with free of the gateway library: a team's backend imports
// package identity alone.
func TestBackendsImportNothingOfTheGateway(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "-test", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const gateway = "github.com/archway-gateway/archway/gateway"
	sawIdentity := false
	for pkg := range strings.Lines(string(out)) {
		pkg = strings.TrimSpace(pkg)
		if pkg == gateway || strings.HasPrefix(pkg, gateway+"/") {
			t.Errorf("server/... depends on %s", pkg)
		}
		sawIdentity = sawIdentity || pkg == "github.com/archway-gateway/archway/identity"
	}
	if !sawIdentity {
		t.Error("server/... does not depend on package identity: the check looks at the wrong packages")
	}
}
