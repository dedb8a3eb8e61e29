package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/ratelimit"
)

// storeCase checks one behaviour every Store must have. advance moves the store's time
// forward: the memory store's clock, or real time for Redis.
type storeCase struct {
	name string
	run  func(t *testing.T, s ratelimit.Store, key string, advance func(time.Duration))
}

// slow refills one request per second, so no refill happens while a case runs.
var slow = ratelimit.Limit{Requests: 1, Per: time.Second, Burst: 3}

// fast refills one request per 100ms, for cases that wait for a refill.
var fast = ratelimit.Limit{Requests: 10, Per: time.Second, Burst: 3}

var storeCases = []storeCase{
	{"burst then refuse", func(t *testing.T, s ratelimit.Store, key string, _ func(time.Duration)) {
		for i := range slow.Burst {
			res := allow(t, s, key, slow, 1)
			if want := slow.Burst - 1 - i; !res.Allowed || res.Remaining != want || res.RetryAfter != 0 {
				t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, res, want)
			}
			if res.ResetAfter <= time.Duration(i)*time.Second || res.ResetAfter > time.Duration(i+1)*time.Second {
				t.Errorf("request %d: reset after %s, want in (%ds, %ds]", i+1, res.ResetAfter, i, i+1)
			}
		}
		res := allow(t, s, key, slow, 1)
		if res.Allowed || res.Remaining != 0 {
			t.Fatalf("request over the burst: %+v, want refused with 0 remaining", res)
		}
		if res.RetryAfter <= 0 || res.RetryAfter > time.Second {
			t.Errorf("retry after %s, want in (0, 1s]", res.RetryAfter)
		}
		if res.ResetAfter <= 2*time.Second || res.ResetAfter > 3*time.Second {
			t.Errorf("reset after %s, want in (2s, 3s]", res.ResetAfter)
		}
	}},
	{"refill", func(t *testing.T, s ratelimit.Store, key string, advance func(time.Duration)) {
		for range fast.Burst {
			allow(t, s, key, fast, 1)
		}
		res := allow(t, s, key, fast, 1)
		if res.Allowed {
			t.Fatalf("request over the burst allowed: %+v", res)
		}
		advance(res.RetryAfter)
		if res := allow(t, s, key, fast, 1); !res.Allowed || res.Remaining != 0 {
			t.Fatalf("after waiting the retry delay: %+v, want allowed with 0 remaining", res)
		}
		advance(time.Duration(fast.Burst) * fast.Per / time.Duration(fast.Requests))
		if res := allow(t, s, key, fast, 1); !res.Allowed || res.Remaining != fast.Burst-1 {
			t.Fatalf("after a full refill: %+v, want allowed with %d remaining", res, fast.Burst-1)
		}
	}},
	{"keys are separate", func(t *testing.T, s ratelimit.Store, key string, _ func(time.Duration)) {
		for range slow.Burst {
			allow(t, s, key+"a", slow, 1)
		}
		if res := allow(t, s, key+"a", slow, 1); res.Allowed {
			t.Fatalf("key a over its burst allowed: %+v", res)
		}
		if res := allow(t, s, key+"b", slow, 1); !res.Allowed || res.Remaining != slow.Burst-1 {
			t.Fatalf("key b: %+v, want a full bucket", res)
		}
	}},
	{"remaining counts down from the burst", func(t *testing.T, s ratelimit.Store, key string, _ func(time.Duration)) {
		big := ratelimit.Limit{Requests: 1, Per: time.Second, Burst: 10}
		if res := allow(t, s, key, big, 1); !res.Allowed || res.Remaining != 9 {
			t.Fatalf("%+v, want allowed with 9 remaining", res)
		}
	}},
	{"several at once", func(t *testing.T, s ratelimit.Store, key string, _ func(time.Duration)) {
		if res := allow(t, s, key, slow, 2); !res.Allowed || res.Remaining != 1 {
			t.Fatalf("n=2: %+v, want allowed with 1 remaining", res)
		}
		if res := allow(t, s, key, slow, 2); res.Allowed {
			t.Fatalf("n=2 with 1 remaining: %+v, want refused", res)
		}
		if res := allow(t, s, key, slow, 1); !res.Allowed || res.Remaining != 0 {
			t.Fatalf("n=1 after a refused n=2: %+v, want allowed with 0 remaining", res)
		}
	}},
	{"invalid arguments", func(t *testing.T, s ratelimit.Store, key string, _ func(time.Duration)) {
		for _, tc := range []struct {
			limit ratelimit.Limit
			n     int
		}{
			{slow, 0},
			{slow, slow.Burst + 1},
			{ratelimit.Limit{Requests: 0, Per: time.Second, Burst: 1}, 1},
			{ratelimit.Limit{Requests: 1, Per: 0, Burst: 1}, 1},
			{ratelimit.Limit{Requests: 1, Per: time.Second, Burst: 0}, 1},
			{ratelimit.Limit{Requests: 1, Per: 24 * time.Hour, Burst: 1 << 30}, 1},
		} {
			if res, err := s.Allow(context.Background(), key, tc.limit, tc.n); err == nil {
				t.Errorf("Allow(%+v, n=%d) = %+v, want an error", tc.limit, tc.n, res)
			}
		}
	}},
}

// runStoreCases runs every storeCase against the stores newStore makes.
func runStoreCases(t *testing.T, newStore func(t *testing.T) (ratelimit.Store, func(time.Duration))) {
	for i, tc := range storeCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, advance := newStore(t)
			tc.run(t, s, fmt.Sprintf("case%d:", i), advance)
		})
	}
}

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	runStoreCases(t, func(*testing.T) (ratelimit.Store, func(time.Duration)) {
		c := newClock()
		return ratelimit.NewMemoryStore(100, ratelimit.WithClock(c.Now)), c.Advance
	})
}

func TestRedisStore(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	client := redisClient(t, srv.Addr())
	runStoreCases(t, func(*testing.T) (ratelimit.Store, func(time.Duration)) {
		return ratelimit.NewRedisStore(client), time.Sleep
	})
}

func TestRedisStoreKeys(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	client := redisClient(t, srv.Addr())
	s := ratelimit.NewRedisStore(client)
	allow(t, s, "default:ip:192.0.2.1", slow, 1)
	ctx := context.Background()
	keys, err := client.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := ratelimit.RedisKeyPrefix + "default:ip:192.0.2.1"; len(keys) != 1 || keys[0] != want {
		t.Fatalf("keys = %q, want [%q]", keys, want)
	}
	// The key lives as long as the bucket takes to refill, and no longer.
	ttl, err := client.PTTL(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > time.Second {
		t.Errorf("TTL %s, want in (0, 1s]", ttl)
	}
}

func TestRedisStoreUnreachable(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	client := redisClient(t, srv.Addr())
	srv.Stop()
	start := time.Now()
	_, err := ratelimit.NewRedisStore(client).Allow(context.Background(), "k", slow, 1)
	if err == nil {
		t.Fatal("Allow with Redis stopped succeeded")
	}
	if errors.Is(err, context.Canceled) {
		t.Errorf("error %v blames the context", err)
	}
	// Wide margin: the point is that the short timeouts apply, not a precise figure.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Allow took %s with Redis stopped, want well under the default 5s timeouts", d)
	}
}
