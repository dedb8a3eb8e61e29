package backend

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/connectivity"
)

// capacity is what each instance of one backend may carry at once: maxCalls calls and streams
// on its connection, of which at most maxStreams streams. A call that no ready instance has
// room for is refused by the picker at once, with UNAVAILABLE and a RetryInfo detail, rather
// than queued inside grpc-go until the backend's HTTP/2 MAX_CONCURRENT_STREAMS frees a stream.
type capacity struct {
	maxCalls, maxStreams int64
	// callsFull and streamsFull are the refusals, built once; the guard tells them from the
	// backend's own UNAVAILABLE so that they do not count against the breaker.
	callsFull, streamsFull error

	rejectedCalls, rejectedStreams prometheus.Counter
}

// newCapacity returns the capacity of spec's instances, or nil when spec sets no limit.
func newCapacity(spec Spec, m *metrics) *capacity {
	if spec.MaxConcurrentCalls <= 0 {
		return nil
	}
	c := &capacity{maxCalls: int64(spec.MaxConcurrentCalls), maxStreams: int64(spec.MaxConcurrentCalls)}
	if s := spec.MaxConcurrentStreams; s > 0 && s < spec.MaxConcurrentCalls {
		c.maxStreams = int64(s)
	}
	c.callsFull = refusal(fmt.Sprintf("%s: every instance is at its limit of %d concurrent calls",
		spec.Name, c.maxCalls), time.Second)
	c.streamsFull = refusal(fmt.Sprintf("%s: every instance is at its limit of %d concurrent streams",
		spec.Name, c.maxStreams), time.Second)
	c.rejectedCalls = m.rejected.WithLabelValues(spec.Name, reasonInstanceFull)
	c.rejectedStreams = m.rejected.WithLabelValues(spec.Name, reasonStreamLimit)
	return c
}

// slots counts what one instance carries now.
type slots struct {
	calls, streams atomic.Int64
}

// Outcomes of take.
const (
	taken = iota
	callsFull
	streamsFull
)

// take reserves a slot on s for a call, or a stream, and reports taken, or which limit s is at.
func (c *capacity) take(s *slots, stream bool) int {
	if s.calls.Add(1) > c.maxCalls {
		s.calls.Add(-1)
		return callsFull
	}
	if stream && s.streams.Add(1) > c.maxStreams {
		s.streams.Add(-1)
		s.calls.Add(-1)
		return streamsFull
	}
	return taken
}

// give frees the slot that take reserved.
func (c *capacity) give(s *slots, stream bool) {
	if stream {
		s.streams.Add(-1)
	}
	s.calls.Add(-1)
}

// streamCallKey marks the context of a stream, for the picker: the guard's stream interceptor
// sets it, and a call without it is unary.
type streamCallKey struct{}

func isStream(ctx context.Context) bool {
	return ctx != nil && ctx.Value(streamCallKey{}) != nil
}

// capacityPicker is round_robin's pick among the ready instances, skipping those without room:
// the call goes to the next instance that has room, and is refused when none has.
type capacityPicker struct {
	cap      *capacity
	children []capacityChild
	next     atomic.Uint32
}

type capacityChild struct {
	picker balancer.Picker
	slots  *slots
}

// newCapacityPicker wraps round_robin's picker when the backend has a capacity and some
// instance is ready; otherwise round_robin's picker is returned as it is (it queues or fails
// calls while no instance is ready). bySlot holds each instance's slots by its first address,
// kept across pickers; it is pruned to the instances in children.
func newCapacityPicker(c *capacity, s balancer.State, children []endpointsharding.ChildState, bySlot map[string]*slots) balancer.Picker {
	if c == nil {
		return s.Picker
	}
	seen := make(map[string]bool, len(children))
	p := &capacityPicker{cap: c}
	for _, ch := range children {
		if len(ch.Endpoint.Addresses) == 0 {
			continue
		}
		addr := ch.Endpoint.Addresses[0].Addr
		seen[addr] = true
		sl := bySlot[addr]
		if sl == nil {
			sl = &slots{}
			bySlot[addr] = sl
		}
		if ch.State.ConnectivityState == connectivity.Ready {
			p.children = append(p.children, capacityChild{picker: ch.State.Picker, slots: sl})
		}
	}
	for addr := range bySlot {
		if !seen[addr] {
			delete(bySlot, addr)
		}
	}
	if s.ConnectivityState != connectivity.Ready || len(p.children) == 0 {
		return s.Picker
	}
	p.next.Store(rand.Uint32())
	return p
}

func (p *capacityPicker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	stream := isStream(info.Ctx)
	n := uint32(len(p.children))
	start := p.next.Add(1)
	streamLimited := false
	for i := range n {
		ch := &p.children[(start+i)%n]
		switch p.cap.take(ch.slots, stream) {
		case callsFull:
			continue
		case streamsFull:
			streamLimited = true
			continue
		}
		res, err := ch.picker.Pick(info)
		if err != nil {
			p.cap.give(ch.slots, stream)
			return res, err
		}
		done := res.Done
		res.Done = func(di balancer.DoneInfo) {
			p.cap.give(ch.slots, stream)
			if done != nil {
				done(di)
			}
		}
		return res, nil
	}
	if streamLimited {
		p.cap.rejectedStreams.Inc()
		return balancer.PickResult{}, p.cap.streamsFull
	}
	p.cap.rejectedCalls.Inc()
	return balancer.PickResult{}, p.cap.callsFull
}
