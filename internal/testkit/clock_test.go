package testkit_test

import (
	"sync"
	"testing"
	"time"

	"github.com/archway-gateway/archway/internal/testkit"
)

func TestClockStandsStillUntilAdvanced(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := testkit.NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want the start %v", got, start)
	}
	time.Sleep(2 * time.Millisecond)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v after real time passed, want the start %v", got, start)
	}
	for _, step := range []struct {
		advance time.Duration
		want    time.Time
	}{
		{time.Second, start.Add(time.Second)},
		{90 * time.Minute, start.Add(90*time.Minute + time.Second)},
		{-time.Second, start.Add(90 * time.Minute)},
		{0, start.Add(90 * time.Minute)},
	} {
		c.Advance(step.advance)
		if got := c.Now(); !got.Equal(step.want) {
			t.Errorf("after Advance(%v): Now() = %v, want %v", step.advance, got, step.want)
		}
	}
}

func TestClockConcurrentUse(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	c := testkit.NewClock(start)
	const goroutines, steps = 4, 100
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range steps {
				c.Advance(time.Millisecond)
				if c.Now().Before(start) {
					t.Error("the clock went back")
				}
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(goroutines*steps*time.Millisecond); !got.Equal(want) {
		t.Errorf("Now() = %v, want %v", got, want)
	}
}
