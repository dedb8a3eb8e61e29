package rpcerr

import (
	"errors"
	"fmt"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// Violation returns one field violation for a google.rpc.BadRequest detail. field is the path of
// the offending request field, such as "user.email" or "order.items[2].product_id".
func Violation(field, description string) *errdetails.BadRequest_FieldViolation {
	return &errdetails.BadRequest_FieldViolation{Field: field, Description: description}
}

// InvalidArgument returns an INVALID_ARGUMENT status error with msg and a google.rpc.BadRequest
// detail that lists violations.
func InvalidArgument(msg string, violations ...*errdetails.BadRequest_FieldViolation) error {
	return withDetail(status.New(codes.InvalidArgument, msg), &errdetails.BadRequest{FieldViolations: violations})
}

// FailedPrecondition returns a FAILED_PRECONDITION status error with msg and a
// google.rpc.PreconditionFailure detail of the given type, such as "STATE", about subject, such
// as "orders/ord-1001".
func FailedPrecondition(typ, subject, msg string) error {
	detail := &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
		{Type: typ, Subject: subject, Description: msg},
	}}
	return withDetail(status.New(codes.FailedPrecondition, msg), detail)
}

// FromValidation converts an error from a protovalidate Validator into a gRPC status error.
//
// A *protovalidate.ValidationError becomes INVALID_ARGUMENT with a google.rpc.BadRequest detail
// that has one field violation per rule violation, in the order protovalidate reported them.
// Any other error means the rules themselves could not be evaluated; it becomes INTERNAL with a
// generic message, since it describes the server rather than the request. A nil error stays nil.
func FromValidation(err error) error {
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return status.Error(codes.Internal, "request validation failed to run")
	}
	violations := make([]*errdetails.BadRequest_FieldViolation, 0, len(verr.Violations))
	for _, v := range verr.Violations {
		field := protovalidate.FieldPathString(v.Proto.GetField())
		description := v.Proto.GetMessage()
		if description == "" {
			description = fmt.Sprintf("violates rule %q", v.Proto.GetRuleId())
		}
		violations = append(violations, Violation(field, description))
	}
	return InvalidArgument(verr.Error(), violations...)
}

// withDetail attaches detail to st. The details used here are registered, well-formed messages,
// so WithDetails cannot fail for them; if it ever did, the status without detail is still right.
func withDetail(st *status.Status, detail protoadapt.MessageV1) error {
	ds, err := st.WithDetails(detail)
	if err != nil {
		return st.Err()
	}
	return ds.Err()
}
