package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"
)

// RateLimit configures client rate limiting. Each client (the verified
// identity, else the client IP) gets its own allowance in each class: a
// bucket of Burst requests that refills at Requests per Per (GCRA).
type RateLimit struct {
	// Store is where the allowances are kept: "memory" (in the gateway
	// process, so each replica limits on its own) or "redis" (shared by
	// every replica; needs redis.address). By default "memory".
	Store string `yaml:"store"`

	// OnStoreError decides what happens to a request when the store cannot
	// be reached: "fail_open" lets it through unlimited, "fail_closed"
	// answers 503 UNAVAILABLE. By default "fail_open".
	OnStoreError string `yaml:"on_store_error"`

	// MemoryMaxKeys caps the number of allowances the "memory" store keeps,
	// one per client and class; past it the least recently used one is
	// forgotten. Must be positive. By default 100000.
	MemoryMaxKeys int `yaml:"memory_max_keys"`

	// MaxStreamsPerClient caps the streams (server streams as NDJSON or
	// Server-Sent Events, WebSocket chats) each client holds open at once,
	// whatever the routes' classes; one more is answered 429. The "redis"
	// store shares the count between replicas; with "memory" each process
	// counts its own. Must be positive. By default 20.
	MaxStreamsPerClient int `yaml:"max_streams_per_client"`

	// Classes are the named limits that route policies refer to. Names are
	// made of letters, digits, '_', '-' and '.'; "none" is reserved. By
	// default one class, "default": 100 requests per second, burst 200.
	Classes map[string]RateLimitClass `yaml:"classes"`
}

// RateLimitClass is one named limit: Requests per Per sustained, with up to
// Burst requests at once.
type RateLimitClass struct {
	// Requests is the number of requests a client may make per Per, on
	// average. Required, positive.
	Requests int `yaml:"requests"`

	// Per is the period Requests are counted over: a whole number of
	// seconds, at least 1s. Required.
	Per Duration `yaml:"per"`

	// Burst is the number of requests a client may make at once, after
	// being idle. Required, positive.
	Burst int `yaml:"burst"`
}

// defaultRateLimit returns the rate_limit defaults.
func defaultRateLimit() RateLimit {
	return RateLimit{
		Store:               "memory",
		OnStoreError:        "fail_open",
		MemoryMaxKeys:       100000,
		MaxStreamsPerClient: 20,
		Classes: map[string]RateLimitClass{
			"default": {Requests: 100, Per: Duration(time.Second), Burst: 200},
		},
	}
}

var classNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// check checks the rate_limit section; redis is the redis section, which the
// "redis" store needs.
func (r *RateLimit) check(ch *checker, redis *Redis) {
	ch.oneOf("rate_limit.store", r.Store, "memory", "redis")
	if r.Store == "redis" && redis.Address == "" {
		ch.failf("rate_limit.store", `"redis" needs redis.address`)
	}
	ch.oneOf("rate_limit.on_store_error", r.OnStoreError, "fail_open", "fail_closed")
	if r.MemoryMaxKeys <= 0 {
		ch.failf("rate_limit.memory_max_keys", "must be positive, got %d", r.MemoryMaxKeys)
	}
	if r.MaxStreamsPerClient <= 0 {
		ch.failf("rate_limit.max_streams_per_client", "must be positive, got %d", r.MaxStreamsPerClient)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Classes)) {
		p := "rate_limit.classes." + name
		switch {
		case name == "none":
			ch.failf(p, `"none" is reserved: a route policy names it to exempt a method from rate limiting`)
		case !classNameRE.MatchString(name):
			ch.failf(p, "the name must be made of letters, digits, '_', '-' and '.', got %q", name)
		}
		c := r.Classes[name]
		if c.Requests <= 0 {
			ch.failf(p+".requests", "must be positive, got %d", c.Requests)
		}
		if c.Per < Duration(time.Second) || c.Per%Duration(time.Second) != 0 {
			ch.failf(p+".per", "must be a whole number of seconds, at least 1s, got %s", c.Per)
		}
		if c.Burst <= 0 {
			ch.failf(p+".burst", "must be positive, got %d", c.Burst)
		}
	}
}

// String formats c as "100 per 1s, burst 200".
func (c RateLimitClass) String() string {
	return fmt.Sprintf("%d per %s, burst %d", c.Requests, c.Per, c.Burst)
}
