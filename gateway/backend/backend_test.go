package backend_test

import (
	"log/slog"
	"net"
	"strings"
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

func TestCheckReportsEveryService(t *testing.T) {
	addr, hs := startHealth(t)
	hs.SetServingStatus("a.v1.A", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("b.v1.B", healthpb.HealthCheckResponse_SERVING)
	set, err := backend.Dial([]backend.Spec{
		{Name: "one", Target: addr, Services: []string{"a.v1.A", "b.v1.B"}},
		{Name: "down", Target: "127.0.0.1:1", Services: []string{"c.v1.C"}, MaxReconnectBackoff: time.Second},
	}, backend.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })

	checks, ready := set.Check(t.Context(), 500*time.Millisecond)
	if ready {
		t.Fatal("ready with a backend down")
	}
	got := make([]string, len(checks))
	for i, c := range checks {
		got[i] = c.Backend + "/" + c.Service + "=" + c.Status
	}
	want := "down/c.v1.C=UNREACHABLE one/a.v1.A=SERVING one/b.v1.B=SERVING"
	if strings.Join(got, " ") != want {
		t.Errorf("checks = %v, want %s", got, want)
	}

	hs.SetServingStatus("b.v1.B", healthpb.HealthCheckResponse_NOT_SERVING)
	one, ok := set.ForService("a.v1.A")
	if !ok || one.Name != "one" {
		t.Fatalf("ForService(a.v1.A) = %v, %v", one, ok)
	}
	only, err := backend.Dial([]backend.Spec{{Name: "one", Target: addr, Services: []string{"a.v1.A", "b.v1.B"}}}, backend.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = only.Close() })
	if _, ready := only.Check(t.Context(), 500*time.Millisecond); ready {
		t.Error("ready with a service NOT_SERVING")
	}
	hs.SetServingStatus("b.v1.B", healthpb.HealthCheckResponse_SERVING)
	if _, ready := only.Check(t.Context(), 500*time.Millisecond); !ready {
		t.Error("not ready with every service SERVING")
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
