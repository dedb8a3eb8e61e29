package transcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Register registers on mux one handler per HTTP binding of every method of sd, each calling the
// method over conn: what the Register…HandlerClient function that protoc-gen-grpc-gateway
// generates for sd would register, built from the descriptors at run time with dynamic messages.
// The handlers decode the path, query and body as the generated ones do, call the method, and
// answer through the mux's marshalers, error handler and forward-response options, so a service
// served from descriptors behaves as one whose generated handlers are linked in.
//
// Client-streaming and bidirectional methods get a handler that answers UNIMPLEMENTED: the
// gateway serves their request streams itself (NDJSON bodies and the WebSocket bridge) before
// the mux's handler runs, and the handler only gives them their route.
func Register(mux *runtime.ServeMux, conn grpc.ClientConnInterface, sd protoreflect.ServiceDescriptor) error {
	methods := sd.Methods()
	for i := range methods.Len() {
		bs, err := Bindings(methods.Get(i))
		if err != nil {
			return err
		}
		for _, b := range bs {
			if err := b.CheckTranslatable(); err != nil {
				return err
			}
			mux.Handle(b.HTTPMethod, b.Pattern, newHandler(mux, conn, b).serve)
		}
	}
	return nil
}

// handler serves one binding.
type handler struct {
	mux  *runtime.ServeMux
	conn grpc.ClientConnInterface
	b    *Binding
	// filter holds the request fields that the path and body bind, which query parameters must
	// not set; nil when the query string is not read at all.
	filter *utilities.DoubleArray
	// bodyField is the request field a `body: "field"` binding decodes into.
	bodyField protoreflect.FieldDescriptor
	// maskField is the request's one FieldMask field, filled from the body's keys when a PATCH
	// with a body field leaves it empty (grpc-gateway's "allow_patch_feature").
	maskField protoreflect.FieldDescriptor
	// pathFields are the path variables, with the top-level field each binds when it is one.
	pathFields []pathField
	// responseField is the response field a response_body binding answers with.
	responseField protoreflect.FieldDescriptor
	in, out       messageType
}

type pathField struct {
	path string
	// fd is the field a top-level variable binds; nil for a nested field path.
	fd protoreflect.FieldDescriptor
}

func newHandler(mux *runtime.ServeMux, conn grpc.ClientConnInterface, b *Binding) *handler {
	md := b.Method
	h := &handler{mux: mux, conn: conn, b: b, in: typeOf(md.Input()), out: typeOf(md.Output())}
	in := md.Input()
	bound := make(map[string]bool)
	var seqs [][]string
	if b.Body != "" && b.Body != "*" {
		h.bodyField = b.bodyField()
		bound[b.Body] = true
		seqs = append(seqs, []string{b.Body})
		if b.HTTPMethod == http.MethodPatch && h.bodyField.Kind() == protoreflect.MessageKind {
			h.maskField = onlyFieldMask(in)
		}
	}
	for _, fp := range b.Path.Fields() {
		pf := pathField{path: fp}
		if !strings.Contains(fp, ".") {
			if fd := in.Fields().ByName(protoreflect.Name(fp)); fd.Kind() != protoreflect.MessageKind {
				pf.fd = fd
			}
		}
		h.pathFields = append(h.pathFields, pf)
		bound[fp] = true
		seqs = append(seqs, strings.Split(fp, "."))
	}
	if b.Body != "*" && hasQueryParameters(in, bound) {
		h.filter = utilities.NewDoubleArray(seqs)
	}
	if b.ResponseBody != "" {
		h.responseField = md.Output().Fields().ByName(protoreflect.Name(b.ResponseBody))
	}
	return h
}

// hasQueryParameters reports whether some top-level field of md is bound by neither the path nor
// the body, as the generated handlers decide whether they read the query string.
func hasQueryParameters(md protoreflect.MessageDescriptor, bound map[string]bool) bool {
	fields := md.Fields()
	for i := range fields.Len() {
		if !bound[string(fields.Get(i).Name())] {
			return true
		}
	}
	return false
}

