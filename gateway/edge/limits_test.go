package edge_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/edge"
)

// statusOf decodes a google.rpc.Status body.
func statusOf(t *testing.T, rec *httptest.ResponseRecorder) (code int, message string) {
	t.Helper()
	var s struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatalf("body is not a google.rpc.Status: %v: %s", err, rec.Body)
	}
	return s.Code, s.Message
}

func TestParseGRPCTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1n", time.Nanosecond, true},
		{"250m", 250 * time.Millisecond, true},
		{"10S", 10 * time.Second, true},
		{"2M", 2 * time.Minute, true},
		{"2562047H", 2562047 * time.Hour, true},
		{"99999999M", 99999999 * time.Minute, true},
		{"2562048H", 0, false},
		{"99999999H", 0, false},
		{"00000001u", time.Microsecond, true},
		{"", 0, false},
		{"S", 0, false},
		{"10", 0, false},
		{"0S", 0, false},
		{"00000000H", 0, false},
		{"123456789S", 0, false},
		{"-1S", 0, false},
		{"+1S", 0, false},
		{"1.5S", 0, false},
		{" 1S", 0, false},
		{"1s", 0, false},
		{"1h", 0, false},
		{"1\xffS", 0, false},
		{"99999999999999999999H", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := edge.ParseGRPCTimeout(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ParseGRPCTimeout(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestFormatGRPCTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{time.Nanosecond, "1n"},
		{99999999 * time.Nanosecond, "99999999n"},
		{time.Minute, "60000000u"},
		{time.Hour, "3600000m"},
		{30 * 24 * time.Hour, "2592000S"},
		{1<<63 - 1, "2562047H"},
	} {
		if got := edge.FormatGRPCTimeout(tc.in); got != tc.want {
			t.Errorf("FormatGRPCTimeout(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if d, err := edge.ParseGRPCTimeout(edge.FormatGRPCTimeout(tc.in)); err != nil || d > tc.in {
			t.Errorf("ParseGRPCTimeout(FormatGRPCTimeout(%v)) = %v, %v", tc.in, d, err)
		}
	}
}

// FuzzParseGRPCTimeout: a value that parses is positive, and formatting it gives a value that
// parses back to at most the same duration.
func FuzzParseGRPCTimeout(f *testing.F) {
	for _, seed := range []string{"1n", "10S", "99999999H", "0S", "1x", "123456789S", "", "-5m"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := edge.ParseGRPCTimeout(v)
		if err != nil {
			return
		}
		if d <= 0 {
			t.Fatalf("ParseGRPCTimeout(%q) = %v, want positive", v, d)
		}
		back, err := edge.ParseGRPCTimeout(edge.FormatGRPCTimeout(d))
		if err != nil || back > d {
			t.Fatalf("round trip of %q (%v): %v, %v", v, d, back, err)
		}
	})
}

func TestLimitGRPCTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		values  []string
		status  int
		reached string // the Grpc-Timeout header the next handler sees
	}{
		{"absent", nil, http.StatusOK, ""},
		{"under the cap", []string{"5S"}, http.StatusOK, "5S"},
		{"at the cap", []string{"1M"}, http.StatusOK, "1M"},
		{"over the cap is lowered", []string{"2M"}, http.StatusOK, "60000000u"},
		{"longest value is lowered", []string{"2562047H"}, http.StatusOK, "60000000u"},
		{"overflowing", []string{"99999999H"}, http.StatusBadRequest, ""},
		{"too many digits", []string{"99999999999999999999S"}, http.StatusBadRequest, ""},
		{"malformed", []string{"soon"}, http.StatusBadRequest, ""},
		{"zero", []string{"0m"}, http.StatusBadRequest, ""},
		{"negative", []string{"-1S"}, http.StatusBadRequest, ""},
		{"repeated", []string{"1S", "2S"}, http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reached, called := "", false
			h := edge.LimitGRPCTimeout(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				called, reached = true, r.Header.Get(edge.HeaderGRPCTimeout)
			}), time.Minute)
			req := httptest.NewRequest(http.MethodGet, "/v1/users/ada", nil)
			for _, v := range tc.values {
				req.Header.Add(edge.HeaderGRPCTimeout, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status != http.StatusOK {
				if called {
					t.Error("the next handler ran for a rejected request")
				}
				code, msg := statusOf(t, rec)
				if code != 3 || !strings.Contains(msg, "Grpc-Timeout") {
					t.Errorf("status %d %q, want INVALID_ARGUMENT naming Grpc-Timeout", code, msg)
				}
				return
			}
			if reached != tc.reached {
				t.Errorf("next handler saw Grpc-Timeout %q, want %q", reached, tc.reached)
			}
		})
	}
}

