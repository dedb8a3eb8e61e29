// Package apitest checks, in tests, that the gateway's REST API answers as its published
// OpenAPI documents say: every response to an API request must have a documented status, a
// documented content type and a body that validates against the documented schema, the
// google.rpc.Status schema for errors included.
//
// A [Validator] holds the documents of package openapi (the merged OpenAPI v2 document,
// converted to OpenAPI 3 with kin-openapi's openapi2conv, and the OpenAPI 3.1 documents of
// protoc-gen-openapiv3, merged into one) and checks each response against both, with
// kin-openapi's openapi3filter: a client reads either document, so both must be true.
// [Validator.Transport] wraps an http.RoundTripper so that every response an HTTP client
// receives is checked; a response that does not match fails the request with an error that
// says why, and so the test that made it.
//
// Checking both documents matters: they come from two generators (protoc-gen-openapiv2 and the
// alpha protoc-gen-openapiv3) that name and lay out schemas differently, and the docs page
// offers both. kin-openapi loads the v3 documents as they are (OpenAPI 3.1, validated with its
// JSON Schema 2020-12 mode) and the v2 one through openapi2conv (OpenAPI 3.0).
//
// Beyond what openapi3filter checks, a Validator requires a documented response for every
// success status (openapi3filter would fall back to the default response, the error schema,
// which accepts almost any object), a google.rpc.Status for errors on paths that no operation
// documents, a 304 Not Modified only where the operation documents one (the cached reads),
// in answer to a conditional request and without a body, and no body member that the
// documented schema does not list: the gateway writes
// proto3 JSON, so an unknown member is a field the document misnames or lacks. Operations are
// found as grpc-gateway routes: a custom verb (":watch") is split off the last segment before
// path variables match.
//
// Only API requests are checked: those whose path starts with a version segment such as /v1/,
// where the gateway serves its API (see config.Docs). The gateway's own endpoints (/healthz,
// /readyz, /docs, /openapi/..., the admin listener's /metrics) are not described by the
// documents and pass unchecked, and so do the bodies of streams: newline-delimited JSON,
// Server-Sent Events and WebSocket upgrades (their status and the presence of the operation
// are still checked).
package apitest
