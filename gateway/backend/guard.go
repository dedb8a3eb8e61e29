package backend

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Breaker configures a backend's circuit breaker. The zero value turns it off.
//
// The breaker counts what says the backend is unhealthy, and nothing else: a call that ends
// UNAVAILABLE (no instance could take it, after gRPC's retries) is a failure, and so is one
// that ends DEADLINE_EXCEEDED after running at least SlowCallThreshold (the backend hangs or
// crawls); a shorter one is ignored, since the client chose a deadline too short to say
// anything about the backend. A call the client cancelled is ignored too. Every other outcome,
// errors such as NOT_FOUND, INVALID_ARGUMENT or RESOURCE_EXHAUSTED included, means the backend
// answered, and counts as a success. Streams count when they are opened.
type Breaker struct {
	// Enabled turns the breaker on.
	Enabled bool
	// FailureRatio opens the breaker when failures are at least this share of the calls
	// counted within Window, once there are at least MinRequests of them.
	FailureRatio float64
	MinRequests  uint32
	// Window is the rolling period over which calls are counted (in ten buckets).
	Window time.Duration
	// OpenTimeout is how long the open breaker fails calls fast before it lets
	// HalfOpenRequests probes through; it closes when they all succeed, and opens again at
	// the first failure.
	OpenTimeout      time.Duration
	HalfOpenRequests uint32
	// SlowCallThreshold is how long a call must have run for DEADLINE_EXCEEDED to count.
	SlowCallThreshold time.Duration
}

// Outcomes of a call, as the breaker counts them.
var (
	errCallFailed  = errors.New("backend unhealthy")
	errCallIgnored = errors.New("outcome says nothing of the backend")
)

// guard refuses calls to one backend at once when it has too many in flight or its breaker is
// open, with UNAVAILABLE and a RetryInfo detail (503 with Retry-After at the edge).
type guard struct {
	name     string
	limit    int64
	inFlight atomic.Int64
	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	open     time.Duration // the breaker's open timeout
	slow     time.Duration // the breaker's slow call threshold
	// cap is the capacity of the backend's instances, whose refusals say nothing of the
	// backend's health; nil when it has none.
	cap *capacity

	inFlightGauge               prometheus.Gauge
	rejectedOpen, rejectedLimit prometheus.Counter
}

func newGuard(spec Spec, c *capacity, logger *slog.Logger, m *metrics) *guard {
	g := &guard{
		name:          spec.Name,
		cap:           c,
		limit:         int64(spec.MaxInFlight),
		inFlightGauge: m.inFlight.WithLabelValues(spec.Name),
		rejectedOpen:  m.rejected.WithLabelValues(spec.Name, reasonBreakerOpen),
		rejectedLimit: m.rejected.WithLabelValues(spec.Name, reasonInFlightLimit),
	}
	b := spec.Breaker
	if !b.Enabled {
		return g
	}
	g.open, g.slow = b.OpenTimeout, b.SlowCallThreshold
	state := m.breakerState.WithLabelValues(spec.Name)
	state.Set(0)
	g.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         spec.Name,
		MaxRequests:  b.HalfOpenRequests,
		Interval:     b.Window,
		BucketPeriod: b.Window / 10,
		Timeout:      b.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			done := c.TotalSuccesses + c.TotalFailures
			return done >= b.MinRequests && float64(c.TotalFailures) >= b.FailureRatio*float64(done)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errCallIgnored) },
		// Called with the breaker's lock held: it must not call the breaker.
		OnStateChange: func(name string, from, to gobreaker.State) {
			state.Set(float64(to))
			m.breakerTransitions.WithLabelValues(name, from.String(), to.String()).Inc()
			level := slog.LevelInfo
			if to == gobreaker.StateOpen {
				level = slog.LevelWarn
			}
			logger.LogAttrs(context.Background(), level, "circuit breaker state changed",
				slog.String("backend", name), slog.String("from", from.String()), slog.String("to", to.String()))
		},
	})
	return g
}

