package telemetry

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/archway-gateway/archway/gateway/edge"
)

// Unmatched is the route label of a request that matched no route.
const Unmatched = "unmatched"

// Middleware measures every request and, with tracing on, wraps it in a server span. The
// lead places it in the edge chain right after the request id link (it reads the request id
// and, once the handler returns, the matched route from [edge.State]) and outside recovery, so
// a recovered panic is measured as the 500 it became.
//
// Metrics: archway_http_requests_total{route,method,code} and
// archway_http_request_duration_seconds{route,method}, where route is the matched route pattern
// or "unmatched". Tracing: the client's traceparent and tracestate headers are honoured as the
// parent; the span is named after the method until the route is known and "METHOD pattern"
// after, as OpenTelemetry's HTTP conventions ask (a pattern alone would not tell a GET from a
// DELETE of the same resource), and carries http.request.method, url.scheme, url.path,
// http.route, http.response.status_code and archway.request_id. A 5xx answer marks the span as
// an error.
//
// With metrics and tracing both off, Middleware returns next unchanged.
func (t *Telemetry) Middleware(next http.Handler) http.Handler {
	if !t.metrics && !t.tracing {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		var span trace.Span
		if t.tracing {
			r, span = t.startSpan(r)
		}
		returned := false
		defer func() { t.finish(r, sw, start, span, returned) }()
		next.ServeHTTP(sw, r)
		returned = true
	})
}

// RouteMiddleware keeps archway_http_requests_in_flight{route} for requests that matched a
// route. The route is known only after routing, so the lead places it in the per-route chain,
// where edge.State's Route() and policy.FromContext are set. With metrics off, it returns next
// unchanged.
func (t *Telemetry) RouteMiddleware(next http.Handler) http.Handler {
	if !t.metrics {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := t.inFlight.WithLabelValues(routeLabel(r.Context()))
		g.Inc()
		defer g.Dec()
		next.ServeHTTP(w, r)
	})
}

// startSpan starts the request's server span as a child of the client's trace context, if it
// sent one, and returns the request carrying it.
func (t *Telemetry) startSpan(r *http.Request) (*http.Request, trace.Span) {
	ctx := t.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	ctx, span := t.tracer.Start(ctx, methodLabel(r.Method),
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", methodLabel(r.Method)),
			attribute.String("url.scheme", scheme),
			attribute.String("url.path", r.URL.Path),
			attribute.String("archway.request_id", edge.RequestIDFrom(r.Context())),
		))
	return r.WithContext(ctx), span
}

// finish records the request's metrics and ends its span. A handler that did not return (it
// panicked through this link) and wrote nothing is recorded as a 500.
func (t *Telemetry) finish(r *http.Request, sw *statusWriter, start time.Time, span trace.Span, returned bool) {
	code := sw.status
	switch {
	case code == 0 && !returned:
		code = http.StatusInternalServerError
	case code == 0:
		code = http.StatusOK
	}
	route := routeLabel(r.Context())
	method := methodLabel(r.Method)
	if t.metrics {
		t.requests.WithLabelValues(route, method, codeLabel(code)).Inc()
		obs := t.duration.WithLabelValues(route, method)
		if ex := traceExemplar(r.Context()); ex != nil {
			obs.(prometheus.ExemplarObserver).ObserveWithExemplar(time.Since(start).Seconds(), ex)
		} else {
			obs.Observe(time.Since(start).Seconds())
		}
	}
	if span == nil {
		return
	}
	if route != Unmatched {
		span.SetName(method + " " + route)
		span.SetAttributes(attribute.String("http.route", route))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", code))
	if code >= http.StatusInternalServerError {
		span.SetStatus(otelcodes.Error, http.StatusText(code))
	}
	span.End()
}

// routeLabel is the matched route pattern of the request, or [Unmatched].
func routeLabel(ctx context.Context) string {
	if s := edge.StateFrom(ctx); s != nil {
		if route := s.Route(); route != "" {
			return route
		}
	}
	return Unmatched
}

// methodLabel bounds the method label: a client may send any token as its method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	default:
		return "OTHER"
	}
}

// codeLabels holds the label of every status code net/http accepts, so the hot path formats none.
var codeLabels = func() []string {
	labels := make([]string, 1000)
	for i := 100; i < len(labels); i++ {
		labels[i] = strconv.Itoa(i)
	}
	return labels
}()

func codeLabel(code int) string {
	if code < 100 || code >= len(codeLabels) {
		return strconv.Itoa(code)
	}
	return codeLabels[code]
}

// statusWriter records the status code a handler wrote. It passes Flush through, so server
// streams reach the client message by message, and unwraps for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= http.StatusOK {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends buffered data to the client; grpc-gateway calls it after every streamed message.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
