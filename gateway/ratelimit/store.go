package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Limit is the allowance of one bucket: Requests per Per sustained, and up to Burst requests
// at once when the bucket is full.
type Limit struct {
	Requests int
	Per      time.Duration
	Burst    int
}

// Result is a store's decision on a request.
type Result struct {
	// Allowed says whether the request may proceed.
	Allowed bool
	// Remaining is how many more requests the bucket allows right now.
	Remaining int
	// RetryAfter is how long until the request would be allowed; 0 when it was.
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again.
	ResetAfter time.Duration
}

// Store keeps buckets and decides on requests against them. Implementations are safe for
// concurrent use.
type Store interface {
	// Allow takes n requests from the bucket named key, whose allowance is limit, when it has
	// them, and reports the decision. n must be from 1 to limit.Burst. An error means the
	// store could not decide.
	Allow(ctx context.Context, key string, limit Limit, n int) (Result, error)
}

// maxRefill bounds the time a full bucket takes to refill, so the arithmetic on nanosecond
// timestamps cannot overflow.
const maxRefill = 100 * 365 * 24 * time.Hour

// check reports what is wrong with l, or nil.
func (l Limit) check() error {
	switch {
	case l.Requests <= 0:
		return fmt.Errorf("requests must be positive, got %d", l.Requests)
	case l.Per <= 0:
		return fmt.Errorf("per must be positive, got %s", l.Per)
	case l.Burst <= 0:
		return fmt.Errorf("burst must be positive, got %d", l.Burst)
	case l.interval() <= 0:
		return fmt.Errorf("%d requests per %s is more than one per nanosecond", l.Requests, l.Per)
	case float64(l.interval())*float64(l.Burst) > float64(maxRefill):
		return fmt.Errorf("a burst of %d at %d per %s takes more than %s to refill", l.Burst, l.Requests, l.Per, maxRefill)
	}
	return nil
}

// interval is the emission interval: the time the bucket takes to regain one request.
func (l Limit) interval() time.Duration { return l.Per / time.Duration(l.Requests) }

// errInvalidN reports an n outside 1 to limit.Burst.
var errInvalidN = errors.New("ratelimit: n must be from 1 to the limit's burst")

// checkRequest checks the arguments common to every store's Allow.
func checkRequest(limit Limit, n int) error {
	if err := limit.check(); err != nil {
		return fmt.Errorf("ratelimit: %w", err)
	}
	if n < 1 || n > limit.Burst {
		return errInvalidN
	}
	return nil
}

// gcra decides on n requests at time now against a bucket whose theoretical arrival time is
// tat (times in nanoseconds on any common scale; a tat before now means a full bucket). It
// returns the bucket's new tat, unchanged when the request is refused.
func gcra(now, tat int64, limit Limit, n int) (int64, Result) {
	interval := int64(limit.interval())
	tat = max(tat, now)
	newTAT := tat + interval*int64(n)
	allowAt := newTAT - interval*int64(limit.Burst)
	diff := now - allowAt
	if diff < 0 {
		return tat, Result{RetryAfter: time.Duration(-diff), ResetAfter: time.Duration(tat - now)}
	}
	return newTAT, Result{
		Allowed:    true,
		Remaining:  int(min(diff/interval, math.MaxInt32)),
		ResetAfter: time.Duration(newTAT - now),
	}
}
