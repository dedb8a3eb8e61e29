package backend

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	// Registers gRPC's client health checking, which healthCheckConfig turns on; without the
	// import, the service config's healthCheckConfig is ignored.
	_ "google.golang.org/grpc/health"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// Retry is the retry policy of a backend's idempotent methods, applied by gRPC from the service
// config. gRPC never retries past a call's deadline, nor once response headers have arrived.
type Retry struct {
	// MaxAttempts counts the first attempt; 0 or 1 turns retries off. gRPC caps it at 5.
	MaxAttempts int
	// InitialBackoff, MaxBackoff and BackoffMultiplier shape the randomised wait between
	// attempts.
	InitialBackoff, MaxBackoff time.Duration
	BackoffMultiplier          float64
	// Codes are the status codes that are retried.
	Codes []codes.Code
	// ThrottleMaxTokens and ThrottleTokenRatio configure retry throttling: each failure takes a
	// token, each success gives back the ratio, and retries stop while half the bucket or less
	// is left.
	ThrottleMaxTokens, ThrottleTokenRatio float64
}

// The gRPC service config, as JSON (https://github.com/grpc/grpc/blob/master/doc/service_config.md).
type (
	jsonServiceConfig struct {
		LoadBalancingConfig []map[string]jsonRecording `json:"loadBalancingConfig"`
		HealthCheckConfig   *jsonHealthCheck           `json:"healthCheckConfig,omitempty"`
		MethodConfig        []jsonMethodConfig         `json:"methodConfig,omitempty"`
		RetryThrottling     *jsonRetryThrottling       `json:"retryThrottling,omitempty"`
	}
	jsonRecording struct {
		Recorder string `json:"recorder"`
	}
	jsonHealthCheck struct {
		ServiceName string `json:"serviceName"`
	}
	jsonMethodConfig struct {
		Name        []jsonMethodName `json:"name"`
		RetryPolicy jsonRetryPolicy  `json:"retryPolicy"`
	}
	jsonMethodName struct {
		Service string `json:"service"`
		Method  string `json:"method"`
	}
	jsonRetryPolicy struct {
		MaxAttempts          int          `json:"maxAttempts"`
		InitialBackoff       string       `json:"initialBackoff"`
		MaxBackoff           string       `json:"maxBackoff"`
		BackoffMultiplier    float64      `json:"backoffMultiplier"`
		RetryableStatusCodes []codes.Code `json:"retryableStatusCodes"`
	}
	jsonRetryThrottling struct {
		MaxTokens  float64 `json:"maxTokens"`
		TokenRatio float64 `json:"tokenRatio"`
	}
)

// serviceConfig renders the backend's default service config: round_robin over every resolved
// address (recorded for [Set.Status] by the recorder), client health checking when spec asks for
// it, and the retry policy of its idempotent methods with retry throttling.
func serviceConfig(spec Spec, recorder uint64) (string, error) {
	sc := jsonServiceConfig{LoadBalancingConfig: []map[string]jsonRecording{
		{balancerName: {Recorder: strconv.FormatUint(recorder, 10)}},
	}}
	if spec.HealthCheck {
		sc.HealthCheckConfig = &jsonHealthCheck{ServiceName: spec.HealthCheckService}
	}
	if r := spec.Retry; r.MaxAttempts > 1 && len(spec.IdempotentMethods) > 0 {
		mc := jsonMethodConfig{RetryPolicy: jsonRetryPolicy{
			MaxAttempts:          r.MaxAttempts,
			InitialBackoff:       protoDuration(r.InitialBackoff),
			MaxBackoff:           protoDuration(r.MaxBackoff),
			BackoffMultiplier:    r.BackoffMultiplier,
			RetryableStatusCodes: r.Codes,
		}}
		for _, m := range spec.IdempotentMethods {
			svc, method, ok := strings.Cut(strings.TrimPrefix(m, "/"), "/")
			if !ok || svc == "" || method == "" {
				return "", fmt.Errorf("idempotent method %q: want /package.Service/Method", m)
			}
			mc.Name = append(mc.Name, jsonMethodName{Service: svc, Method: method})
		}
		sc.MethodConfig = []jsonMethodConfig{mc}
		sc.RetryThrottling = &jsonRetryThrottling{MaxTokens: r.ThrottleMaxTokens, TokenRatio: r.ThrottleTokenRatio}
	}
	data, err := json.Marshal(sc)
	return string(data), err
}

// protoDuration formats d as a google.protobuf.Duration in JSON: "0.1s".
func protoDuration(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// staticResolver resolves the backend's static list of addresses. Each address names itself
// for TLS, so a certificate is checked against the host it was dialled at, unless the spec
// sets a server name.
func staticResolver(spec Spec) *manual.Resolver {
	r := manual.NewBuilderWithScheme("archway-static-" + spec.Name)
	addrs := make([]resolver.Address, len(spec.Addresses))
	for i, a := range spec.Addresses {
		addrs[i] = resolver.Address{Addr: a}
		if host, _, err := net.SplitHostPort(a); err == nil && spec.TLS.ServerName == "" {
			addrs[i].ServerName = host
		}
	}
	r.InitialState(resolver.State{Addresses: addrs})
	return r
}
