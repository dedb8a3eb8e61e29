package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/archway-gateway/archway/gateway/config"
)

// TestREADMEStatesTheDemoKeyScopes reads the README's paragraph on the demo key: the scopes it
// names must be exactly those the demo's configuration gives the key.
func TestREADMEStatesTheDemoKeyScopes(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, para, ok := strings.Cut(string(readme), "`archway-demo-key`")
	if !ok {
		t.Fatal("the README does not name the demo key")
	}
	para, _, _ = strings.Cut(para, "\n\n")
	var stated []string
	for _, m := range regexp.MustCompile("`([a-z]+\\.[a-z]+)`").FindAllStringSubmatch(para, -1) {
		if !slices.Contains(stated, m[1]) {
			stated = append(stated, m[1])
		}
	}
	cfg, err := config.Parse([]byte(demoConfig(nil, "")), nil)
	if err != nil {
		t.Fatal(err)
	}
	var real []string
	for _, k := range cfg.Authn.APIKeys {
		if k.SHA256 == demoAPIKeyHash {
			real = slices.Clone(k.Scopes)
		}
	}
	slices.Sort(stated)
	slices.Sort(real)
	if len(real) == 0 || !slices.Equal(stated, real) {
		t.Errorf("the README states the demo key's scopes as %q; the demo gives it %q", stated, real)
	}
}
