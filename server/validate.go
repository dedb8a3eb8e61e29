package server

import (
	"context"
	"slices"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/archway-gateway/archway/server/internal/rpcerr"
)

// go-grpc-middleware's protovalidate interceptor reports violations as a buf.validate.Violations
// detail. Clients of the gateway expect the standard google.rpc.BadRequest, so these links
// convert them with rpcerr.FromValidation.

func unaryValidate(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := validate(v, req); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func streamValidate(v protovalidate.Validator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &validatingStream{ServerStream: ss, validator: v})
	}
}

// validatingStream validates every message the client sends on a stream.
type validatingStream struct {
	grpc.ServerStream
	validator protovalidate.Validator
}

// RecvMsg receives the next client message and validates it.
func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return validate(s.validator, m)
}

func validate(v protovalidate.Validator, req any) error {
	msg, ok := req.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "request of type %T is not a protobuf message", req)
	}
	if slices.Contains(validatedByHandler, msg.ProtoReflect().Descriptor().FullName()) {
		return nil
	}
	return rpcerr.FromValidation(v.Validate(msg))
}
