package telemetry_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/telemetry"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/server/users"
)

func TestHTTPMetrics(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t, true)
	h := handler(tel)
	requests := []struct {
		method, path, wantStatus string
	}{
		{"GET", "/v1/things/1", "200"},
		{"GET", "/v1/things/2", "200"},
		{"DELETE", "/v1/things/3", "200"},
		{"GET", "/v1/nothing/here", "404"},
		{"BREW", "/v1/things/4", "200"},
	}
	for _, r := range requests {
		serve(h, r.method, r.path, nil)
	}

	for _, tc := range []struct {
		name  string
		route string
		meth  string
		code  string
		count float64
	}{
		{"matched GET", testRoute, "GET", "200", 2},
		{"matched DELETE", testRoute, "DELETE", "200", 1},
		{"unmatched", telemetry.Unmatched, "GET", "404", 1},
		{"unknown method", testRoute, "OTHER", "200", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labels := map[string]string{"route": tc.route, "method": tc.meth, "code": tc.code}
			m := find(t, tel.Gatherer(), "archway_http_requests_total", labels)
			if m == nil {
				t.Fatalf("archway_http_requests_total%v missing", labels)
			}
			if got := m.GetCounter().GetValue(); got != tc.count {
				t.Errorf("archway_http_requests_total%v = %v, want %v", labels, got, tc.count)
			}
			delete(labels, "code")
			hm := find(t, tel.Gatherer(), "archway_http_request_duration_seconds", labels)
			if hm == nil {
				t.Fatalf("archway_http_request_duration_seconds%v missing", labels)
			}
			if got := hm.GetHistogram().GetSampleCount(); got != uint64(tc.count) {
				t.Errorf("archway_http_request_duration_seconds%v count = %d, want %v", labels, got, tc.count)
			}
			if b := hm.GetHistogram().GetBucket(); len(b) == 0 || b[0].GetUpperBound() != 0.001 || b[len(b)-1].GetUpperBound() != 10 {
				t.Errorf("buckets = %v, want 1ms to 10s", b)
			}
		})
	}
	t.Run("routes are patterns, never paths", func(t *testing.T) {
		routes := labelValues(t, tel.Gatherer(), "archway_http_requests_total", "route")
		for _, r := range routes {
			if r != testRoute && r != telemetry.Unmatched {
				t.Errorf("route label %q: want the pattern or %q", r, telemetry.Unmatched)
			}
		}
	})
}

func TestHTTPMetricsOfPanic(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t, true)
	h := edge.RequestID(tel.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	})))
	func() {
		defer func() { _ = recover() }()
		serve(h, "GET", "/boom", nil)
	}()
	labels := map[string]string{"route": telemetry.Unmatched, "method": "GET", "code": "500"}
	if m := find(t, tel.Gatherer(), "archway_http_requests_total", labels); m.GetCounter().GetValue() != 1 {
		t.Errorf("archway_http_requests_total%v = %v, want 1: a request that panicked through is a 500", labels, m)
	}
}

func TestInFlight(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t, true)
	entered := make(chan struct{})
	release := make(chan struct{})
	h := edge.RequestID(tel.Middleware(routes(func(next http.Handler) http.Handler {
		return tel.RouteMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-release
			next.ServeHTTP(w, r)
		}))
	})))
	const n = 3
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { serve(h, "GET", "/v1/things/1", nil) })
	}
	for range n {
		<-entered
	}
	gauge := func() float64 {
		m := find(t, tel.Gatherer(), "archway_http_requests_in_flight", map[string]string{"route": testRoute})
		if m == nil {
			t.Fatal("archway_http_requests_in_flight missing")
		}
		return m.GetGauge().GetValue()
	}
	if got := gauge(); got != n {
		t.Errorf("in flight while %d requests wait = %v, want %d", n, got, n)
	}
	close(release)
	wg.Wait()
	if got := gauge(); got != 0 {
		t.Errorf("in flight after the requests = %v, want 0", got)
	}
}

