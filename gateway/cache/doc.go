// Package cache is the gateway's response cache: an edge function that serves repeated reads of
// a route without calling its backend, with the HTTP caching semantics clients expect.
//
// What is cached is each method's route policy (policy.Cache): successful GET responses of
// methods with a TTL, and optionally NOT_FOUND answers for a shorter time. A response is keyed
// by the method, path and query, the negotiated representation (not the raw Accept header), the
// policy's vary headers, the headers forwarded to backends and, unless the policy marks it shared
// or the route is public, the caller's identity, so that one caller's private response is never
// served to another.
//
// Clients see strong ETags, 304 Not Modified for a matching If-None-Match, Cache-Control
// (public or private, max-age, stale-while-revalidate), Age and Vary. A client's
// Cache-Control: no-cache sends the request to the backend again, but only once the cached
// response is older than a configured minimum age. Within the stale-while-revalidate window a
// stale response is served while a single background call refreshes it.
//
// Uncached answers of authenticated routes, and to callers who authenticated, say
// Cache-Control: private, no-store.
//
// Concurrent misses of one key are coalesced: one backend call, under the route's timeout rather
// than the deadline of the request that started it, serves them all, and each waiting request
// gives up at its own deadline.
//
// A successful write (POST, PUT, PATCH, DELETE) invalidates the cached reads of the resources its
// policy names (policy.Cache.Invalidates, patterns such as "{name=users/*}" resolved against the
// write's path parameters). Invalidation works by generations rather than by finding entries:
// every cached read depends on a few resource tags, each with a generation, and records the
// generations it was computed under; a write gives the tags it touches new generations, so
// every read computed before it stops matching, in every replica that shares the store. See
// docs/caching.md for the tags a read depends on.
//
// Responses are kept in a [Store]: a [MemoryStore] bounded by bytes (the default), or a
// [RedisStore] shared by every replica.
package cache
