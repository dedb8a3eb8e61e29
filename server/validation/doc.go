// Package validation is the validation link of a backend's gRPC server: every request message,
// unary or streamed, is checked against its buf.validate rules with protovalidate, and a
// violation becomes INVALID_ARGUMENT with a google.rpc.BadRequest detail that has one field
// violation per broken rule, each named by its full path in the request ("user.display_name",
// "order.items[2].product_id"). Any backend can chain it; it imports nothing of the gateway or
// of the demo:
//
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(validation.UnaryServerInterceptor(nil)),
//		grpc.ChainStreamInterceptor(validation.StreamServerInterceptor(nil)),
//	)
//
// # Masked updates
//
// A partial update (AIP-134) sends the resource with only the fields it changes, and a
// google.protobuf.FieldMask naming them: rules such as REQUIRED or a minimum length on the
// resource's other fields would refuse every such request. So a request that has a FieldMask
// field named update_mask and exactly one other singular message field, the resource, is
// validated by the mask: of the resource, only the fields whose paths the mask names
// ("display_name", or "address.city" for one field of a nested message) are checked, with their
// nested rules, while the mask itself and the request's other fields are checked in full.
// Message-level and oneof rules of the resource apply only where the mask names the whole
// message or, for a oneof, one of its fields. An empty or absent mask stands for the resource's
// populated fields, as AIP-134 prescribes, and the path "*" for the whole resource. The service
// still checks the paths against what it lets a client update, and may validate the merged
// resource before storing it. A request with an update_mask but no single resource field is
// validated in full.
package validation
