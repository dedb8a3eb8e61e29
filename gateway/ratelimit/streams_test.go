package ratelimit_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
	"github.com/archway-gateway/archway/gateway/ratelimit"
)

// watchMethod is a server-streaming method, so that a route of it is a stream.
var watchMethod = healthpb.File_grpc_health_v1_health_proto.Services().Get(0).Methods().ByName("Watch")

// streamRequest returns a request from c to a streaming route of class ("" for none).
func streamRequest(class string, c client) *http.Request {
	r := newRequest("-", c)
	return r.WithContext(policy.NewContext(r.Context(), &policy.Policy{
		Method: "/grpc.health.v1.Health/Watch", Descriptor: watchMethod, RateLimitClass: class,
	}))
}

// heldStreams holds the first hold requests it serves, open streams, until release is closed;
// it answers the others at once.
type heldStreams struct {
	hold    atomic.Int64
	started chan struct{}
	release chan struct{}
}

func (h *heldStreams) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if h.hold.Add(-1) >= 0 {
		h.started <- struct{}{}
		<-h.release
	}
	w.WriteHeader(http.StatusOK)
}

// Each client holds at most max_streams_per_client streams at once, whatever their routes'
// classes; one more is refused with 429, a Status naming the limit and Retry-After, and takes
// nothing from other clients or from the client's requests that are not streams.
func TestStreamsPerClient(t *testing.T) {
	t.Parallel()
	cfg := rlConfig(map[string]config.RateLimitClass{"watch": class(1000, time.Second, 1000)})
	cfg.MaxStreamsPerClient = 2
	l := newLimiter(t, cfg, newClock(), nil)
	held := &heldStreams{started: make(chan struct{}, 10), release: make(chan struct{})}
	held.hold.Store(2)
	h := l.Middleware(held)
	apiKey := client{ip: "192.0.2.10", id: &edge.Identity{Kind: "api_key", Subject: "team-a"}}
	sameAddress := client{ip: "192.0.2.10"}

	var wg sync.WaitGroup
	for _, class := range []string{"watch", ""} {
		wg.Go(func() {
			if w := serve(h, streamRequest(class, apiKey)); w.Code != http.StatusOK {
				t.Errorf("stream of class %q: %d, want 200", class, w.Code)
			}
		})
		<-held.started
	}

	for _, class := range []string{"watch", ""} {
		w := serve(h, streamRequest(class, apiKey))
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("third stream (class %q): %d, want 429", class, w.Code)
		}
		if got := w.Header().Get("Retry-After"); got != "5" {
			t.Errorf("Retry-After = %q, want 5", got)
		}
		st := decodeStatus(t, w)
		if st.Code != 8 || !strings.Contains(st.Message, "a client may hold 2 streams at once") {
			t.Errorf("Status = %d %q, want RESOURCE_EXHAUSTED (8) naming the limit of 2", st.Code, st.Message)
		}
		if len(st.Details) != 1 || st.Details[0].RetryDelay != "5s" {
			t.Errorf("details = %+v, want one RetryInfo of 5s", st.Details)
		}
	}

	// Another client, even from the same address, and the client's own unary calls pass.
	other := &okHandler{}
	if w := serve(l.Middleware(other), streamRequest("watch", sameAddress)); w.Code != http.StatusOK {
		t.Errorf("stream of another client: %d, want 200", w.Code)
	}
	if w := serve(l.Middleware(other), newRequest("watch", apiKey)); w.Code != http.StatusOK {
		t.Errorf("unary call of the client at its stream limit: %d, want 200", w.Code)
	}

	close(held.release)
	wg.Wait()
	if w := serve(l.Middleware(other), streamRequest("watch", apiKey)); w.Code != http.StatusOK {
		t.Errorf("stream once the others ended: %d, want 200", w.Code)
	}
}

// With the Redis store, replicas share each client's count of open streams.
func TestReplicasShareStreamCount(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	cfg := rlConfig(map[string]config.RateLimitClass{"watch": class(1000, time.Second, 1000)})
	cfg.MaxStreamsPerClient = 2
	held := &heldStreams{started: make(chan struct{}, 10), release: make(chan struct{})}
	held.hold.Store(2)
	a := replica(t, srv.Addr(), cfg, nil, nil).Middleware(held)
	b := replica(t, srv.Addr(), cfg, nil, nil).Middleware(held)

	var wg sync.WaitGroup
	for _, h := range []http.Handler{a, b} {
		wg.Go(func() {
			if w := serve(h, streamRequest("watch", alice)); w.Code != http.StatusOK {
				t.Errorf("stream: %d, want 200", w.Code)
			}
		})
		<-held.started
	}
	for i, h := range []http.Handler{a, b} {
		if w := serve(h, streamRequest("watch", alice)); w.Code != http.StatusTooManyRequests {
			t.Errorf("third stream, on replica %d: %d, want 429", i, w.Code)
		}
	}
	close(held.release)
	wg.Wait()
	if w := serve(a, streamRequest("watch", alice)); w.Code != http.StatusOK {
		t.Errorf("stream once the others ended: %d, want 200", w.Code)
	}
}

// A stream stays counted while its replica renews its lease, and stops counting within the
// lease once the replica can no longer renew it (here, its Redis client is closed).
func TestStreamLeaseEnds(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	const lease = 300 * time.Millisecond
	dying := redisClient(t, srv.Addr())
	other := ratelimit.NewRedisStore(redisClient(t, srv.Addr()), ratelimit.WithStreamLease(lease))
	done, ok, err := ratelimit.NewRedisStore(dying, ratelimit.WithStreamLease(lease)).OpenStream(t.Context(), "@streams:ip:192.0.2.10", 1)
	if err != nil || !ok {
		t.Fatalf("OpenStream: %v, %v; want ok", ok, err)
	}
	defer done()
	opensAnother := func() bool {
		d, ok, err := other.OpenStream(t.Context(), "@streams:ip:192.0.2.10", 1)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			d()
		}
		return ok
	}
	time.Sleep(3 * lease)
	if opensAnother() {
		t.Fatal("a renewed stream stopped counting")
	}
	_ = dying.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !opensAnother() {
		if time.Now().After(deadline) {
			t.Fatal("the stream of a replica that stopped renewing still counts after 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
