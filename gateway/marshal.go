package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/archway-gateway/archway/gateway/edge"
)

// jsonMarshaler is the gateway's JSON codec: canonical proto3 JSON out (lowerCamelCase names,
// fields at their default value omitted, so a response shaped by a read mask shows only the
// fields asked for), and a strict decoder in. Decoding errors carry messages written for API
// clients.
//
// Under the grpc-gateway profile it behaves as grpc-gateway's default marshaler instead:
// default-valued fields are emitted, a body is its first JSON value (what follows it is
// ignored), an empty body on a `body: "field"` route sets the field to an empty message, and
// server streams are application/json.
type jsonMarshaler struct {
	runtime.JSONPb
	// canonical is true when MarshalOptions are protojson's defaults, the output that the
	// gateway's encoder reproduces.
	canonical bool
	// grpcGateway selects grpc-gateway's decoding of bodies and media type of streams.
	grpcGateway bool
}

func newJSONMarshaler(rejectUnknownFields bool) *jsonMarshaler {
	m := &jsonMarshaler{JSONPb: runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: !rejectUnknownFields},
	}}
	m.canonical = m.MarshalOptions == protojson.MarshalOptions{}
	return m
}

// followGRPCGateway makes m behave as grpc-gateway's default marshaler, for the grpc-gateway
// profile (see jsonMarshaler); it must be called before m is used.
func (m *jsonMarshaler) followGRPCGateway() {
	m.EmitUnpopulated = true
	m.canonical = false
	m.grpcGateway = true
}

// StreamContentType is the media type of a server stream: one JSON object per line,
// application/x-ndjson. Under the grpc-gateway profile it is the media type of the stream's
// first message, as grpc-gateway labels its streams: application/json, or a google.api.HttpBody's
// own content type.
func (m *jsonMarshaler) StreamContentType(v any) string {
	if m.grpcGateway {
		return m.ContentType(v)
	}
	return "application/x-ndjson"
}

// ContentType is application/json, or, for a google.api.HttpBody, its own content type
// (httpbody.go).
func (m *jsonMarshaler) ContentType(v any) string {
	if hb, ok := v.(*httpbody.HttpBody); ok {
		return httpBodyContentType(hb)
	}
	return m.JSONPb.ContentType(v)
}

// Marshal encodes a message as compact proto3 JSON (see jsonenc.go). The encoding runs in a
// pooled scratch buffer, which has grown to the size of a typical response, and the result is
// one copy of the exact size, instead of the chain of ever larger slices that appending to an
// empty one allocates. Values other than messages (the error objects of server streams) go
// through runtime.JSONPb. A google.api.HttpBody is its bare data (httpbody.go).
func (m *jsonMarshaler) Marshal(v any) ([]byte, error) {
	if hb, ok := v.(*httpbody.HttpBody); ok {
		return hb.GetData(), nil
	}
	msg, ok := v.(proto.Message)
	if !ok {
		return m.JSONPb.Marshal(v)
	}
	buf := getScratch()
	defer putScratch(buf)
	out, err := m.appendJSON((*buf)[:0], msg)
	if err != nil {
		return nil, err
	}
	*buf = out
	return bytes.Clone(out), nil
}

// appendJSON appends msg as JSON to b: with the gateway's encoder when it covers the message,
// with protojson, compacted, otherwise.
func (m *jsonMarshaler) appendJSON(b []byte, msg proto.Message) ([]byte, error) {
	rm := msg.ProtoReflect()
	if m.canonical && rm.IsValid() && planFor(rm.Descriptor()).fast {
		if out, ok := appendMessage(b, rm); ok {
			return out, nil
		}
	}
	out, err := m.MarshalAppend(b, msg)
	if err != nil {
		return nil, err
	}
	return append(out[:len(b)], compactJSON(out[len(b):])...), nil
}

// scratch holds the buffers that responses are encoded into and request bodies read into.
// Buffers that grew beyond maxScratch are dropped rather than kept, so one unusually large
// message does not pin its memory.
var scratch sync.Pool

const (
	minScratch = 4 << 10
	maxScratch = 256 << 10
)

func getScratch() *[]byte {
	if b, ok := scratch.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, minScratch)
	return &b
}

