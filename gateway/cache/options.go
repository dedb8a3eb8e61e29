package cache

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Option configures [New].
type Option func(*options)

type options struct {
	store       Store
	credentials []string
	forwarded   []string
	degraded    []string
	represent   func(*http.Request) string
	logger      *slog.Logger
	registerer  prometheus.Registerer
	now         func() time.Time
}

// WithStore sets the store that keeps the cached responses, such as a [RedisStore]. It is
// required when the configuration's store is "redis". By default, a [MemoryStore] bounded by the
// configuration's max_bytes and memory_max_resources is used, and closed by [Cache.Close].
func WithStore(s Store) Option {
	return func(o *options) { o.store = s }
}

// WithCredentialHeaders names the request headers that carry credentials, such as the API key
// header. Responses cached per caller list them in Vary, so that browsers and other private
// caches keep one response per credential too. By default, only Authorization is listed.
func WithCredentialHeaders(names ...string) Option {
	return func(o *options) { o.credentials = names }
}

// WithForwardedHeaders names the request headers that the gateway forwards to backends
// (api.forward_headers), such as a tenant header. A backend's answer may depend on them, so each
// one, and its Grpc-Metadata- form, which is forwarded too, joins the key and the Vary header of
// every cached read: a caller who sends another value (another tenant) never gets the answer
// cached for the first. By default, there are none.
func WithForwardedHeaders(names ...string) Option {
	return func(o *options) { o.forwarded = names }
}

// WithRepresentation sets the function that names the representation a read will be answered
// in, such as the media type of the encoder the gateway picks for its Accept header. Reads are
// cached per representation, not per Accept value, so that clients cannot make the gateway keep,
// and the backend compute, one answer per Accept value they make up. By default, the
// representation is the Accept header as it is.
func WithRepresentation(name func(r *http.Request) string) Option {
	return func(o *options) { o.represent = name }
}

// WithDegradedHeaders names the response headers that mark a degraded answer, such as the
// header of a partial composite response: an answer that carries one is served, and shared
// with the requests that waited for it, but not cached. By default, there are none.
func WithDegradedHeaders(names ...string) Option {
	return func(o *options) { o.degraded = names }
}

// WithLogger sets the logger that reports store failures and unresolvable invalidation
// patterns. By default, slog.Default() is used.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithRegisterer registers the cache's metrics (archway_cache_hits_total,
// archway_cache_stale_total, archway_cache_misses_total, archway_cache_coalesced_total,
// archway_cache_invalidations_total, archway_cache_store_errors_total and, with a
// [MemoryStore], archway_cache_evictions_total and archway_cache_bytes) with r. By default,
// they are not registered.
func WithRegisterer(r prometheus.Registerer) Option {
	return func(o *options) { o.registerer = r }
}

// WithClock sets the clock that ages cached responses, for tests that move time forward by
// hand. By default, time.Now is used.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}
