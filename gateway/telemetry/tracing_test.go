package telemetry_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/telemetry"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// A client's trace context, as W3C traceparent writes it.
const (
	clientTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID      = "00f067aa0ba902b7"
	clientTraceparent = "00-" + clientTraceID + "-" + clientSpanID + "-01"
)

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestServerSpan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		header      http.Header
		wantName    string
		wantRoute   string // "" when the span must have no http.route
		wantCode    int64
		wantParent  bool
		wantErrored bool
	}{
		{name: "traceparent honoured", method: "GET", path: "/v1/things/1",
			header:   http.Header{"Traceparent": {clientTraceparent}, "Tracestate": {"vendor=x"}, "X-Request-Id": {"req-1"}},
			wantName: "GET " + testRoute, wantRoute: testRoute, wantCode: 200, wantParent: true},
		{name: "new trace without traceparent", method: "DELETE", path: "/v1/things/1",
			header:   http.Header{"X-Request-Id": {"req-1"}},
			wantName: "DELETE " + testRoute, wantRoute: testRoute, wantCode: 200},
		{name: "malformed traceparent starts a new trace", method: "GET", path: "/v1/things/1",
			header:   http.Header{"Traceparent": {"00-nonsense-01"}, "X-Request-Id": {"req-1"}},
			wantName: "GET " + testRoute, wantRoute: testRoute, wantCode: 200},
		{name: "unmatched keeps the method as name", method: "GET", path: "/elsewhere",
			header:   http.Header{"Traceparent": {clientTraceparent}, "X-Request-Id": {"req-1"}},
			wantName: "GET", wantCode: 404, wantParent: true},
		{name: "server error marks the span", method: "GET", path: "/v1/things/1",
			header:   http.Header{"X-Want-Status": {"500"}, "X-Request-Id": {"req-1"}},
			wantName: "GET " + testRoute, wantRoute: testRoute, wantCode: 500, wantErrored: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tp, sr := recorder(t)
			tel := newTelemetry(t, true, telemetry.WithTracerProvider(tp))
			var inner trace.SpanContext
			h := edge.RequestID(tel.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inner = trace.SpanContextFromContext(r.Context())
				routes(func(h http.Handler) http.Handler { return h }).ServeHTTP(w, r)
			})))
			serve(h, tc.method, tc.path, tc.header)

			spans := sr.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans ended, want 1", len(spans))
			}
			s := spans[0]
			if s.Name() != tc.wantName {
				t.Errorf("name = %q, want %q", s.Name(), tc.wantName)
			}
			if s.SpanKind() != trace.SpanKindServer {
				t.Errorf("kind = %v, want server", s.SpanKind())
			}
			if inner.SpanID() != s.SpanContext().SpanID() {
				t.Error("the handler's context does not carry the server span")
			}
			if tc.wantParent {
				if got := s.SpanContext().TraceID().String(); got != clientTraceID {
					t.Errorf("trace id = %s, want the client's %s", got, clientTraceID)
				}
				if got := s.Parent(); got.SpanID().String() != clientSpanID || !got.IsRemote() {
					t.Errorf("parent = %v, want the client's remote span %s", got, clientSpanID)
				}
			} else if s.Parent().IsValid() {
				t.Errorf("parent = %v, want a new root", s.Parent())
			}
			a := attrs(s)
			if got := a["http.request.method"].AsString(); got != tc.method {
				t.Errorf("http.request.method = %q, want %q", got, tc.method)
			}
			if got := a["http.response.status_code"].AsInt64(); got != tc.wantCode {
				t.Errorf("http.response.status_code = %d, want %d", got, tc.wantCode)
			}
			if got := a["http.route"].AsString(); got != tc.wantRoute {
				t.Errorf("http.route = %q, want %q", got, tc.wantRoute)
			}
			if got := a["archway.request_id"].AsString(); got != "req-1" {
				t.Errorf("archway.request_id = %q, want req-1", got)
			}
			if got := a["url.path"].AsString(); got != tc.path {
				t.Errorf("url.path = %q, want %q", got, tc.path)
			}
			if errored := s.Status().Code == otelcodes.Error; errored != tc.wantErrored {
				t.Errorf("status = %v, want error %v", s.Status(), tc.wantErrored)
			}
		})
	}
}

func TestTracingOff(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t, true)
	if tel.TracingEnabled() {
		t.Fatal("tracing on by default")
	}
	var inner trace.SpanContext
	h := edge.RequestID(tel.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
	})))
	serve(h, "GET", "/v1/things/1", http.Header{"Traceparent": {clientTraceparent}})
	if inner.IsValid() {
		t.Errorf("handler sees span context %v with tracing off, want none", inner)
	}
	if tel.ClientStatsHandler() != nil {
		t.Error("ClientStatsHandler() is not nil with tracing off")
	}
}

