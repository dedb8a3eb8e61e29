package telemetry

import "go.opentelemetry.io/otel/trace"

// Option configures [New].
type Option func(*options)

type options struct {
	tracerProvider trace.TracerProvider
}

// WithTracerProvider records spans with tp instead of an OTLP exporter built from the
// configuration, and turns tracing on whatever telemetry.tracing.enabled says. The caller owns
// tp: [Telemetry.Shutdown] does not shut it down. Tests pass a provider with an in-memory
// exporter. By default, tracing follows the configuration: off, or an SDK provider exporting
// over OTLP.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}
