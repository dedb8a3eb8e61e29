package forwarded

import "time"

// Option configures a [Signer].
type Option func(*options)

type options struct {
	maxAge time.Duration
	skew   time.Duration
	now    func() time.Time
}

func defaultOptions() options {
	return options{maxAge: DefaultMaxAge, skew: DefaultClockSkew, now: time.Now}
}

// DefaultMaxAge is how long an envelope is accepted after it was made, unless [WithMaxAge] says
// otherwise.
const DefaultMaxAge = 5 * time.Minute

// DefaultClockSkew is how far in the future an envelope's time may lie, unless [WithClockSkew]
// says otherwise: the gateway's and the backend's clocks may differ a little.
const DefaultClockSkew = 30 * time.Second

// WithMaxAge sets how long an envelope is accepted after it was made. Non-positive values are
// ignored. By default, [DefaultMaxAge] (5 minutes).
func WithMaxAge(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.maxAge = d
		}
	}
}

// WithClockSkew sets how far in the future an envelope's time may lie. Negative values are
// ignored. By default, [DefaultClockSkew] (30 seconds).
func WithClockSkew(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.skew = d
		}
	}
}

// WithClock sets the clock that stamps and checks envelopes. By default, time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}
