package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
)

// balancerName is the load-balancing policy of every backend: gRPC's round_robin, unchanged,
// seen through a window that records what it resolved and the state of each instance, for
// [Set.Status]. Recording costs nothing per call: it happens on state changes only.
const balancerName = "archway_round_robin"

func init() { balancer.Register(recordingBuilder{}) }

// recorders maps the id in a backend's balancer config to its recorder, so that the balancer
// gRPC builds inside a ClientConn finds the Set that dialled it. Set.Close removes its entries.
var (
	recorders    sync.Map // uint64 → *recorder
	nextRecorder atomic.Uint64
)

// recorder holds the latest view of one backend's balancer.
type recorder struct {
	id uint64

	mu sync.Mutex
	// owner is the balancer that wrote last: gRPC builds a new one when the ClientConn leaves
	// idle, and a closing one must not wipe its successor's view.
	owner       *recordingBalancer
	endpoints   []resolver.Endpoint
	states      map[string]connectivity.State // by the endpoint's first address
	resolverErr string

	// cap is the backend's capacity per instance, nil when it has none.
	cap *capacity
}

func newRecorder(c *capacity) *recorder {
	r := &recorder{id: nextRecorder.Add(1), cap: c}
	recorders.Store(r.id, r)
	return r
}

// Instance is one resolved backend instance.
type Instance struct {
	// Addresses are the instance's addresses, usually one.
	Addresses []string `json:"addresses"`
	// State is the instance's connectivity state as round_robin sees it: READY instances take
	// calls; with health checking on, an instance that does not report SERVING is
	// TRANSIENT_FAILURE (or CONNECTING while its first health answer is awaited).
	State string `json:"state"`
}

// instances returns the resolved instances with their latest states; an instance not yet
// reported is IDLE.
func (r *recorder) instances() ([]Instance, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Instance, 0, len(r.endpoints))
	for _, ep := range r.endpoints {
		in := Instance{State: connectivity.Idle.String()}
		for _, a := range ep.Addresses {
			in.Addresses = append(in.Addresses, a.Addr)
		}
		if len(in.Addresses) > 0 {
			if st, ok := r.states[in.Addresses[0]]; ok {
				in.State = st.String()
			}
		}
		out = append(out, in)
	}
	return out, r.resolverErr
}

type recordingBuilder struct{}

func (recordingBuilder) Name() string { return balancerName }

func (recordingBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	b := &recordingBalancer{}
	b.Balancer = balancer.Get(roundrobin.Name).Build(&recordingConn{ClientConn: cc, b: b}, opts)
	return b
}

// recordingConfig is the balancer's config: the id of the backend's recorder.
type recordingConfig struct {
	serviceconfig.LoadBalancingConfig
	Recorder uint64 `json:"recorder,string"`
}

func (recordingBuilder) ParseConfig(js json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	var cfg recordingConfig
	if err := json.Unmarshal(js, &cfg); err != nil {
		return nil, fmt.Errorf("%s config: %w", balancerName, err)
	}
	return &cfg, nil
}

// recordingBalancer is round_robin, recording the resolver's updates and errors, and picking
// only instances with room when the backend has a capacity (capacity.go).
type recordingBalancer struct {
	balancer.Balancer
	rec atomic.Pointer[recorder]

	// slots holds what each instance carries, by its first address, across pickers.
	slotsMu sync.Mutex
	slots   map[string]*slots
}

func (b *recordingBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	if cfg, ok := s.BalancerConfig.(*recordingConfig); ok {
		if v, found := recorders.Load(cfg.Recorder); found {
			b.rec.Store(v.(*recorder))
		}
	}
	if r := b.rec.Load(); r != nil {
		r.mu.Lock()
		r.owner = b
		r.endpoints = endpointsOf(s.ResolverState)
		r.resolverErr = ""
		r.mu.Unlock()
	}
	return b.Balancer.UpdateClientConnState(s)
}

// endpointsOf returns the resolver's endpoints, or one endpoint per address for a resolver
// that reports addresses only.
func endpointsOf(s resolver.State) []resolver.Endpoint {
	if len(s.Endpoints) > 0 {
		return s.Endpoints
	}
	eps := make([]resolver.Endpoint, len(s.Addresses))
	for i, a := range s.Addresses {
		eps[i] = resolver.Endpoint{Addresses: []resolver.Address{a}}
	}
	return eps
}

func (b *recordingBalancer) ResolverError(err error) {
	if r := b.rec.Load(); r != nil {
		r.mu.Lock()
		r.owner = b
		r.resolverErr = err.Error()
		r.mu.Unlock()
	}
	b.Balancer.ResolverError(err)
}

func (b *recordingBalancer) Close() {
	if r := b.rec.Load(); r != nil {
		r.mu.Lock()
		if r.owner == b {
			r.owner, r.endpoints, r.states, r.resolverErr = nil, nil, nil, ""
		}
		r.mu.Unlock()
	}
	b.Balancer.Close()
}

