// Package gateway is Archway's edge gateway as a library: [New] builds the HTTP handler that
// serves the REST API of the configured backends, translating every request into a gRPC call,
// and [Gateway.Run] serves it until its context ends, then drains in-flight requests.
//
// The handler is the edge chain (package edge) around a grpc-gateway ServeMux whose options are
// set in one place, [Gateway.newServeMux]: errors as google.rpc.Status JSON with the standard
// HTTP status table, strict decoding of bodies and query strings, an allowlist for the request
// headers that reach backends, 201 Created with Location for create methods, and 405 with an
// Allow header when a path exists under other methods.
package gateway
