package ratelimit

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Option configures [New].
type Option func(*options)

type options struct {
	store      Store
	logger     *slog.Logger
	registerer prometheus.Registerer
}

// WithStore sets the store that keeps the buckets, such as a [RedisStore]. It is required
// when the configuration's store is "redis". By default, a [MemoryStore] holding the
// configuration's memory_max_keys buckets is used.
func WithStore(s Store) Option {
	return func(o *options) { o.store = s }
}

// WithLogger sets the logger that reports the store failing and recovering. By default,
// slog.Default() is used.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithRegisterer registers the limiter's metrics (archway_ratelimit_decisions_total,
// archway_ratelimit_store_errors_total) with r. By default, they are not registered.
func WithRegisterer(r prometheus.Registerer) Option {
	return func(o *options) { o.registerer = r }
}

// MemoryOption configures [NewMemoryStore].
type MemoryOption func(*memoryOptions)

type memoryOptions struct {
	now func() time.Time
}

// WithClock sets the clock the store reads the time from, for tests that move time forward
// by hand. By default, time.Now is used.
func WithClock(now func() time.Time) MemoryOption {
	return func(o *memoryOptions) { o.now = now }
}
