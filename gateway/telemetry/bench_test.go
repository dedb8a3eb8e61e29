package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/telemetry"
)

// BenchmarkMiddleware measures the HTTP middleware per request (run with -benchmem): the bare
// chain for reference, metrics only (the default), and metrics with tracing into a provider
// that samples everything and exports to nowhere.
func BenchmarkMiddleware(b *testing.B) {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(tracetest.NewNoopExporter())),
		sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		edge.StateFrom(r.Context()).SetRoute(testRoute)
		w.WriteHeader(http.StatusOK)
	})
	for _, bc := range []struct {
		name string
		mw   func(http.Handler) http.Handler
	}{
		{"bare", func(h http.Handler) http.Handler { return h }},
		{"metrics", newTelemetry(b, true).Middleware},
		{"metrics+route", func(h http.Handler) http.Handler {
			tel := newTelemetry(b, true)
			return tel.Middleware(tel.RouteMiddleware(h))
		}},
		{"metrics+tracing", newTelemetry(b, true, telemetry.WithTracerProvider(tp)).Middleware},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := edge.RequestID(bc.mw(final))
			req := httptest.NewRequestWithContext(context.Background(), "GET", "/v1/things/1", nil)
			req.Header.Set("X-Request-Id", "req-1")
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
