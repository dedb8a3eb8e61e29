// Package bench is Archway's load harness: an open-loop load generator that measures latency
// from each request's intended send time (so coordinated omission does not hide stalls), a
// closed-loop generator that finds a target's maximum throughput, the targets it compares
// (direct gRPC, Archway, a bare grpc-gateway mux, connectrpc's vanguard, nginx) in front of the
// same storefront backend, the workloads, and the markdown and PNG report.
//
// The command bench/cmd/archway-bench runs it; docs/benchmarks.md explains the figures.
package bench