// admit takes an in-flight slot and asks the breaker, returning what to call when the call
// ends: release frees the slot, report tells the breaker the outcome.
func (g *guard) admit() (release func(), report func(error, time.Duration), err error) {
	if g.limit > 0 {
		if g.inFlight.Add(1) > g.limit {
			g.inFlight.Add(-1)
			g.rejectedLimit.Inc()
			return nil, nil, refusal(g.name+": too many calls in flight", time.Second)
		}
	} else {
		g.inFlight.Add(1)
	}
	g.inFlightGauge.Inc()
	var once sync.Once
	release = func() {
		once.Do(func() {
			g.inFlight.Add(-1)
			g.inFlightGauge.Dec()
		})
	}
	report = func(error, time.Duration) {}
	if g.breaker != nil {
		done, err := g.breaker.Allow()
		if err != nil {
			release()
			g.rejectedOpen.Inc()
			retry := g.open
			if errors.Is(err, gobreaker.ErrTooManyRequests) {
				retry = time.Second
			}
			return nil, nil, refusal(g.name+": circuit breaker "+err.Error(), retry)
		}
		report = func(err error, elapsed time.Duration) { done(g.classify(err, elapsed)) }
	}
	return release, report, nil
}

// classify maps a call's error to what the breaker counts: nil for a success, errCallFailed
// or errCallIgnored.
func (g *guard) classify(err error, elapsed time.Duration) error {
	if g.cap != nil && (errors.Is(err, g.cap.callsFull) || errors.Is(err, g.cap.streamsFull)) {
		return errCallIgnored
	}
	switch status.Code(err) {
	case codes.Unavailable:
		return errCallFailed
	case codes.DeadlineExceeded:
		if elapsed >= g.slow {
			return errCallFailed
		}
		return errCallIgnored
	case codes.Canceled:
		return errCallIgnored
	default:
		return nil
	}
}

// healthMethods is the prefix of the gRPC health service's methods, which the guard lets
// through uncounted: readiness must report the backend's own answer, and its polling must not
// dilute the breaker's counts.
const healthMethods = "/grpc.health.v1.Health/"

func (g *guard) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if strings.HasPrefix(method, healthMethods) {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	release, report, err := g.admit()
	if err != nil {
		return err
	}
	defer release()
	start := time.Now()
	err = invoker(ctx, method, req, reply, cc, opts...)
	report(err, time.Since(start))
	return err
}

// stream counts a stream in flight until it ends: its last message is received, or the
// caller's context ends. It marks the context as a stream's, for the capacity picker.
func (g *guard) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if strings.HasPrefix(method, healthMethods) {
		return streamer(ctx, desc, cc, method, opts...)
	}
	if g.cap != nil {
		ctx = context.WithValue(ctx, streamCallKey{}, true)
	}
	release, report, err := g.admit()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cs, err := streamer(ctx, desc, cc, method, opts...)
	report(err, time.Since(start))
	if err != nil {
		release()
		return nil, err
	}
	stop := context.AfterFunc(ctx, release)
	return &guardedStream{ClientStream: cs, release: func() { stop(); release() }}, nil
}

// guardedStream frees its in-flight slot when a receive fails, io.EOF included.
type guardedStream struct {
	grpc.ClientStream
	release func()
}

func (s *guardedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.release()
	}
	return err
}

// refusal is the error of a call refused before it reached the backend: UNAVAILABLE, with a
// RetryInfo detail that the gateway turns into Retry-After.
func refusal(msg string, retry time.Duration) error {
	st := status.New(codes.Unavailable, msg)
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retry)}); err == nil {
		st = d
	}
	return st.Err()
}

// RetryAfter returns the whole seconds, rounded up, of the google.rpc.RetryInfo detail of err's
// status, as for a Retry-After header; ok is false when there is none.
func RetryAfter(err error) (seconds int64, ok bool) {
	st, isStatus := status.FromError(err)
	if !isStatus {
		return 0, false
	}
	for _, d := range st.Details() {
		if ri, isRetry := d.(*errdetails.RetryInfo); isRetry && ri.GetRetryDelay() != nil {
			return int64(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds())), true
		}
	}
	return 0, false
}
