package edge_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
)

// corsConfig returns the default cors section with the given origins.
func corsConfig(origins ...string) config.CORS {
	c := config.Default().CORS
	c.AllowedOrigins = origins
	return c
}

// nextStatus is what the handler behind the CORS link answers.
const nextStatus = http.StatusAccepted

type corsRequest struct {
	method  string
	origin  string
	headers map[string]string
}

// serveCORS sends req through the CORS middleware of cfg, and reports the answer and whether
// the request reached the next handler.
func serveCORS(t testing.TB, cfg config.CORS, req corsRequest) (*httptest.ResponseRecorder, bool) {
	t.Helper()
	var reached bool
	h := edge.NewCORS(cfg).Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached = true
		w.Header().Set("X-Request-Id", "r-1")
		w.WriteHeader(nextStatus)
	}))
	r := httptest.NewRequest(req.method, "/v1/users/ada", nil)
	if req.origin != "" {
		r.Header.Set("Origin", req.origin)
	}
	for k, v := range req.headers {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec, reached
}

func preflight(origin, method, headers string) corsRequest {
	h := map[string]string{"Access-Control-Request-Method": method}
	if headers != "" {
		h["Access-Control-Request-Headers"] = headers
	}
	return corsRequest{method: http.MethodOptions, origin: origin, headers: h}
}

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	withCredentials := corsConfig("https://shop.example.com", "https://*.example.org", "http://localhost:3000")
	withCredentials.AllowCredentials = true
	withCredentials.MaxAge = config.Duration(90 * time.Second)
	anyOrigin := corsConfig("*")
	anyOrigin.MaxAge = 0
	for _, tc := range []struct {
		name    string
		cfg     config.CORS
		req     corsRequest
		allowed bool
		want    map[string]string // response headers; "" means absent
	}{
		{"allowed origin, method and headers", withCredentials, preflight("https://shop.example.com", "PUT", "Content-Type, X-Api-Key"), true, map[string]string{
			"Access-Control-Allow-Origin":      "https://shop.example.com",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "GET, HEAD, POST, PUT, PATCH, DELETE",
			"Access-Control-Allow-Headers":     "Authorization, Content-Type, X-Api-Key, X-Request-Id",
			"Access-Control-Max-Age":           "90",
		}},
		{"header names in any case", withCredentials, preflight("https://shop.example.com", "POST", "content-type,authorization , x-request-id"), true, nil},
		{"origin with a port", withCredentials, preflight("http://localhost:3000", "GET", ""), true, map[string]string{"Access-Control-Allow-Origin": "http://localhost:3000"}},
		{"wildcard subdomain", withCredentials, preflight("https://app.example.org", "GET", ""), true, map[string]string{"Access-Control-Allow-Origin": "https://app.example.org"}},
		{"wildcard nested subdomain", withCredentials, preflight("https://eu.app.example.org", "GET", ""), true, nil},
		{"wildcard does not cover the parent", withCredentials, preflight("https://example.org", "GET", ""), false, nil},
		{"wildcard does not cover another scheme", withCredentials, preflight("http://app.example.org", "GET", ""), false, nil},
		{"wildcard does not cover another port", withCredentials, preflight("https://app.example.org:8443", "GET", ""), false, nil},
		{"wildcard does not cover a longer domain", withCredentials, preflight("https://app.example.org.evil.test", "GET", ""), false, nil},
		{"wildcard does not cover a suffix match", withCredentials, preflight("https://evilexample.org", "GET", ""), false, nil},
		{"wildcard refuses odd characters", withCredentials, preflight("https://evil.test/.example.org", "GET", ""), false, nil},
		{"wildcard refuses empty labels", withCredentials, preflight("https://a..example.org", "GET", ""), false, nil},
		{"disallowed origin", withCredentials, preflight("https://evil.test", "GET", ""), false, nil},
		{"origin is matched exactly", withCredentials, preflight("https://shop.example.com.evil.test", "GET", ""), false, nil},
		{"disallowed method", withCredentials, preflight("https://shop.example.com", "TRACE", ""), false, nil},
		{"methods are case-sensitive", withCredentials, preflight("https://shop.example.com", "patch", ""), false, nil},
		{"disallowed header", withCredentials, preflight("https://shop.example.com", "GET", "Content-Type, X-Secret"), false, nil},
		{"every origin, without credentials", anyOrigin, preflight("https://anyone.test", "DELETE", "Authorization"), true, map[string]string{
			"Access-Control-Allow-Origin":      "*",
			"Access-Control-Allow-Credentials": "",
			"Access-Control-Max-Age":           "",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec, reached := serveCORS(t, tc.cfg, tc.req)
			if reached {
				t.Error("the preflight request reached the next handler")
			}
			if !strings.Contains(strings.Join(rec.Header().Values("Vary"), ","), "Origin") {
				t.Errorf("Vary = %q, want Origin in it", rec.Header().Values("Vary"))
			}
			if !tc.allowed {
				assertRefused(t, rec)
				return
			}
			if rec.Code != http.StatusNoContent {
				t.Errorf("status = %d, want 204", rec.Code)
			}
			if rec.Header().Get("Access-Control-Allow-Origin") == "" {
				t.Error("no Access-Control-Allow-Origin")
			}
			for k, v := range tc.want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// assertRefused checks the answer to a refused preflight: 403 PERMISSION_DENIED and no CORS
// headers.
func assertRefused(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusForbidden {
		t.Errorf("status = %d, want 403", rec.Code)
	}
	for k := range rec.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("refused preflight has %s: %q", k, rec.Header().Get(k))
		}
	}
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || codes.Code(st.Code) != codes.PermissionDenied || st.Message == "" {
		t.Errorf("body = %s (%v), want a PERMISSION_DENIED Status", rec.Body.String(), err)
	}
}

func TestCORSActualRequest(t *testing.T) {
	t.Parallel()
	withCredentials := corsConfig("https://shop.example.com", "https://*.example.org")
	withCredentials.AllowCredentials = true
	exposed := "X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, Retry-After, Archway-Partial, Location"
	for _, tc := range []struct {
		name string
		cfg  config.CORS
		req  corsRequest
		want map[string]string // response headers; "" means absent
	}{
		{"allowed origin", withCredentials, corsRequest{method: "GET", origin: "https://shop.example.com"}, map[string]string{
			"Access-Control-Allow-Origin":      "https://shop.example.com",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers":    exposed,
			"Vary":                             "Origin",
		}},
		{"wildcard subdomain", withCredentials, corsRequest{method: "POST", origin: "https://app.example.org"}, map[string]string{
			"Access-Control-Allow-Origin": "https://app.example.org",
		}},
		{"other origin gets no CORS headers", withCredentials, corsRequest{method: "GET", origin: "https://evil.test"}, map[string]string{
			"Access-Control-Allow-Origin":      "",
			"Access-Control-Allow-Credentials": "",
			"Access-Control-Expose-Headers":    "",
			"Vary":                             "Origin",
		}},
		{"no origin, no CORS headers", withCredentials, corsRequest{method: "GET"}, map[string]string{
			"Access-Control-Allow-Origin": "",
			"Vary":                        "",
		}},
		{"OPTIONS without a requested method is no preflight", withCredentials, corsRequest{method: "OPTIONS", origin: "https://shop.example.com"}, map[string]string{
			"Access-Control-Allow-Origin": "https://shop.example.com",
		}},
		{"every origin", corsConfig("*"), corsRequest{method: "GET", origin: "https://anyone.test"}, map[string]string{
			"Access-Control-Allow-Origin":      "*",
			"Access-Control-Allow-Credentials": "",
			"Access-Control-Expose-Headers":    exposed,
			"Vary":                             "",
		}},
		{"CORS off", corsConfig(), corsRequest{method: "GET", origin: "https://shop.example.com"}, map[string]string{
			"Access-Control-Allow-Origin":   "",
			"Access-Control-Expose-Headers": "",
			"Vary":                          "",
		}},
		{"CORS off: preflight is routed", corsConfig(), preflight("https://shop.example.com", "GET", ""), map[string]string{
			"Access-Control-Allow-Origin":  "",
			"Access-Control-Allow-Methods": "",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec, reached := serveCORS(t, tc.cfg, tc.req)
			if !reached || rec.Code != nextStatus {
				t.Errorf("reached next = %v, status %d; want the next handler's %d", reached, rec.Code, nextStatus)
			}
			for k, v := range tc.want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func BenchmarkCORS(b *testing.B) {
	cfg := corsConfig("https://shop.example.com", "https://*.example.org")
	cfg.AllowCredentials = true
	h := edge.NewCORS(cfg).Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	for _, bc := range []struct {
		name string
		req  corsRequest
	}{
		{"preflight", preflight("https://app.example.org", "POST", "Content-Type, Authorization")},
		{"actual", corsRequest{method: "GET", origin: "https://shop.example.com"}},
		{"no origin", corsRequest{method: "GET"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(bc.req.method, "/v1/users/ada", nil)
			if bc.req.origin != "" {
				r.Header.Set("Origin", bc.req.origin)
			}
			for k, v := range bc.req.headers {
				r.Header.Set(k, v)
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing but headers, for benchmarks.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
