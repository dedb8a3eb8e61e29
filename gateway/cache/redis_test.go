package cache_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/archway-gateway/archway/gateway/cache"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/internal/redisclient"
	"github.com/archway-gateway/archway/internal/redistest"
)

// redisStore returns a store on srv with its own client, closed when the test ends.
func redisStore(t *testing.T, srv *redistest.Server) *cache.RedisStore {
	t.Helper()
	cfg := config.Default().Redis
	cfg.Address = srv.Addr()
	client := redis.NewClient(redisclient.Options(cfg))
	t.Cleanup(func() { _ = client.Close() })
	return cache.NewRedisStore(client, config.Default().Cache.RedisInvalidationRetention.D())
}

func redisConfig() config.Cache {
	cfg := testConfig()
	cfg.Store = "redis"
	return cfg
}

func TestRedisStoreIsSharedByReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := newHarness(t, redisConfig(), cache.WithStore(redisStore(t, srv)))
	b := newHarness(t, redisConfig(), cache.WithStore(redisStore(t, srv)))
	ada := map[string]string{"X-Test-User": "ada"}

	first := a.do(t, http.MethodGet, "/v1/users/ada", ada)
	fromB := b.do(t, http.MethodGet, "/v1/users/ada", ada)
	if fromB.header.Get(cache.HeaderDebug) != "HIT" || fromB.body != first.body || fromB.header.Get("ETag") != first.header.Get("ETag") {
		t.Fatalf("replica b: %s %s, want replica a's entry %s", fromB.header.Get(cache.HeaderDebug), fromB.body, first.body)
	}
	if n := b.backend.callsTo("GET /v1/users/ada"); n != 0 {
		t.Errorf("replica b called its backend %d times, want 0", n)
	}
	if got := b.do(t, http.MethodGet, "/v1/users/ada", map[string]string{"X-Test-User": "grace"}); got.header.Get(cache.HeaderDebug) != "MISS" {
		t.Errorf("another caller on replica b: %s, want MISS", got.header.Get(cache.HeaderDebug))
	}

	// A write through b invalidates what a cached; a's next read goes to its backend.
	if got := b.do(t, http.MethodPatch, "/v1/users/ada", ada); got.code != http.StatusOK {
		t.Fatalf("write: %d", got.code)
	}
	if got := a.do(t, http.MethodGet, "/v1/users/ada", ada); got.header.Get(cache.HeaderDebug) != "MISS" {
		t.Errorf("replica a after b's write: %s, want MISS", got.header.Get(cache.HeaderDebug))
	}
	if n := a.backend.callsTo("GET /v1/users/ada"); n != 2 {
		t.Errorf("replica a backend calls = %d, want 2", n)
	}
	if got := b.do(t, http.MethodGet, "/v1/users/ada", ada); got.header.Get(cache.HeaderDebug) != "HIT" {
		t.Errorf("replica b after a refilled the entry: %s, want HIT", got.header.Get(cache.HeaderDebug))
	}
}

func TestRedisStoreDownServesUncached(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	h := newHarness(t, redisConfig(), cache.WithStore(redisStore(t, srv)))
	h.do(t, http.MethodGet, "/v1/products/p1", nil)
	srv.Stop()
	for range 2 {
		got := h.do(t, http.MethodGet, "/v1/products/p1", nil)
		if got.code != http.StatusOK || got.header.Get(cache.HeaderDebug) != "BYPASS" {
			t.Fatalf("with Redis down: %d %s, want 200 BYPASS", got.code, got.header.Get(cache.HeaderDebug))
		}
	}
	if n := h.backend.callsTo("GET /v1/products/p1"); n != 3 {
		t.Errorf("backend calls = %d, want 3", n)
	}
	if got := h.do(t, http.MethodPost, "/v1/products/p1/stock:adjust", nil); got.code != http.StatusOK {
		t.Errorf("a write with Redis down: %d, want 200", got.code)
	}
	if errs := h.metric(t, "store_errors_total"); errs < 3 {
		t.Errorf("store errors = %v, want at least 3", errs)
	}
}

func TestRedisEntriesExpire(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	store := redisStore(t, srv)
	e := &cache.Entry{Status: http.StatusOK, Body: []byte("{}"), Stored: time.Now(), TTL: 100 * time.Millisecond}
	if err := store.Save(t.Context(), "k", e); err != nil {
		t.Fatal(err)
	}
	got, _, err := store.Lookup(t.Context(), "k", nil)
	if err != nil || got == nil || string(got.Body) != "{}" {
		t.Fatalf("Lookup = %v, %v; want the entry", got, err)
	}
	waitFor(t, "the entry to expire", func() bool {
		got, _, err := store.Lookup(t.Context(), "k", nil)
		return err == nil && got == nil
	})
}
