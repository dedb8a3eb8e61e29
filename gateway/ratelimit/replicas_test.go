package ratelimit_test

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/ratelimit"
	"github.com/archway-gateway/archway/internal/testkit"
)

// replica returns a limiter as one gateway replica would have it: its own Redis client to
// addr, its own metrics and logger.
func replica(t *testing.T, addr string, cfg config.RateLimit, reg prometheus.Registerer, logs *testkit.LogBuffer) *ratelimit.Limiter {
	t.Helper()
	cfg.Store = "redis"
	rcfg := config.Default().Redis
	rcfg.Address = addr
	rcfg.PoolSize = 4
	client := redisClientWith(t, rcfg)
	opts := []ratelimit.Option{ratelimit.WithStore(ratelimit.NewRedisStore(client)), ratelimit.WithRegisterer(reg)}
	if logs != nil {
		opts = append(opts, ratelimit.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	}
	l, err := ratelimit.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestReplicasShareOneLimit(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	const burst = 300
	cfg := rlConfig(map[string]config.RateLimitClass{"shared": class(1, time.Hour, burst)})
	var handlers []http.Handler
	for range 3 {
		handlers = append(handlers, replica(t, srv.Addr(), cfg, nil, nil).Middleware(&okHandler{}))
	}
	var (
		admitted, limited atomic.Int64
		wg                sync.WaitGroup
	)
	// 1200 requests from one client, spread over three replicas and 24 goroutines.
	for g := range 24 {
		h := handlers[g%len(handlers)]
		wg.Go(func() {
			for range 50 {
				switch w := serve(h, newRequest("shared", alice)); w.Code {
				case http.StatusOK:
					admitted.Add(1)
				case http.StatusTooManyRequests:
					limited.Add(1)
				default:
					t.Errorf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got < burst*95/100 || got > burst*105/100 {
		t.Errorf("%d requests admitted across the replicas, want %d ± 5%%", got, burst)
	}
	if admitted.Load()+limited.Load() != 1200 {
		t.Errorf("%d admitted + %d limited, want 1200 in all", admitted.Load(), limited.Load())
	}
}

func TestRedisOutage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		onError  string
		decision string
		want     int // status during the outage
	}{
		{"fail_open", "failed_open", http.StatusOK},
		{"fail_closed", "failed_closed", http.StatusServiceUnavailable},
	} {
		t.Run(tc.onError, func(t *testing.T) {
			t.Parallel()
			srv := startRedis(t)
			cfg := rlConfig(map[string]config.RateLimitClass{"default": class(1, time.Hour, 2)})
			cfg.OnStoreError = tc.onError
			reg := prometheus.NewPedanticRegistry()
			logs := &testkit.LogBuffer{}
			next := &okHandler{}
			h := replica(t, srv.Addr(), cfg, reg, logs).Middleware(next)

			var got []int
			for range 3 {
				got = append(got, serve(h, newRequest("default", alice)).Code)
			}
			wantCodes(t, "Redis up", got, 200, 200, 429)

			srv.Stop()
			start := time.Now()
			const outage = 5
			for i := range outage {
				w := serve(h, newRequest("default", alice))
				if w.Code != tc.want {
					t.Fatalf("request %d with Redis down: status %d, want %d", i+1, w.Code, tc.want)
				}
				if v := w.Header().Get("RateLimit-Remaining"); v != "" {
					t.Errorf("RateLimit-Remaining %q without a store", v)
				}
				if tc.want == http.StatusServiceUnavailable {
					if st := decodeStatus(t, w); st.Code != 14 || w.Header().Get("Retry-After") != "1" {
						t.Errorf("code %d, Retry-After %q; want 14 (UNAVAILABLE), 1", st.Code, w.Header().Get("Retry-After"))
					}
				}
			}
			// Wide margin: the short timeouts apply, rather than go-redis's 5s defaults.
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("%d requests with Redis down took %s", outage, d)
			}
			if n := counterValue(t, reg, "archway_ratelimit_store_errors_total"); n != outage {
				t.Errorf("store errors counted %v, want %d", n, outage)
			}
			wantDecisions(t, reg, "default", map[string]float64{"allowed": 2, "limited": 1, tc.decision: outage})
			if n := strings.Count(logs.String(), "rate-limit store failed"); n != 1 {
				t.Errorf("store failure logged %d times, want once:\n%s", n, logs)
			}

			// Redis is back, empty: the first request the store answers starts a new bucket.
			srv.Restart()
			var remaining string
			for range 100 {
				w := serve(h, newRequest("default", alice))
				if remaining = w.Header().Get("RateLimit-Remaining"); remaining != "" {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if remaining != "1" {
				t.Fatalf("after the restart: RateLimit-Remaining %q, want 1 from a new bucket", remaining)
			}
			got = nil
			for range 2 {
				got = append(got, serve(h, newRequest("default", alice)).Code)
			}
			wantCodes(t, "Redis back", got, 200, 429)
			if n := strings.Count(logs.String(), "rate-limit store recovered"); n != 1 {
				t.Errorf("recovery logged %d times, want once:\n%s", n, logs)
			}
		})
	}
}

// counterValue returns the value of the registered counter without labels named name.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}
