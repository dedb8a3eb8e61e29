package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/edge"
)

// Client-streaming and bidirectional RPCs bound to a method other than GET take their request
// stream from the request body as newline-delimited JSON, one request message per line, as
// grpc-gateway's handlers read them. The body passes through the edge chain's body limit and
// JSON depth limit like any other. A client stream is answered with its one response message;
// a bidirectional stream with its response messages as NDJSON, written as they come, like a
// server stream. The GET route of such a method is the WebSocket bridge (websocket.go).

// serveRequestStream serves one client-streaming or bidirectional RPC from an NDJSON body.
func (g *Gateway) serveRequestStream(w http.ResponseWriter, r *http.Request, rt *route) {
	if edge.IsWebSocketUpgrade(r) {
		edge.WriteStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument,
			"a WebSocket is opened with GET only: send this request without Upgrade, its body as newline-delimited JSON messages"))
		return
	}
	b, ok := g.backends.ForService(string(rt.method.Parent().FullName()))
	if !ok {
		g.handleError(r.Context(), g.mux, nil, w, r, status.Error(codes.Unimplemented, "no backend serves this method"))
		return
	}
	// JSON both ways, whatever the Accept header asks: NDJSON is the only framing of a response
	// stream here.
	outbound := runtime.Marshaler(g.json)
	query := r.URL.Query()
	r = withTrailers(r)
	ctx, err := runtime.AnnotateContext(r.Context(), g.mux, r, rt.policy.Method, runtime.WithHTTPPathPattern(rt.pattern))
	if err != nil {
		g.handleError(r.Context(), g.mux, outbound, w, r, err)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bidi := rt.method.IsStreamingServer()
	if bidi {
		if s := edge.StateFrom(r.Context()); s != nil {
			s.StreamResponse()
		}
	}
	// HTTP/1 cannot read a request body while it writes the response (net/http then discards
	// the rest of the body itself): a bidirectional stream's whole request stream is read
	// first, within the body limit, and a failure is answered before the backend is called.
	var buffered []proto.Message
	if bidi && r.ProtoMajor < 2 {
		err := g.readRequests(r.Body, query, rt.method.Input(), func(m proto.Message) bool {
			buffered = append(buffered, m)
			return true
		})
		if !errors.Is(err, io.EOF) {
			g.handleError(ctx, g.mux, outbound, w, r, err)
			return
		}
	}
	stream, err := b.Conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: bidi, ClientStreams: true}, rt.policy.Method)
	if err != nil {
		g.handleError(ctx, g.mux, outbound, w, r, err)
		return
	}
	if bidi {
		g.serveBidiStream(ctx, cancel, w, r, rt, stream, query, buffered)
		return
	}
	if err := g.sendRequests(r.Body, query, stream, rt.method.Input()); err != nil {
		cancel()
		g.handleError(ctx, g.mux, outbound, w, r, err)
		return
	}
	resp := newMessage(rt.method.Output())
	err = stream.RecvMsg(resp)
	header, _ := stream.Header()
	ctx = runtime.NewServerMetadataContext(ctx, runtime.ServerMetadata{HeaderMD: header, TrailerMD: stream.Trailer()})
	if err != nil {
		g.handleError(ctx, g.mux, outbound, w, r, err)
		return
	}
	runtime.ForwardResponseMessage(ctx, g.mux, outbound, w, r, resp, g.mux.GetForwardResponseOptions()...)
}

