package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Doer sends one request and returns when its response has been read. A non-nil error counts
// the request as failed.
type Doer func(ctx context.Context) error

// Histogram bounds: latencies are recorded in microseconds, from 1 µs to 60 s, with three
// significant digits.
const (
	histMinMicros = 1
	histMaxMicros = 60_000_000
	histDigits    = 3
)

// Result is what one load run measured.
type Result struct {
	// Latency holds every request's latency in microseconds, failed requests included.
	Latency *hdrhistogram.Histogram
	// Sent and Errors count the requests started and those that failed.
	Sent, Errors int64
	// Elapsed is the time from the first intended send to the last response.
	Elapsed time.Duration
	// FirstError is the first failure seen, for the report; nil when none failed.
	FirstError error
}

// Throughput is the rate of successful requests, per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent-r.Errors) / r.Elapsed.Seconds()
}

// Percentile returns the latency at percentile p (0 to 100).
func (r *Result) Percentile(p float64) time.Duration {
	return time.Duration(r.Latency.ValueAtPercentile(p)) * time.Microsecond
}

// Max returns the largest latency recorded.
func (r *Result) Max() time.Duration {
	return time.Duration(r.Latency.Max()) * time.Microsecond
}

// recorder collects latencies and errors from concurrent requests.
type recorder struct {
	mu       sync.Mutex
	hist     *hdrhistogram.Histogram
	sent     atomic.Int64
	errs     int64
	firstErr error
}

func newRecorder() *recorder {
	return &recorder{hist: hdrhistogram.New(histMinMicros, histMaxMicros, histDigits)}
}

func (r *recorder) record(d time.Duration, err error) {
	us := min(max(d.Microseconds(), histMinMicros), histMaxMicros)
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.hist.RecordValue(us) // us is clamped into the trackable range
	if err != nil {
		r.errs++
		if r.firstErr == nil {
			r.firstErr = err
		}
	}
}

func (r *recorder) result(elapsed time.Duration) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &Result{Latency: r.hist, Sent: r.sent.Load(), Errors: r.errs, Elapsed: elapsed, FirstError: r.firstErr}
}

// OpenLoop configures an open-loop run: requests are scheduled at a fixed rate whatever the
// target's response times, and each one's latency runs from its intended send time.
type OpenLoop struct {
	// Rate is the number of requests per second; it must be positive.
	Rate float64
	// Duration is how long requests are scheduled for; Rate×Duration requests are sent.
	Duration time.Duration
	// Timeout bounds each request. By default (zero), 5s.
	Timeout time.Duration
	// MaxInFlight bounds the requests outstanding at once; when it is reached, the next send
	// waits, and the wait counts in that request's latency. By default (zero), 4096.
	MaxInFlight int
}

// Run sends the requests and waits for the last response, or for ctx to end.
func (o OpenLoop) Run(ctx context.Context, do Doer) (*Result, error) {
	if o.Rate <= 0 || o.Duration <= 0 {
		return nil, fmt.Errorf("bench.OpenLoop: rate %v and duration %v must be positive", o.Rate, o.Duration)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	inFlight := o.MaxInFlight
	if inFlight <= 0 {
		inFlight = 4096
	}
	n := int64(o.Rate * o.Duration.Seconds())
	interval := float64(time.Second) / o.Rate
	rec := newRecorder()
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
	var err error
schedule:
	for i := range n {
		intended := start.Add(time.Duration(float64(i) * interval))
		if wait := time.Until(intended); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				err = ctx.Err()
				break schedule
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			err = ctx.Err()
			break schedule
		}
		rec.sent.Add(1)
		wg.Go(func() {
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			rerr := do(rctx)
			rec.record(time.Since(intended), rerr)
		})
	}
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("bench.OpenLoop: %w", err)
	}
	return rec.result(time.Since(start)), nil
}

// ClosedLoop configures a closed-loop run: Workers goroutines each send a request, wait for
// its response and send the next, for Duration. Its throughput is the target's maximum at that
// concurrency; its latencies are not corrected for coordinated omission and are only indicative.
type ClosedLoop struct {
	// Workers is the number of concurrent requests; it must be positive.
	Workers int
	// Duration is how long the run lasts; it must be positive.
	Duration time.Duration
	// Warmup runs the same load for this long before measuring. By default (zero), none.
	Warmup time.Duration
	// Timeout bounds each request. By default (zero), 5s.
	Timeout time.Duration
	// MaxRequests stops each worker after this many requests. By default (zero), 10 million.
	MaxRequests int64
}

// Run runs the warm-up, then the measured run, and returns what the measured run saw.
func (c ClosedLoop) Run(ctx context.Context, do Doer) (*Result, error) {
	if c.Workers <= 0 || c.Duration <= 0 {
		return nil, fmt.Errorf("bench.ClosedLoop: workers %d and duration %v must be positive", c.Workers, c.Duration)
	}
	if c.Warmup > 0 {
		warm := c
		warm.Duration, warm.Warmup = c.Warmup, 0
		if _, err := warm.Run(ctx, do); err != nil {
			return nil, err
		}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	limit := c.MaxRequests
	if limit <= 0 {
		limit = 10_000_000
	}
	rec := newRecorder()
	start := time.Now()
	deadline := start.Add(c.Duration)
	var wg sync.WaitGroup
	for range c.Workers {
		wg.Go(func() {
			for i := int64(0); i < limit && ctx.Err() == nil; i++ {
				now := time.Now()
				if !now.Before(deadline) {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, timeout)
				err := do(rctx)
				cancel()
				rec.sent.Add(1)
				rec.record(time.Since(now), err)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bench.ClosedLoop: %w", err)
	}
	return rec.result(time.Since(start)), nil
}
