package backend_test

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/backend"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// serverStreams is the HTTP/2 MAX_CONCURRENT_STREAMS of the capacity tests' backends: small, so
// that a test fills it with a few calls.
const serverStreams = 4

// heldCalls are GetUser calls that the backend holds until release is closed, unless pass is
// set.
type heldCalls struct {
	pass    atomic.Bool
	started chan struct{}
	release chan struct{}
}

func newHeldCalls() *heldCalls {
	return &heldCalls{started: make(chan struct{}, 100), release: make(chan struct{})}
}

func (h *heldCalls) behave(ctx context.Context, _ int64) error {
	if h.pass.Load() {
		return nil
	}
	h.started <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return nil
}

// startCapped serves users (each GetUser held by held) and WatchOrder (held until the caller
// goes away) on a loopback listener whose server allows serverStreams streams per connection.
func startCapped(t *testing.T, name string, held *heldCalls) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.MaxConcurrentStreams(serverStreams))
	usersv1.RegisterUserServiceServer(srv, &fakeUsers{name: name, behave: held.behave})
	ordersv1.RegisterOrderServiceServer(srv, &watchOrders{release: make(chan struct{})})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// cappedClients dials spec (users and orders, on the addresses given) with reg as its
// registerer.
func cappedClients(t *testing.T, spec backend.Spec, reg prometheus.Registerer) (usersv1.UserServiceClient, ordersv1.OrderServiceClient) {
	t.Helper()
	spec.Services = append(spec.Services, "storefront.orders.v1.OrderService")
	set, err := backend.Dial([]backend.Spec{spec}, backend.WithLogger(slog.New(slog.DiscardHandler)), backend.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	b, _ := set.ForService(usersService)
	return usersv1.NewUserServiceClient(b.Conn), ordersv1.NewOrderServiceClient(b.Conn)
}

// holdCalls starts n GetUser calls that the backend holds, and waits until it holds them all.
func holdCalls(t *testing.T, users usersv1.UserServiceClient, held *heldCalls, n int) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { _, _ = users.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada"}) })
	}
	for range n {
		select {
		case <-held.started:
		case <-time.After(waitFor):
			t.Fatalf("the backend never held %d calls", n)
		}
	}
	return &wg
}

// A call beyond what every instance can carry is refused at once, with UNAVAILABLE and
// RetryInfo, instead of waiting in grpc-go for a stream of the backend's connection until its
// deadline; the refusal does not count against the breaker.
func TestCallsBeyondCapacityFailFast(t *testing.T) {
	t.Parallel()
	held := newHeldCalls()
	spec := usersSpec(startCapped(t, "a", held))
	spec.MaxConcurrentCalls = serverStreams
	spec.Breaker = backend.Breaker{Enabled: true, FailureRatio: 0.5, MinRequests: 1, Window: time.Minute,
		OpenTimeout: time.Minute, HalfOpenRequests: 1, SlowCallThreshold: time.Second}
	reg := prometheus.NewRegistry()
	users, _ := cappedClients(t, spec, reg)
	wg := holdCalls(t, users, held, serverStreams)

	for range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		_, err := users.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada"})
		cancel()
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("call beyond capacity: %v, want UNAVAILABLE at once", err)
		}
		if secs, ok := backend.RetryAfter(err); !ok || secs != 1 {
			t.Errorf("RetryAfter of the refusal = %d, %v; want 1, true", secs, ok)
		}
	}
	if got := metricValue(t, reg, "archway_backend_rejected_total"); got != 3 {
		t.Errorf("rejected_total{reason=instance_full} = %v, want 3", got)
	}

	close(held.release)
	wg.Wait()
	if _, err := users.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada"}); err != nil {
		t.Errorf("call once there is room again: %v (the refusals must not open the breaker)", err)
	}
}

// Streams take at most MaxConcurrentStreams of an instance's MaxConcurrentCalls; the rest stays
// free for unary calls.
func TestStreamsLeaveRoomForUnaryCalls(t *testing.T) {
	t.Parallel()
	held := newHeldCalls()
	spec := usersSpec(startCapped(t, "a", held))
	spec.MaxConcurrentCalls, spec.MaxConcurrentStreams = serverStreams, serverStreams/2
	reg := prometheus.NewRegistry()
	users, orders := cappedClients(t, spec, reg)

	open := func() error {
		stream, err := orders.WatchOrder(t.Context(), &ordersv1.WatchOrderRequest{Name: "orders/1"})
		if err == nil {
			_, err = stream.Recv()
		}
		return err
	}
	for i := range serverStreams / 2 {
		if err := open(); err != nil {
			t.Fatalf("stream %d of %d: %v", i+1, serverStreams/2, err)
		}
	}
	if err := open(); status.Code(err) != codes.Unavailable {
		t.Fatalf("stream beyond the streams' share: %v, want UNAVAILABLE", err)
	}
	if got := metricValue(t, reg, "archway_backend_rejected_total"); got != 1 {
		t.Errorf("rejected_total{reason=stream_limit} = %v, want 1", got)
	}
	// The unary calls still have the rest of the instance, all of it at once.
	wg := holdCalls(t, users, held, serverStreams-serverStreams/2)
	close(held.release)
	wg.Wait()
}

// A call skips an instance that is full and goes to one with room.
func TestFullInstanceIsSkipped(t *testing.T) {
	t.Parallel()
	heldA, heldB := newHeldCalls(), newHeldCalls()
	spec := usersSpec(startCapped(t, "a", heldA), startCapped(t, "b", heldB))
	spec.MaxConcurrentCalls = 1
	users, _ := cappedClients(t, spec, prometheus.NewRegistry())
	heldA.pass.Store(true)
	heldB.pass.Store(true)
	// Until both connections are ready, every call goes to the first.
	if !poll(func() bool { got := servedBy(t, users, 4); return got["a"] > 0 && got["b"] > 0 }) {
		t.Fatal("calls never reached both instances")
	}
	heldA.pass.Store(false)
	// Calls until a holds one; those that reach b return.
	var wg sync.WaitGroup
	for holding := false; !holding; {
		returned := make(chan struct{})
		wg.Go(func() {
			defer close(returned)
			_, _ = users.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada"})
		})
		select {
		case <-heldA.started:
			holding = true
		case <-returned:
		}
	}
	for i := range 10 {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		u, err := users.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada"})
		cancel()
		if err != nil || u.GetDisplayName() != "b" {
			t.Fatalf("call %d with a full: served by %q, %v; want b", i+1, u.GetDisplayName(), err)
		}
	}
	close(heldA.release)
	wg.Wait()
}