func TestLimitJSONDepth(t *testing.T) {
	t.Parallel()
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		name string
		body string
		ok   bool
	}{
		{"flat", `{"a":1,"b":[1,2,3]}`, true},
		{"at the limit", deep(4), true},
		{"siblings do not add up", `[[[[]]],[[[]]],{"a":{"b":{"c":1}}}]`, true},
		{"over the limit", deep(5), false},
		{"objects over the limit", `{"a":{"a":{"a":{"a":{"a":1}}}}}`, false},
		{"brackets in strings do not count", `{"a":"[[[[[[[[{{{{{{","b":"\"[[[[[["}`, true},
		{"escaped backslash ends before the quote", `{"a":"\\","b":[[[[[]]]]]}`, false},
		{"thousand deep", deep(1000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var read []byte
			var readErr error
			h := edge.LimitJSONDepth(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				read, readErr = io.ReadAll(r.Body)
			}), 4)
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body)))
			var tooDeep *edge.JSONDepthError
			switch {
			case tc.ok && readErr != nil:
				t.Fatalf("read error %v", readErr)
			case tc.ok && string(read) != tc.body:
				t.Fatalf("read %q, want the body unchanged", read)
			case !tc.ok && !errors.As(readErr, &tooDeep):
				t.Fatalf("read error %v, want a *JSONDepthError", readErr)
			case !tc.ok && len(read) > len(tc.body)/2+8:
				t.Errorf("read %d bytes of %d before failing; want it to stop near the limit", len(read), len(tc.body))
			case !tc.ok && !strings.Contains(tooDeep.Error(), "limit of 4 levels"):
				t.Errorf("error %q does not state the limit", tooDeep)
			}
		})
	}
}

// FuzzJSONDepth compares the depth check with encoding/json on valid JSON: a document the
// check lets through nests at most the limit, and one it stops nests deeper.
func FuzzJSONDepth(f *testing.F) {
	for _, seed := range []string{`{}`, `[[[]]]`, `{"a":"[\"{"}`, `[{"a":[1,{"b":[]}]}]`, `"\\\\["`, `[[[[[[]]]]]]`} {
		f.Add(seed)
	}
	const limit = 3
	f.Fuzz(func(t *testing.T, body string) {
		var v any
		if json.Unmarshal([]byte(body), &v) != nil {
			return
		}
		h := edge.LimitJSONDepth(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(r.Body)
			if deeper := depth(v) > limit; deeper != (err != nil) {
				t.Fatalf("body %q nests %d deep; limit %d; read error %v", body, depth(v), limit, err)
			}
		}), limit)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)))
	})
}

// depth is the nesting of objects and arrays in a decoded JSON value.
func depth(v any) int {
	d := 0
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	case map[string]any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

func TestShedderAnswers503OverTheLimit(t *testing.T) {
	t.Parallel()
	const limit = 3
	reg := prometheus.NewPedanticRegistry()
	s, err := edge.NewShedder(limit, edge.WithShedderRegisterer(reg), edge.WithRetryAfter(1500*time.Millisecond), edge.WithExemptPaths("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edge.NewShedder(limit, edge.WithShedderRegisterer(reg)); err == nil {
		t.Error("a second shedder registered the same metrics")
	}
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(limit)
	h := s.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		select {
		case <-release:
		default:
			entered.Done()
			<-release
		}
	}))
	var served sync.WaitGroup
	for range limit {
		served.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil)) })
	}
	entered.Wait()
	if got := s.InFlight(); got != limit {
		t.Errorf("InFlight() = %d, want %d", got, limit)
	}
	live := httptest.NewRecorder()
	h.ServeHTTP(live, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if live.Code != http.StatusOK {
		t.Errorf("exempt /healthz at the limit: %d, want 200", live.Code)
	}
	for range 5 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "2" {
			t.Fatalf("over the limit: %d, Retry-After %q; want 503 and 2", rec.Code, rec.Header().Get("Retry-After"))
		}
		if code, _ := statusOf(t, rec); code != 14 {
			t.Errorf("code %d, want 14 (UNAVAILABLE)", code)
		}
	}
	close(release)
	served.Wait()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("after the others finished: %d, want 200", rec.Code)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP archway_edge_shed_requests_total Requests answered 503 because the gateway was serving listen.max_in_flight_requests requests already.
