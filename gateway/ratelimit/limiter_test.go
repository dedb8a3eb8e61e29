package ratelimit_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/ratelimit"
	"github.com/archway-gateway/archway/internal/testkit"
)

// newLimiter returns a limiter over a memory store on clock c, with metrics in reg.
func newLimiter(t *testing.T, cfg config.RateLimit, c *testkit.Clock, reg prometheus.Registerer, opts ...ratelimit.Option) *ratelimit.Limiter {
	t.Helper()
	opts = append([]ratelimit.Option{
		ratelimit.WithStore(ratelimit.NewMemoryStore(cfg.MemoryMaxKeys, ratelimit.WithClock(c.Now))),
		ratelimit.WithRegisterer(reg),
	}, opts...)
	l, err := ratelimit.New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

var alice = client{ip: "192.0.2.10"}

func TestBurstThenLimited(t *testing.T) {
	t.Parallel()
	c := newClock()
	reg := prometheus.NewPedanticRegistry()
	l := newLimiter(t, rlConfig(map[string]config.RateLimitClass{"search": class(100, time.Minute, 3)}), c, reg)
	next := &okHandler{}
	h := l.Middleware(next)
	for i := range 3 {
		w := serve(h, newRequest("search", alice))
		if w.Code != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i+1, w.Code)
		}
		// 100 per minute: a request comes back every 600ms.
		wantHeaders(t, w.Header(), map[string]string{
			"RateLimit-Limit":     "3",
			"RateLimit-Remaining": []string{"2", "1", "0"}[i],
			"RateLimit-Reset":     []string{"1", "2", "2"}[i],
			"RateLimit-Policy":    "100;w=60;burst=3",
			"Retry-After":         "",
		})
	}
	w := serve(h, newRequest("search", alice))
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("request over the burst: status %d, want 429", w.Code)
	}
	wantHeaders(t, w.Header(), map[string]string{
		"RateLimit-Limit":     "3",
		"RateLimit-Remaining": "0",
		"RateLimit-Reset":     "2",
		"RateLimit-Policy":    "100;w=60;burst=3",
		"Retry-After":         "1",
		"Content-Type":        "application/json",
	})
	st := decodeStatus(t, w)
	if st.Code != 8 {
		t.Errorf("code %d, want 8 (RESOURCE_EXHAUSTED)", st.Code)
	}
	for _, want := range []string{`class "search"`, "100 requests per 1m0s, burst 3", "retry in 1 second"} {
		if !strings.Contains(st.Message, want) {
			t.Errorf("message %q does not say %q", st.Message, want)
		}
	}
	if len(st.Details) != 1 || st.Details[0].Type != "type.googleapis.com/google.rpc.RetryInfo" || st.Details[0].RetryDelay != "1s" {
		t.Errorf("details %+v, want one RetryInfo of 1s", st.Details)
	}
	if next.Calls() != 3 {
		t.Errorf("next called %d times, want 3", next.Calls())
	}
	wantDecisions(t, reg, "search", map[string]float64{"allowed": 3, "limited": 1})
}

func TestRetryAfterRoundsUp(t *testing.T) {
	t.Parallel()
	c := newClock()
	// One request per 10s: after the burst, the wait is 10s, then less as time passes.
	l := newLimiter(t, rlConfig(map[string]config.RateLimitClass{"slow": class(1, 10*time.Second, 1)}), c, nil)
	h := l.Middleware(&okHandler{})
	serve(h, newRequest("slow", alice))
	for _, tc := range []struct {
		advance time.Duration
		want    string
	}{
		{0, "10"},
		{100 * time.Millisecond, "10"},
		{900 * time.Millisecond, "9"},
		{8*time.Second + time.Millisecond, "1"},
	} {
		c.Advance(tc.advance)
		w := serve(h, newRequest("slow", alice))
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != tc.want {
			t.Errorf("after another %s: status %d, Retry-After %q; want 429, %q", tc.advance, w.Code, w.Header().Get("Retry-After"), tc.want)
		}
	}
}

