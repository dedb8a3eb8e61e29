package backend_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/backend"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/internal/testkit"
)

// servedBy makes n GetUser calls and counts them by the instance that answered.
func servedBy(t *testing.T, client usersv1.UserServiceClient, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		u, err := client.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada"})
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		got[u.GetDisplayName()]++
	}
	return got
}

func TestStaticAddressesAreBalancedRoundRobin(t *testing.T) {
	t.Parallel()
	a, b := startInstance(t, "a", nil), startInstance(t, "b", nil)
	client := dialUsers(t, usersSpec(a.addr, b.addr))
	// Round robin starts once both subchannels are ready; until then the first one takes
	// every call.
	if !poll(func() bool { got := servedBy(t, client, 4); return got["a"] > 0 && got["b"] > 0 }) {
		t.Fatal("calls never reached both instances")
	}
	if got := servedBy(t, client, 20); got["a"] != 10 || got["b"] != 10 {
		t.Errorf("20 calls served by %v, want 10 each", got)
	}
}

func TestHealthCheckingSkipsUnhealthyInstances(t *testing.T) {
	t.Parallel()
	a, b := startInstance(t, "a", nil), startInstance(t, "b", nil)
	spec := usersSpec(a.addr, b.addr)
	spec.HealthCheck = true
	client := dialUsers(t, spec)
	if !poll(func() bool { got := servedBy(t, client, 4); return got["a"] > 0 && got["b"] > 0 }) {
		t.Fatal("calls never reached both instances")
	}

	b.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if !poll(func() bool { return servedBy(t, client, 4)["b"] == 0 }) {
		t.Fatal("the NOT_SERVING instance still gets calls")
	}
	if got := servedBy(t, client, 20); got["a"] != 20 {
		t.Errorf("with b NOT_SERVING, 20 calls served by %v, want all by a", got)
	}

	b.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if !poll(func() bool { return servedBy(t, client, 4)["b"] > 0 }) {
		t.Fatal("the instance back to SERVING gets no calls")
	}
}

// failFirst fails the first n calls with UNAVAILABLE.
func failFirst(n int64) func(context.Context, int64) error {
	return func(_ context.Context, call int64) error {
		if call <= n {
			return status.Error(codes.Unavailable, "not yet")
		}
		return nil
	}
}

func retrySpec(addr string, maxAttempts int) backend.Spec {
	spec := usersSpec(addr)
	spec.Retry = backend.Retry{
		MaxAttempts:        maxAttempts,
		InitialBackoff:     10 * time.Millisecond,
		MaxBackoff:         50 * time.Millisecond,
		BackoffMultiplier:  2,
		Codes:              []codes.Code{codes.Unavailable},
		ThrottleMaxTokens:  100,
		ThrottleTokenRatio: 1,
	}
	spec.IdempotentMethods = []string{getUser}
	return spec
}

func TestOnlyIdempotentMethodsAreRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		call      func(usersv1.UserServiceClient) error
		wantCode  codes.Code
		wantCalls int64
	}{
		{"idempotent", func(c usersv1.UserServiceClient) error {
			_, err := c.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada"})
			return err
		}, codes.OK, 3},
		{"not idempotent", func(c usersv1.UserServiceClient) error {
			_, err := c.CreateUser(t.Context(), &usersv1.CreateUserRequest{})
			return err
		}, codes.Unavailable, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := startInstance(t, "a", failFirst(2))
			client := dialUsers(t, retrySpec(in.addr, 3))
			if err := tt.call(client); status.Code(err) != tt.wantCode {
				t.Errorf("call: %v, want code %v", err, tt.wantCode)
			}
			if got := in.users.calls.Load(); got != tt.wantCalls {
				t.Errorf("the backend saw %d attempts, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestRetriesStopAtTheDeadline(t *testing.T) {
	t.Parallel()
	// Every attempt takes 100ms and fails UNAVAILABLE: five attempts would take 500ms and more.
	in := startInstance(t, "a", func(ctx context.Context, _ int64) error {
		select {
		case <-time.After(100 * time.Millisecond):
			return status.Error(codes.Unavailable, "down")
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	client := dialUsers(t, retrySpec(in.addr, 5))
	const deadline = 250 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	start := time.Now()
	_, err := client.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada"})
	elapsed := time.Since(start)
	if code := status.Code(err); code != codes.DeadlineExceeded && code != codes.Unavailable {
		t.Errorf("GetUser: %v, want DEADLINE_EXCEEDED or UNAVAILABLE", err)
	}
	// Wide margin for busy machines: the point is that five attempts (500ms) did not run.
	if elapsed > deadline+200*time.Millisecond {
		t.Errorf("the call took %v, past its %v deadline", elapsed, deadline)
	}
	if got := in.users.calls.Load(); got >= 5 {
		t.Errorf("the backend saw %d attempts within a %v deadline", got, deadline)
	}
}

func breakerSpec(addr string) backend.Spec {
	spec := usersSpec(addr)
	spec.Breaker = backend.Breaker{
		Enabled:           true,
		FailureRatio:      0.5,
		MinRequests:       4,
		Window:            10 * time.Second,
		OpenTimeout:       300 * time.Millisecond,
		HalfOpenRequests:  1,
		SlowCallThreshold: 50 * time.Millisecond,
	}
	return spec
}

func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	t.Parallel()
	var healthy sync.Map // "ok" → true once the backend heals
	in := startInstance(t, "a", func(context.Context, int64) error {
		if _, ok := healthy.Load("ok"); ok {
			return nil
		}
		return status.Error(codes.Unavailable, "down")
	})
	reg := prometheus.NewRegistry()
	var logs testkit.LogBuffer
	client := dialUsers(t, breakerSpec(in.addr), backend.WithRegisterer(reg),
		backend.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	call := func() error {
		_, err := client.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada"})
		return err
	}

	for i := range 4 {
		if err := call(); status.Code(err) != codes.Unavailable {
			t.Fatalf("call %d: %v, want UNAVAILABLE from the backend", i, err)
		}
	}
	if got := metricValue(t, reg, "archway_backend_breaker_state"); got != 2 {
		t.Errorf("breaker state %v after 4 failures, want 2 (open)", got)
	}
	err := call()
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "circuit breaker") {
		t.Fatalf("call while open: %v, want UNAVAILABLE from the breaker", err)
	}
	if secs, ok := backend.RetryAfter(err); !ok || secs != 1 {
		t.Errorf("RetryAfter = %d, %v; want 1 (the open timeout rounded up)", secs, ok)
	}
	if got := in.users.calls.Load(); got != 4 {
		t.Errorf("the backend saw %d calls, want 4: the open breaker must not send any", got)
	}

	healthy.Store("ok", true)
	if !poll(func() bool { return call() == nil }) {
		t.Fatal("the breaker never let a probe through to the healthy backend")
	}
	if got := metricValue(t, reg, "archway_backend_breaker_state"); got != 0 {
		t.Errorf("breaker state %v after a successful probe, want 0 (closed)", got)
	}
	if got := metricValue(t, reg, "archway_backend_rejected_total"); got < 1 {
		t.Errorf("archway_backend_rejected_total = %v, want at least 1", got)
	}
	for _, want := range []string{"from=closed to=open", "from=open to=half-open", "from=half-open to=closed"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no transition logged with %q:\n%s", want, logs.String())
		}
	}
}

func TestBreakerCountsOnlyUnhealthyOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		behave   func(context.Context, int64) error
		timeout  time.Duration
		wantOpen bool
	}{
		{"application errors", func(context.Context, int64) error { return status.Error(codes.NotFound, "no such user") }, time.Second, false},
		{"deadlines shorter than the slow call threshold", hang, 10 * time.Millisecond, false},
		{"deadlines after the slow call threshold", hang, 80 * time.Millisecond, true},
		{"unavailable", func(context.Context, int64) error { return status.Error(codes.Unavailable, "down") }, time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := startInstance(t, "a", tt.behave)
			spec := breakerSpec(in.addr)
			spec.Breaker.OpenTimeout = time.Minute
			reg := prometheus.NewRegistry()
			client := dialUsers(t, spec, backend.WithRegisterer(reg))
			for range 6 {
				ctx, cancel := context.WithTimeout(t.Context(), tt.timeout)
				_, _ = client.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada"})
				cancel()
			}
			open := metricValue(t, reg, "archway_backend_breaker_state") == 2
			if open != tt.wantOpen {
				t.Errorf("after 6 calls (%d reached the backend): breaker open = %v, want %v", in.users.calls.Load(), open, tt.wantOpen)
			}
		})
	}
}

// hang holds a call until its context ends.
func hang(ctx context.Context, _ int64) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestInFlightLimitRefusesAtOnce(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	in := startInstance(t, "a", func(ctx context.Context, _ int64) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	spec := usersSpec(in.addr)
	spec.MaxInFlight = 2
	reg := prometheus.NewRegistry()
	client := dialUsers(t, spec, backend.WithRegisterer(reg))

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := client.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada"}); err != nil {
				t.Errorf("held call: %v", err)
			}
		})
	}
	if !poll(func() bool { return in.users.calls.Load() == 2 }) {
		t.Fatal("the two held calls never reached the backend")
	}
	start := time.Now()
	_, err := client.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada"})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "in flight") {
		t.Errorf("third call: %v, want UNAVAILABLE: too many calls in flight", err)
	}
	if secs, ok := backend.RetryAfter(err); !ok || secs != 1 {
		t.Errorf("RetryAfter = %d, %v; want 1", secs, ok)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("the refused call took %v; it must not queue", elapsed)
	}
	if got := metricValue(t, reg, "archway_backend_in_flight"); got != 2 {
		t.Errorf("archway_backend_in_flight = %v, want 2", got)
	}
	close(release)
	wg.Wait()
	if _, err := client.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada"}); err != nil {
		t.Errorf("call after the held ones ended: %v", err)
	}
}

