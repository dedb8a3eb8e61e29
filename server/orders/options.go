package orders

import "time"

// Option configures a Service.
type Option func(*options)

type options struct {
	now func() time.Time
}

// WithClock sets the clock that stamps create_time, update_time and event_time.
// By default, time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}
