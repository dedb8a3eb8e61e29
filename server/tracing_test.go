package server_test

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/server"
)

// TestTracerProvider checks that the servers continue the caller's W3C trace context and
// leave health checks out of the trace.
func TestTracerProvider(t *testing.T) {
	t.Parallel()
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	sf, err := server.Start(t.Context(), server.Options{Services: []string{server.Users}, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sf.Stop)
	conn, err := grpc.NewClient(sf.Addr(server.Users), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health check: %v", err)
	}
	traced := metadata.AppendToOutgoingContext(ctx, "traceparent", "00-"+traceID+"-"+spanID+"-01")
	if _, err := usersv1.NewUserServiceClient(conn).GetUser(traced, &usersv1.GetUserRequest{Name: "users/ada-lovelace"}); err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	// The server span ends after the answer is sent: wait for it, boundedly.
	deadline := time.Now().Add(5 * time.Second)
	for len(sr.Ended()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	spans := sr.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1 (GetUser; health checks are not traced)", len(spans))
	}
	s := spans[0]
	if s.Name() != "storefront.users.v1.UserService/GetUser" || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span = %v %q, want the server span of GetUser", s.SpanKind(), s.Name())
	}
	if s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != spanID {
		t.Errorf("span trace %s parent %s, want the caller's trace %s and span %s",
			s.SpanContext().TraceID(), s.Parent().SpanID(), traceID, spanID)
	}
}
