package config_test

import (
	"strings"
	"testing"
)

func TestDocsPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path    string
		enabled bool
		want    string // "" when valid
	}{
		{"/docs", true, ""},
		{"/api/docs", true, ""},
		{"/video", true, ""},
		{"docs", true, "docs.path: want an absolute URL path"},
		{"/docs/", true, "docs.path: want an absolute URL path"},
		{"/", true, "docs.path: want an absolute URL path"},
		{"", true, "docs.path: want an absolute URL path"},
		{"/docs?x=1", true, "docs.path: want an absolute URL path"},
		{"/a%20b", true, "docs.path: want an absolute URL path"},
		{"//docs", true, "docs.path: want an absolute URL path"},
		{"/openapi", true, `docs.path: "/openapi" is taken`},
		{"/healthz/ui", true, `docs.path: "/healthz/ui" is taken`},
		{"/v1/docs", true, `docs.path: "/v1/docs" is taken`},
		{"/v12", true, `docs.path: "/v12" is taken`},
		{"", false, ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			c.Docs.Enabled = tc.enabled
			c.Docs.Path = tc.path
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
