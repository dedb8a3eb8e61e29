// Package openapidoc completes the OpenAPI documents that protoc-gen-openapiv2 and
// protoc-gen-openapiv3 generate from proto/, with what the generators cannot know: which
// operations require credentials, and with which scopes, from the archway.policy.v1.route
// options (a custom option the generators do not read), and the 201 Created that the gateway
// answers to creates. `make generate` runs it (internal/cmd/openapidoc) right after
// `buf generate`, so `make check-generated` keeps the committed documents in step with the
// route policies.
//
// The OpenAPI v3 documents, one per proto file, also take the document-level information
// (title, version, description, security schemes) of the merged v2 document, which the
// protos declare once with grpc-gateway's openapiv2 options.
//
// The documents keep the generators' key order; the output depends only on the input, so
// running the step twice changes nothing.
package openapidoc
