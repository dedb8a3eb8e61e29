package config

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
)

// Telemetry configures the gateway's metrics and tracing.
type Telemetry struct {
	// Metrics configures the Prometheus metrics served on the admin
	// listener's /metrics.
	Metrics TelemetryMetrics `yaml:"metrics"`

	// Tracing configures OpenTelemetry tracing and its OTLP exporter.
	Tracing Tracing `yaml:"tracing"`
}

// TelemetryMetrics configures the Prometheus metrics.
type TelemetryMetrics struct {
	// Enabled counts HTTP requests and backend calls and serves them, with
	// the Go runtime and process metrics, on the admin listener's /metrics.
	// By default true.
	Enabled bool `yaml:"enabled"`
}

// Tracing configures OpenTelemetry tracing. The gateway takes part in W3C
// trace context (traceparent, tracestate) whatever this says; when tracing
// is off it neither records spans nor forwards a client's trace context.
type Tracing struct {
	// Enabled records a span per request and per backend call and exports
	// them over OTLP. By default false.
	Enabled bool `yaml:"enabled"`

	// OTLPEndpoint is the URL of the OTLP collector, such as
	// "http://otel-collector:4317" (gRPC) or "https://collector:4318"
	// (HTTP). "http" means plain text, "https" TLS. Over HTTP, a URL
	// without a path gets "/v1/traces". Required when tracing is enabled.
	// By default empty.
	OTLPEndpoint string `yaml:"otlp_endpoint"`

	// Protocol is the OTLP transport: "grpc" or "http" (protobuf over
	// HTTP). By default "grpc".
	Protocol string `yaml:"protocol"`

	// SampleRatio is the share of new traces recorded, from 0 to 1. A
	// request that arrives with a trace context follows its caller's
	// sampling decision instead (parent-based sampling). By default 1.
	SampleRatio Ratio `yaml:"sample_ratio"`

	// ServiceName is the service.name resource attribute of the gateway's
	// spans. By default "archway".
	ServiceName string `yaml:"service_name"`
}

// Ratio is a number from 0 to 1, written in configuration as a decimal
// number such as 0.25.
type Ratio float64

// UnmarshalText parses a decimal number. Environment overrides are read
// through it; the range is checked by validation.
func (r *Ratio) UnmarshalText(text []byte) error {
	v, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return fmt.Errorf("want a number from 0 to 1, like 0.25, got %q", text)
	}
	*r = Ratio(v)
	return nil
}

// defaultTelemetry returns the defaults of the telemetry section.
func defaultTelemetry() Telemetry {
	return Telemetry{
		Metrics: TelemetryMetrics{Enabled: true},
		Tracing: Tracing{Protocol: "grpc", SampleRatio: 1, ServiceName: "archway"},
	}
}

// telemetry checks the telemetry section.
func (ch *checker) telemetry(t Telemetry) {
	tr := t.Tracing
	ch.oneOf("telemetry.tracing.protocol", tr.Protocol, "grpc", "http")
	if r := float64(tr.SampleRatio); math.IsNaN(r) || r < 0 || r > 1 {
		ch.failf("telemetry.tracing.sample_ratio", "must be from 0 to 1, got %v", r)
	}
	if tr.ServiceName == "" {
		ch.failf("telemetry.tracing.service_name", "must not be empty")
	}
	switch {
	case tr.OTLPEndpoint == "" && tr.Enabled:
		ch.failf("telemetry.tracing.otlp_endpoint", "must be set when telemetry.tracing.enabled is true, like \"http://otel-collector:4317\"")
	case tr.OTLPEndpoint != "":
		if msg := checkEndpointURL(tr.OTLPEndpoint); msg != "" {
			ch.failf("telemetry.tracing.otlp_endpoint", "%s", msg)
		}
	}
}

// checkEndpointURL checks an OTLP collector URL, returning what is wrong
// with it or "".
func checkEndpointURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return fmt.Sprintf("want an http:// or https:// URL with a host, like \"http://otel-collector:4317\", got %q", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Sprintf("%q: the port must be from 1 to 65535", s)
		}
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("%q: credentials, a query or a fragment are not allowed", s)
	}
	return ""
}
