package identity

import "time"

// Option configures a [Signer].
type Option func(*options)

type options struct {
	maxAge          time.Duration
	skew            time.Duration
	replayCacheSize int
	now             func() time.Time
}

func defaultOptions() options {
	return options{maxAge: DefaultMaxAge, skew: DefaultClockSkew, replayCacheSize: DefaultReplayCacheSize, now: time.Now}
}

// DefaultMaxAge is how long an envelope is accepted after it was made, besides the clock skew,
// unless [WithMaxAge] says otherwise. The gateway signs each call as it starts it, so an
// envelope needs to live only as long as the call takes to reach the backend.
const DefaultMaxAge = 5 * time.Second

// DefaultClockSkew is how far the gateway's and the backend's clocks may differ, unless
// [WithClockSkew] says otherwise: an envelope is accepted from the clock skew before the time it
// was made until the maximum age and the clock skew after.
const DefaultClockSkew = 2 * time.Second

// DefaultReplayCacheSize is how many nonces of accepted envelopes a Signer remembers at most,
// unless [WithReplayCacheSize] says otherwise: about 80 bytes each, so about 20 MB when full.
// It holds each nonce for the envelope's lifetime (7 seconds by default), enough for about
// 37,000 calls a second. The nonces are spread over shards of a fixed share each, so the first
// refusal may come a little before the whole size is used (at 99% in a measurement).
const DefaultReplayCacheSize = 1 << 18

// WithMaxAge sets how long an envelope is accepted after it was made, besides the clock skew.
// Non-positive values are ignored. By default, [DefaultMaxAge] (5 seconds).
func WithMaxAge(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.maxAge = d
		}
	}
}

// WithClockSkew sets how far the gateway's and the backend's clocks may differ: an envelope
// is accepted from d before the time it was made until the maximum age and d after. Negative
// values are ignored. By default, [DefaultClockSkew] (2 seconds).
func WithClockSkew(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.skew = d
		}
	}
}

// WithReplayCacheSize sets how many nonces of accepted envelopes [Signer.Verify] remembers at
// most, to refuse a replay. When it holds n nonces that have not expired, Verify refuses every
// envelope with [ErrReplayCacheFull] until some expire: it fails closed. Non-positive values are
// ignored. By default, [DefaultReplayCacheSize] (262,144).
func WithReplayCacheSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.replayCacheSize = n
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
