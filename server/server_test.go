package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/internal/testkit"
	"github.com/archway-gateway/archway/server"
	"github.com/archway-gateway/archway/server/internal/servertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// panicking is a UserService whose GetUser panics.
type panicking struct {
	usersv1.UnimplementedUserServiceServer
}

func (panicking) GetUser(context.Context, *usersv1.GetUserRequest) (*usersv1.User, error) {
	panic("secret detail: database password is hunter2")
}

func TestChain(t *testing.T) {
	t.Parallel()
	conn := servertest.Dial(t, func(r grpc.ServiceRegistrar) { usersv1.RegisterUserServiceServer(r, panicking{}) })
	c := usersv1.NewUserServiceClient(conn)
	ctx := t.Context()

	t.Run("panic becomes INTERNAL", func(t *testing.T) {
		t.Parallel()
		_, err := c.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada-lovelace"})
		servertest.Code(t, err, codes.Internal)
		if msg := status.Convert(err).Message(); msg != "internal error" {
			t.Errorf("message = %q, want the generic %q", msg, "internal error")
		}
	})
	t.Run("validation before the handler", func(t *testing.T) {
		t.Parallel()
		// The handler would panic; validation must answer first.
		_, err := c.GetUser(ctx, &usersv1.GetUserRequest{Name: "Ada"})
		if v := servertest.Violations(t, err); len(v) != 1 || v["name"] == "" {
			t.Errorf("violations = %v, want exactly one on name", v)
		}
	})
	t.Run("one violation per rule, with paths", func(t *testing.T) {
		t.Parallel()
		_, err := c.CreateUser(ctx, &usersv1.CreateUserRequest{User: &usersv1.User{
			Email: "nope",
			Tags:  []string{"ok", ""},
		}})
		v := servertest.Violations(t, err)
		for _, f := range []string{"user.display_name", "user.email", "user.tags[1]"} {
			if v[f] == "" {
				t.Errorf("violations = %v, want one on %s", v, f)
			}
		}
	})
	t.Run("unimplemented passes through", func(t *testing.T) {
		t.Parallel()
		_, err := c.DeleteUser(ctx, &usersv1.DeleteUserRequest{Name: "users/ada-lovelace"})
		servertest.Code(t, err, codes.Unimplemented)
	})
}