// TestClientPropagation checks that a backend call carries the caller's trace context only
// when tracing is on.
func TestClientPropagation(t *testing.T) {
	t.Parallel()
	tp, _ := recorder(t)
	for _, tc := range []struct {
		name string
		opts []telemetry.Option
		want bool
	}{
		{"tracing off", nil, false},
		{"tracing on", []telemetry.Option{telemetry.WithTracerProvider(tp)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tel := newTelemetry(t, true, tc.opts...)
			client, md := usersClient(t, tel)
			ctx, span := tp.Tracer("test").Start(t.Context(), "request")
			defer span.End()
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := client.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada-lovelace"}); err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			got := md.get("traceparent")
			if !tc.want {
				if len(got) != 0 {
					t.Errorf("backend received traceparent %v with tracing off", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], span.SpanContext().TraceID().String()) {
				t.Errorf("backend received traceparent %v, want the caller's trace %s", got, span.SpanContext().TraceID())
			}
		})
	}
}

// TestMiddlewareAllocations checks that tracing off costs no allocation: with metrics and
// tracing off the middleware adds none, and with metrics on it allocates fewer than with
// tracing on, within the budget of the metrics alone.
func TestMiddlewareAllocations(t *testing.T) {
	tp, _ := recorder(t)
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		edge.StateFrom(r.Context()).SetRoute(testRoute)
		w.WriteHeader(http.StatusOK)
	})
	allocs := func(mw func(http.Handler) http.Handler) float64 {
		h := edge.RequestID(mw(final))
		req := httptest.NewRequestWithContext(context.Background(), "GET", "/v1/things/1", nil)
		req.Header.Set("X-Request-Id", "req-1")
		req.Header.Set("Traceparent", clientTraceparent)
		w := httptest.NewRecorder()
		return testing.AllocsPerRun(200, func() { h.ServeHTTP(w, req) })
	}
	bare := allocs(func(h http.Handler) http.Handler { return h })
	off := allocs(newTelemetry(t, false).Middleware)
	metricsOnly := allocs(newTelemetry(t, true).Middleware)
	traced := allocs(newTelemetry(t, true, telemetry.WithTracerProvider(tp)).Middleware)
	t.Logf("allocations per request: bare %v, everything off %v, metrics %v, metrics and tracing %v", bare, off, metricsOnly, traced)
	if off != bare {
		t.Errorf("with metrics and tracing off: %v allocations, want the bare chain's %v", off, bare)
	}
	// Metrics cost the status writer and little else; a wide margin keeps library changes from
	// failing the test, while any tracing work (a context, a span, attributes) exceeds it.
	if metricsOnly > bare+4 {
		t.Errorf("with tracing off: %v allocations, want at most %v", metricsOnly, bare+4)
	}
	if metricsOnly >= traced {
		t.Errorf("tracing off allocates %v, tracing on %v: want tracing off to do less", metricsOnly, traced)
	}
}

// otlpCollector is a fake OTLP collector over gRPC that counts the spans it receives.
type otlpCollector struct {
	collectorpb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []string
}

func (c *otlpCollector) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	c.record(req)
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func (c *otlpCollector) record(req *collectorpb.ExportTraceServiceRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, s.GetName())
			}
		}
	}
}

func (c *otlpCollector) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.spans...)
}

// httpCollector starts a fake OTLP/HTTP collector on loopback that records into c, and
// returns its URL.
func httpCollector(t *testing.T, c *otlpCollector) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		var req collectorpb.ExportTraceServiceRequest
		if err != nil || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		c.record(&req)
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestOTLPExport sends a request's span to a collector on loopback, over each protocol, and
// checks that Shutdown flushes it.
func TestOTLPExport(t *testing.T) {
	t.Parallel()
	startGRPC := func(t *testing.T, c *otlpCollector) string {
		var lc net.ListenConfig
		l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		collectorpb.RegisterTraceServiceServer(srv, c)
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(srv.Stop)
		return "http://" + l.Addr().String()
	}
	for _, tc := range []struct {
		protocol string
		start    func(*testing.T, *otlpCollector) string
	}{
		{"grpc", startGRPC},
		{"http", httpCollector},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			t.Parallel()
			c := &otlpCollector{}
			cfg := config.Default().Telemetry
			cfg.Tracing.Enabled = true
			cfg.Tracing.Protocol = tc.protocol
			cfg.Tracing.OTLPEndpoint = tc.start(t, c)
			tel, err := telemetry.New(t.Context(), cfg)
			if err != nil {
				t.Fatalf("telemetry.New: %v", err)
			}
			if !tel.TracingEnabled() {
				t.Fatal("TracingEnabled() = false with telemetry.tracing.enabled")
			}
			serve(handler(tel), "GET", "/v1/things/1", nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tel.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if got := c.names(); len(got) != 1 || got[0] != "GET "+testRoute {
				t.Errorf("collector received spans %q, want [%q]", got, "GET "+testRoute)
			}
		})
	}
}

func TestSampleRatioZero(t *testing.T) {
	t.Parallel()
	c := &otlpCollector{}
	cfg := config.Default().Telemetry
	cfg.Tracing = config.Tracing{Enabled: true, Protocol: "http", OTLPEndpoint: httpCollector(t, c), SampleRatio: 0, ServiceName: "archway"}
	tel, err := telemetry.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var sampled, parentSampled bool
	h := edge.RequestID(tel.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		sc := trace.SpanContextFromContext(r.Context())
		if r.Header.Get("Traceparent") == "" {
			sampled = sc.IsSampled()
		} else {
			parentSampled = sc.IsSampled()
		}
	})))
	serve(h, "GET", "/", nil)
	serve(h, "GET", "/", http.Header{"Traceparent": {clientTraceparent}})
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if sampled {
		t.Error("a new trace was sampled with sample_ratio 0")
	}
	if !parentSampled {
		t.Error("a request whose caller sampled it was not sampled: want parent-based sampling")
	}
	if got := c.names(); len(got) != 1 {
		t.Errorf("collector received spans %q, want the one of the request its caller sampled", got)
	}
}
