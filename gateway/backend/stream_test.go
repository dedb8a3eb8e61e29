package backend_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/backend"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// watchOrders serves WatchOrder: one event, then it holds the stream until release is closed
// or the caller goes away.
type watchOrders struct {
	ordersv1.UnimplementedOrderServiceServer
	release chan struct{}
}

func (w *watchOrders) WatchOrder(_ *ordersv1.WatchOrderRequest, stream grpc.ServerStreamingServer[ordersv1.OrderEvent]) error {
	if err := stream.Send(&ordersv1.OrderEvent{}); err != nil {
		return err
	}
	select {
	case <-w.release:
	case <-stream.Context().Done():
	}
	return nil
}

// An open stream holds an in-flight slot until it ends, whether the caller reads it to the end
// or cancels it.
func TestStreamsHoldTheirInFlightSlotUntilTheyEnd(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	orders := &watchOrders{release: make(chan struct{})}
	ordersv1.RegisterOrderServiceServer(srv, orders)
	usersv1.RegisterUserServiceServer(srv, &fakeUsers{name: "a"})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	spec := usersSpec(ln.Addr().String())
	spec.Services = append(spec.Services, "storefront.orders.v1.OrderService")
	spec.MaxInFlight = 1
	set, err := backend.Dial([]backend.Spec{spec}, backend.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	b, _ := set.ForService(usersService)
	users, watch := usersv1.NewUserServiceClient(b.Conn), ordersv1.NewOrderServiceClient(b.Conn)
	getUser := func() error {
		_, err := users.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada"})
		return err
	}
	open := func(ctx context.Context) grpc.ServerStreamingClient[ordersv1.OrderEvent] {
		t.Helper()
		stream, err := watch.WatchOrder(ctx, &ordersv1.WatchOrderRequest{Name: "orders/1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		return stream
	}

	t.Run("read to the end", func(t *testing.T) {
		stream := open(t.Context())
		if err := getUser(); status.Code(err) != codes.Unavailable {
			t.Fatalf("call beside an open stream: %v, want UNAVAILABLE (limit 1)", err)
		}
		orders.release <- struct{}{}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("Recv at the end: %v, want io.EOF", err)
		}
		if err := getUser(); err != nil {
			t.Errorf("call after the stream ended: %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		open(ctx)
		cancel()
		if !poll(func() bool { return getUser() == nil }) {
			t.Error("the slot of the cancelled stream was never freed")
		}
	})
}
