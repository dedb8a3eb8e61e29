package composite

import "time"

// workers runs the parts of fan-outs on goroutines that outlive one part.
//
// A fresh goroutine starts with a small stack, and a backend call through the gRPC client and
// its interceptors runs deep enough to grow it several times: in a CPU profile of the composite
// workload, copying stacks was about 6% of the gateway's time. A goroutine that has served a
// part keeps its grown stack for the next one: after a part it waits up to idle for another,
// then exits. A part never waits for a worker: when none is free, a new one starts.
type workers struct {
	parts chan func()
	idle  time.Duration
}

// partWorkers runs the parts of every FanOut.
var partWorkers = &workers{parts: make(chan func()), idle: 10 * time.Second}

// Go runs part on a free worker, or on a new one when none is free.
func (w *workers) Go(part func()) {
	select {
	case w.parts <- part:
	default:
		go w.work(part)
	}
}

func (w *workers) work(part func()) {
	t := time.NewTimer(w.idle)
	defer t.Stop()
	for {
		part()
		t.Reset(w.idle)
		select {
		case part = <-w.parts:
		case <-t.C:
			return
		}
	}
}
