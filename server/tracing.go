package server

import (
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// TracingOption returns the server option that records a server span with tp for every call
// but health checks, continuing the caller's W3C trace context (the traceparent and tracestate
// metadata that the gateway sends), so a backend's spans join the gateway's trace. Pass it to
// NewGRPCServer; Start adds it when Options.TracerProvider is set.
func TracingOption(tp trace.TracerProvider) grpc.ServerOption {
	return grpc.StatsHandler(otelgrpc.NewServerHandler(otelOptions(tp)...))
}

// tracingDialOption is TracingOption's client twin, for the storefront's own calls between
// services (orders to catalog), so those join the trace too.
func tracingDialOption(tp trace.TracerProvider) grpc.DialOption {
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelOptions(tp)...))
}

// otelOptions records spans with tp in W3C trace context and nothing else: no global
// provider or propagator, no OpenTelemetry metrics, no spans for health checks.
func otelOptions(tp trace.TracerProvider) []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithPropagators(propagation.TraceContext{}),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
	}
}
