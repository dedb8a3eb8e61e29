package orders

import "time"

// Option configures a Service.
type Option func(*options)

type options struct {
	now                func() time.Time
	insecureNoIdentity bool
}

// WithClock sets the clock that stamps create_time, update_time and event_time.
// By default, time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithInsecureNoIdentity serves calls that carry no verified identity as an administrator's:
// every order is visible and every change allowed. It is for servers that verify no identity (the
// storefront binary's -insecure-no-identity), where the caller is unknown. By default, such calls
// fail with UNAUTHENTICATED.
func WithInsecureNoIdentity() Option {
	return func(o *options) { o.insecureNoIdentity = true }
}
