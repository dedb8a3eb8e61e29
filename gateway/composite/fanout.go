package composite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/edge"
)

// FanOut runs the parts of one composite request concurrently under one time budget. Create it
// with [NewFanOut], start parts with [Required] and [Optional], then call [FanOut.Wait] exactly
// once; Wait returns only when every part has finished, so no part outlives the request.
//
// Every part runs with the same context, which ends when the budget is spent, when the caller's
// context ends (the client went away) or when a required part fails. Backend calls made with it
// therefore get at most the remaining budget, and outstanding calls are cancelled as soon as the
// result can no longer succeed.
type FanOut struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   context.CancelFunc
	logger *slog.Logger
	wg     sync.WaitGroup

	mu       sync.Mutex
	parts    []part
	required error // the first failure of a required part
}

// part is what FanOut knows of a Part, whatever its type.
type part interface {
	name() string
	isRequired() bool
	failure() error
}

// Option configures [NewFanOut].
type Option func(*FanOut)

// WithLogger logs every failed optional part at warn level, with its name, code, error and the
// request id, since its error reaches no client. By default, nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(f *FanOut) { f.logger = l }
}

// NewFanOut returns a FanOut whose parts run under ctx and must all finish within budget. A
// budget of 0 or less sets no deadline of its own; ctx's deadline, if any, still applies.
func NewFanOut(ctx context.Context, budget time.Duration, opts ...Option) *FanOut {
	f := &FanOut{parent: ctx, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(f)
	}
	base, cancel := context.WithCancelCause(ctx)
	f.cancel = cancel
	f.ctx, f.stop = base, func() {}
	if budget > 0 {
		f.ctx, f.stop = context.WithTimeout(base, budget)
	}
	return f
}

// Part is one sub-call of a composite request, whose result is a T.
type Part[T any] struct {
	label    string
	required bool
	done     chan struct{}
	value    T
	err      error
}

// Required starts call as a required part called name: when it fails, the whole fan-out fails
// with its error, and the other parts are cancelled.
func Required[T any](f *FanOut, name string, call func(ctx context.Context) (T, error)) *Part[T] {
	return start(f, name, true, call)
}

// Optional starts call as an optional part called name: when it fails or runs out of time, its
// value is the zero T and name is listed among the degraded parts that [FanOut.Wait] returns.
func Optional[T any](f *FanOut, name string, call func(ctx context.Context) (T, error)) *Part[T] {
	return start(f, name, false, call)
}

func start[T any](f *FanOut, name string, required bool, call func(context.Context) (T, error)) *Part[T] {
	p := &Part[T]{label: name, required: required, done: make(chan struct{})}
	f.mu.Lock()
	f.parts = append(f.parts, p)
	f.mu.Unlock()
	f.wg.Add(1)
	partWorkers.Go(func() {
		defer f.wg.Done()
		defer close(p.done)
		v, err := protect(f.ctx, name, call)
		if err == nil {
			p.value = v
			return
		}
		p.err = asStatus(err)
		if required {
			f.failRequired(p.err)
		}
	})
	return p
}

// protect runs call, turning a panic into an INTERNAL error.
func protect[T any](ctx context.Context, name string, call func(context.Context) (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v, err = zero, status.Errorf(codes.Internal, "composite part %q panicked: %v", name, r)
		}
	}()
	return call(ctx)
}

// asStatus gives err a gRPC code: status errors keep theirs, context errors get theirs
// (CANCELLED, DEADLINE_EXCEEDED), anything else is UNKNOWN.
func asStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Unknown, err.Error())
}

// failRequired records the first failure of a required part and cancels the other parts.
func (f *FanOut) failRequired(err error) {
	f.mu.Lock()
	if f.required == nil {
		f.required = err
	}
	f.mu.Unlock()
	f.cancel(fmt.Errorf("composite: a required part failed: %w", err))
}

// Await waits until the part has finished, or ctx ends, and returns its value and error. A part
// that depends on another calls Await on it with its own context; it then fails with the other
// part's error when that one failed.
func (p *Part[T]) Await(ctx context.Context) (T, error) {
	select {
	case <-p.done:
		return p.value, p.err
	case <-ctx.Done():
		var zero T
		return zero, status.FromContextError(ctx.Err()).Err()
	}
}

// Value waits until the part has finished and returns its value: the zero T when it failed.
// After [FanOut.Wait] it returns at once.
func (p *Part[T]) Value() T {
	<-p.done
	return p.value
}

func (p *Part[T]) name() string     { return p.label }
func (p *Part[T]) isRequired() bool { return p.required }
func (p *Part[T]) failure() error   { <-p.done; return p.err }

// Wait waits for every part to finish and releases the fan-out's context. When a required part
// failed, it returns that part's error, a gRPC status error. When the caller's context ended
// first, it returns CANCELLED or DEADLINE_EXCEEDED. Otherwise it returns the names of the
// optional parts that failed, in the order they were started (nil when none did).
func (f *FanOut) Wait() ([]string, error) {
	f.wg.Wait()
	f.stop()
	f.cancel(context.Canceled)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.required != nil {
		return nil, f.required
	}
	if err := f.parent.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	var degraded []string
	for _, p := range f.parts {
		err := p.failure()
		if err == nil || p.isRequired() {
			continue
		}
		degraded = append(degraded, p.name())
		st := status.Convert(err)
		f.logger.LogAttrs(f.parent, slog.LevelWarn, "composite part degraded",
			slog.String("request_id", edge.RequestIDFrom(f.parent)),
			slog.String("part", p.name()),
			slog.String("code", st.Code().String()),
			slog.String("error", st.Message()))
	}
	return degraded, nil
}