// recordingConn sees round_robin's pickers, which carry the state of every instance, and
// wraps them in the capacity picker.
type recordingConn struct {
	balancer.ClientConn
	b *recordingBalancer
}

func (c *recordingConn) UpdateState(s balancer.State) {
	if r := c.b.rec.Load(); r != nil {
		children := endpointsharding.ChildStatesFromPicker(s.Picker)
		if r.cap != nil {
			c.b.slotsMu.Lock()
			if c.b.slots == nil {
				c.b.slots = make(map[string]*slots)
			}
			s.Picker = newCapacityPicker(r.cap, s, children, c.b.slots)
			c.b.slotsMu.Unlock()
		}
		states := make(map[string]connectivity.State, len(children))
		for _, ch := range children {
			if len(ch.Endpoint.Addresses) > 0 {
				states[ch.Endpoint.Addresses[0].Addr] = ch.State.ConnectivityState
			}
		}
		r.mu.Lock()
		if r.owner == c.b && children != nil {
			r.states = states
		}
		r.mu.Unlock()
	}
	c.ClientConn.UpdateState(s)
}

// Status is a backend as the gateway sees it, for the admin listener.
type Status struct {
	Name string `json:"name"`
	// Target or Addresses is what the configuration names.
	Target    string   `json:"target,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	Services  []string `json:"services"`
	// State is the ClientConn's connectivity state: IDLE until the first call, then READY
	// while at least one instance takes calls.
	State string `json:"state"`
	// Instances are the resolved instances, empty while the ClientConn is idle.
	Instances []Instance `json:"instances"`
	// ResolverError is the resolver's latest error, such as a failed DNS lookup.
	ResolverError string `json:"resolver_error,omitempty"`
	HealthCheck   bool   `json:"health_check"`
	// Breaker is "disabled", "closed", "half-open" or "open".
	Breaker string `json:"breaker"`
	// InFlight counts the calls and open streams now; MaxInFlight is their limit (0: none).
	InFlight    int64 `json:"in_flight"`
	MaxInFlight int   `json:"max_in_flight"`
}

// Status returns every backend's status, in configuration order. It starts no connection.
func (s *Set) Status() []Status {
	out := make([]Status, 0, len(s.backends))
	for _, b := range s.backends {
		st := Status{
			Name:        b.Name,
			Target:      b.Target,
			Addresses:   b.Addresses,
			Services:    b.Services,
			State:       b.Conn.GetState().String(),
			HealthCheck: b.HealthCheck,
			Breaker:     "disabled",
			InFlight:    b.guard.inFlight.Load(),
			MaxInFlight: b.MaxInFlight,
		}
		st.Instances, st.ResolverError = b.rec.instances()
		if b.guard.breaker != nil {
			st.Breaker = b.guard.breaker.State().String()
		}
		out = append(out, st)
	}
	return out
}

// Readiness is one backend's readiness, as the gateway's connection to it sees it.
type Readiness struct {
	Backend  string   `json:"backend"`
	Services []string `json:"services"`
	// State is the ClientConn's connectivity state: READY while at least one instance takes
	// calls, which, with health checking on, means it reports SERVING.
	State string `json:"state"`
}

// Ready reports whether every backend has an instance that takes calls, and each backend's
// state, in configuration order. It calls no backend: the state is what the ClientConns keep
// up to date from their connections and, with health checking on, from the health of every
// instance, which they watch over one stream each. A connection that is idle (never used, or
// unused for long) is started, and Ready waits up to wait for connections that are starting
// to settle, so a backend that is up is not reported unready only because nothing has called
// it lately.
func (s *Set) Ready(ctx context.Context, wait time.Duration) ([]Readiness, bool) {
	out := make([]Readiness, len(s.backends))
	ready := true
	var settling []int
	for i, b := range s.backends {
		st := b.Conn.GetState()
		if st == connectivity.Idle {
			b.Conn.Connect()
		}
		if st == connectivity.Idle || st == connectivity.Connecting {
			settling = append(settling, i)
		}
		out[i] = Readiness{Backend: b.Name, Services: b.Services, State: st.String()}
		ready = ready && st == connectivity.Ready
	}
	if len(settling) == 0 {
		return out, ready
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var wg sync.WaitGroup
	for _, i := range settling {
		wg.Go(func() { out[i].State = settle(ctx, s.backends[i].Conn).String() })
	}
	wg.Wait()
	ready = true
	for _, r := range out {
		ready = ready && r.State == connectivity.Ready.String()
	}
	return out, ready
}

// settle waits until conn is neither idle nor connecting, or ctx ends, and returns its state.
func settle(ctx context.Context, conn *grpc.ClientConn) connectivity.State {
	for {
		st := conn.GetState()
		if st != connectivity.Idle && st != connectivity.Connecting {
			return st
		}
		if !conn.WaitForStateChange(ctx, st) {
			return conn.GetState()
		}
	}
}
