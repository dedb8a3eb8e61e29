package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
)

// instrumentationName names the tracer of the gateway's spans.
const instrumentationName = "github.com/archway-gateway/archway/gateway/telemetry"

// latencyBuckets are the histogram buckets, in seconds, of HTTP requests and backend calls:
// from 1ms, a cached or trivial answer, to 10s, past any sensible route timeout.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Telemetry holds the gateway's metrics and tracing. Create it with [New]; it is safe for
// concurrent use.
type Telemetry struct {
	registry *prometheus.Registry

	metrics  bool
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
	client   *grpcprom.ClientMetrics

	tracing    bool
	tp         trace.TracerProvider
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	// shutdown flushes and stops the tracer provider New built; nil when it built none.
	shutdown func(context.Context) error
}

// New sets up metrics and tracing as cfg says. With metrics enabled, it registers the HTTP and
// backend call metrics and the Go runtime and process collectors on a new registry. With
// tracing enabled (or [WithTracerProvider]), it builds an OTLP exporter and a tracer provider
// that samples parent-based with cfg's ratio; the exporter connects lazily, so a collector
// that is down does not fail New. cfg must be valid (see config.Config.Validate). Call
// Shutdown to flush the spans still buffered.
func New(ctx context.Context, cfg config.Telemetry, opts ...Option) (*Telemetry, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	t := &Telemetry{
		registry:   prometheus.NewRegistry(),
		metrics:    cfg.Metrics.Enabled,
		tp:         tracenoop.NewTracerProvider(),
		propagator: propagation.TraceContext{},
	}
	switch {
	case o.tracerProvider != nil:
		t.tracing, t.tp = true, o.tracerProvider
	case cfg.Tracing.Enabled:
		tp, err := newTracerProvider(ctx, cfg.Tracing)
		if err != nil {
			return nil, fmt.Errorf("telemetry.New: %w", err)
		}
		t.tracing, t.tp, t.shutdown = true, tp, tp.Shutdown
	}
	t.tracer = t.tp.Tracer(instrumentationName)
	if t.metrics {
		if err := t.registerMetrics(); err != nil {
			return nil, fmt.Errorf("telemetry.New: %w", err)
		}
	}
	return t, nil
}

// newTracerProvider builds an SDK tracer provider that batches spans to an OTLP exporter.
func newTracerProvider(ctx context.Context, cfg config.Tracing) (*sdktrace.TracerProvider, error) {
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch cfg.Protocol {
	case "http":
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(httpEndpoint(cfg.OTLPEndpoint)))
	default:
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(cfg.OTLPEndpoint))
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP %s exporter for %q: %w", cfg.Protocol, cfg.OTLPEndpoint, err)
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(float64(cfg.SampleRatio)))),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", cfg.ServiceName))),
	), nil
}

// httpEndpoint gives an OTLP/HTTP collector URL without a path the standard traces path.
func httpEndpoint(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || strings.Trim(u.Path, "/") != "" {
		return endpoint
	}
	u.Path = "/v1/traces"
	return u.String()
}

