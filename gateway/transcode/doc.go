// Package transcode translates REST/JSON requests into gRPC calls from descriptors alone: it is
// the one parser of google.api.http rules ([Bindings]), compiles their path templates into the
// patterns grpc-gateway's ServeMux matches ([ParseTemplate], [Template.Compile]), and builds, for
// a service known only by its descriptors, the handlers that grpc-gateway's generator would
// write for it ([Register]), with dynamic messages.
package transcode
