package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// checkQueryValues returns an INVALID_ARGUMENT status with a google.rpc.BadRequest naming the
// first query parameter whose value the mux could not decode into its field: an enum name or
// number the enum does not define, or a number, boolean, base64 bytes, Timestamp or Duration
// that does not parse by the mux's rules. The mux's own error would carry no field violation
// and would word the problem in Go's terms. A FieldMask parameter given with JSON names
// ("displayName") is rewritten in req's query into proto names, the form the mux passes on as is
// (see fieldmask.go). Parameters that name no field are left to route.checkQuery.
func (r *route) checkQueryValues(req *http.Request, values url.Values) error {
	rewritten := false
	for key, vs := range values {
		fd := r.queryField(key)
		if fd == nil {
			continue
		}
		if md := fd.Message(); md != nil && md.FullName() == fieldMaskName {
			for i, v := range vs {
				if p := maskPathsToProto(v); p != v {
					vs[i], rewritten = p, true
				}
			}
			continue
		}
		for _, v := range vs {
			if reason := queryValueProblem(fd, v); reason != "" {
				return badRequest("query parameter", key, reason)
			}
		}
	}
	if rewritten {
		req.URL.RawQuery = values.Encode()
	}
	return nil
}

// queryField returns the field that a query parameter sets, found by proto or JSON names as the
// mux finds it, or nil when it sets none (or a map entry, "labels[key]").
func (r *route) queryField(key string) protoreflect.FieldDescriptor {
	if strings.IndexByte(key, '[') >= 0 {
		return nil
	}
	md := r.method.Input()
	var fd protoreflect.FieldDescriptor
	for seg := range strings.SplitSeq(key, ".") {
		if md == nil {
			return nil
		}
		if fd = md.Fields().ByName(protoreflect.Name(seg)); fd == nil {
			if fd = md.Fields().ByJSONName(seg); fd == nil {
				return nil
			}
		}
		md = fd.Message()
	}
	return fd
}

// queryValueProblem returns why the mux could not decode v into field fd, or "" when it can (or
// when fd is of a type this check leaves to the mux).
func queryValueProblem(fd protoreflect.FieldDescriptor, v string) string {
	var err error
	switch fd.Kind() {
	case protoreflect.BoolKind:
		_, err = strconv.ParseBool(v)
	case protoreflect.EnumKind:
		return enumValueProblem(fd.Enum(), v)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		_, err = strconv.ParseInt(v, 10, 32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		_, err = strconv.ParseInt(v, 10, 64)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		_, err = strconv.ParseUint(v, 10, 32)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		_, err = strconv.ParseUint(v, 10, 64)
	case protoreflect.FloatKind:
		_, err = runtime.Float32(v)
	case protoreflect.DoubleKind:
		_, err = runtime.Float64(v)
	case protoreflect.BytesKind:
		_, err = runtime.Bytes(v)
	case protoreflect.MessageKind:
		return messageValueProblem(fd.Message(), v)
	}
	if err != nil {
		return fmt.Sprintf("%q is not a valid %s", v, kindWord(fd.Kind()))
	}
	return ""
}

// enumValueProblem returns why v names no value of ed, by name or number, or "".
func enumValueProblem(ed protoreflect.EnumDescriptor, v string) string {
	values := ed.Values()
	if values.ByName(protoreflect.Name(v)) != nil {
		return ""
	}
	if n, err := strconv.ParseInt(v, 10, 32); err == nil && values.ByNumber(protoreflect.EnumNumber(n)) != nil {
		return ""
	}
	names := make([]string, values.Len())
	for i := range values.Len() {
		names[i] = string(values.Get(i).Name())
	}
	return fmt.Sprintf("%q is not a value of %s; values: %s", v, ed.Name(), strings.Join(names, ", "))
}

// messageValueProblem checks the single-value message types whose values can be malformed:
// Timestamp, Duration and the wrappers of scalars.
func messageValueProblem(md protoreflect.MessageDescriptor, v string) string {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil || !timestamppb.New(t).IsValid() {
			return fmt.Sprintf("%q is not a valid RFC 3339 timestamp, such as 2026-01-02T15:04:05Z", v)
		}
	case "google.protobuf.Duration":
		if _, err := time.ParseDuration(v); err != nil {
			return fmt.Sprintf("%q is not a valid duration, such as 1.5s", v)
		}
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
		"google.protobuf.Int32Value", "google.protobuf.UInt64Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.BytesValue":
		return queryValueProblem(md.Fields().ByName("value"), v)
	}
	return ""
}

// kindWord names a scalar kind for clients.
func kindWord(k protoreflect.Kind) string {
	switch k {
	case protoreflect.BoolKind:
		return "boolean (true or false)"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "32-bit integer"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return "64-bit integer"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "unsigned 32-bit integer"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "unsigned 64-bit integer"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "number"
	default:
		return "base64 value"
	}
}