func (t *Telemetry) registerMetrics() error {
	t.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "archway_http_requests_total",
		Help: "HTTP requests answered, by matched route pattern (\"unmatched\" when none), method and status code.",
	}, []string{"route", "method", "code"})
	t.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "archway_http_request_duration_seconds",
		Help:    "Time from a request entering the gateway until its handler returned, by route pattern and method.",
		Buckets: latencyBuckets,
	}, []string{"route", "method"})
	t.inFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "archway_http_requests_in_flight",
		Help: "Requests being served, by matched route pattern.",
	}, []string{"route"})
	t.client = grpcprom.NewClientMetrics(
		grpcprom.WithClientCounterOptions(grpcprom.WithNamespace("archway"), grpcprom.WithSubsystem("backend")),
		grpcprom.WithClientHandlingTimeHistogram(
			grpcprom.WithHistogramNamespace("archway"),
			grpcprom.WithHistogramSubsystem("backend"),
			grpcprom.WithHistogramBuckets(latencyBuckets),
		),
	)
	for _, c := range []prometheus.Collector{
		t.requests, t.duration, t.inFlight, t.client,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := t.registry.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

// Registerer is the registry that /metrics serves, for other packages' collectors. It is
// there when metrics are disabled too, but then nothing is served.
func (t *Telemetry) Registerer() prometheus.Registerer { return t.registry }

// Gatherer is the registry that /metrics serves.
func (t *Telemetry) Gatherer() prometheus.Gatherer { return t.registry }

// MetricsEnabled reports whether metrics are collected and served.
func (t *Telemetry) MetricsEnabled() bool { return t.metrics }

// TracingEnabled reports whether spans are recorded.
func (t *Telemetry) TracingEnabled() bool { return t.tracing }

// TracerProvider is the provider of the gateway's spans: a no-op provider when tracing is off.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// Propagator is the W3C trace context propagator the gateway reads and writes trace context
// with.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.propagator }

// MetricsHandler serves the registry in the Prometheus text format (or OpenMetrics, when the
// scraper asks for it, which carries the trace id exemplars). The lead mounts it at /metrics
// on the admin listener. When metrics are disabled, it answers 404 NOT_FOUND.
func (t *Telemetry) MetricsHandler() http.Handler {
	if !t.metrics {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			edge.WriteStatus(w, 0, status.New(codes.NotFound, "metrics are disabled (telemetry.metrics.enabled)"))
		})
	}
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{Registry: t.registry, EnableOpenMetrics: true})
}

// ClientInterceptors returns the unary and stream client interceptors that count backend calls
// and time them, per method and code: archway_backend_grpc_client_started_total,
// archway_backend_grpc_client_handled_total, archway_backend_grpc_client_msg_received_total,
// archway_backend_grpc_client_msg_sent_total and the archway_backend_grpc_client_handling_seconds
// histogram. Both are nil when metrics are disabled. [Telemetry.DialOptions] includes them.
func (t *Telemetry) ClientInterceptors() ([]grpc.UnaryClientInterceptor, []grpc.StreamClientInterceptor) {
	if !t.metrics {
		return nil, nil
	}
	var opts []grpcprom.Option
	if t.tracing {
		opts = append(opts, grpcprom.WithExemplarFromContext(traceExemplar))
	}
	return []grpc.UnaryClientInterceptor{t.client.UnaryClientInterceptor(opts...)},
		[]grpc.StreamClientInterceptor{t.client.StreamClientInterceptor(opts...)}
}

// ClientStatsHandler returns the gRPC stats handler that records a client span per backend
// call (health checks excluded) and writes the trace context into the call's metadata; nil
// when tracing is off.
func (t *Telemetry) ClientStatsHandler() stats.Handler {
	if !t.tracing {
		return nil
	}
	return otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(t.tp),
		otelgrpc.WithPropagators(t.propagator),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
	)
}

// DialOptions returns the dial options for every backend ClientConn: the metric interceptors
// when metrics are enabled and the tracing stats handler when tracing is on; none when both
// are off.
func (t *Telemetry) DialOptions() []grpc.DialOption {
	var opts []grpc.DialOption
	if unary, stream := t.ClientInterceptors(); unary != nil {
		opts = append(opts, grpc.WithChainUnaryInterceptor(unary...), grpc.WithChainStreamInterceptor(stream...))
	}
	if h := t.ClientStatsHandler(); h != nil {
		opts = append(opts, grpc.WithStatsHandler(h))
	}
	return opts
}

// traceExemplar labels an observation with the id of the sampled trace it belongs to.
func traceExemplar(ctx context.Context) prometheus.Labels {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return nil
	}
	return prometheus.Labels{"trace_id": sc.TraceID().String()}
}

// Shutdown flushes the spans still buffered to the exporter and stops it. It does nothing when
// tracing is off or the tracer provider came from [WithTracerProvider].
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	if err := t.shutdown(ctx); err != nil {
		return fmt.Errorf("telemetry.Shutdown: %w", err)
	}
	return nil
}
