package mask

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/archway-gateway/archway/server/internal/rpcerr"
)

// CheckRead reports whether every path of m names a field of msg's type. It returns nil for a
// nil or empty mask, and otherwise an INVALID_ARGUMENT status error with a BadRequest violation on
// field (the request field that holds the mask, such as "read_mask") per invalid path.
func CheckRead(m *fieldmaskpb.FieldMask, msg proto.Message, field string) error {
	var bad []string
	for _, p := range m.GetPaths() {
		if _, err := fieldmaskpb.New(msg, p); err != nil {
			bad = append(bad, p)
		}
	}
	return invalidPaths(bad, field, "is not a field of "+string(msg.ProtoReflect().Descriptor().Name()))
}

// CheckAllowed returns nil when every path of m is one of allowed, and otherwise an
// INVALID_ARGUMENT status error with a BadRequest violation on field per other path.
func CheckAllowed(m *fieldmaskpb.FieldMask, allowed []string, field string) error {
	var bad []string
	for _, p := range m.GetPaths() {
		if !slices.Contains(allowed, p) {
			bad = append(bad, p)
		}
	}
	return invalidPaths(bad, field, "cannot be updated; updatable: "+strings.Join(allowed, ", "))
}

func invalidPaths(bad []string, field, why string) error {
	if len(bad) == 0 {
		return nil
	}
	violations := make([]*errdetails.BadRequest_FieldViolation, 0, len(bad))
	for _, p := range bad {
		violations = append(violations, rpcerr.Violation(field, fmt.Sprintf("path %q %s", p, why)))
	}
	return rpcerr.InvalidArgument(fmt.Sprintf("invalid %s: %d invalid path(s)", field, len(bad)), violations...)
}

// Keep clears every field of msg that paths do not name, so that only the masked fields remain.
// Paths may name nested fields of singular messages ("price.amount_minor"). With no paths, msg is
// left whole. Paths must have been checked with CheckRead.
func Keep(msg proto.Message, paths []string) {
	if len(paths) == 0 {
		return
	}
	keep(msg.ProtoReflect(), tree(paths))
}

// node is one level of a path tree; a nil node keeps the whole field.
type node map[protoreflect.Name]node

func tree(paths []string) node {
	root := node{}
	for _, p := range paths {
		n := root
		parts := strings.Split(p, ".")
		for i, part := range parts {
			name := protoreflect.Name(part)
			child, seen := n[name]
			if seen && child == nil {
				break // an ancestor is kept whole
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

func keep(m protoreflect.Message, n node) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		child, ok := n[fd.Name()]
		switch {
		case !ok:
			m.Clear(fd)
		case child != nil && fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			keep(v.Message(), child)
		}
		return true
	})
}

// Copy sets each field of dst that paths name to its value in src, clearing it in dst when it is
// not set in src. Paths may name nested fields of singular messages ("address.city"); the
// intermediate messages are created in dst as needed. dst and src must be of the same type, and
// src must not be used afterwards, since dst may share its lists.
func Copy(dst, src proto.Message, paths []string) {
	for _, p := range paths {
		d, s := dst.ProtoReflect(), src.ProtoReflect()
		parts := strings.Split(p, ".")
		for _, part := range parts[:len(parts)-1] {
			fd := d.Descriptor().Fields().ByName(protoreflect.Name(part))
			d = d.Mutable(fd).Message()
			s = s.Get(fd).Message()
		}
		fd := d.Descriptor().Fields().ByName(protoreflect.Name(parts[len(parts)-1]))
		if s.Has(fd) {
			d.Set(fd, s.Get(fd))
		} else {
			d.Clear(fd)
		}
	}
}

// Populated returns, in the order given, those of the top-level fields named in names that are
// set in msg (non-zero for scalars, non-empty for lists, present for messages).
func Populated(msg proto.Message, names ...string) []string {
	m := msg.ProtoReflect()
	var set []string
	for _, name := range names {
		if fd := m.Descriptor().Fields().ByName(protoreflect.Name(name)); fd != nil && m.Has(fd) {
			set = append(set, name)
		}
	}
	return set
}
