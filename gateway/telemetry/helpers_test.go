package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/telemetry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testRoute is the pattern that routes() records for /v1/things/... paths.
const testRoute = "/v1/{name=things/*}"

// routes stands in for the grpc-gateway mux: /v1/things/... matches testRoute (recorded in
// edge.State, as routing does) and answers with the status in the X-Want-Status header, or
// 200; anything else is unmatched and answered 404.
func routes(perRoute func(http.Handler) http.Handler) http.Handler {
	matched := perRoute(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Want-Status") == "500" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/things/") {
			edge.StateFrom(r.Context()).SetRoute(testRoute)
			matched.ServeHTTP(w, r)
			return
		}
		edge.WriteStatus(w, http.StatusNotFound, nil)
	})
}

// handler is the edge as the gateway builds it: request id, then the telemetry middleware,
// then routes with the per-route middleware.
func handler(tel *telemetry.Telemetry) http.Handler {
	return edge.RequestID(tel.Middleware(routes(tel.RouteMiddleware)))
}

// newTelemetry returns a Telemetry with metrics on and tracing as given, and shuts it down at
// the end of the test.
func newTelemetry(t testing.TB, metrics bool, opts ...telemetry.Option) *telemetry.Telemetry {
	t.Helper()
	cfg := config.Default().Telemetry
	cfg.Metrics.Enabled = metrics
	tel, err := telemetry.New(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatalf("telemetry.New: %v", err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

// recorder returns a tracer provider that keeps every span in memory, sampling all of them.
func recorder(t testing.TB) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, sr
}

// serve sends one request through h and returns the recorded response.
func serve(h http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(context.Background(), method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// find returns the metric of family name whose labels include want, or nil.
func find(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) *dto.Metric {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, want) {
				return m
			}
		}
	}
	return nil
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, lp := range m.GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// labelValues returns every value of label name in family.
func labelValues(t *testing.T, g prometheus.Gatherer, family, name string) []string {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == name {
					out = append(out, lp.GetValue())
				}
			}
		}
	}
	return out
}
