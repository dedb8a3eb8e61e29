package bench_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/archway-gateway/archway/bench"
)

func TestMain(m *testing.M) {
	// The gateways these tests run serve composites, whose parts run on workers that wait a
	// while for the next part: an idle one is not a leak.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/archway-gateway/archway/gateway/composite.(*workers).work"))
}

// A target that stalls once, for 200 ms, while it can serve one request at a time: a closed-loop
// generator would record one slow request; the open loop must charge the stall to every request
// scheduled during it.
func TestOpenLoopMeasuresFromIntendedSendTime(t *testing.T) {
	t.Parallel()
	const stall = 200 * time.Millisecond
	var n atomic.Int64
	do := func(ctx context.Context) error {
		if n.Add(1) == 100 {
			select {
			case <-time.After(stall):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	res, err := bench.OpenLoop{Rate: 500, Duration: time.Second, MaxInFlight: 1}.Run(t.Context(), do)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 500 || res.Errors != 0 {
		t.Fatalf("sent %d with %d errors, want 500 with none", res.Sent, res.Errors)
	}
	// About 100 requests were due during the stall; three quarters of them waited 50 ms or
	// more, 15% of all requests. Slower machines only make the figures larger.
	if got := res.Percentile(90); got < 50*time.Millisecond {
		t.Errorf("p90 = %v, want at least 50ms: the stall is hidden (coordinated omission)", got)
	}
	if got := res.Max(); got < stall {
		t.Errorf("max = %v, want at least the %v stall", got, stall)
	}
}

func TestOpenLoopCountsErrors(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	boom := errors.New("boom")
	do := func(context.Context) error {
		if n.Add(1)%4 == 0 {
			return boom
		}
		return nil
	}
	res, err := bench.OpenLoop{Rate: 400, Duration: 100 * time.Millisecond}.Run(t.Context(), do)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 40 || res.Errors != 10 || !errors.Is(res.FirstError, boom) {
		t.Errorf("sent %d, errors %d, first error %v; want 40, 10, boom", res.Sent, res.Errors, res.FirstError)
	}
	if res.Latency.TotalCount() != 40 {
		t.Errorf("recorded %d latencies, want all 40, failures included", res.Latency.TotalCount())
	}
}

func TestOpenLoopStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := bench.OpenLoop{Rate: 10, Duration: time.Minute}.Run(ctx, func(context.Context) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
}

func TestClosedLoopIsBoundedInCount(t *testing.T) {
	t.Parallel()
	start := time.Now()
	res, err := bench.ClosedLoop{Workers: 2, Duration: time.Minute, MaxRequests: 5}.Run(t.Context(), func(context.Context) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 10 {
		t.Errorf("sent %d, want 2 workers × 5", res.Sent)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("the run did not stop at its request limit")
	}
}

func TestInvalidRuns(t *testing.T) {
	t.Parallel()
	nop := func(context.Context) error { return nil }
	if _, err := (bench.OpenLoop{Duration: time.Second}).Run(t.Context(), nop); err == nil {
		t.Error("OpenLoop without a rate: no error")
	}
	if _, err := (bench.ClosedLoop{Duration: time.Second}).Run(t.Context(), nop); err == nil {
		t.Error("ClosedLoop without workers: no error")
	}
}
