package config_test

import (
	"math"
	"strings"
	"testing"

	"github.com/archway-gateway/archway/gateway/config"
)

func TestValidateTelemetry(t *testing.T) {
	t.Parallel()
	enabled := func(endpoint string) func(c *config.Config) {
		return func(c *config.Config) {
			c.Telemetry.Tracing.Enabled = true
			c.Telemetry.Tracing.OTLPEndpoint = endpoint
		}
	}
	for _, tc := range []struct {
		name   string
		modify func(c *config.Config)
		want   string // the whole problem, path first; "" when the config is valid
	}{
		{"defaults", func(*config.Config) {}, ""},
		{"enabled over grpc", enabled("http://otel-collector:4317"), ""},
		{"enabled over https with a path", func(c *config.Config) {
			enabled("https://collector.example.com/otlp/v1/traces")(c)
			c.Telemetry.Tracing.Protocol = "http"
		}, ""},
		{"ratio zero", func(c *config.Config) { c.Telemetry.Tracing.SampleRatio = 0 }, ""},
		{"ratio one half", func(c *config.Config) { c.Telemetry.Tracing.SampleRatio = 0.5 }, ""},
		{"endpoint set while disabled", func(c *config.Config) { c.Telemetry.Tracing.OTLPEndpoint = "http://collector:4317" }, ""},
		{"enabled without endpoint", enabled(""), `telemetry.tracing.otlp_endpoint: must be set when telemetry.tracing.enabled is true`},
		{"endpoint without scheme", enabled("collector:4317"), `telemetry.tracing.otlp_endpoint: want an http:// or https:// URL with a host, like "http://otel-collector:4317", got "collector:4317"`},
		{"endpoint with grpc scheme", enabled("grpc://collector:4317"), `telemetry.tracing.otlp_endpoint: want an http:// or https:// URL`},
		{"endpoint without host", enabled("http://:4317"), `telemetry.tracing.otlp_endpoint: want an http:// or https:// URL`},
		{"endpoint port zero", enabled("http://collector:0"), `telemetry.tracing.otlp_endpoint: "http://collector:0": the port must be from 1 to 65535`},
		{"endpoint with credentials", enabled("https://user:pw@collector:4318"), `telemetry.tracing.otlp_endpoint: "https://user:pw@collector:4318": credentials, a query or a fragment are not allowed`},
		{"bad endpoint while disabled", func(c *config.Config) { c.Telemetry.Tracing.OTLPEndpoint = "collector" }, `telemetry.tracing.otlp_endpoint: want an http:// or https:// URL`},
		{"protocol", func(c *config.Config) { c.Telemetry.Tracing.Protocol = "udp" }, `telemetry.tracing.protocol: must be "grpc" or "http", got "udp"`},
		{"ratio above one", func(c *config.Config) { c.Telemetry.Tracing.SampleRatio = 1.5 }, "telemetry.tracing.sample_ratio: must be from 0 to 1, got 1.5"},
		{"ratio negative", func(c *config.Config) { c.Telemetry.Tracing.SampleRatio = -0.1 }, "telemetry.tracing.sample_ratio: must be from 0 to 1, got -0.1"},
		{"ratio NaN", func(c *config.Config) { c.Telemetry.Tracing.SampleRatio = config.Ratio(math.NaN()) }, "telemetry.tracing.sample_ratio: must be from 0 to 1, got NaN"},
		{"service name empty", func(c *config.Config) { c.Telemetry.Tracing.ServiceName = "" }, "telemetry.tracing.service_name: must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			tc.modify(c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			if got := strings.TrimPrefix(err.Error(), "config.Validate: "); !strings.HasPrefix(got, tc.want) {
				t.Errorf("Validate() = %q, want it to start with %q", got, tc.want)
			}
		})
	}
}

func TestParseTelemetry(t *testing.T) {
	t.Parallel()
	yaml := `
telemetry:
  metrics: {enabled: false}
  tracing:
    enabled: true
    otlp_endpoint: http://collector:4318
    protocol: http
    sample_ratio: 0.25
    service_name: edge
`
	t.Run("file", func(t *testing.T) {
		t.Parallel()
		c, err := config.Parse([]byte(yaml), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := config.Telemetry{
			Metrics: config.TelemetryMetrics{Enabled: false},
			Tracing: config.Tracing{Enabled: true, OTLPEndpoint: "http://collector:4318", Protocol: "http", SampleRatio: 0.25, ServiceName: "edge"},
		}
		if c.Telemetry != want {
			t.Errorf("Telemetry = %+v, want %+v", c.Telemetry, want)
		}
	})
	t.Run("environment", func(t *testing.T) {
		t.Parallel()
		c, err := config.Parse([]byte(yaml), []string{"ARCHWAY_TELEMETRY_TRACING_SAMPLE_RATIO=0.1", "ARCHWAY_TELEMETRY_METRICS_ENABLED=true"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Telemetry.Tracing.SampleRatio != 0.1 || !c.Telemetry.Metrics.Enabled {
			t.Errorf("Telemetry = %+v, want sample_ratio 0.1 and metrics enabled from the environment", c.Telemetry)
		}
	})
	t.Run("environment not a number", func(t *testing.T) {
		t.Parallel()
		_, err := config.Parse(nil, []string{"ARCHWAY_TELEMETRY_TRACING_SAMPLE_RATIO=half"})
		if err == nil || !strings.Contains(err.Error(), `ARCHWAY_TELEMETRY_TRACING_SAMPLE_RATIO: want a number from 0 to 1, like 0.25, got "half"`) {
			t.Errorf("Parse() = %v, want the variable named with what is wrong", err)
		}
	})
	t.Run("environment out of range", func(t *testing.T) {
		t.Parallel()
		_, err := config.Parse(nil, []string{"ARCHWAY_TELEMETRY_TRACING_SAMPLE_RATIO=2"})
		if err == nil || !strings.Contains(err.Error(), "telemetry.tracing.sample_ratio: must be from 0 to 1, got 2 (set by ARCHWAY_TELEMETRY_TRACING_SAMPLE_RATIO)") {
			t.Errorf("Parse() = %v, want the range problem naming the variable", err)
		}
	})
}
