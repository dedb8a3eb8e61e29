package ratelimit_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/internal/redisclient"
	"github.com/archway-gateway/archway/gateway/policy"
	"github.com/archway-gateway/archway/gateway/ratelimit"
	"github.com/archway-gateway/archway/internal/redistest"
	"github.com/archway-gateway/archway/internal/testkit"
)

// newClock returns a hand-moved clock for the memory store.
func newClock() *testkit.Clock { return testkit.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) }

// client is who a test request comes from: an identity, or else an address.
type client struct {
	ip string
	id *edge.Identity
}

// newRequest returns a request that went through the chain as client and was routed to a
// method of class; with class "-" it carries no policy at all.
func newRequest(class string, c client) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/things", nil)
	if c.ip != "" {
		r.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr(c.ip), 40000).String()
	}
	r, st := edge.WithState(r, "req-1")
	if c.id != nil {
		st.SetIdentity(*c.id)
	}
	if class != "-" {
		r = r.WithContext(policy.NewContext(r.Context(), &policy.Policy{Method: "/test.v1.Svc/Get", RateLimitClass: class}))
	}
	return r
}

// okHandler answers 200 and counts its calls.
type okHandler struct {
	mu    sync.Mutex
	calls int
}

func (h *okHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	h.calls++
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (h *okHandler) Calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// rlConfig is a rate_limit section with the given classes.
func rlConfig(classes map[string]config.RateLimitClass) config.RateLimit {
	c := config.Default().RateLimit
	c.Classes = classes
	return c
}

func class(requests int, per time.Duration, burst int) config.RateLimitClass {
	return config.RateLimitClass{Requests: requests, Per: config.Duration(per), Burst: burst}
}

// statusBody is the google.rpc.Status JSON of an error response.
type statusBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type       string `json:"@type"`
		RetryDelay string `json:"retryDelay"`
	} `json:"details"`
}

func decodeStatus(t *testing.T, w *httptest.ResponseRecorder) statusBody {
	t.Helper()
	var st statusBody
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatalf("body %q is not a google.rpc.Status: %v", w.Body, err)
	}
	return st
}

// redisClient returns a go-redis client for addr with the gateway's default options, closed
// when the test ends.
func redisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	cfg := config.Default().Redis
	cfg.Address = addr
	return redisClientWith(t, cfg)
}

// redisClientWith returns a go-redis client for cfg, closed when the test ends.
func redisClientWith(t *testing.T, cfg config.Redis) *redis.Client {
	t.Helper()
	c := redis.NewClient(redisclient.Options(cfg))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startRedis starts a redis-server for the test.
func startRedis(t *testing.T) *redistest.Server {
	t.Helper()
	return redistest.Start(t)
}

// allow is Store.Allow with a background context, failing the test on an error.
func allow(t *testing.T, s ratelimit.Store, key string, l ratelimit.Limit, n int) ratelimit.Result {
	t.Helper()
	res, err := s.Allow(context.Background(), key, l, n)
	if err != nil {
		t.Fatalf("Allow(%q, %+v, %d): %v", key, l, n, err)
	}
	return res
}
