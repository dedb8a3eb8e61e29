// Package telemetry sets up the gateway's metrics and tracing.
//
// Metrics are Prometheus metrics on a registry that the gateway owns (never the global default),
// served by [Telemetry.MetricsHandler] on the admin listener. They cover the HTTP edge
// ([Telemetry.Middleware] and [Telemetry.RouteMiddleware]), every backend call
// ([Telemetry.DialOptions], through the go-grpc-middleware prometheus provider), and the Go
// runtime and process. Other packages register their collectors on [Telemetry.Registerer].
//
// Tracing is OpenTelemetry with W3C trace context (traceparent, tracestate). The HTTP middleware
// continues a client's trace, or starts one, with a server span per request; the dial options
// record a client span per backend call and pass the trace context on in gRPC metadata, so the
// backends' spans join the same trace. Composite sub-calls use the same connections, so they
// are children of the request's span too. Spans are exported over OTLP (gRPC or HTTP).
//
// Tracing is off by default; then no tracer is called per request, no span context is
// extracted or forwarded, and the middleware costs what its metrics cost.
//
// Labels are bounded: the route label is the matched route pattern ("unmatched" when no route
// matched), never the raw path, and the method label is a standard HTTP method or "OTHER".
package telemetry
