package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/config"
)

// A backends entry read from YAML gets the resilience defaults, section by section: a section
// that sets one key keeps the defaults of the others.
func TestBackendResilienceDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]byte(`
backends:
  - name: users
    addresses: ["10.0.0.1:9090", "10.0.0.2:9090"]
    services: [storefront.users.v1.UserService]
    retry: {max_attempts: 2}
    circuit_breaker: {open_timeout: 30s}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Backends[0]
	if !b.HealthCheck.Enabled || b.MaxInFlight != 1000 || b.TLS.Enabled {
		t.Errorf("health_check.enabled %v, max_in_flight %d, tls.enabled %v; want true, 1000, false",
			b.HealthCheck.Enabled, b.MaxInFlight, b.TLS.Enabled)
	}
	if b.MaxConcurrentCalls != 100 || b.StreamShare != 0.5 || b.MaxStreams() != 50 {
		t.Errorf("max_concurrent_calls %d, stream_share %g, MaxStreams %d; want 100, 0.5, 50",
			b.MaxConcurrentCalls, b.StreamShare, b.MaxStreams())
	}
	r := b.Retry
	if r.MaxAttempts != 2 || r.InitialBackoff.D() != 100*time.Millisecond || r.MaxBackoff.D() != time.Second ||
		r.BackoffMultiplier != 2 || strings.Join(r.RetryableCodes, ",") != "UNAVAILABLE" ||
		r.ThrottleMaxTokens != 10 || r.ThrottleTokenRatio != 0.1 {
		t.Errorf("retry = %+v, want max_attempts 2 and the other defaults", r)
	}
	cb := b.CircuitBreaker
	if !cb.Enabled || cb.OpenTimeout.D() != 30*time.Second || cb.FailureRatio != 0.5 || cb.MinRequests != 20 ||
		cb.Window.D() != 10*time.Second || cb.HalfOpenRequests != 3 || cb.SlowCallThreshold.D() != time.Second {
		t.Errorf("circuit_breaker = %+v, want open_timeout 30s and the other defaults", cb)
	}
	if c.Shutdown.ReadyDelay != 0 {
		t.Errorf("shutdown.ready_delay = %v, want 0s", c.Shutdown.ReadyDelay)
	}
}

func TestValidateBackendResilience(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"address and addresses", `address: "10.0.0.1:1"
    addresses: ["10.0.0.2:1"]`, "backends[0].addresses: set either address or addresses, not both"},
		{"neither", `addresses: []`, "backends[0].address: must not be empty"},
		{"bad instance", `addresses: ["10.0.0.1"]`, `backends[0].addresses[0]: "10.0.0.1" is not host:port`},
		{"duplicate instance", `addresses: ["10.0.0.1:1", "10.0.0.1:1"]`, `backends[0].addresses[1]: "10.0.0.1:1" duplicates backends[0].addresses[0]`},
		{"tls keys without tls", `address: "10.0.0.1:1"
    tls: {ca_file: ca.pem}`, "backends[0].tls.enabled: is false, but other tls keys are set"},
		{"cert without key", `address: "10.0.0.1:1"
    tls: {enabled: true, cert_file: c.pem}`, "backends[0].tls.cert_file: cert_file and key_file go together"},
		{"too many attempts", `address: "10.0.0.1:1"
    retry: {max_attempts: 6}`, "backends[0].retry.max_attempts: must be from 0 or 1 (no retries) to 5, got 6"},
		{"backoffs reversed", `address: "10.0.0.1:1"
    retry: {initial_backoff: 2s, max_backoff: 1s}`, "backends[0].retry.max_backoff: must be at least initial_backoff (2s), got 1s"},
		{"unknown code", `address: "10.0.0.1:1"
    retry: {retryable_codes: [UNAVAILABLE, BROKEN]}`, `backends[0].retry.retryable_codes[1]: "BROKEN" is not a gRPC code name`},
		{"OK retried", `address: "10.0.0.1:1"
    retry: {retryable_codes: [OK]}`, `backends[0].retry.retryable_codes[0]: "OK" is not a gRPC code name other than OK`},
		{"throttle too big", `address: "10.0.0.1:1"
    retry: {throttle_max_tokens: 5000}`, "backends[0].retry.throttle_max_tokens: must be from 1 to 1000, got 5000"},
		{"ratio above one", `address: "10.0.0.1:1"
    circuit_breaker: {failure_ratio: 1.5}`, "backends[0].circuit_breaker.failure_ratio: must be more than 0 and at most 1, got 1.5"},
		{"no probes", `address: "10.0.0.1:1"
    circuit_breaker: {half_open_requests: 0}`, "backends[0].circuit_breaker.half_open_requests: must be positive, got 0"},
		{"negative in-flight limit", `address: "10.0.0.1:1"
    max_in_flight: -1`, "backends[0].max_in_flight: must not be negative, got -1"},
		{"no concurrent calls", `address: "10.0.0.1:1"
    max_concurrent_calls: 0`, "backends[0].max_concurrent_calls: must be positive, got 0"},
		{"stream share above one", `address: "10.0.0.1:1"
    stream_share: 1.5`, "backends[0].stream_share: must be more than 0 and at most 1, got 1.5"},
		{"no room for a stream", `address: "10.0.0.1:1"
    max_concurrent_calls: 3
    stream_share: 0.2`, "backends[0].stream_share: 0.2 of max_concurrent_calls 3 leaves no room for a stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse([]byte("backends:\n  - name: users\n    services: [storefront.users.v1.UserService]\n    "+tt.yaml+"\n"), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse: %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := config.Parse([]byte("shutdown: {ready_delay: -1s}\n"), nil); err == nil || !strings.Contains(err.Error(), "shutdown.ready_delay: must not be negative") {
		t.Errorf("negative ready delay: %v", err)
	}
	if _, err := config.Parse([]byte(`backends:
  - name: users
    services: [storefront.users.v1.UserService]
    address: "10.0.0.1:1"
    retry: {max_attempts: 1, initial_backoff: 0s}
    circuit_breaker: {enabled: false, failure_ratio: 0}
`), nil); err != nil {
		t.Errorf("retries and breaker off with unchecked keys: %v", err)
	}
}