func TestPanicIsLogged(t *testing.T) {
	t.Parallel()
	var buf testkit.LogBuffer
	srv := server.NewGRPCServer(slog.New(slog.NewJSONHandler(&buf, nil)), nil, func(r grpc.ServiceRegistrar) {
		usersv1.RegisterUserServiceServer(r, panicking{})
	})
	addr := startOn(t, srv)
	_, err := usersv1.NewUserServiceClient(dial(t, addr)).GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/x"})
	servertest.Code(t, err, codes.Internal)
	logs := buf.String()
	for _, want := range []string{`"msg":"panic recovered"`, "hunter2", "GetUser", "server_test.go"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

// startOn serves srv on a loopback listener until the test ends and returns its address.
func startOn(t *testing.T, srv *grpc.Server) string {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return l.Addr().String()
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// start runs a Storefront until the test ends, logging JSON into logs.
func start(t *testing.T, opts server.Options, logs io.Writer) *server.Storefront {
	t.Helper()
	if logs != nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	sf, err := server.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sf.Stop)
	return sf
}

func TestStartAll(t *testing.T) {
	t.Parallel()
	var logs testkit.LogBuffer
	sf := start(t, server.Options{}, &logs)
	ctx := t.Context()

	listening := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var rec struct{ Level, Msg, Service, Addr string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if rec.Msg == "listening" && rec.Level == "INFO" {
			listening[rec.Service] = rec.Addr
		}
	}
	services := map[string]string{
		server.Users:   "storefront.users.v1.UserService",
		server.Orders:  "storefront.orders.v1.OrderService",
		server.Catalog: "storefront.catalog.v1.CatalogService",
	}
	for name, full := range services {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr := sf.Addr(name)
			if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
				t.Fatalf("Addr(%q) = %q, want a bound loopback port", name, addr)
			}
			if listening[name] != addr {
				t.Errorf("logged addr %q for %s, want %q", listening[name], name, addr)
			}
			conn := dial(t, addr)
			hc := healthpb.NewHealthClient(conn)
			for _, svc := range []string{full, ""} {
				resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
				if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					t.Errorf("health of %q = %v, %v; want SERVING", svc, resp.GetStatus(), err)
				}
			}
			if got := reflectedServices(t, conn); !slices.Contains(got, full) || !slices.Contains(got, "grpc.health.v1.Health") {
				t.Errorf("reflection lists %v, want %s and health", got, full)
			}
			for other, otherFull := range services {
				if other == name {
					continue
				}
				_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: otherFull})
				servertest.Code(t, err, codes.NotFound)
			}
		})
	}
	if sf.Addr("payments") != "" {
		t.Error("Addr of an unknown service is not empty")
	}

	t.Run("orders prices from the in-process catalog", func(t *testing.T) {
		t.Parallel()
		o, err := ordersv1.NewOrderServiceClient(dial(t, sf.Addr(server.Orders))).CreateOrder(ctx, &ordersv1.CreateOrderRequest{
			Parent: "users/ada-lovelace",
			Order:  &ordersv1.Order{Items: []*ordersv1.LineItem{{ProductId: "sku-grinder-hand", Quantity: 2}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if o.GetTotalMinor() != 17800 {
			t.Errorf("total = %d, want 17800", o.GetTotalMinor())
		}
	})
}

func reflectedServices(t *testing.T, conn *grpc.ClientConn) []string {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stream.CloseSend() }()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names
}

func TestStartSplit(t *testing.T) {
	t.Parallel()
	cat := start(t, server.Options{Services: []string{server.Catalog}}, nil)
	ord := start(t, server.Options{
		Services:      []string{server.Orders},
		CatalogTarget: cat.Addr(server.Catalog),
		Addrs:         map[string]string{server.Orders: "127.0.0.1:0", server.Users: "ignored:1"},
	}, nil)
	if ord.Addr(server.Catalog) != "" || ord.Addr(server.Users) != "" {
		t.Error("services started that were not asked for")
	}
	ctx := t.Context()
	if _, err := catalogv1.NewCatalogServiceClient(dial(t, cat.Addr(server.Catalog))).AdjustStock(ctx,
		&catalogv1.AdjustStockRequest{ProductId: "sku-aeropress", Delta: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := ordersv1.NewOrderServiceClient(dial(t, ord.Addr(server.Orders))).CreateOrder(ctx, &ordersv1.CreateOrderRequest{
		Parent: "users/ada-lovelace",
		Order:  &ordersv1.Order{Items: []*ordersv1.LineItem{{ProductId: "sku-unknown", Quantity: 1}}},
	})
	if v := servertest.Violations(t, err); v["order.items[0].product_id"] == "" {
		t.Errorf("violations = %v, want the remote catalog's verdict on order.items[0].product_id", v)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	busy := start(t, server.Options{Services: []string{server.Users}}, nil)
	tests := []struct {
		name string
		opts server.Options
		want string
	}{
		{"unknown service", server.Options{Services: []string{"users", "payments"}}, "unknown service"},
		{"twice", server.Options{Services: []string{"users", "users"}}, "twice"},
		{"orders without catalog", server.Options{Services: []string{"orders"}}, "CatalogTarget"},
		{"address in use", server.Options{Services: []string{"catalog", "users"}, Addrs: map[string]string{"users": busy.Addr(server.Users)}}, "users"},
		{"bad address", server.Options{Services: []string{"catalog"}, Addrs: map[string]string{"catalog": "not an address"}}, "catalog"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sf, err := server.Start(t.Context(), tt.opts)
			if err == nil {
				sf.Stop()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestShutdownEndsWatches(t *testing.T) {
	t.Parallel()
	sf, err := server.Start(t.Context(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t, sf.Addr(server.Orders))
	stream, err := ordersv1.NewOrderServiceClient(conn).WatchOrder(t.Context(), &ordersv1.WatchOrderRequest{Name: "orders/ord-1025"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	began := time.Now()
	if err := sf.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("Shutdown took %v with a watch open", d)
	}
	_, err = stream.Recv()
	servertest.Code(t, err, codes.Unavailable)
	if err := sf.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	select {
	case err := <-sf.Err():
		t.Errorf("Err() after Shutdown sent %v", err)
	default:
	}
}

func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	sf, err := server.Start(t.Context(), server.Options{Services: []string{server.Users}})
	if err != nil {
		t.Fatal(err)
	}
	// A reflection stream lasts until its client closes it, so a graceful stop waits for the
	// deadline.
	stream, err := reflectionpb.NewServerReflectionClient(dial(t, sf.Addr(server.Users))).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	req := &reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := sf.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
}

func TestShutdownReportsNotServingThenEndsHealthWatches(t *testing.T) {
	t.Parallel()
	sf, err := server.Start(t.Context(), server.Options{Services: []string{server.Users}})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := healthpb.NewHealthClient(dial(t, sf.Addr(server.Users))).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first watch answer: %v, %v; want SERVING", resp, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	began := time.Now()
	if err := sf.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a health watch open: %v", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("Shutdown took %v with a health watch open", d)
	}
	if resp, err := stream.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch answer after Shutdown: %v, %v; want NOT_SERVING", resp, err)
	}
	_, err = stream.Recv()
	servertest.Code(t, err, codes.Unavailable)
}

func TestMaxConnectionAgeSendsGoAway(t *testing.T) {
	t.Parallel()
	sf := start(t, server.Options{
		Services:              []string{server.Users},
		MaxConnectionAge:      200 * time.Millisecond,
		MaxConnectionAgeGrace: time.Second,
	}, nil)
	conn := dial(t, sf.Addr(server.Users))
	client := usersv1.NewUserServiceClient(conn)
	if _, err := client.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada-lovelace"}); err != nil {
		t.Fatal(err)
	}
	// The server's GOAWAY takes the idle connection from READY to IDLE, with no call from the
	// client; the next call connects again.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if !conn.WaitForStateChange(ctx, connectivity.Ready) {
		t.Fatalf("connection still %s after 5s: no GOAWAY", conn.GetState())
	}
	if st := conn.GetState(); st != connectivity.Idle {
		t.Errorf("state after the connection's maximum age = %s, want IDLE", st)
	}
	if _, err := client.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada-lovelace"}); err != nil {
		t.Errorf("call after GOAWAY: %v", err)
	}
}
