package backend_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/archway-gateway/archway/gateway/backend"
	"github.com/archway-gateway/archway/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startHealth serves gRPC health on a loopback listener and returns its address.
func startHealth(t *testing.T) (string, *health.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), hs
}

// TestReadyFollowsWatchedState checks that Ready reports what the connections watch, a backend
// down or an instance NOT_SERVING, and that it makes no health check call to learn it.
func TestReadyFollowsWatchedState(t *testing.T) {
	addr, hs := startHealth(t)
	var checks atomic.Int64
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	set, err := backend.Dial([]backend.Spec{
		{Name: "one", Target: addr, Services: []string{"a.v1.A"}, HealthCheck: true},
		{Name: "down", Target: "127.0.0.1:1", Services: []string{"c.v1.C"}, MaxReconnectBackoff: time.Second},
	}, backend.WithLogger(slog.New(slog.DiscardHandler)),
		backend.WithDialOptions(grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			checks.Add(1)
			return invoker(ctx, method, req, reply, cc, opts...)
		})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })

	got, ready := set.Ready(t.Context(), 2*time.Second)
	if ready || len(got) != 2 || got[0].Backend != "one" || got[0].State != "READY" ||
		got[1].Backend != "down" || got[1].State == "READY" {
		t.Fatalf("Ready = %+v, %v: want one READY, down not, not ready", got, ready)
	}

	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	one := backend.Spec{Name: "one", Target: addr, Services: []string{"a.v1.A"}, HealthCheck: true}
	only, err := backend.Dial([]backend.Spec{one}, backend.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = only.Close() })
	if got, ready := only.Ready(t.Context(), 2*time.Second); ready {
		t.Errorf("Ready = %+v with the backend NOT_SERVING", got)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if !poll(func() bool { _, ready := only.Ready(t.Context(), time.Second); return ready }) {
		t.Error("not ready once the backend is SERVING again")
	}
	if n := checks.Load(); n != 0 {
		t.Errorf("Ready made %d unary calls, want none", n)
	}
}

func TestDialRejectsAServiceClaimedTwice(t *testing.T) {
	_, err := backend.Dial([]backend.Spec{
		{Name: "x", Target: "127.0.0.1:1", Services: []string{"a.v1.A"}},
		{Name: "y", Target: "127.0.0.1:2", Services: []string{"a.v1.A"}},
	}, backend.WithLogger(slog.New(slog.DiscardHandler)))
	if err == nil || !strings.Contains(err.Error(), `served by both "x" and "y"`) {
		t.Fatalf("err = %v", err)
	}
}

// Backend calls are logged at debug level, and only while the logger records debug messages:
// the level is read at every call, so lowering it at run time turns the records on.
func TestCallsAreLoggedAtDebugOnly(t *testing.T) {
	addr, hs := startHealth(t)
	hs.SetServingStatus("a.v1.A", healthpb.HealthCheckResponse_SERVING)
	var level slog.LevelVar
	level.Set(slog.LevelInfo)
	var logs testkit.LogBuffer
	set, err := backend.Dial([]backend.Spec{{Name: "one", Target: addr, Services: []string{"a.v1.A"}}},
		backend.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: &level}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	one, _ := set.ForService("a.v1.A")
	client := healthpb.NewHealthClient(one.Conn)
	call := func() {
		t.Helper()
		if _, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "a.v1.A"}); err != nil {
			t.Fatal(err)
		}
		stream, err := client.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "a.v1.A"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}

	call()
	if got := logs.String(); got != "" {
		t.Errorf("calls at info level logged:\n%s", got)
	}
	level.Set(slog.LevelDebug)
	call()
	got := logs.String()
	for _, want := range []string{"grpc.method=Check", "grpc.method=Watch", "backend=one", "level=DEBUG"} {
		if !strings.Contains(got, want) {
			t.Errorf("calls at debug level: log lacks %q:\n%s", want, got)
		}
	}
}
