package edge_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/edge"
)

// TestHTTPStatusTable pins the gRPC code → HTTP status mapping that clients rely on.
func TestHTTPStatusTable(t *testing.T) {
	t.Parallel()
	want := map[codes.Code]int{
		codes.OK:                 200,
		codes.Canceled:           499,
		codes.Unknown:            500,
		codes.InvalidArgument:    400,
		codes.DeadlineExceeded:   504,
		codes.NotFound:           404,
		codes.AlreadyExists:      409,
		codes.PermissionDenied:   403,
		codes.ResourceExhausted:  429,
		codes.FailedPrecondition: 400,
		codes.Aborted:            409,
		codes.OutOfRange:         400,
		codes.Unimplemented:      501,
		codes.Internal:           500,
		codes.Unavailable:        503,
		codes.DataLoss:           500,
		codes.Unauthenticated:    401,
		codes.Code(99):           500,
	}
	for c, httpStatus := range want {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			if got := edge.HTTPStatus(c); got != httpStatus {
				t.Errorf("HTTPStatus(%v) = %d, want %d", c, got, httpStatus)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		sent  []string
		keeps bool
	}{
		{"well formed is kept", []string{"abc-123.x_y:z"}, true},
		{"none gets one", nil, false},
		{"too long is replaced", []string{strings.Repeat("a", 129)}, false},
		{"bad characters are replaced", []string{"a b<script>"}, false},
		{"the first of several is kept alone", []string{"first-1", "second-2"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var seen string
			var forwarded []string
			h := edge.RequestID(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				seen = edge.RequestIDFrom(r.Context())
				forwarded = r.Header.Values("X-Request-Id")
			}))
			req := httptest.NewRequest("GET", "/", nil)
			for _, id := range tc.sent {
				req.Header.Add("X-Request-Id", id)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-Id")
			if got == "" || got != seen {
				t.Fatalf("response id %q, context id %q", got, seen)
			}
			if len(forwarded) != 1 || forwarded[0] != got {
				t.Errorf("the request's X-Request-Id values are %q, want only %q", forwarded, got)
			}
			if (len(tc.sent) > 0 && got == tc.sent[0]) != tc.keeps {
				t.Errorf("id = %q, sent %q, keep = %v", got, tc.sent, tc.keeps)
			}
		})
	}
}

func TestRecoverWritesStatus(t *testing.T) {
	t.Parallel()
	h := edge.Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret internal detail")
	}), edge.Options{Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Request-Id", "r-1")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d", rec.Code)
	}
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if codes.Code(st.Code) != codes.Internal || !strings.Contains(st.Message, "r-1") || strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("body = %s", rec.Body.String())
	}
}

func TestAccessLogRecordsRouteAndStatus(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	h := edge.Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		edge.StateFrom(r.Context()).SetRoute("/v1/{name=users/*}")
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "hi")
	}), edge.Options{Logger: logger, AccessLog: true})
	req := httptest.NewRequest("GET", "/v1/users/ada", nil)
	req.Header.Set("X-Request-Id", "r-2")
	h.ServeHTTP(httptest.NewRecorder(), req)
	var rec map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &rec); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	for k, v := range map[string]any{"request_id": "r-2", "method": "GET", "route": "/v1/{name=users/*}", "status": float64(418), "bytes_out": float64(2)} {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v", k, rec[k], v)
		}
	}
}

func TestLimitBody(t *testing.T) {
	t.Parallel()
	h := edge.Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if err != nil && edge.StateFrom(r.Context()).BodyTooLarge() {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		}
	}), edge.Options{MaxBodyBytes: 10})
	for _, tc := range []struct {
		name          string
		body          string
		contentLength int64
		want          int
	}{
		{"under the limit", "0123456789", 10, 200},
		{"declared over the limit", "01234567890", 11, 413},
		{"undeclared over the limit", "01234567890", -1, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			req.ContentLength = tc.contentLength
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status = %d, want %d", rec.Code, tc.want)
			}
		})
	}
}

// TestPanicAfterStartAbortsResponse checks that a response cut short by a panic reaches the
// client as a broken response, not as a complete-looking 200, and is still access-logged.
func TestPanicAfterStartAbortsResponse(t *testing.T) {
	t.Parallel()
	var logged strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logged}, nil))
	h := edge.Chain(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"users":[`)
		http.NewResponseController(w).Flush() //nolint:errcheck // the test server supports flushing
		panic("half way")
	}), edge.Options{Logger: logger, AccessLog: true})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err == nil {
		t.Fatal("reading a response cut short by a panic succeeded")
	}
	srv.Close()
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), `"msg":"request"`) {
		t.Errorf("no access log record for the panicked request: %s", logged.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestStatusJSONIsCompact: an error body is the same bytes on every build, without the white
// space protojson varies, invalid UTF-8 in the message included.
func TestStatusJSONIsCompact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg, want string
	}{
		{"no user users/ada", `{"code":5,"message":"no user users/ada"}`},
		{"bad \xff byte", "{\"code\":5,\"message\":\"bad \ufffd byte\"}"},
	} {
		if got := string(edge.StatusJSON(status.New(codes.NotFound, tc.msg))); got != tc.want {
			t.Errorf("StatusJSON(%q) = %s, want %s", tc.msg, got, tc.want)
		}
	}
}
