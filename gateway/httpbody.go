package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/edge"
)

// google.api.HttpBody: raw content in and out.
//
// A method that returns HttpBody answers with its data as the body and its content_type as the
// Content-Type (application/octet-stream when empty): jsonMarshaler.ContentType and Marshal.
// A server stream of HttpBody sends the data of each message, back to back with no delimiter,
// under the content type of the first message; it is never served as Server-Sent Events. A
// stream that fails after its first bytes is cut off (the connection is reset) rather than
// ended with an error object, which would read as part of the content.
//
// The content type is the backend's choice, so the content may be HTML or SVG with scripts in
// it, served from the API's own origin. Raw content is therefore sent with
// "Content-Security-Policy: sandbox": a browser that renders it runs it in a unique origin, with
// no access to the API's cookies, storage or documentation pages (nosniff is set on every
// answer by edge.RequestID).
//
// A request whose body binds HttpBody (`body: "*"` on an HttpBody request, or `body: "field"`
// naming an HttpBody field) takes the raw body as data and the request's Content-Type as
// content_type; the body limit (api.max_request_body_bytes) applies as to JSON, and the JSON
// nesting limit does not.

// httpBodyName is the full name of google.api.HttpBody.
var httpBodyName = (&httpbody.HttpBody{}).ProtoReflect().Descriptor().FullName()

// octetStream is the content type of an HttpBody that names none.
const octetStream = "application/octet-stream"

// sandboxRawContent is a forward-response option: a unary HttpBody answer is sent sandboxed.
func sandboxRawContent(_ context.Context, w http.ResponseWriter, resp proto.Message) error {
	if _, ok := resp.(*httpbody.HttpBody); ok {
		sandbox(w.Header())
	}
	return nil
}

// sandbox sets the Content-Security-Policy of raw content (see the top of this file).
func sandbox(h http.Header) { h.Set("Content-Security-Policy", "sandbox") }

func httpBodyContentType(hb *httpbody.HttpBody) string {
	if ct := hb.GetContentType(); ct != "" {
		return ct
	}
	return octetStream
}

// bodyIsHTTPBody reports whether rt's request body binds a google.api.HttpBody.
func (rt *route) bodyIsHTTPBody() bool {
	in := rt.method.Input()
	switch rt.body {
	case "":
		return false
	case "*":
		return in.FullName() == httpBodyName
	default:
		fd := in.Fields().ByName(protoreflect.Name(rt.body))
		return fd != nil && fd.Message() != nil && fd.Message().FullName() == httpBodyName
	}
}

// streamsHTTPBody reports whether rt is a server stream of google.api.HttpBody.
func (rt *route) streamsHTTPBody() bool {
	return rt.method.IsStreamingServer() && !rt.method.IsStreamingClient() && rt.method.Output().FullName() == httpBodyName
}

// rawBody is a request body that the decoder takes as HttpBody data, with the request's
// Content-Type.
type rawBody struct {
	io.ReadCloser
	contentType string
}

// asRawBody makes r's body a rawBody, without the JSON nesting check of the edge chain.
func asRawBody(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		r.Body = &rawBody{ReadCloser: http.NoBody, contentType: r.Header.Get("Content-Type")}
		return
	}
	r.Body = &rawBody{ReadCloser: edge.WithoutJSONDepth(r.Body), contentType: r.Header.Get("Content-Type")}
}

// httpBodyStreamMIME is the key under which the marshaler of HttpBody streams is registered;
// callRoute selects it for those streams. No client names it: it is not a media type.
const httpBodyStreamMIME = "archway/httpbody-stream"

// httpBodyStreamMarshaler writes a stream of HttpBody messages as their bare data.
type httpBodyStreamMarshaler struct{ *jsonMarshaler }

// StreamContentType is the content type of the stream's first message.
func (httpBodyStreamMarshaler) StreamContentType(v any) string {
	if hb, ok := v.(*httpbody.HttpBody); ok {
		return httpBodyContentType(hb)
	}
	return octetStream
}

// Delimiter is empty: the messages' data follow each other as they are.
func (httpBodyStreamMarshaler) Delimiter() []byte { return nil }

// rawStream follows one HttpBody stream: whether content was sent, and whether it failed.
type rawStream struct {
	started, failed bool
}

type rawStreamKey struct{}

// rawStreamWriter drops the error object that grpc-gateway writes when a stream fails after its
// first bytes; serveRawStream then cuts the connection.
type rawStreamWriter struct {
	http.ResponseWriter
	state *rawStream
}

func (w *rawStreamWriter) Write(p []byte) (int, error) {
	switch {
	case w.state.failed && w.state.started:
		return len(p), nil
	case !w.state.failed && len(p) > 0:
		w.state.started = true
	}
	return w.ResponseWriter.Write(p)
}

// Flush passes through, so chunks reach the client as they are sent.
func (w *rawStreamWriter) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *rawStreamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveRawStream runs a server stream of HttpBody (see the top of this file).
func serveRawStream(w http.ResponseWriter, r *http.Request, call muxCall) {
	r.Header.Set("Accept", httpBodyStreamMIME)
	sandbox(w.Header())
	state := &rawStream{}
	r = r.WithContext(context.WithValue(r.Context(), rawStreamKey{}, state))
	call.next(&streamWriter{ResponseWriter: &rawStreamWriter{ResponseWriter: w, state: state}}, r, call.params)
	if state.failed && state.started {
		// The content sent so far must not pass for all of it: reset the connection.
		panic(http.ErrAbortHandler)
	}
}

// markStreamFailed records, for serveRawStream, that the stream of ctx failed.
func markStreamFailed(ctx context.Context) {
	if s, ok := ctx.Value(rawStreamKey{}).(*rawStream); ok {
		s.failed = true
	}
}

// decodeRaw reads a raw body into the HttpBody that v is or points to: all of it as data, even
// when it is empty (an empty upload is content too), with the request's Content-Type.
func decodeRaw(raw *rawBody, v any) error {
	msg, ok := protoTarget(v)
	hb, isHTTPBody := msg.(*httpbody.HttpBody)
	if !ok || !isHTTPBody {
		return errors.New("request body could not be read")
	}
	data, err := readAll(raw, nil)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("request body is larger than the limit of %d bytes", tooLarge.Limit)
		}
		return errors.New("request body could not be read")
	}
	hb.ContentType = raw.contentType
	hb.Data = data
	return nil
}
