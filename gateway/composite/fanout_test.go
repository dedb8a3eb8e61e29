package composite_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/composite"
)

func TestMain(m *testing.M) {
	// Fan-out parts run on workers that wait a while for the next part; an idle one (waiting
	// at the top of its loop) is not a leak, a worker still in a part is.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/archway-gateway/archway/gateway/composite.(*workers).work"))
}

// sleep returns a part that answers v after d, or fails with its context's status.
func sleep[T any](d time.Duration, v T) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		select {
		case <-time.After(d):
			return v, nil
		case <-ctx.Done():
			var zero T
			return zero, status.FromContextError(ctx.Err()).Err()
		}
	}
}

// fail returns a part that fails at once with err.
func fail[T any](err error) func(context.Context) (T, error) {
	return func(context.Context) (T, error) {
		var zero T
		return zero, err
	}
}

func TestFanOutAllSucceed(t *testing.T) {
	t.Parallel()
	f := composite.NewFanOut(t.Context(), time.Second)
	a := composite.Required(f, "a", sleep(150*time.Millisecond, 1))
	b := composite.Optional(f, "b", sleep(150*time.Millisecond, "two"))
	begin := time.Now()
	degraded, err := f.Wait()
	if err != nil || degraded != nil {
		t.Fatalf("Wait() = %v, %v; want no degraded parts and no error", degraded, err)
	}
	if a.Value() != 1 || b.Value() != "two" {
		t.Errorf("values %v, %q", a.Value(), b.Value())
	}
	// Run one after the other, they would take 300ms; the margin is wide for busy machines.
	if d := time.Since(begin); d >= 280*time.Millisecond {
		t.Errorf("two 150ms parts took %v: they did not run concurrently", d)
	}
}

func TestFanOutOptionalFailureDegrades(t *testing.T) {
	t.Parallel()
	f := composite.NewFanOut(t.Context(), time.Second)
	a := composite.Required(f, "a", sleep(10*time.Millisecond, "ok"))
	b := composite.Optional(f, "b", fail[*int](status.Error(codes.Unavailable, "down")))
	c := composite.Optional(f, "c", fail[int](errors.New("plain error")))
	degraded, err := f.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(degraded, []string{"b", "c"}) {
		t.Errorf("degraded = %v, want [b c] in declaration order", degraded)
	}
	if a.Value() != "ok" || b.Value() != nil || c.Value() != 0 {
		t.Errorf("values %q, %v, %v; want the failed ones zero", a.Value(), b.Value(), c.Value())
	}
}

func TestFanOutRequiredFailureCancelsTheRest(t *testing.T) {
	t.Parallel()
	var slowErr atomic.Value
	f := composite.NewFanOut(t.Context(), 10*time.Second)
	composite.Required(f, "a", func(context.Context) (int, error) {
		time.Sleep(5 * time.Millisecond)
		return 0, status.Error(codes.NotFound, "no such thing")
	})
	composite.Optional(f, "slow", func(ctx context.Context) (int, error) {
		<-ctx.Done()
		slowErr.Store(ctx.Err())
		return 0, ctx.Err()
	})
	begin := time.Now()
	degraded, err := f.Wait()
	if status.Code(err) != codes.NotFound || degraded != nil {
		t.Fatalf("Wait() = %v, %v; want the required part's NOT_FOUND", degraded, err)
	}
	if got, _ := slowErr.Load().(error); !errors.Is(got, context.Canceled) {
		t.Errorf("the slow part saw %v, want context.Canceled", got)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("Wait took %v after the required part failed", d)
	}
}