# TYPE archway_edge_shed_requests_total counter
archway_edge_shed_requests_total 5
# HELP archway_edge_in_flight_requests Requests the gateway is serving, counted against listen.max_in_flight_requests.
# TYPE archway_edge_in_flight_requests gauge
archway_edge_in_flight_requests 0
`)); err != nil {
		t.Error(err)
	}
}

// BenchmarkLimitJSONDepth reads a 1 MiB body of ordinary JSON through the depth check, and
// without it for comparison.
func BenchmarkLimitJSONDepth(b *testing.B) {
	var sb strings.Builder
	for sb.Len() < 1<<20 {
		sb.WriteString(`{"name":"users/ada","tags":["a","b\"]"],"address":{"city":"London","lines":[1,2,3]}},`)
	}
	body := "[" + strings.TrimSuffix(sb.String(), ",") + "]"
	buf := make([]byte, 32<<10)
	drain := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		for {
			if _, err := r.Body.Read(buf); err != nil {
				if !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
				return
			}
		}
	})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"unchecked", drain},
		{"checked", edge.LimitJSONDepth(drain, 100)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
				bc.h.ServeHTTP(nil, req)
			}
		})
	}
}

// TestWriteStatusWithInvalidUTF8 is the bug FuzzRequest found: a decoding error that quotes a
// client's invalid UTF-8 made the Status unmarshalable, and the client got an empty 400.
func TestWriteStatusWithInvalidUTF8(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	edge.WriteStatus(rec, 0, status.New(codes.InvalidArgument, "invalid JSON body: invalid value \x80"))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("status %d, want 400", rec.Code)
	}
	code, msg := statusOf(t, rec)
	if code != 3 || msg != "invalid JSON body: invalid value \uFFFD" {
		t.Errorf("code %d, message %q", code, msg)
	}
}

// TestBodyBudget checks that the bodies being served hold their size of the budget: a request
// whose declared body does not fit is refused before it is read, one of unknown size when its
// bytes stop fitting, and the budget is given back when the requests are served.
func TestBodyBudget(t *testing.T) {
	t.Parallel()
	budget := edge.NewBodyBudget(1000)
	hold := make(chan struct{})
	held := make(chan struct{})
	h := edge.Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			if edge.RefuseOverBudget(w, edge.StateFrom(r.Context())) {
				return
			}
			t.Errorf("read: %v", err)
		}
		if r.Header.Get("Hold") != "" {
			close(held)
			<-hold
		}
	}), edge.Options{MaxBodyBytes: 1000, BodyBudget: budget})
	serve := func(size int, declared bool, header string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", size)))
		if !declared {
			req.ContentLength = -1
		}
		if header != "" {
			req.Header.Set(header, "1")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if rec := serve(700, true, "Hold"); rec.Code != http.StatusOK {
			t.Errorf("the first request = %d", rec.Code)
		}
	}()
	<-held
	if got := budget.InUse(); got != 700 {
		t.Errorf("in use while the first request is served: %d, want 700", got)
	}
	for _, declared := range []bool{true, false} {
		rec := serve(400, declared, "")
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Errorf("declared %v, over the budget: %d, Retry-After %q; want 503 with Retry-After", declared, rec.Code, rec.Header().Get("Retry-After"))
		}
		if code, _ := statusOf(t, rec); codes.Code(code) != codes.Unavailable {
			t.Errorf("declared %v, over the budget: code %d, want UNAVAILABLE", declared, code)
		}
	}
	if rec := serve(300, false, ""); rec.Code != http.StatusOK {
		t.Errorf("a body that fits = %d", rec.Code)
	}
	close(hold)
	<-done
	if got := budget.InUse(); got != 0 {
		t.Errorf("in use once every request is served: %d, want 0", got)
	}
	if rec := serve(1000, true, ""); rec.Code != http.StatusOK {
		t.Errorf("a body of the whole budget, alone = %d", rec.Code)
	}
}
