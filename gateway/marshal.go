package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// jsonMarshaler is the gateway's JSON codec: canonical proto3 JSON out (lowerCamelCase names,
// fields at their default value omitted, so a response shaped by a read mask shows only the
// fields asked for), and a strict decoder in. Decoding errors carry messages written for API
// clients.
type jsonMarshaler struct {
	runtime.JSONPb
}

func newJSONMarshaler(rejectUnknownFields bool) *jsonMarshaler {
	return &jsonMarshaler{JSONPb: runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: !rejectUnknownFields},
	}}
}

// StreamContentType is the media type of a server stream: one JSON object per line.
func (*jsonMarshaler) StreamContentType(any) string { return "application/x-ndjson" }

// NewDecoder reads the whole body (already capped by the edge's body limit) and decodes it.
func (m *jsonMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error { return m.decode(r, v) })
}

var errEmptyBody = io.EOF

func (m *jsonMarshaler) decode(r io.Reader, v any) error {
	data, err := io.ReadAll(r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("request body is larger than the limit of %d bytes", tooLarge.Limit)
		}
		return errors.New("request body could not be read")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errEmptyBody
	}
	if msg, ok := protoTarget(v); ok {
		err = m.UnmarshalOptions.Unmarshal(data, msg)
	} else {
		err = m.Unmarshal(data, v)
	}
	if err != nil {
		return bodyError(err)
	}
	return nil
}

// bodyError rewords a JSON decoding error for clients: protojson's text names the position and
// the problem ("(line 1:12): unknown field "nickname""), which is useful, but its "proto:" prefix
// and encoding/json's Go type names are not.
func bodyError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "proto:")
	msg = strings.TrimSpace(strings.ReplaceAll(msg, "\u00a0", " "))
	if strings.HasPrefix(msg, "json: ") {
		msg = "the body is not valid JSON for this field"
	}
	return fmt.Errorf("invalid JSON body: %s", msg)
}

// protoTarget returns the message to decode into: v itself, or, for the **T that generated
// handlers pass for `body: "field"`, a new *T stored through v. Decoding every message with
// protojson rejects trailing data after the JSON value.
func protoTarget(v any) (proto.Message, bool) {
	if msg, ok := v.(proto.Message); ok {
		return msg, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Pointer {
		return nil, false
	}
	inner := rv.Elem()
	if !inner.Type().Implements(protoMessageType) {
		return nil, false
	}
	if inner.IsNil() {
		inner.Set(reflect.New(inner.Type().Elem()))
	}
	return inner.Interface().(proto.Message), true
}

var protoMessageType = reflect.TypeFor[proto.Message]()
