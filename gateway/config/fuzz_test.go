package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/archway-gateway/archway/gateway/config"
)

// FuzzParse feeds untrusted bytes to Parse, which must never panic. What it
// accepts must be valid, and must survive a marshal and re-parse unchanged.
// The seeds run as an ordinary test.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("testdata", "archway.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		"",
		"~",
		"listen: {address: ':0'}",
		"api:\n  forward_headers: [x-tenant, X-Debug]\n  forward_response_headers: [X-A]\n",
		"backends:\n  - name: a\n    address: 'dns:///h:1'\n    services: [p.S]\n",
		"backends:\n  - &b {name: a, address: 'unix:s', services: [p.S]}\n  - *b\n",
		"backends: [{<<: {address: 'h:1'}, name: a, services: [p.S]}]",
		"shutdown: {drain_timeout: 1e3h}",
		"log: {level: [info]}",
		"a: &a [*a]",
		"---\n---\n",
		"\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data, nil)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a configuration that Validate rejects: %v", err)
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := config.Parse(out, nil)
		if err != nil {
			t.Fatalf("Parse of its own output failed: %v\n%s", err, out)
		}
		out2, err := yaml.Marshal(again)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("re-parse changed the configuration:\n%s\nbecame\n%s", out, out2)
		}
	})
}