// onlyFieldMask returns md's FieldMask field when it has exactly one.
func onlyFieldMask(md protoreflect.MessageDescriptor) protoreflect.FieldDescriptor {
	var found protoreflect.FieldDescriptor
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() == "google.protobuf.FieldMask" && !fd.IsList() {
			if found != nil {
				return nil
			}
			found = fd
		}
	}
	return found
}

func (h *handler) serve(w http.ResponseWriter, req *http.Request, pathParams map[string]string) {
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	inbound, outbound := runtime.MarshalerForRequest(h.mux, req)
	method := h.b.FullMethod()
	actx, err := runtime.AnnotateContext(ctx, h.mux, req, method, runtime.WithHTTPPathPattern(h.b.Template))
	if err != nil {
		runtime.HTTPError(ctx, h.mux, outbound, w, req, err)
		return
	}
	md := h.b.Method
	if md.IsStreamingClient() {
		runtime.HTTPError(actx, h.mux, outbound, w, req, status.Error(codes.Unimplemented, "request streams are served by the gateway"))
		return
	}
	var meta runtime.ServerMetadata
	in := h.in.New()
	if err := h.decode(inbound, req, pathParams, in); err != nil {
		runtime.HTTPError(runtime.NewServerMetadataContext(actx, meta), h.mux, outbound, w, req, err)
		return
	}
	if md.IsStreamingServer() {
		h.serveStream(actx, w, req, outbound, in)
		return
	}
	out := h.out.New()
	err = h.conn.Invoke(actx, method, in, out, grpc.Header(&meta.HeaderMD), grpc.Trailer(&meta.TrailerMD))
	actx = runtime.NewServerMetadataContext(actx, meta)
	if err != nil {
		runtime.HTTPError(actx, h.mux, outbound, w, req, err)
		return
	}
	runtime.ForwardResponseMessage(actx, h.mux, outbound, w, req, h.response(out), h.mux.GetForwardResponseOptions()...)
}

// serveStream calls a server-streaming method and forwards its messages as they come.
func (h *handler) serveStream(ctx context.Context, w http.ResponseWriter, req *http.Request, outbound runtime.Marshaler, in proto.Message) {
	var meta runtime.ServerMetadata
	stream, err := h.openStream(ctx, in)
	if err == nil {
		meta.HeaderMD, err = stream.Header()
	}
	ctx = runtime.NewServerMetadataContext(ctx, meta)
	if err != nil {
		runtime.HTTPError(ctx, h.mux, outbound, w, req, err)
		return
	}
	recv := func() (proto.Message, error) {
		out := h.out.New()
		if err := stream.RecvMsg(out); err != nil {
			return nil, err
		}
		return h.response(out), nil
	}
	runtime.ForwardResponseStream(ctx, h.mux, outbound, w, req, recv, h.mux.GetForwardResponseOptions()...)
}

func (h *handler) openStream(ctx context.Context, in proto.Message) (grpc.ClientStream, error) {
	stream, err := h.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, h.b.FullMethod())
	if err != nil {
		return nil, err
	}
	if err := stream.SendMsg(in); err != nil {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	return stream, nil
}

// decode fills the request message from the body, the path variables and the query string, in
// that order, with the generated handlers' error messages.
func (h *handler) decode(inbound runtime.Marshaler, req *http.Request, pathParams map[string]string, in proto.Message) error {
	if err := h.decodeBody(inbound, req, in); err != nil {
		return err
	}
	for _, pf := range h.pathFields {
		val, ok := pathParams[pf.path]
		if !ok {
			return status.Errorf(codes.InvalidArgument, "missing parameter %s", pf.path)
		}
		if err := setPathField(in, pf, val); err != nil {
			return err
		}
	}
	if h.filter != nil {
		if err := req.ParseForm(); err != nil {
			return status.Errorf(codes.InvalidArgument, "%v", err)
		}
		if err := runtime.PopulateQueryParameters(in, req.Form, h.filter); err != nil {
			return status.Errorf(codes.InvalidArgument, "%v", err)
		}
	}
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
	}
	return nil
}

