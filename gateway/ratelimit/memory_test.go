package ratelimit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/ratelimit"
)

func TestMemoryStoreBounded(t *testing.T) {
	t.Parallel()
	for _, maxKeys := range []int{1, 10, 100, 1000} {
		t.Run(fmt.Sprint(maxKeys), func(t *testing.T) {
			t.Parallel()
			c := newClock()
			s := ratelimit.NewMemoryStore(maxKeys, ratelimit.WithClock(c.Now))
			for i := range 10 * maxKeys {
				allow(t, s, fmt.Sprint("client", i), slow, 1)
				if n := s.Len(); n > maxKeys {
					t.Fatalf("after %d clients: %d buckets, want at most %d", i+1, n, maxKeys)
				}
			}
			if n := s.Len(); n < maxKeys/2 {
				t.Errorf("%d buckets, want the store to use most of its %d", n, maxKeys)
			}
		})
	}
}

func TestMemoryStoreForgetsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := ratelimit.NewMemoryStore(1, ratelimit.WithClock(c.Now))
	for range slow.Burst {
		allow(t, s, "busy", slow, 1)
	}
	if res := allow(t, s, "busy", slow, 1); res.Allowed {
		t.Fatalf("busy over its burst: %+v", res)
	}
	allow(t, s, "other", slow, 1)
	// The cap forgot busy's bucket for other's: busy starts again from a full bucket.
	if res := allow(t, s, "busy", slow, 1); !res.Allowed || res.Remaining != slow.Burst-1 {
		t.Fatalf("busy after being forgotten: %+v, want a full bucket", res)
	}
}

func TestMemoryStoreKeepsRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := ratelimit.NewMemoryStore(64, ratelimit.WithClock(c.Now))
	for range slow.Burst {
		allow(t, s, "busy", slow, 1)
	}
	// Many other clients come and go; busy, used between each of them, is never the least
	// recently used bucket, so it stays empty.
	for i := range 1000 {
		allow(t, s, fmt.Sprint("client", i), slow, 1)
		if res := allow(t, s, "busy", slow, 1); res.Allowed {
			t.Fatalf("busy allowed after %d other clients: its bucket was forgotten", i+1)
		}
	}
}

func TestMemoryStoreDropsRefilled(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := ratelimit.NewMemoryStore(1000, ratelimit.WithClock(c.Now))
	for i := range 100 {
		allow(t, s, fmt.Sprint("client", i), slow, 1)
	}
	if n := s.Len(); n != 100 {
		t.Fatalf("%d buckets, want 100", n)
	}
	c.Advance(slow.Per) // every bucket is full again
	// New clients come, each making one request and leaving; by the time the next one
	// comes, the one before has refilled too.
	for i := range 300 {
		allow(t, s, fmt.Sprint("passer-by", i), fast, 1)
		c.Advance(fast.Per / time.Duration(fast.Requests))
	}
	if n := s.Len(); n > 10 {
		t.Errorf("%d buckets, want the refilled ones dropped as traffic flows", n)
	}
}

func TestMemoryStoreConcurrent(t *testing.T) {
	t.Parallel()
	s := ratelimit.NewMemoryStore(100)
	limit := ratelimit.Limit{Requests: 1, Per: time.Hour, Burst: 500}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed = map[string]int{}
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprint("k", (g+i)%4)
				if allow(t, s, key, limit, 1).Allowed {
					mu.Lock()
					allowed[key]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	// 1600 requests over 4 keys, 400 each, all within the burst.
	for k, n := range allowed {
		if n != 400 {
			t.Errorf("key %s: %d allowed, want 400", k, n)
		}
	}
	if len(allowed) != 4 {
		t.Errorf("%d keys, want 4", len(allowed))
	}
}