func TestFanOutBudget(t *testing.T) {
	t.Parallel()
	t.Run("optional part out of time is degraded", func(t *testing.T) {
		t.Parallel()
		// The budget runs from NewFanOut, so the clock starts before it.
		begin := time.Now()
		f := composite.NewFanOut(t.Context(), 50*time.Millisecond)
		fast := composite.Required(f, "fast", sleep(time.Millisecond, "ok"))
		composite.Optional(f, "hangs", sleep(time.Hour, "never"))
		degraded, err := f.Wait()
		if d := time.Since(begin); d < 50*time.Millisecond || d > 500*time.Millisecond {
			t.Errorf("Wait took %v, want about the 50ms budget", d)
		}
		if err != nil || !slices.Equal(degraded, []string{"hangs"}) || fast.Value() != "ok" {
			t.Errorf("Wait() = %v, %v; want [hangs] degraded", degraded, err)
		}
	})
	t.Run("required part out of time is DEADLINE_EXCEEDED", func(t *testing.T) {
		t.Parallel()
		f := composite.NewFanOut(t.Context(), 20*time.Millisecond)
		composite.Required(f, "hangs", sleep(time.Hour, 0))
		if _, err := f.Wait(); status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("Wait() error = %v, want DEADLINE_EXCEEDED", err)
		}
	})
	t.Run("each part sees the remaining budget", func(t *testing.T) {
		t.Parallel()
		f := composite.NewFanOut(t.Context(), time.Second)
		left := composite.Required(f, "deadline", func(ctx context.Context) (time.Duration, error) {
			d, ok := ctx.Deadline()
			if !ok {
				return 0, errors.New("no deadline")
			}
			return time.Until(d), nil
		})
		if _, err := f.Wait(); err != nil {
			t.Fatal(err)
		}
		if l := left.Value(); l <= 0 || l > time.Second {
			t.Errorf("part saw %v left, want within the 1s budget", l)
		}
	})
	t.Run("a tighter caller deadline wins", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		f := composite.NewFanOut(ctx, time.Hour)
		composite.Optional(f, "hangs", sleep(time.Hour, 0))
		if _, err := f.Wait(); status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("Wait() error = %v, want DEADLINE_EXCEEDED from the caller's deadline", err)
		}
	})
}

func TestFanOutCallerCancels(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	f := composite.NewFanOut(ctx, time.Hour)
	started := make(chan struct{}, 2)
	part := func(ctx context.Context) (int, error) {
		started <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err()
	}
	composite.Required(f, "a", part)
	composite.Optional(f, "b", part)
	<-started
	<-started
	cancel()
	if _, err := f.Wait(); status.Code(err) != codes.Canceled {
		t.Errorf("Wait() error = %v, want CANCELLED", err)
	}
}

func TestFanOutPanicBecomesError(t *testing.T) {
	t.Parallel()
	t.Run("optional", func(t *testing.T) {
		t.Parallel()
		f := composite.NewFanOut(t.Context(), time.Second)
		composite.Optional(f, "boom", func(context.Context) (int, error) { panic("kaboom") })
		degraded, err := f.Wait()
		if err != nil || !slices.Equal(degraded, []string{"boom"}) {
			t.Errorf("Wait() = %v, %v; want [boom] degraded", degraded, err)
		}
	})
	t.Run("required", func(t *testing.T) {
		t.Parallel()
		f := composite.NewFanOut(t.Context(), time.Second)
		composite.Required(f, "boom", func(context.Context) (int, error) { panic("kaboom") })
		_, err := f.Wait()
		if status.Code(err) != codes.Internal || !strings.Contains(status.Convert(err).Message(), "kaboom") {
			t.Errorf("Wait() error = %v, want INTERNAL naming the panic", err)
		}
	})
}

func TestFanOutDependentPart(t *testing.T) {
	t.Parallel()
	t.Run("runs as soon as its input is in", func(t *testing.T) {
		t.Parallel()
		f := composite.NewFanOut(t.Context(), time.Second)
		composite.Required(f, "slow", sleep(150*time.Millisecond, 0))
		first := composite.Optional(f, "first", sleep(25*time.Millisecond, 2))
		second := composite.Optional(f, "second", func(ctx context.Context) (int, error) {
			n, err := first.Await(ctx)
			if err != nil {
				return 0, err
			}
			return sleep(50*time.Millisecond, n*10)(ctx)
		})
		begin := time.Now()
		if _, err := f.Wait(); err != nil {
			t.Fatal(err)
		}
		// Overlapped: about 150ms; one after the other: 225ms.
		if d := time.Since(begin); d > 210*time.Millisecond {
			t.Errorf("took %v; the dependent chain (75ms) should overlap the 150ms part", d)
		}
		if second.Value() != 20 {
			t.Errorf("second = %d, want 20", second.Value())
		}
	})
	t.Run("fails with its input", func(t *testing.T) {
		t.Parallel()
		f := composite.NewFanOut(t.Context(), time.Second)
		first := composite.Optional(f, "first", fail[int](status.Error(codes.Unavailable, "down")))
		composite.Optional(f, "second", func(ctx context.Context) (int, error) { return first.Await(ctx) })
		degraded, err := f.Wait()
		if err != nil || !slices.Equal(degraded, []string{"first", "second"}) {
			t.Errorf("Wait() = %v, %v; want both degraded", degraded, err)
		}
	})
}
