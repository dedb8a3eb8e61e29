package edge_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/internal/testkit"
)

// accessRecords returns the access log records written to logs so far.
func accessRecords(t *testing.T, logs *testkit.LogBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "request" {
			out = append(out, rec)
		}
	}
	return out
}

// newLogCapture returns a JSON logger and the buffer that collects its output.
func newLogCapture() (*testkit.LogBuffer, *slog.Logger) {
	logs := &testkit.LogBuffer{}
	return logs, slog.New(slog.NewJSONHandler(logs, nil))
}

func TestAccessLogFields(t *testing.T) {
	t.Parallel()
	logs, logger := newLogCapture()
	h := edge.Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := edge.StateFrom(r.Context())
		s.SetRoute("/v1/{name=users/*}")
		s.SetGRPCMethod("/storefront.users.v1.UserService/UpdateUser")
		s.SetGRPCCode(codes.NotFound)
		s.SetIdentity(edge.Identity{Subject: "user-42", ClientID: "shop", Kind: "jwt", Issuer: "https://login.example/"})
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Set-Cookie", "sid=cookie-secret-7")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "not here")
	}), edge.Options{
		Logger:         logger,
		AccessLog:      true,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	req := httptest.NewRequest(http.MethodPatch,
		"/v1/users/ada?api_key=q-secret-4&page_size=10&access_token=q-secret-5&Password=q-secret-6&key=q-secret-8&name=ada",
		strings.NewReader(`{"a":1}`))
	req.RemoteAddr = "10.0.0.1:5000"
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	req.Header.Set("X-Request-Id", "r-3")
	req.Header.Set("User-Agent", "curl/8.0")
	req.Header.Set("Authorization", "Bearer secret-token-1")
	req.Header.Set("Cookie", "session=cookie-secret-2")
	req.Header.Set("X-Api-Key", "key-secret-3")
	h.ServeHTTP(httptest.NewRecorder(), req)

	recs := accessRecords(t, logs)
	if len(recs) != 1 {
		t.Fatalf("%d access log records, want 1: %s", len(recs), logs.String())
	}
	rec := recs[0]
	for k, v := range map[string]any{
		"request_id":  "r-3",
		"method":      "PATCH",
		"path":        "/v1/users/ada",
		"query":       "api_key=REDACTED&page_size=10&access_token=REDACTED&Password=REDACTED&key=REDACTED&name=ada",
		"route":       "/v1/{name=users/*}",
		"grpc_method": "/storefront.users.v1.UserService/UpdateUser",
		"status":      float64(404),
		"grpc_code":   "NotFound",
		"bytes_in":    float64(7),
		"bytes_out":   float64(8),
		"client_ip":   "198.51.100.7",
		"remote":      "10.0.0.1:5000",
		"subject":     "user-42",
		"issuer":      "https://login.example/",
		"user_agent":  "curl/8.0",
	} {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v", k, rec[k], v)
		}
	}
	if d, ok := rec["duration"].(float64); !ok || d <= 0 {
		t.Errorf("duration = %v, want a positive number", rec["duration"])
	}
	if strings.Contains(logs.String(), "secret") {
		t.Errorf("a secret reached the log: %s", logs.String())
	}
}

func TestAccessLogGRPCCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		method string
		code   *codes.Code
		status int
		want   any // nil: no grpc_code field
	}{
		{"recorded code", "/a.B/C", new(codes.PermissionDenied), http.StatusForbidden, "PermissionDenied"},
		{"routed 2xx without a code is OK", "/a.B/C", nil, http.StatusCreated, "OK"},
		{"routed error without a code is not guessed", "/a.B/C", nil, http.StatusBadRequest, nil},
		{"unrouted 2xx has no code", "", nil, http.StatusOK, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs, logger := newLogCapture()
			h := edge.RequestID(edge.AccessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := edge.StateFrom(r.Context())
				s.SetGRPCMethod(tc.method)
				if tc.code != nil {
					s.SetGRPCCode(*tc.code)
				}
				w.WriteHeader(tc.status)
			}), logger, edge.EveryRequest))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			recs := accessRecords(t, logs)
			if len(recs) != 1 || recs[0]["grpc_code"] != tc.want {
				t.Errorf("logged %s, want grpc_code %v", logs.String(), tc.want)
			}
		})
	}
}

func TestAccessLogRedactsQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query, want string
	}{
		{"page_size=10&name=ada", "page_size=10&name=ada"},
		{"token=s1", "token=REDACTED"},
		{"API_KEY=s1&x=1", "API_KEY=REDACTED&x=1"},
		{"x=1&refresh_token=s1&y=2&client_secret=s2", "x=1&refresh_token=REDACTED&y=2&client_secret=REDACTED"},
		{"api%5Fkey=s1", "api%5Fkey=REDACTED"},
		{"password=s1&password=s2", "password=REDACTED&password=REDACTED"},
		{"token", "token"},
		{"token=", "token=REDACTED"},
		{"&&key=s1&", "&&key=REDACTED&"},
		{"x=a=b&passwd=s=1", "x=a=b&passwd=REDACTED"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			logs, logger := newLogCapture()
			h := edge.AccessLog(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), logger, edge.EveryRequest)
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/users?"+tc.query, nil))
			recs := accessRecords(t, logs)
			if len(recs) != 1 || recs[0]["query"] != tc.want {
				t.Errorf("logged %s, want query %q", logs.String(), tc.want)
			}
		})
	}
}

func TestAccessLogSampling(t *testing.T) {
	t.Parallel()
	const slow = 50 * time.Millisecond
	for _, tc := range []struct {
		name     string
		sampling *edge.Sampling
		status   int
		delay    time.Duration
		logged   bool
	}{
		{"every request by default", nil, http.StatusOK, 0, true},
		{"rate 1 keeps successes", &edge.Sampling{Rate: 1}, http.StatusOK, 0, true},
		{"rate 0 drops successes", &edge.Sampling{Rate: 0, SlowThreshold: time.Hour}, http.StatusOK, 0, false},
		{"rate 0 drops redirects", &edge.Sampling{Rate: 0}, http.StatusNotModified, 0, false},
		{"rate 0 keeps client errors", &edge.Sampling{Rate: 0}, http.StatusNotFound, 0, true},
		{"rate 0 keeps server errors", &edge.Sampling{Rate: 0}, http.StatusServiceUnavailable, 0, true},
		{"rate 0 keeps slow requests", &edge.Sampling{Rate: 0, SlowThreshold: time.Millisecond}, http.StatusOK, slow, true},
		{"no threshold: slow is not special", &edge.Sampling{Rate: 0}, http.StatusOK, slow, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs, logger := newLogCapture()
			h := edge.Chain(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				time.Sleep(tc.delay)
				w.WriteHeader(tc.status)
			}), edge.Options{Logger: logger, AccessLog: true, AccessLogSampling: tc.sampling})
			n := 20
			if tc.delay > 0 {
				n = 3
			}
			for range n {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			}
			want := 0
			if tc.logged {
				want = n
			}
			if got := len(accessRecords(t, logs)); got != want {
				t.Errorf("%d of %d requests logged, want %d", got, n, want)
			}
		})
	}
}
