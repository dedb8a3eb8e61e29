package tlsconfig_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/archway-gateway/archway/gateway/tlsconfig"
)

func TestRedirectHandler(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		port   int
		method string
		target string
		host   string
		status int
		want   string
	}{
		{"default port left out", 443, "GET", "/v1/users/ada?view=full", "api.example.com", 308, "https://api.example.com/v1/users/ada?view=full"},
		{"port of the client dropped", 443, "GET", "/", "api.example.com:80", 308, "https://api.example.com/"},
		{"other port kept", 8443, "POST", "/v1/users", "localhost:8080", 308, "https://localhost:8443/v1/users"},
		{"IPv6 host", 8443, "GET", "/healthz", "[::1]:8080", 308, "https://[::1]:8443/healthz"},
		{"escaped path kept", 443, "GET", "/v1/users/a%2Fb", "example.com", 308, "https://example.com/v1/users/a%2Fb"},
		{"double slash stays a path", 443, "GET", "//evil.test/x", "example.com", 308, "https://example.com//evil.test/x"},
		{"host with userinfo", 443, "GET", "/", "evil.test@example.com", 400, ""},
		{"host with a path", 443, "GET", "/", "example.com/evil", 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader("body"))
			req.Host = tc.host
			rec := httptest.NewRecorder()
			tlsconfig.RedirectHandler(tc.port).ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if got := rec.Header().Get("Location"); got != tc.want {
				t.Errorf("Location %q, want %q", got, tc.want)
			}
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Message == "" {
				t.Errorf("body %q is not a google.rpc.Status: %v", rec.Body, err)
			}
			if rec.Code == http.StatusPermanentRedirect && !strings.Contains(st.Message, tc.want) {
				t.Errorf("message %q does not name the HTTPS URL", st.Message)
			}
		})
	}
}
