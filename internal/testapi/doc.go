// Package testapi holds a test API whose HTTP bindings come from a gRPC API configuration file
// (notes_api.yaml) instead of google.api.http options, as some teams bind theirs. Its generated
// code is under gen/ (`make generate`, template buf.gen.testapi.yaml); the gateway's tests use it
// to show that such a service is refused at start-up, never served without its policy.
package testapi
