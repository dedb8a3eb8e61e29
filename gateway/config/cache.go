package config

import "time"

// Cache configures the response cache: which store keeps the cached
// responses, how large it may grow, and how far clients may push past it.
// Which methods are cached, and for how long, is each method's route policy.
type Cache struct {
	// Enabled turns the response cache on. Off, route policies' cache
	// settings are ignored: every read goes to its backend and writes
	// invalidate nothing. By default true.
	Enabled bool `yaml:"enabled"`

	// Store is where cached responses are kept: "memory" (in the gateway
	// process, bounded by MaxBytes) or "redis" (shared by every replica,
	// with shared invalidation; needs redis.address). By default "memory".
	Store string `yaml:"store"`

	// MaxBytes bounds the memory store: the responses it holds, bodies,
	// headers and keys, in bytes. Past it the least valuable responses are
	// evicted. Must be positive. By default 67108864 (64 MiB).
	MaxBytes int64 `yaml:"max_bytes"`

	// MaxEntryBytes is the largest response body that is cached; larger
	// ones are served but not kept. Must be positive and at most MaxBytes.
	// By default 1048576 (1 MiB).
	MaxEntryBytes int64 `yaml:"max_entry_bytes"`

	// MemoryMaxResources bounds the invalidation records the memory store
	// keeps, one per resource a write has invalidated. Past it the oldest
	// records are dropped, and the cached reads that depend on a dropped
	// record are treated as invalidated. Must be positive. By default
	// 100000.
	MemoryMaxResources int `yaml:"memory_max_resources"`

	// NoCacheMinAge is how old a cached response must be before a client's
	// "Cache-Control: no-cache" (or "max-age=0") makes the gateway ask the
	// backend again; a younger response is served as it is. It bounds what
	// clients that always send no-cache cost the backends. Zero honours
	// every no-cache. Must not be negative. By default 1s.
	NoCacheMinAge Duration `yaml:"no_cache_min_age"`

	// FetchTimeout bounds a backend call made for the cache: the one call
	// that concurrent misses share, and a background refresh of a stale
	// response. The route's own timeout still applies; the Grpc-Timeout of
	// the client whose miss started the call does not. Must be positive. By
	// default 30s.
	FetchTimeout Duration `yaml:"fetch_timeout"`

	// RedisInvalidationRetention is how long the "redis" store remembers
	// that a resource was written. A cached response is kept at most half
	// of it, whatever its route's TTL, so that a forgotten write can never
	// make a stale response current again. Must be at least 1m. By default
	// 24h.
	RedisInvalidationRetention Duration `yaml:"redis_invalidation_retention"`

	// DebugHeader adds an X-Archway-Cache response header to every request
	// of a cached route: HIT, STALE, MISS or BYPASS (the store could not be
	// reached). By default false.
	DebugHeader bool `yaml:"debug_header"`
}

// defaultCache returns the cache defaults.
func defaultCache() Cache {
	return Cache{
		Enabled:                    true,
		Store:                      "memory",
		MaxBytes:                   64 << 20,
		MaxEntryBytes:              1 << 20,
		MemoryMaxResources:         100000,
		NoCacheMinAge:              Duration(time.Second),
		FetchTimeout:               Duration(30 * time.Second),
		RedisInvalidationRetention: Duration(24 * time.Hour),
	}
}

// check checks the cache section; redis is the redis section, which the
// "redis" store needs.
func (c *Cache) check(ch *checker, redis *Redis) {
	ch.oneOf("cache.store", c.Store, "memory", "redis")
	if c.Enabled && c.Store == "redis" && redis.Address == "" {
		ch.failf("cache.store", `"redis" needs redis.address`)
	}
	if c.MaxBytes <= 0 {
		ch.failf("cache.max_bytes", "must be positive, got %d", c.MaxBytes)
	}
	if c.MaxEntryBytes <= 0 || (c.MaxBytes > 0 && c.MaxEntryBytes > c.MaxBytes) {
		ch.failf("cache.max_entry_bytes", "must be positive and at most cache.max_bytes (%d), got %d", c.MaxBytes, c.MaxEntryBytes)
	}
	if c.MemoryMaxResources <= 0 {
		ch.failf("cache.memory_max_resources", "must be positive, got %d", c.MemoryMaxResources)
	}
	ch.nonNegative("cache.no_cache_min_age", c.NoCacheMinAge)
	ch.positive("cache.fetch_timeout", c.FetchTimeout)
	if c.RedisInvalidationRetention < Duration(time.Minute) {
		ch.failf("cache.redis_invalidation_retention", "must be at least 1m, got %s", c.RedisInvalidationRetention)
	}
}