// serveBidiStream sends the request messages while it writes the response messages. A request
// stream that fails (a malformed line, a body over the limit) ends the call with its error:
// answered like any failed request when no response message has been written yet, else as the
// last line of the response stream. Over HTTP/1 the request stream was read before the call,
// into buffered.
func (g *Gateway) serveBidiStream(ctx context.Context, cancel context.CancelFunc, w http.ResponseWriter, r *http.Request,
	rt *route, stream grpc.ClientStream, query url.Values, buffered []proto.Message,
) {
	outbound := runtime.Marshaler(g.json)
	// failed holds the request stream's error, put there before the call is cancelled, so
	// that a response stream ended by the cancellation reports it.
	failed := make(chan error, 1)
	sending := make(chan struct{})
	send := func() error { return g.sendRequests(r.Body, query, stream, rt.method.Input()) }
	if r.ProtoMajor < 2 {
		send = func() error {
			for _, m := range buffered {
				if stream.SendMsg(m) != nil {
					return nil
				}
			}
			return stream.CloseSend()
		}
	}
	go func() {
		defer close(sending)
		if err := send(); err != nil {
			failed <- err
			cancel()
		}
	}()
	defer func() {
		// The body is not read once the handler returns: a client still sending is cut off.
		select {
		case <-sending:
		default:
			cancel()
			_ = http.NewResponseController(w).SetReadDeadline(time.Now())
			<-sending
		}
	}()
	recv := func() (proto.Message, error) {
		msg := newMessage(rt.method.Output())
		err := stream.RecvMsg(msg)
		if err == nil {
			return msg, nil
		}
		select {
		case inErr := <-failed:
			return nil, inErr
		default:
			return nil, err
		}
	}
	first, err := recv()
	header, _ := stream.Header()
	ctx = runtime.NewServerMetadataContext(ctx, runtime.ServerMetadata{HeaderMD: header, TrailerMD: stream.Trailer()})
	if err != nil && !errors.Is(err, io.EOF) {
		g.handleError(ctx, g.mux, outbound, w, r, err)
		return
	}
	next := func() (proto.Message, error) {
		if first != nil || err != nil {
			m, e := first, err
			first, err = nil, nil
			return m, e
		}
		return recv()
	}
	runtime.ForwardResponseStream(ctx, g.mux, outbound, w, r, next, g.mux.GetForwardResponseOptions()...)
}

// sendRequests sends the request messages of the body on stream (see readRequests) and, at the
// end of the body, half-closes stream. It returns the error that ends the request stream for the
// client: a line that is not a request message, or a body that breaks a limit. A stream that the
// backend has ended takes no more messages: the backend's status is the call's outcome, so
// sendRequests returns nil.
func (g *Gateway) sendRequests(body io.Reader, query url.Values, stream grpc.ClientStream, md protoreflect.MessageDescriptor) error {
	err := g.readRequests(body, query, md, func(m proto.Message) bool { return stream.SendMsg(m) == nil })
	if errors.Is(err, io.EOF) {
		_ = stream.CloseSend()
		return nil
	}
	return err
}

// readRequests decodes the request body, one JSON message of type md per line (blank lines are
// skipped), sets the query parameters on each message, as the WebSocket bridge does, and hands
// it to each. It returns io.EOF at the end of the body, nil when each returns false, and an
// INVALID_ARGUMENT status for a line that is not a message or a body that breaks a limit.
// Under the grpc-gateway profile the body is a sequence of JSON values, with or without
// newlines between them, as grpc-gateway's streaming JSON decoder reads it (readValues).
func (g *Gateway) readRequests(body io.Reader, query url.Values, md protoreflect.MessageDescriptor, each func(proto.Message) bool) error {
	if g.json.grpcGateway {
		return g.readValues(body, query, md, each)
	}
	br := bufio.NewReader(body)
	for line := 1; ; line++ {
		text, readErr := br.ReadBytes('\n')
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return status.Error(codes.InvalidArgument, bodyReadError(readErr).Error())
		}
		if data := bytes.TrimSpace(text); len(data) > 0 {
			msg := newMessage(md)
			if err := g.json.UnmarshalOptions.Unmarshal(data, msg); err != nil {
				return status.Error(codes.InvalidArgument, fmt.Sprintf("line %d of the request body: %v", line, bodyError(err)))
			}
			if err := runtime.PopulateQueryParameters(msg, query, utilities.NewDoubleArray(nil)); err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
			if !each(msg) {
				return nil
			}
		}
		if readErr != nil {
			return io.EOF
		}
	}
}

// readValues is readRequests for the grpc-gateway profile: the body is read as a sequence of
// JSON values, one request message each, separated by whitespace or by nothing at all.
func (g *Gateway) readValues(body io.Reader, query url.Values, md protoreflect.MessageDescriptor, each func(proto.Message) bool) error {
	dec := json.NewDecoder(body)
	for n := 1; ; n++ {
		var data json.RawMessage
		if err := dec.Decode(&data); err != nil {
			var syntax *json.SyntaxError
			switch {
			case errors.Is(err, io.EOF):
				return io.EOF
			case errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF):
				return status.Error(codes.InvalidArgument, fmt.Sprintf("value %d of the request body: %v", n, bodyError(err)))
			default:
				return status.Error(codes.InvalidArgument, bodyReadError(err).Error())
			}
		}
		msg := newMessage(md)
		if err := g.json.UnmarshalOptions.Unmarshal(data, msg); err != nil {
			return status.Error(codes.InvalidArgument, fmt.Sprintf("value %d of the request body: %v", n, bodyError(err)))
		}
		if err := runtime.PopulateQueryParameters(msg, query, utilities.NewDoubleArray(nil)); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		if !each(msg) {
			return nil
		}
	}
}
