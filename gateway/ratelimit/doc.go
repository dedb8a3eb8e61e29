// Package ratelimit limits how often each client may call each rate-limit class of routes.
//
// A route's policy names its class ([policy.Policy].RateLimitClass; "" means not limited), and
// the class's configuration gives its allowance: Requests per Per sustained, with up to Burst
// requests at once. The algorithm is GCRA (the generic cell rate algorithm), a token bucket
// that stores one timestamp per bucket (the theoretical arrival time) instead of a count and a
// refill timer, so a decision is one read and one write, and a Redis store can make it
// atomically in a short Lua script.
//
// A client is the verified identity when authentication set one (its edge.Identity.Key: kind,
// issuer and subject, so that a subject of two issuers, or a token subject and an API key
// client id with the same name, stay apart), else the client IP
// address; IPv6 addresses are grouped by their /64 prefix, which one host typically owns whole.
// Each client has one bucket per class.
//
// The buckets live in a [Store]: [MemoryStore] keeps them in the process (each replica limits
// on its own, memory bounded by a key cap), [RedisStore] in Redis, shared by every replica.
// When the store fails, the limiter either lets requests through (fail open, the default) or
// answers 503 UNAVAILABLE (fail closed); it logs each change between working and failing once,
// and counts every failure.
//
// Limited responses carry the RateLimit header fields of draft-ietf-httpapi-ratelimit-headers
// (the -06 revision, with separate fields):
//
//	RateLimit-Limit: 200              the burst: requests a client can make at once, when idle
//	RateLimit-Remaining: 199          requests it can make at once now
//	RateLimit-Reset: 2                seconds until Remaining is back to Limit (rounded up)
//	RateLimit-Policy: 100;w=1;burst=200
//
// RateLimit-Policy states the sustained quota, Requests per window w of Per in seconds, and the
// bucket size as the "burst" extension parameter. RateLimit-Limit is the bucket size rather
// than the quota, because that is what Remaining counts down from. A rejected request gets 429
// RESOURCE_EXHAUSTED with a google.rpc.Status body naming the class and a google.rpc.RetryInfo
// detail, and Retry-After in whole seconds, rounded up.
//
// Apart from the rate, each client holds at most max_streams_per_client streams open at once
// (server streams and WebSocket chats, on any route): one more is answered 429
// RESOURCE_EXHAUSTED with Retry-After. A store that is also a [StreamStore] ([RedisStore], which
// gives each stream a lease that the replica serving it renews) shares the count between
// replicas; otherwise each process counts its own.
package ratelimit
