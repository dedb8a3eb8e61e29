package composite

import (
	"testing"
	"time"
)

// TestWorkersAreReused checks that a worker that finished a part takes the next one, and that
// an idle worker exits after its idle time.
func TestWorkersAreReused(t *testing.T) {
	t.Parallel()
	w := &workers{parts: make(chan func()), idle: 100 * time.Millisecond}
	done := make(chan struct{})
	w.Go(func() { close(done) })
	<-done
	// Only a worker waiting for a part receives from w.parts: the send succeeds once the
	// first worker is back at the top of its loop.
	ran := make(chan struct{})
	select {
	case w.parts <- func() { close(ran) }:
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not take a second part")
	}
	<-ran
	// Any part resets the idle time, so the check is one try, well after it.
	time.Sleep(10 * w.idle)
	select {
	case w.parts <- func() {}:
		t.Errorf("an idle worker still took a part %v after its %v idle time", 10*w.idle, w.idle)
	default:
	}
}
