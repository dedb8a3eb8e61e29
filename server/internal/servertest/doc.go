// Package servertest runs gRPC services in tests through the real server.NewGRPCServer chain
// over an in-memory bufconn listener, and reads the error details the storefront returns.
package servertest