func (h *handler) decodeBody(inbound runtime.Marshaler, req *http.Request, in proto.Message) error {
	switch h.b.Body {
	case "":
		return nil
	case "*":
		if err := inbound.NewDecoder(req.Body).Decode(in); err != nil && !errors.Is(err, io.EOF) {
			return status.Errorf(codes.InvalidArgument, "%v", err)
		}
		return nil
	}
	body := req.Body
	var reread func() io.Reader
	if h.maskField != nil {
		newReader, err := utilities.IOReaderFactory(req.Body)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "%v", err)
		}
		body, reread = io.NopCloser(newReader()), newReader
	}
	m := in.ProtoReflect()
	if err := decodeField(inbound.NewDecoder(body), m, h.bodyField); err != nil && !errors.Is(err, io.EOF) {
		return status.Errorf(codes.InvalidArgument, "%v", err)
	}
	if h.maskField == nil {
		return nil
	}
	if mask := m.Get(h.maskField).Message(); mask.IsValid() && mask.Get(mask.Descriptor().Fields().ByName("paths")).List().Len() > 0 {
		return nil
	}
	fm, err := runtime.FieldMaskFromRequestBody(reread(), m.Get(h.bodyField).Message().Interface())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "%v", err)
	}
	return setMessage(m, h.maskField, fm)
}

// decodeField decodes the body into the field fd of m: a message field is set only when the
// body decoded into it (an empty body leaves it unset); a scalar field is decoded into the Go
// type the generated code would use.
func decodeField(dec runtime.Decoder, m protoreflect.Message, fd protoreflect.FieldDescriptor) error {
	if fd.Kind() == protoreflect.MessageKind {
		v := typeOf(fd.Message()).New()
		if err := dec.Decode(v); err != nil {
			return err
		}
		return setMessage(m, fd, v)
	}
	ptr := scalarTarget(fd.Kind())
	if ptr == nil {
		return fmt.Errorf("body field %s of kind %s is not supported", fd.Name(), fd.Kind())
	}
	if err := dec.Decode(ptr); err != nil {
		return err
	}
	m.Set(fd, protoreflect.ValueOf(derefScalar(ptr)))
	return nil
}

// scalarTarget returns a pointer to a new Go value of the kind's type.
func scalarTarget(k protoreflect.Kind) any {
	switch k {
	case protoreflect.StringKind:
		return new(string)
	case protoreflect.BoolKind:
		return new(bool)
	case protoreflect.BytesKind:
		return new([]byte)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return new(int32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return new(int64)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return new(uint32)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return new(uint64)
	case protoreflect.FloatKind:
		return new(float32)
	case protoreflect.DoubleKind:
		return new(float64)
	}
	return nil
}

func derefScalar(ptr any) any {
	switch p := ptr.(type) {
	case *string:
		return *p
	case *bool:
		return *p
	case *[]byte:
		return *p
	case *int32:
		return *p
	case *int64:
		return *p
	case *uint32:
		return *p
	case *uint64:
		return *p
	case *float32:
		return *p
	case *float64:
		return *p
	}
	return nil
}

// setMessage sets the message field fd of m to v, which may be of a different Go type than the
// field's (a linked well-known type in a dynamic message): such a value is copied through its
// wire form.
func setMessage(m protoreflect.Message, fd protoreflect.FieldDescriptor, v proto.Message) error {
	rv := v.ProtoReflect()
	if rv.Descriptor() == fd.Message() {
		m.Set(fd, protoreflect.ValueOfMessage(rv))
		return nil
	}
	if _, dynamic := m.Interface().(*dynamicpb.Message); !dynamic {
		m.Set(fd, protoreflect.ValueOfMessage(rv))
		return nil
	}
	b, err := proto.Marshal(v)
	if err != nil {
		return err
	}
	dst := m.Mutable(fd).Message().Interface()
	return proto.UnmarshalOptions{Merge: true}.Unmarshal(b, dst)
}

// setPathField converts one path variable as the generated handlers do: a top-level field with
// grpc-gateway's conversion function of its type, a nested one with PopulateFieldFromPath.
func setPathField(in proto.Message, pf pathField, val string) error {
	if pf.fd == nil {
		if err := runtime.PopulateFieldFromPath(in, pf.path, val); err != nil {
			return status.Errorf(codes.InvalidArgument, "type mismatch, parameter: %s, error: %v", pf.path, err)
		}
		return nil
	}
	if pf.fd.Kind() == protoreflect.EnumKind {
		values := pf.fd.Enum().Values()
		byName := make(map[string]int32, values.Len())
		for i := range values.Len() {
			byName[string(values.Get(i).Name())] = int32(values.Get(i).Number())
		}
		e, err := runtime.Enum(val, byName)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "could not parse path as enum value, parameter: %s, error: %v", pf.path, err)
		}
		in.ProtoReflect().Set(pf.fd, protoreflect.ValueOfEnum(protoreflect.EnumNumber(e)))
		return nil
	}
	v, err := convertScalar(pf.fd.Kind(), val)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "type mismatch, parameter: %s, error: %v", pf.path, err)
	}
	in.ProtoReflect().Set(pf.fd, v)
	return nil
}