func TestRefill(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := newLimiter(t, rlConfig(map[string]config.RateLimitClass{"default": class(10, time.Second, 2)}), c, nil)
	h := l.Middleware(&okHandler{})
	codes := func(n int) []int {
		var got []int
		for range n {
			got = append(got, serve(h, newRequest("default", alice)).Code)
		}
		return got
	}
	wantCodes(t, "full bucket", codes(3), 200, 200, 429)
	c.Advance(99 * time.Millisecond)
	wantCodes(t, "after 99ms", codes(1), 429)
	c.Advance(time.Millisecond)
	wantCodes(t, "after 100ms", codes(2), 200, 429)
	c.Advance(time.Second)
	wantCodes(t, "after idling", codes(3), 200, 200, 429)
}

func TestSeparateBuckets(t *testing.T) {
	t.Parallel()
	cfg := rlConfig(map[string]config.RateLimitClass{"a": class(1, time.Hour, 1), "b": class(1, time.Hour, 1)})
	bob := client{ip: "192.0.2.20"}
	for _, tc := range []struct {
		name          string
		first, second client
		firstClass    string
		secondClass   string
		wantSecond    int
	}{
		{"same client, same class", alice, alice, "a", "a", 429},
		{"other client", alice, bob, "a", "a", 200},
		{"other class", alice, alice, "a", "b", 200},
		{"other IPv4 port only", alice, client{ip: "192.0.2.10"}, "a", "a", 429},
		{"same IPv6 /64", client{ip: "2001:db8:1:2::10"}, client{ip: "2001:db8:1:2:ffff::1"}, "a", "a", 429},
		{"other IPv6 /64", client{ip: "2001:db8:1:2::10"}, client{ip: "2001:db8:1:3::10"}, "a", "a", 200},
		{"IPv4-mapped IPv6 is IPv4", alice, client{ip: "::ffff:192.0.2.10"}, "a", "a", 429},
		{"same subject, other IPs", client{ip: "192.0.2.1", id: &edge.Identity{Subject: "u1", Kind: "jwt"}},
			client{ip: "198.51.100.1", id: &edge.Identity{Subject: "u1", Kind: "jwt"}}, "a", "a", 429},
		{"other subjects, same IP", client{ip: "192.0.2.1", id: &edge.Identity{Subject: "u1", Kind: "jwt"}},
			client{ip: "192.0.2.1", id: &edge.Identity{Subject: "u2", Kind: "jwt"}}, "a", "a", 200},
		{"identity, then anonymous from its IP", client{ip: "192.0.2.1", id: &edge.Identity{Subject: "u1", Kind: "jwt"}},
			client{ip: "192.0.2.1"}, "a", "a", 200},
		{"same name, other kinds", client{ip: "192.0.2.1", id: &edge.Identity{Subject: "svc", Kind: "jwt"}},
			client{ip: "192.0.2.1", id: &edge.Identity{Subject: "svc", ClientID: "svc", Kind: "api_key"}}, "a", "a", 200},
		{"identity that looks like an address", client{ip: "192.0.2.1"},
			client{ip: "198.51.100.1", id: &edge.Identity{Subject: "192.0.2.1", Kind: "ip"}}, "a", "a", 200},
		{"identity without a kind", client{ip: "192.0.2.1", id: &edge.Identity{Subject: "u1"}},
			client{ip: "198.51.100.1", id: &edge.Identity{Subject: "u1"}}, "a", "a", 429},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLimiter(t, cfg, newClock(), nil)
			h := l.Middleware(&okHandler{})
			if w := serve(h, newRequest(tc.firstClass, tc.first)); w.Code != http.StatusOK {
				t.Fatalf("first request: status %d, want 200", w.Code)
			}
			if w := serve(h, newRequest(tc.secondClass, tc.second)); w.Code != tc.wantSecond {
				t.Errorf("second request: status %d, want %d", w.Code, tc.wantSecond)
			}
		})
	}
}

// countingStore counts its calls and allows everything.
type countingStore struct {
	mu    sync.Mutex
	calls int
}

func (s *countingStore) Allow(context.Context, string, ratelimit.Limit, int) (ratelimit.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return ratelimit.Result{Allowed: true}, nil
}

func TestNotLimited(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		class string
	}{
		{"no policy", "-"},
		{"no class", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := &countingStore{}
			l, err := ratelimit.New(rlConfig(map[string]config.RateLimitClass{"default": class(1, time.Hour, 1)}), ratelimit.WithStore(store))
			if err != nil {
				t.Fatal(err)
			}
			next := &okHandler{}
			h := l.Middleware(next)
			for range 5 {
				w := serve(h, newRequest(tc.class, alice))
				if w.Code != http.StatusOK {
					t.Fatalf("status %d, want 200", w.Code)
				}
				for _, name := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"} {
					if v := w.Header().Get(name); v != "" {
						t.Errorf("%s: %q on a request that is not limited", name, v)
					}
				}
			}
			if next.Calls() != 5 || store.calls != 0 {
				t.Errorf("next called %d times, store %d times; want 5 and 0", next.Calls(), store.calls)
			}
		})
	}
}

