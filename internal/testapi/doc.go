// Package testapi holds test APIs for the gateway's tests. NoteService's HTTP bindings come from a
// gRPC API configuration file (notes_api.yaml) instead of google.api.http options, as some teams
// bind theirs: the tests show that such a service is refused at start-up, never served without
// its policy. FileService (files.proto) takes and returns google.api.HttpBody: raw downloads,
// streamed downloads and uploads. The generated code is under gen/ (`make generate`, template
// buf.gen.testapi.yaml). TallyService (tally.proto) binds a client stream and a bidirectional
// stream to POST, whose request bodies are newline-delimited JSON.
package testapi
