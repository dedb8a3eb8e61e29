package users

import "time"

// Option configures a Service.
type Option func(*options)

type options struct {
	now func() time.Time
}

// WithClock sets the clock that stamps create_time and update_time of changed users.
// By default, time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}
