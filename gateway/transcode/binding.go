package transcode

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Binding is one HTTP binding of a gRPC method: its google.api.http rule or one of the rule's
// additional bindings, parsed and checked against the method's request and response types.
type Binding struct {
	// Method is the gRPC method the binding calls.
	Method protoreflect.MethodDescriptor
	// HTTPMethod is the binding's HTTP method, such as "GET", or a custom rule's kind.
	HTTPMethod string
	// Template is the path template as written in the rule, such as "/v1/{name=users/*}".
	Template string
	// Path is the parsed template.
	Path *Template
	// Pattern is the template compiled for grpc-gateway's ServeMux. Its String() is the pattern
	// the mux reports for a request it matched ("/v1/{name=users/*}", "{id}" as "{id=*}").
	Pattern runtime.Pattern
	// Body is the rule's body: "" (none), "*" (the whole request) or a top-level request field.
	Body string
	// ResponseBody is the rule's response_body: "" (the whole response) or a top-level field.
	ResponseBody string
}

// FullMethod returns the binding's gRPC method name, "/package.Service/Method".
func (b *Binding) FullMethod() string {
	return "/" + string(b.Method.Parent().FullName()) + "/" + string(b.Method.Name())
}

// Rule returns the google.api.http option of md, or nil when it has none.
func Rule(md protoreflect.MethodDescriptor) *annotations.HttpRule {
	rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
	return rule
}

// Bindings parses the google.api.http option of md: the rule and its additional bindings, in
// order. A method without the option has none. The error names the method and what is wrong: a
// rule without a pattern, a malformed path template, a variable or body naming no field of the
// request (or a repeated one, or a message where a value is needed), a response_body naming no
// field of the response, an additional binding with bindings of its own.
func Bindings(md protoreflect.MethodDescriptor) ([]*Binding, error) {
	rule := Rule(md)
	if rule == nil {
		return nil, nil
	}
	rules := append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...)
	out := make([]*Binding, 0, len(rules))
	for i, r := range rules {
		if i > 0 && len(r.GetAdditionalBindings()) > 0 {
			return nil, fmt.Errorf("%s: google.api.http: an additional binding has additional bindings of its own", md.FullName())
		}
		b, err := newBinding(md, r)
		if err != nil {
			return nil, fmt.Errorf("%s: google.api.http: %w", md.FullName(), err)
		}
		out = append(out, b)
	}
	return out, nil
}

func newBinding(md protoreflect.MethodDescriptor, r *annotations.HttpRule) (*Binding, error) {
	b := &Binding{Method: md, Body: r.GetBody(), ResponseBody: r.GetResponseBody()}
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		b.HTTPMethod, b.Template = http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		b.HTTPMethod, b.Template = http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		b.HTTPMethod, b.Template = http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		b.HTTPMethod, b.Template = http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		b.HTTPMethod, b.Template = http.MethodDelete, p.Delete
	case *annotations.HttpRule_Custom:
		b.HTTPMethod, b.Template = p.Custom.GetKind(), p.Custom.GetPath()
		if b.HTTPMethod == "" || strings.ContainsAny(b.HTTPMethod, " \t\r\n") {
			return nil, fmt.Errorf("custom pattern has no valid kind (%q)", b.HTTPMethod)
		}
	default:
		return nil, errors.New("the rule sets no pattern (get, put, post, delete, patch or custom)")
	}
	tmpl, err := ParseTemplate(b.Template)
	if err != nil {
		return nil, err
	}
	b.Path = tmpl
	if b.Pattern, err = tmpl.Compile(); err != nil {
		return nil, fmt.Errorf("path template %q: %w", b.Template, err)
	}
	in := md.Input()
	for _, fp := range tmpl.Fields() {
		if err := checkPathField(in, fp); err != nil {
			return nil, fmt.Errorf("path template %q: variable %q: %w", b.Template, fp, err)
		}
	}
	if b.Body != "" && b.Body != "*" {
		if err := checkBodyField(in, b.Body); err != nil {
			return nil, fmt.Errorf("body %q: %w", b.Body, err)
		}
	}
	if b.ResponseBody != "" && md.Output().Fields().ByName(protoreflect.Name(b.ResponseBody)) == nil {
		return nil, fmt.Errorf("response_body %q: %s has no such field", b.ResponseBody, md.Output().FullName())
	}
	return b, nil
}

