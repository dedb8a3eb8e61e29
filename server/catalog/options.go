package catalog

import "time"

// Option configures a Service.
type Option func(*options)

type options struct {
	now   func() time.Time
	extra int
}

// WithClock sets the clock that stamps the update_time of changed stock levels.
// By default, time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithExtraProducts adds n generated products (ids "sku-bench-0001" and up, category
// EQUIPMENT, in stock) to the seed, so that a list can return a large page; the load harness
// uses it for its ~16 KB response. By default, only the 20 seed products are held.
func WithExtraProducts(n int) Option {
	return func(o *options) { o.extra = max(n, 0) }
}
