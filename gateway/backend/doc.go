// Package backend owns the gateway's connections to its backends: one gRPC ClientConn per
// configured backend, the client interceptor chain every call passes through, and the gRPC
// health checks behind the gateway's readiness.
//
// Each ClientConn balances round-robin over the backend's instances (a dns:/// target or a
// static list of addresses), skips the instances that gRPC client health checking reports
// unhealthy, and retries the calls of idempotent methods through the service config's retry
// policy and retry throttling, never past a call's deadline. In front of it, a guard per backend
// refuses calls at once, with UNAVAILABLE and a RetryInfo detail (503 with Retry-After at the
// edge), when too many are in flight or the backend's circuit breaker is open. Below it, the
// balancer counts each instance's calls and streams: a call goes to the next ready instance
// with room (MaxConcurrentCalls, of which MaxConcurrentStreams for streams), and is refused at
// once the same way when none has, rather than queued inside grpc-go behind the backend's HTTP/2
// MAX_CONCURRENT_STREAMS until its deadline. TLS and mTLS
// towards a backend are optional; plaintext is the default, for loopback demos.
//
// Set.Status reports each backend as the gateway sees it (resolved instances and their states,
// breaker, calls in flight) for the admin listener's /statusz. The instance states come from
// archway_round_robin, gRPC's round_robin seen through a wrapper that records the resolver's
// updates and each endpoint's state when they change. See docs/backends.md.
package backend
