package gateway

import (
	"slices"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/archway-gateway/archway/gateway/backend"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/policy"
)

// backendSpecs turns the backends section into dial specs. Each backend's retry policy covers
// the methods of its services whose route policy says idempotent.
func backendSpecs(backends []config.Backend, policies *policy.Table) []backend.Spec {
	specs := make([]backend.Spec, 0, len(backends))
	for _, b := range backends {
		spec := backend.Spec{
			Name:                b.Name,
			Target:              b.Address,
			Addresses:           b.Addresses,
			Services:            b.Services,
			MaxReconnectBackoff: b.MaxReconnectBackoff.D(),
			TLS: backend.TLS{
				Enabled:    b.TLS.Enabled,
				CAFile:     b.TLS.CAFile,
				CertFile:   b.TLS.CertFile,
				KeyFile:    b.TLS.KeyFile,
				ServerName: b.TLS.ServerName,
			},
			HealthCheck:        b.HealthCheck.Enabled,
			HealthCheckService: b.HealthCheck.Service,
			Retry: backend.Retry{
				MaxAttempts:        b.Retry.MaxAttempts,
				InitialBackoff:     b.Retry.InitialBackoff.D(),
				MaxBackoff:         b.Retry.MaxBackoff.D(),
				BackoffMultiplier:  b.Retry.BackoffMultiplier,
				ThrottleMaxTokens:  b.Retry.ThrottleMaxTokens,
				ThrottleTokenRatio: b.Retry.ThrottleTokenRatio,
			},
			Breaker: backend.Breaker{
				Enabled:           b.CircuitBreaker.Enabled,
				FailureRatio:      b.CircuitBreaker.FailureRatio,
				MinRequests:       uint32(b.CircuitBreaker.MinRequests),
				Window:            b.CircuitBreaker.Window.D(),
				OpenTimeout:       b.CircuitBreaker.OpenTimeout.D(),
				HalfOpenRequests:  uint32(b.CircuitBreaker.HalfOpenRequests),
				SlowCallThreshold: b.CircuitBreaker.SlowCallThreshold.D(),
			},
			MaxInFlight:          b.MaxInFlight,
			MaxConcurrentCalls:   b.MaxConcurrentCalls,
			MaxConcurrentStreams: b.MaxStreams(),
		}
		for _, name := range b.Retry.RetryableCodes {
			if c, ok := config.ParseCode(name); ok && c != codes.OK {
				spec.Retry.Codes = append(spec.Retry.Codes, c)
			}
		}
		for _, m := range policies.Methods() {
			svc, _, _ := strings.Cut(strings.TrimPrefix(m, "/"), "/")
			if p, _ := policies.Lookup(m); p.Idempotent && slices.Contains(b.Services, svc) {
				spec.IdempotentMethods = append(spec.IdempotentMethods, m)
			}
		}
		specs = append(specs, spec)
	}
	return specs
}
