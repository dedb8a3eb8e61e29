package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAdminPprofOnlyWhenAsked checks that the admin listener serves the Go runtime's profiles
// only with admin.pprof on, and its other endpoints either way.
func TestAdminPprofOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	const backends = `
backends:
  - name: users
    address: 127.0.0.1:1
    services: [storefront.users.v1.UserService]
`
	paths := []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/symbol", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap"}
	for _, tc := range []struct {
		name string
		yaml string
		want int
	}{
		{"default", "", http.StatusNotFound},
		{"off", "admin: {pprof: false}\n", http.StatusNotFound},
		{"on", "admin: {pprof: true}\n", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			admin := newGateway(t, tc.yaml+backends).AdminHandler()
			get := func(path string) int {
				rec := httptest.NewRecorder()
				admin.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
				return rec.Code
			}
			for _, p := range paths {
				if got := get(p); got != tc.want {
					t.Errorf("GET %s = %d, want %d", p, got, tc.want)
				}
			}
			for _, p := range []string{"/healthz", "/statusz", "/metrics"} {
				if got := get(p); got != http.StatusOK {
					t.Errorf("GET %s = %d, want 200", p, got)
				}
			}
		})
	}
}