func TestTLSAndMutualTLS(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	in := startInstance(t, "a", nil, grpc.Creds(credentials.NewTLS(pki.serverTLS())))
	tests := []struct {
		name   string
		tls    backend.TLS
		wantOK bool
	}{
		{"mTLS", backend.TLS{Enabled: true, CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}, true},
		{"mTLS with a server name", backend.TLS{Enabled: true, CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "backend.test"}, true},
		{"wrong server name", backend.TLS{Enabled: true, CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "other.test"}, false},
		{"no client certificate", backend.TLS{Enabled: true, CAFile: pki.caFile}, false},
		{"system roots", backend.TLS{Enabled: true, CertFile: pki.clientCert, KeyFile: pki.clientKey}, false},
		{"plaintext", backend.TLS{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := usersSpec(in.addr)
			spec.TLS = tt.tls
			client := dialUsers(t, spec)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			_, err := client.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada"})
			if (err == nil) != tt.wantOK {
				t.Errorf("GetUser: %v, want success %v", err, tt.wantOK)
			}
		})
	}
}

func TestDialRejectsUnreadableTLSFiles(t *testing.T) {
	t.Parallel()
	spec := usersSpec("127.0.0.1:1")
	spec.TLS = backend.TLS{Enabled: true, CAFile: "/nonexistent/ca.pem"}
	_, err := backend.Dial([]backend.Spec{spec})
	if err == nil || !strings.Contains(err.Error(), "tls.ca_file") {
		t.Fatalf("Dial: %v, want an error naming tls.ca_file", err)
	}
}

// metricValue sums the samples of the named metric in reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return sum
}
