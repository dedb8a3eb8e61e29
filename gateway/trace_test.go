package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/telemetry"
	"github.com/archway-gateway/archway/server"
)

// TestCompositeTrace sends one composite request with a client's traceparent through a real
// gateway to the storefront servers on loopback, and checks that it makes one trace: the
// gateway's server span as the child of the client's span, a client span per backend call as
// its child, and each backend's server span as the child of the call's client span.
func TestCompositeTrace(t *testing.T) {
	t.Parallel()
	const (
		clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		clientSpanID  = "00f067aa0ba902b7"
	)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	sf, err := server.Start(t.Context(), server.Options{TracerProvider: tp})
	if err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	t.Cleanup(sf.Stop)
	yaml := fmt.Sprintf(`
admin: {enabled: false}
log: {access_log: false}
backends:
  - {name: users, address: %q, services: [storefront.users.v1.UserService]}
  - {name: orders, address: %q, services: [storefront.orders.v1.OrderService]}
  - {name: catalog, address: %q, services: [storefront.catalog.v1.CatalogService]}
`+testAuthn, sf.Addr(server.Users), sf.Addr(server.Orders), sf.Addr(server.Catalog))
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	tel, err := telemetry.New(t.Context(), cfg.Telemetry, telemetry.WithTracerProvider(tp))
	if err != nil {
		t.Fatalf("telemetry.New: %v", err)
	}
	gw, err := gateway.New(t.Context(), cfg, gateway.WithLogger(slog.New(slog.DiscardHandler)), gateway.WithTelemetry(tel))
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	hs := httptest.NewServer(gw.Handler())
	t.Cleanup(hs.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+"/v1/users/ada-lovelace:overview", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Traceparent", "00-"+clientTraceID+"-"+clientSpanID+"-01")
	req.Header.Set("X-Api-Key", testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Archway-Partial") != "" {
		t.Fatalf("GET overview = %d (partial %q): %s", resp.StatusCode, resp.Header.Get("Archway-Partial"), body)
	}

	calls := []string{
		"storefront.users.v1.UserService/GetUser",
		"storefront.orders.v1.OrderService/ListOrders",
		"storefront.catalog.v1.CatalogService/BatchGetProducts",
	}
	// A backend's server span ends when the call's last frame is sent, which may be after the
	// gateway has answered: wait, boundedly, for every span to end.
	spans := waitForSpans(t, sr, 1+2*len(calls))

	var root sdktrace.ReadOnlySpan
	for _, s := range spans {
		if got := s.SpanContext().TraceID().String(); got != clientTraceID {
			t.Errorf("span %q (%v) is in trace %s, want the client's %s", s.Name(), s.SpanKind(), got, clientTraceID)
		}
		if s.SpanKind() == trace.SpanKindServer && strings.HasPrefix(s.Name(), "GET ") {
			root = s
		}
	}
	if root == nil {
		t.Fatalf("no gateway server span among %v", names(spans))
	}
	if root.Name() != "GET /v1/{name=users/*}:overview" {
		t.Errorf("gateway span name = %q, want the method and route pattern", root.Name())
	}
	if p := root.Parent(); p.SpanID().String() != clientSpanID || !p.IsRemote() {
		t.Errorf("gateway span parent = %v, want the client's span %s", p, clientSpanID)
	}
	for _, call := range calls {
		t.Run(call, func(t *testing.T) {
			client := findSpan(spans, call, trace.SpanKindClient)
			if client == nil {
				t.Fatalf("no client span %q among %v", call, names(spans))
			}
			if client.Parent().SpanID() != root.SpanContext().SpanID() {
				t.Errorf("client span %q parent = %s, want the gateway span %s", call, client.Parent().SpanID(), root.SpanContext().SpanID())
			}
			srv := findSpan(spans, call, trace.SpanKindServer)
			if srv == nil {
				t.Fatalf("no backend server span %q among %v", call, names(spans))
			}
			if srv.Parent().SpanID() != client.SpanContext().SpanID() {
				t.Errorf("backend span %q parent = %s, want its client span %s", call, srv.Parent().SpanID(), client.SpanContext().SpanID())
			}
		})
	}
}

// waitForSpans polls sr until at least n spans have ended, for at most 5s, and returns them.
func waitForSpans(t *testing.T, sr *tracetest.SpanRecorder, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		spans := sr.Ended()
		if len(spans) >= n {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spans ended within 5s, want at least %d: %v", len(spans), n, names(spans))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func findSpan(spans []sdktrace.ReadOnlySpan, name string, kind trace.SpanKind) sdktrace.ReadOnlySpan {
	i := slices.IndexFunc(spans, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == name && s.SpanKind() == kind })
	if i < 0 {
		return nil
	}
	return spans[i]
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.SpanKind().String() + " " + s.Name()
	}
	return out
}
