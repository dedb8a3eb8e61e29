package edge_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/archway-gateway/archway/gateway/edge"
)

// TestChainOrder checks the positions of the links that Options configure: the client IP is
// resolved before the Before links run, in order and inside recover, and CORS answers
// preflights before the body limit and the handler.
func TestChainOrder(t *testing.T) {
	t.Parallel()
	var seen []string
	link := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = append(seen, name+" "+edge.StateFrom(r.Context()).ClientIP().String())
				if r.Header.Get("X-Panic") != "" {
					panic("in a Before link")
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	logs, logger := newLogCapture()
	h := edge.Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, "handler "+r.Header.Get("X-Http-Method-Override"))
		w.WriteHeader(http.StatusMethodNotAllowed)
	}), edge.Options{
		Logger:         logger,
		AccessLog:      true,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		CORS:           corsConfig("https://shop.example.com"),
		Before:         []func(http.Handler) http.Handler{link("first"), link("second")},
		MaxBodyBytes:   1,
	})
	for _, tc := range []struct {
		name    string
		method  string
		headers map[string]string
		body    string
		status  int
		seen    []string
	}{
		{"actual request", http.MethodPost, map[string]string{"X-Http-Method-Override": "DELETE"}, "", http.StatusMethodNotAllowed,
			[]string{"first 198.51.100.7", "second 198.51.100.7", "handler "}},
		{"body over the limit", http.MethodPost, nil, "too large", http.StatusRequestEntityTooLarge,
			[]string{"first 198.51.100.7", "second 198.51.100.7"}},
		{"preflight before the body limit", http.MethodOptions, map[string]string{"Origin": "https://shop.example.com", "Access-Control-Request-Method": "GET"}, "too large", http.StatusNoContent,
			[]string{"first 198.51.100.7", "second 198.51.100.7"}},
		{"panic in a Before link", http.MethodGet, map[string]string{"X-Panic": "1"}, "", http.StatusInternalServerError,
			[]string{"first 198.51.100.7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			req := httptest.NewRequest(tc.method, "/v1/users", strings.NewReader(tc.body))
			req.RemoteAddr = "10.0.0.1:5000"
			req.Header.Set("X-Forwarded-For", "198.51.100.7")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status || !slices.Equal(seen, tc.seen) {
				t.Errorf("status %d, links %q; want %d, %q", rec.Code, seen, tc.status, tc.seen)
			}
		})
	}
	if got := len(accessRecords(t, logs)); got != 4 {
		t.Errorf("%d access log records, want 4", got)
	}
}

func TestChainWithoutOptions(t *testing.T) {
	t.Parallel()
	h := edge.Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := edge.StateFrom(r.Context()).ClientIP(); got != netip.MustParseAddr("10.0.0.1") {
			t.Errorf("client IP = %v, want the peer", got)
		}
		w.WriteHeader(http.StatusMethodNotAllowed)
	}), edge.Options{Logger: slog.New(slog.DiscardHandler)})
	req := httptest.NewRequest(http.MethodOptions, "/v1/users", nil)
	req.RemoteAddr = "10.0.0.1:5000"
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	req.Header.Set("Origin", "https://shop.example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("status %d, Access-Control-Allow-Origin %q; want the handler's 405 without CORS headers", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
}

func TestIsWebSocketUpgrade(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		connection, upgrade []string
		want                bool
	}{
		{[]string{"Upgrade"}, []string{"websocket"}, true},
		{[]string{"keep-alive, UPGRADE"}, []string{"WebSocket"}, true},
		{[]string{"keep-alive", "upgrade"}, []string{"h2c, websocket"}, true},
		{[]string{"keep-alive"}, []string{"websocket"}, false},
		{[]string{"upgrade"}, []string{"h2c"}, false},
		{nil, nil, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/v1/orders:chat", nil)
		r.Header["Connection"] = tc.connection
		r.Header["Upgrade"] = tc.upgrade
		if got := edge.IsWebSocketUpgrade(r); got != tc.want {
			t.Errorf("Connection %q, Upgrade %q: IsWebSocketUpgrade = %v, want %v", tc.connection, tc.upgrade, got, tc.want)
		}
	}
}