func TestMetricsHandler(t *testing.T) {
	t.Parallel()
	t.Run("enabled", func(t *testing.T) {
		t.Parallel()
		tel := newTelemetry(t, true)
		serve(handler(tel), "GET", "/v1/things/1", nil)
		rec := serve(tel.MetricsHandler(), "GET", "/metrics", nil)
		body := rec.Body.String()
		if rec.Code != http.StatusOK {
			t.Fatalf("GET /metrics = %d", rec.Code)
		}
		for _, want := range []string{
			`archway_http_requests_total{code="200",method="GET",route="/v1/{name=things/*}"} 1`,
			"archway_http_request_duration_seconds_bucket",
			"go_goroutines",
			"process_cpu_seconds_total",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		tel := newTelemetry(t, false)
		rec := serve(tel.MetricsHandler(), "GET", "/metrics", nil)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "metrics are disabled") {
			t.Errorf("GET /metrics with metrics disabled = %d %s, want a 404 status saying so", rec.Code, rec.Body)
		}
		serve(handler(tel), "GET", "/v1/things/1", nil)
		if find(t, tel.Gatherer(), "go_goroutines", nil) != nil || find(t, tel.Gatherer(), "archway_http_requests_total", nil) != nil {
			t.Error("metrics recorded with metrics disabled")
		}
	})
}

// mdRecorder keeps the metadata of the last call a server received.
type mdRecorder struct {
	mu sync.Mutex
	md metadata.MD
}

func (m *mdRecorder) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	m.mu.Lock()
	m.md = md
	m.mu.Unlock()
	return handler(ctx, req)
}

func (m *mdRecorder) get(key string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.md.Get(key)
}

// usersClient serves the demo users service on an in-memory listener and returns a client
// whose connection has the dial options of tel, and the server's metadata recorder.
func usersClient(t *testing.T, tel *telemetry.Telemetry, srvOpts ...grpc.ServerOption) (usersv1.UserServiceClient, *mdRecorder) {
	t.Helper()
	rec := &mdRecorder{}
	l := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(append([]grpc.ServerOption{grpc.UnaryInterceptor(rec.unary)}, srvOpts...)...)
	// No identity link on this server: the service must serve calls without one.
	usersv1.RegisterUserServiceServer(srv, users.New(users.WithInsecureNoIdentity()))
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }),
	}, tel.DialOptions()...)
	conn, err := grpc.NewClient("passthrough:///users", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return usersv1.NewUserServiceClient(conn), rec
}

func TestBackendClientMetrics(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t, true)
	client, _ := usersClient(t, tel)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := client.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada-lovelace"}); err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if _, err := client.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/nobody"}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetUser(nobody) = %v, want NOT_FOUND", err)
	}
	method := map[string]string{"grpc_type": "unary", "grpc_service": "storefront.users.v1.UserService", "grpc_method": "GetUser"}
	for _, code := range []string{"OK", "NotFound"} {
		labels := map[string]string{"grpc_code": code}
		for k, v := range method {
			labels[k] = v
		}
		if m := find(t, tel.Gatherer(), "archway_backend_grpc_client_handled_total", labels); m.GetCounter().GetValue() != 1 {
			t.Errorf("archway_backend_grpc_client_handled_total%v = %v, want 1", labels, m)
		}
	}
	if m := find(t, tel.Gatherer(), "archway_backend_grpc_client_handling_seconds", method); m.GetHistogram().GetSampleCount() != 2 {
		t.Errorf("archway_backend_grpc_client_handling_seconds%v = %v, want 2 samples", method, m)
	}
}

func TestDialOptions(t *testing.T) {
	t.Parallel()
	tp, _ := recorder(t)
	for _, tc := range []struct {
		name    string
		metrics bool
		opts    []telemetry.Option
		want    int
	}{
		{"everything off", false, nil, 0},
		{"metrics only", true, nil, 2},
		{"tracing only", false, []telemetry.Option{telemetry.WithTracerProvider(tp)}, 1},
		{"both", true, []telemetry.Option{telemetry.WithTracerProvider(tp)}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tel := newTelemetry(t, tc.metrics, tc.opts...)
			if got := len(tel.DialOptions()); got != tc.want {
				t.Errorf("len(DialOptions()) = %d, want %d", got, tc.want)
			}
			unary, stream := tel.ClientInterceptors()
			if (unary != nil) != tc.metrics || (stream != nil) != tc.metrics {
				t.Errorf("ClientInterceptors() = %d unary, %d stream; want them only with metrics", len(unary), len(stream))
			}
		})
	}
}

func TestMetricsHandlerFormat(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t, true)
	h := tel.MetricsHandler()
	rec := serve(h, "GET", "/metrics", http.Header{"Accept": {"application/openmetrics-text; version=1.0.0"}})
	body, _ := io.ReadAll(rec.Body)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Content-Type = %q, want OpenMetrics when asked for it (exemplars need it)", ct)
	}
	if !slices.ContainsFunc(strings.Split(string(body), "\n"), func(l string) bool { return l == "# EOF" }) {
		t.Error("OpenMetrics body does not end with # EOF")
	}
}