func putScratch(b *[]byte) {
	if cap(*b) > maxScratch {
		return
	}
	*b = (*b)[:0]
	scratch.Put(b)
}

// NewDecoder reads the whole body (already capped by the edge's body limit) and decodes it.
func (m *jsonMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error { return m.decode(r, v) })
}

var errEmptyBody = io.EOF

// bodyPool holds the buffers that large request bodies are read into.
var bodyPool = mem.DefaultBufferPool()

func (m *jsonMarshaler) decode(r io.Reader, v any) error {
	if raw, ok := r.(*rawBody); ok {
		return decodeRaw(raw, v)
	}
	buf := getScratch()
	defer putScratch(buf)
	var data []byte
	var err error
	if n := bodySize(r); n > int64(cap(*buf)) {
		// A body larger than the scratch buffer is read into one buffer of its declared size
		// (and one byte more, to see its end): no chunks, no copy when they are joined. The
		// buffer comes from gRPC's buffer pool and goes back to it once the body is decoded,
		// before the backend call, whose marshalled request gRPC takes from the same pool.
		big := bodyPool.Get(int(n) + 1)
		defer bodyPool.Put(big)
		data, err = readAll(r, (*big)[:0])
	} else {
		data, err = readAll(r, *buf)
		*buf = data
	}
	if err != nil {
		return bodyReadError(err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if m.grpcGateway {
			// grpc-gateway allocates the field's message before it finds the body empty.
			_, _ = protoTarget(v)
		}
		return errEmptyBody
	}
	if m.grpcGateway {
		if data, err = firstValue(data); err != nil {
			return bodyError(err)
		}
	}
	if msg, ok := protoTarget(v); ok {
		err = m.UnmarshalOptions.Unmarshal(maskPathsAsJSON(data, msg.ProtoReflect().Descriptor()), msg)
	} else {
		err = m.Unmarshal(data, v)
	}
	if err != nil {
		return bodyError(err)
	}
	return nil
}

// firstValue returns the first JSON value of data, without what follows it: grpc-gateway reads
// a body with a streaming JSON decoder, so trailing data after the value goes unread.
func firstValue(data []byte) ([]byte, error) {
	var v json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// bodyReadError words an error reading the request body for clients: the body limit or the
// JSON depth limit it ran into, or that it could not be read.
func bodyReadError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("request body is larger than the limit of %d bytes", tooLarge.Limit)
	}
	var tooDeep *edge.JSONDepthError
	if errors.As(err, &tooDeep) {
		return tooDeep
	}
	return errors.New("request body could not be read")
}

// bodySize returns the size of the body r reads when it is known: the Content-Length of a body
// that the edge chain limits, or the length of the in-memory copy that grpc-gateway's generated
// code makes of a body it reads twice (for a field mask); -1 otherwise.
func bodySize(r io.Reader) int64 {
	if l, ok := r.(interface{ Len() int }); ok {
		return int64(l.Len())
	}
	return edge.BodySize(r)
}

// readAll reads r to its end. A body that fits buf is read into it: protojson copies what it
// keeps of its input, so buf can be a reused buffer. A longer body goes on in fixed-size chunks
// that are joined once the body ends, so reading n bytes holds about n bytes, and 2n while they
// are joined, where append's growth would leave several times n behind; a body cut off at its
// size limit is never joined at all.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	buf, done, err := readInto(r, buf)
	if err != nil || done {
		return buf, err
	}
	chunks := [][]byte{buf}
	for !done {
		var c []byte
		if c, done, err = readInto(r, make([]byte, 0, bodyChunk)); err != nil {
			// The scratch buffer goes back to its pool; the chunks are dropped.
			return buf, err
		}
		chunks = append(chunks, c)
	}
	return bytes.Join(chunks, nil), nil
}

// bodyChunk is the size of the chunks of a body that outgrows its scratch buffer.
const bodyChunk = 64 << 10

// readInto reads r into buf until buf is full or r ends; done reports that r ended.
func readInto(r io.Reader, buf []byte) (_ []byte, done bool, _ error) {
	for len(buf) < cap(buf) {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, true, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
	return buf, false, nil
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