// checkPathField checks that the dotted field path names a field of md reached through singular
// message fields, and values rather than a message (except the well-known types written as one
// string). The last field may be repeated: its values are comma-separated in the segment.
func checkPathField(md protoreflect.MessageDescriptor, path string) error {
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		fd := md.Fields().ByName(protoreflect.Name(seg))
		if fd == nil {
			return fmt.Errorf("%s has no field %q", md.FullName(), seg)
		}
		if fd.IsMap() || (fd.IsList() && i < len(segs)-1) {
			return fmt.Errorf("field %q is a %s: a path variable binds one field's value", seg, kindName(fd))
		}
		if i == len(segs)-1 {
			if fd.Kind() == protoreflect.MessageKind && !scalarMessage(fd.Message().FullName()) {
				return fmt.Errorf("field %q is a message (%s): a path variable binds one value", seg, fd.Message().FullName())
			}
			return nil
		}
		if fd.Kind() != protoreflect.MessageKind {
			return fmt.Errorf("field %q is not a message, so %q cannot go on", seg, path)
		}
		md = fd.Message()
	}
	return nil
}

// checkBodyField checks that the dotted field path of a `body: "field"` binding names a field
// of md, reached through singular message fields ("payload.input_value" is a field of the
// message in payload).
func checkBodyField(md protoreflect.MessageDescriptor, path string) error {
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		fd := md.Fields().ByName(protoreflect.Name(seg))
		if fd == nil {
			return fmt.Errorf("%s has no field %q", md.FullName(), seg)
		}
		if i == len(segs)-1 {
			return nil
		}
		if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() {
			return fmt.Errorf("field %q is not a singular message, so %q cannot go on", seg, path)
		}
		md = fd.Message()
	}
	return nil
}

// fieldAt returns the field that the dotted path names, or nil; the path is known to be valid
// (checkPathField).
func fieldAt(md protoreflect.MessageDescriptor, path string) protoreflect.FieldDescriptor {
	var fd protoreflect.FieldDescriptor
	for _, seg := range strings.Split(path, ".") {
		if md == nil {
			return nil
		}
		if fd = md.Fields().ByName(protoreflect.Name(seg)); fd == nil {
			return nil
		}
		md = fd.Message()
	}
	return fd
}

// scalarMessage reports whether grpc-gateway reads a message of this type from one path or
// query value.
func scalarMessage(name protoreflect.FullName) bool {
	switch name {
	case "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask",
		"google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
		"google.protobuf.Int32Value", "google.protobuf.UInt64Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return true
	}
	return false
}

// bodyFieldSupported reports whether a `body: "field"` of this field's type is translated: a
// singular message or scalar. Repeated, map and enum body fields are left for later.
func bodyFieldSupported(fd protoreflect.FieldDescriptor) bool {
	if fd.IsList() || fd.IsMap() {
		return false
	}
	return fd.Kind() != protoreflect.EnumKind && fd.Kind() != protoreflect.GroupKind
}

func kindName(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "map"
	case fd.IsList():
		return "repeated"
	}
	return fd.Kind().String()
}

// bodyField returns the request field of a `body: "field"` binding; nil for none or "*".
func (b *Binding) bodyField() protoreflect.FieldDescriptor {
	if b.Body == "" || b.Body == "*" {
		return nil
	}
	return b.Method.Input().Fields().ByName(protoreflect.Name(b.Body))
}

// CheckTranslatable reports what of the binding the handlers built from descriptors (Register)
// do not translate yet: a repeated, map or enum field as the body, or a body nested in another
// field ("payload.input_value").
func (b *Binding) CheckTranslatable() error {
	for _, fp := range b.Path.Fields() {
		if fd := fieldAt(b.Method.Input(), fp); fd != nil && fd.IsList() {
			return fmt.Errorf("%s: google.api.http: path variable %q: a repeated field in the path is not supported yet for services loaded from descriptors",
				b.Method.FullName(), fp)
		}
	}
	if strings.Contains(b.Body, ".") {
		return fmt.Errorf("%s: google.api.http: body %q: a nested field path as the body is not supported yet for services loaded from descriptors",
			b.Method.FullName(), b.Body)
	}
	if fd := b.bodyField(); fd != nil && !bodyFieldSupported(fd) {
		return fmt.Errorf("%s: google.api.http: body %q: a %s field as the body is not supported yet for services loaded from descriptors",
			b.Method.FullName(), b.Body, kindName(fd))
	}
	return nil
}