func TestUnknownClass(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	l := newLimiter(t, rlConfig(map[string]config.RateLimitClass{"default": class(1, time.Second, 1)}), newClock(), nil,
		ratelimit.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	next := &okHandler{}
	w := serve(l.Middleware(next), newRequest("missing", alice))
	if w.Code != http.StatusInternalServerError || next.Calls() != 0 {
		t.Errorf("status %d, next called %d times; want 500 and 0", w.Code, next.Calls())
	}
	if st := decodeStatus(t, w); strings.Contains(st.Message, "missing") {
		t.Errorf("message %q leaks the configuration", st.Message)
	}
	if !strings.Contains(logs.String(), "class=missing") {
		t.Errorf("log %q does not name the class", logs.String())
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  func(c *config.RateLimit)
		opts []ratelimit.Option
		want string // "" for success
	}{
		{"defaults", func(*config.RateLimit) {}, nil, ""},
		{"redis without a store", func(c *config.RateLimit) { c.Store = "redis" }, nil, `store "redis" needs a Redis store`},
		{"redis with a store", func(c *config.RateLimit) { c.Store = "redis" }, []ratelimit.Option{ratelimit.WithStore(&countingStore{})}, ""},
		{"zero burst", func(c *config.RateLimit) { c.Classes = map[string]config.RateLimitClass{"x": class(1, time.Second, 0)} }, nil, `class "x": burst must be positive`},
		{"fractional per", func(c *config.RateLimit) {
			c.Classes = map[string]config.RateLimitClass{"x": class(1, 1500*time.Millisecond, 1)}
		}, nil, `class "x": per must be a whole number of seconds`},
		{"metrics registered twice", func(*config.RateLimit) {}, func() []ratelimit.Option {
			reg := prometheus.NewRegistry()
			if _, err := ratelimit.New(config.Default().RateLimit, ratelimit.WithRegisterer(reg)); err != nil {
				t.Fatal(err)
			}
			return []ratelimit.Option{ratelimit.WithRegisterer(reg)}
		}(), "registering metrics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default().RateLimit
			tc.cfg(&cfg)
			_, err := ratelimit.New(cfg, tc.opts...)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDefaultClass(t *testing.T) {
	t.Parallel()
	l, err := ratelimit.New(config.Default().RateLimit)
	if err != nil {
		t.Fatal(err)
	}
	w := serve(l.Middleware(&okHandler{}), newRequest("default", alice))
	wantHeaders(t, w.Header(), map[string]string{
		"RateLimit-Limit":     "200",
		"RateLimit-Remaining": "199",
		"RateLimit-Reset":     "1",
		"RateLimit-Policy":    "100;w=1;burst=200",
	})
}

func wantHeaders(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if got := h.Get(name); got != v {
			t.Errorf("%s: %q, want %q", name, got, v)
		}
	}
}

func wantCodes(t *testing.T, when string, got []int, want ...int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d answers, want %d", when, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: statuses %v, want %v", when, got, want)
			return
		}
	}
}

// wantDecisions checks archway_ratelimit_decisions_total of class; decisions left out of want
// must be 0.
func wantDecisions(t *testing.T, reg *prometheus.Registry, class string, want map[string]float64) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# HELP archway_ratelimit_decisions_total Rate-limit decisions, by class and decision: allowed, limited, failed_open (store error, let through) or failed_closed (store error, refused).\n")
	b.WriteString("# TYPE archway_ratelimit_decisions_total counter\n")
	for _, d := range []string{"allowed", "failed_closed", "failed_open", "limited"} {
		b.WriteString("archway_ratelimit_decisions_total{class=\"" + class + "\",decision=\"" + d + "\"} ")
		b.WriteString(strconv.FormatFloat(want[d], 'g', -1, 64) + "\n")
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(b.String()), "archway_ratelimit_decisions_total"); err != nil {
		t.Error(err)
	}
}
