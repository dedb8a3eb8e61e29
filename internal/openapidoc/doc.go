// Package openapidoc completes the OpenAPI documents that protoc-gen-openapiv2 and
// protoc-gen-openapiv3 generate from proto/, with what the generators cannot know: which
// operations require credentials, and with which scopes, from the archway.policy.v1.route
// options (a custom option the generators do not read), the 201 Created that the gateway
// answers to creates, the header fields the gateway adds to its answers, and how streams
// travel: server streams as newline-delimited JSON or Server-Sent Events, client and
// bidirectional streams over WebSocket (101 Switching Protocols), and google.api.HttpBody
// responses, streams and request bodies as raw content of any media type (binary), not the JSON
// object with base64 data that the generators describe.
//
// The header fields are those of the response cache on every GET of a unary method whose policy
// has a cache TTL (the If-None-Match parameter, a 304 Not Modified without a body, and ETag,
// Cache-Control with the policy's value and Age on the 200 and the 304; documented as sent
// when the cache is on, since the configuration can turn it off), Location on the 201 of
// creates, and composite.PartialHeader on the 200 of methods whose responses list degraded
// parts. `make generate` runs it (internal/cmd/openapidoc) right after `buf generate`, so `make
// check-generated` keeps the committed documents in step with the route policies.
//
// The gateway runs the same patches again at start-up with its live policy table, after
// Restrict has removed the services it does not serve, so that the documents it publishes
// describe the API as configured.
//
// The OpenAPI v3 documents, one per proto file, also take the document-level information
// (title, version, description, security schemes) of the merged v2 document, which the
// protos declare once with grpc-gateway's openapiv2 options, and the examples of its
// definitions (openapiv2_schema and openapiv2_field), which protoc-gen-openapiv3 has no option
// for.
//
// Every operation documents the error statuses the gateway can answer it with, from its route
// policy and binding (errors.go), each with the google.rpc.Status schema and its header fields
// (WWW-Authenticate, Retry-After, RateLimit-*); the schemas and query parameters carry the
// buf.validate rules of their fields that JSON Schema can say (rules.go); the v3 documents take
// the v2 document's paths, parameter names and operation ids (align.go). Describe writes the API's title, description,
// version, license, contact and servers, from the gateway's configuration (config.OpenAPI).
//
// The documents keep the generators' key order; the output depends only on the input, so
// running the step twice changes nothing.
package openapidoc
