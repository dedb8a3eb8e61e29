package edge_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/archway-gateway/archway/gateway/edge"
)

// deadlineRecorder is a ResponseRecorder that records the write deadlines set on it.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadlines []time.Time
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

// TestLimitWrites checks which write deadline each write of a response gets, on a fake clock:
// a response gets Response from its first write, capped by Exchange; a stream gets StreamIdle
// from every write and flush.
func TestLimitWrites(t *testing.T) {
	t.Parallel()
	lim := edge.WriteLimits{Response: time.Minute, StreamIdle: 10 * time.Second}
	step := 3 * time.Second
	for _, tc := range []struct {
		name   string
		lim    edge.WriteLimits
		stream bool
		proto  int
		// want are the deadlines set, as offsets from the request's arrival.
		want []time.Duration
	}{
		{name: "response over HTTP/2", lim: lim, proto: 2, want: []time.Duration{step + time.Minute}},
		{name: "response over HTTP/1.1, also set on arrival", lim: lim, proto: 1, want: []time.Duration{time.Minute, step + time.Minute}},
		{name: "response capped by exchange", lim: edge.WriteLimits{Response: time.Minute, Exchange: 30 * time.Second}, proto: 2,
			want: []time.Duration{30 * time.Second}},
		{name: "stream", lim: lim, stream: true, proto: 2,
			want: []time.Duration{step + 10*time.Second, 2*step + 10*time.Second, 3*step + 10*time.Second, 4*step + 10*time.Second}},
		{name: "stream outlives exchange", lim: edge.WriteLimits{StreamIdle: 10 * time.Second, Exchange: time.Second}, stream: true, proto: 2,
			want: []time.Duration{step + 10*time.Second, 2*step + 10*time.Second, 3*step + 10*time.Second, 4*step + 10*time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
				h := edge.Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tc.stream {
						edge.StateFrom(r.Context()).StreamResponse()
					}
					for range 2 {
						time.Sleep(step)
						_, _ = w.Write([]byte("message\n"))
						time.Sleep(step)
						_ = http.NewResponseController(w).Flush()
					}
				}), edge.Options{WriteLimits: tc.lim})
				r := httptest.NewRequest(http.MethodGet, "/v1/things", nil)
				r.ProtoMajor = tc.proto
				h.ServeHTTP(rec, r)
				var got []time.Duration
				for _, d := range rec.deadlines {
					got = append(got, d.Sub(start))
				}
				if len(got) != len(tc.want) {
					t.Fatalf("deadlines %v, want %v", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("deadlines %v, want %v", got, tc.want)
					}
				}
			})
		})
	}
}
