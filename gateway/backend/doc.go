// Package backend owns the gateway's connections to its backends: one gRPC ClientConn per
// configured backend, the client interceptor chain every call passes through, and the gRPC
// health checks behind the gateway's readiness.
package backend