// convertScalar parses a path value with grpc-gateway's conversion function of the kind.
func convertScalar(k protoreflect.Kind, val string) (protoreflect.Value, error) {
	var v any
	var err error
	switch k {
	case protoreflect.StringKind:
		v, err = runtime.String(val)
	case protoreflect.BoolKind:
		v, err = runtime.Bool(val)
	case protoreflect.BytesKind:
		v, err = runtime.Bytes(val)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		v, err = runtime.Int32(val)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		v, err = runtime.Int64(val)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		v, err = runtime.Uint32(val)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		v, err = runtime.Uint64(val)
	case protoreflect.FloatKind:
		v, err = runtime.Float32(val)
	case protoreflect.DoubleKind:
		v, err = runtime.Float64(val)
	default:
		return protoreflect.Value{}, fmt.Errorf("unsupported kind %s", k)
	}
	if err != nil {
		return protoreflect.Value{}, err
	}
	return protoreflect.ValueOf(v), nil
}

// response wraps out for a response_body binding, so that the mux answers with the field.
func (h *handler) response(out proto.Message) proto.Message {
	if h.responseField == nil {
		return out
	}
	return responseBody{Message: out, field: h.responseField}
}

// responseBody is a response whose answer is one of its fields: grpc-gateway's
// ForwardResponseMessage and ForwardResponseStream marshal what XXX_ResponseBody returns.
type responseBody struct {
	proto.Message
	field protoreflect.FieldDescriptor
}

// XXX_ResponseBody returns the field's value as the generated code's field would hold it: a
// message, a list of messages or values, or a value.
func (r responseBody) XXX_ResponseBody() any { //nolint:revive // the name grpc-gateway looks for
	v := r.ProtoReflect().Get(r.field)
	switch {
	case r.field.IsList():
		list := v.List()
		out := make([]any, list.Len())
		for i := range list.Len() {
			out[i] = goValue(r.field, list.Get(i))
		}
		return out
	case r.field.IsMap():
		out := make(map[string]any)
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			out[k.String()] = goValue(r.field.MapValue(), mv)
			return true
		})
		return out
	}
	return goValue(r.field, v)
}

func goValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return v.Message().Interface()
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int32(v.Enum())
	}
	return v.Interface()
}

// messageType makes the messages of one request or response type.
type messageType struct {
	md protoreflect.MessageDescriptor
	// linked is the generated Go type of a google.api or google.protobuf message (HttpBody,
	// Empty), which the gateway's marshalers recognise by type; nil for every other message.
	linked protoreflect.MessageType
}

// typeOf returns the messageType of md.
func typeOf(md protoreflect.MessageDescriptor) messageType {
	t := messageType{md: md}
	if pkg := md.ParentFile().Package(); pkg == "google.api" || pkg == "google.protobuf" {
		if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
			t.linked = mt
		}
	}
	return t
}

// New returns a new, empty message of the type.
func (t messageType) New() proto.Message {
	if t.linked != nil {
		return t.linked.New().Interface()
	}
	return dynamicpb.NewMessage(t.md)
}
