package validation

import (
	"context"
	"strings"
	"sync"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/server/internal/rpcerr"
)

// UnaryServerInterceptor returns the validation link for unary calls: a request that breaks its
// rules is answered with Validate's error, and the handler is not called. v is the validator to
// use; by default (nil), protovalidate.GlobalValidator.
func UnaryServerInterceptor(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	v = orGlobal(v)
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := validateAny(v, req); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns the validation link for streams: every message the client
// sends is validated as it is received, and RecvMsg returns Validate's error for one that breaks
// its rules. v is the validator to use; by default (nil), protovalidate.GlobalValidator.
func StreamServerInterceptor(v protovalidate.Validator) grpc.StreamServerInterceptor {
	v = orGlobal(v)
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &validatingStream{ServerStream: ss, validator: v})
	}
}

// Validate checks msg against its buf.validate rules, a masked update by its mask (see the
// package documentation). It returns nil for a valid message, INVALID_ARGUMENT with a
// google.rpc.BadRequest detail for a broken rule, and INTERNAL with a generic message when the
// rules could not be evaluated. v is the validator to use; nil means
// protovalidate.GlobalValidator.
func Validate(v protovalidate.Validator, msg proto.Message) error {
	v = orGlobal(v)
	m := msg.ProtoReflect()
	shape := maskedUpdateOf(m.Descriptor())
	if shape == nil {
		return rpcerr.FromValidation(v.Validate(msg))
	}
	return rpcerr.FromValidation(v.Validate(msg, protovalidate.WithFilter(shape.filter(m))))
}

func orGlobal(v protovalidate.Validator) protovalidate.Validator {
	if v == nil {
		return protovalidate.GlobalValidator
	}
	return v
}

func validateAny(v protovalidate.Validator, req any) error {
	msg, ok := req.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "request of type %T is not a protobuf message", req)
	}
	return Validate(v, msg)
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
	return validateAny(s.validator, m)
}

// maskedUpdate is the shape of a masked update request: its mask and its resource field.
type maskedUpdate struct {
	mask, resource protoreflect.FieldDescriptor
}

// shapes caches, per request message descriptor, its *maskedUpdate, or a nil one for a request
// that is not a masked update.
var shapes sync.Map

const (
	maskFieldName = "update_mask"
	fieldMaskType = "google.protobuf.FieldMask"
)

// maskedUpdateOf returns the masked-update shape of requests of type md, or nil.
func maskedUpdateOf(md protoreflect.MessageDescriptor) *maskedUpdate {
	if s, ok := shapes.Load(md); ok {
		return s.(*maskedUpdate)
	}
	var shape *maskedUpdate
	fields := md.Fields()
	if mask := fields.ByName(maskFieldName); mask != nil && mask.Message() != nil &&
		mask.Message().FullName() == fieldMaskType && !mask.IsList() {
		var resources []protoreflect.FieldDescriptor
		for i := range fields.Len() {
			fd := fields.Get(i)
			if fd != mask && fd.Message() != nil && !fd.IsList() && !fd.IsMap() &&
				fd.Message().ParentFile().Package() != "google.protobuf" {
				resources = append(resources, fd)
			}
		}
		if len(resources) == 1 {
			shape = &maskedUpdate{mask: mask, resource: resources[0]}
		}
	}
	actual, _ := shapes.LoadOrStore(md, shape)
	return actual.(*maskedUpdate)
}

// node is one level of the mask's path tree: the fields it names, each with the tree of its
// subfields, or nil when the whole field is named.
type node map[protoreflect.Name]node

// filter returns the protovalidate filter for request req: rules of the resource's fields
// outside the mask are skipped, everything else is checked.
func (s *maskedUpdate) filter(req protoreflect.Message) protovalidate.Filter {
	if !req.Has(s.resource) {
		return protovalidate.FilterFunc(func(protoreflect.Message, protoreflect.Descriptor) bool { return true })
	}
	resource := req.Get(s.resource).Message()
	mask := req.Get(s.mask).Message()
	list := mask.Get(mask.Descriptor().Fields().ByName("paths")).List()
	paths := make([]string, list.Len())
	for i := range list.Len() {
		paths[i] = list.Get(i).String()
	}
	tree := maskTree(resource, paths)
	// partial maps each message of the resource that the mask names only in part to its tree.
	partial := map[proto.Message]node{}
	var walk func(m protoreflect.Message, n node)
	walk = func(m protoreflect.Message, n node) {
		if n == nil {
			return
		}
		partial[m.Interface()] = n
		for name, child := range n {
			fd := m.Descriptor().Fields().ByName(name)
			if child != nil && fd != nil && fd.Message() != nil && !fd.IsList() && !fd.IsMap() && m.Has(fd) {
				walk(m.Get(fd).Message(), child)
			}
		}
	}
	walk(resource, tree)
	return protovalidate.FilterFunc(func(m protoreflect.Message, d protoreflect.Descriptor) bool {
		n, ok := partial[m.Interface()]
		if !ok {
			return true
		}
		switch d := d.(type) {
		case protoreflect.FieldDescriptor:
			_, named := n[d.Name()]
			return named
		case protoreflect.OneofDescriptor:
			for i := range d.Fields().Len() {
				if _, named := n[d.Fields().Get(i).Name()]; named {
					return true
				}
			}
			return false
		default:
			// The message's own rules may read fields the mask leaves out.
			return false
		}
	})
}

// maskTree builds the path tree of paths; no paths stand for the populated fields of resource,
// and "*" for the whole resource (a nil tree).
func maskTree(resource protoreflect.Message, paths []string) node {
	root := node{}
	if len(paths) == 0 {
		resource.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			root[fd.Name()] = nil
			return true
		})
		return root
	}
	for _, p := range paths {
		if p == "*" {
			return nil
		}
		n := root
		parts := strings.Split(p, ".")
		for i, part := range parts {
			name := protoreflect.Name(part)
			child, seen := n[name]
			if seen && child == nil {
				break // the whole field is named already
			}
			if i == len(parts)-1 {
				n[name] = nil
				break
			}
			if child == nil {
				child = node{}
				n[name] = child
			}
			n = child
		}
	}
	return root
}
