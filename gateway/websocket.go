package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/archway-gateway/archway/gateway/authn"
	"github.com/archway-gateway/archway/gateway/backend"
	"github.com/archway-gateway/archway/gateway/edge"
)

// The WebSocket bridge serves client-streaming and bidirectional RPCs, which grpc-gateway cannot
// serve to browsers, on the GET route of their google.api.http binding. The route's per-route
// chain (IP filter, authentication, rate limit, deadline) runs on the upgrade request like on any
// other request; then every text frame from the client is one JSON request message, and every
// response message is one text frame to the client. The end of the RPC closes the connection
// with a code mapped from its status (closeCode), the status message as the reason.

// closeCode maps the gRPC status that ends a bridged RPC to the WebSocket close code; the table
// is in docs/streaming.md. Codes that describe the request and have no standard close code get
// 4000 plus the gRPC code, in the range RFC 6455 leaves to applications. UNAUTHENTICATED does not
// reach it: a client without credentials is refused at the upgrade, and clientStatus reports a
// backend's UNAUTHENTICATED as INTERNAL.
func closeCode(c codes.Code) websocket.StatusCode {
	switch c {
	case codes.OK:
		return websocket.StatusNormalClosure
	case codes.Canceled:
		return websocket.StatusGoingAway
	case codes.PermissionDenied:
		return websocket.StatusPolicyViolation
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return websocket.StatusTryAgainLater
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted, codes.OutOfRange:
		return websocket.StatusCode(4000 + int(c))
	default:
		return websocket.StatusInternalError
	}
}

// maxCloseReason is the longest close reason a close frame carries, in bytes.
const maxCloseReason = 123

// closeReason shortens msg to fit a close frame, on a character boundary.
func closeReason(msg string) string {
	if len(msg) <= maxCloseReason {
		return msg
	}
	cut := maxCloseReason
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut]
}

// originAllowed admits requests without Origin (clients other than browsers), from the page's
// own host, and from cors.allowed_origins.
func (g *Gateway) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host) || g.wsOrigins.AllowsOrigin(strings.ToLower(origin))
}

// newMessage returns a new message of md's type: the generated Go type when it is linked in.
func newMessage(md protoreflect.MessageDescriptor) proto.Message {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		return mt.New().Interface()
	}
	return dynamicpb.NewMessage(md)
}

// handshakeError returns what is wrong with the WebSocket handshake of r, "" when nothing is:
// the checks the WebSocket library makes, so that a bad handshake is refused with a Status
// rather than the library's plain text.
func handshakeError(r *http.Request) string {
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return "the WebSocket handshake must ask for version 13 (Sec-WebSocket-Version)"
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return "the WebSocket handshake must carry one Sec-WebSocket-Key"
	}
	if key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(key) != 16 {
		return "the WebSocket handshake's Sec-WebSocket-Key must be 16 bytes in base64"
	}
	return ""
}

// serveWebSocket bridges one client-streaming or bidirectional RPC over WebSocket.
func (g *Gateway) serveWebSocket(w http.ResponseWriter, r *http.Request, rt *route) {
	if !edge.IsWebSocketUpgrade(r) {
		streams := "its requests"
		if rt.method.IsStreamingServer() {
			streams = "in both directions"
		}
		w.Header().Set("Upgrade", "websocket")
		edge.WriteStatus(w, http.StatusUpgradeRequired, status.New(codes.FailedPrecondition,
			"this operation streams "+streams+" and is served on this route over WebSocket only: open it with a WebSocket client"))
		return
	}
	if msg := handshakeError(r); msg != "" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		edge.WriteStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument, msg))
		return
	}
	if !g.originAllowed(r) {
		edge.WriteStatus(w, http.StatusForbidden, status.New(codes.PermissionDenied,
			"pages from this origin may not open this WebSocket"))
		return
	}
	b, ok := g.backends.ForService(string(rt.method.Parent().FullName()))
	if !ok {
		g.handleError(r.Context(), g.mux, nil, w, r, status.Error(codes.Unimplemented, "no backend serves this method"))
		return
	}
	query := r.URL.Query()
	if err := runtime.PopulateQueryParameters(newMessage(rt.method.Input()), query, utilities.NewDoubleArray(nil)); err != nil {
		g.handleError(r.Context(), g.mux, nil, w, r, status.Error(codes.InvalidArgument, err.Error()))
		return
	}
	ctx, err := runtime.AnnotateContext(r.Context(), g.mux, r, rt.policy.Method, runtime.WithHTTPPathPattern(rt.pattern))
	if err != nil {
		g.handleError(r.Context(), g.mux, nil, w, r, err)
		return
	}
	// Counted before the upgrade hijacks the connection: until then, Shutdown waits for the
	// request, so it cannot return between the hijack and the count.
	g.bridges.Add(1)
	defer g.bridges.Done()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The origin is checked above, against the gateway's own list.
		InsecureSkipVerify: true,
		// Selected when the client offers it, as pages that send their credential as a
		// subprotocol do; authentication has taken the credential's entry out of the header.
		Subprotocols: []string{authn.WebSocketProtocol},
	})
	if err != nil {
		// Accept has answered the request.
		return
	}
	ws := g.cfg.Streaming.WebSocket
	conn.SetReadLimit(ws.MaxMessageBytes)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	br := &wsBridge{g: g, conn: conn, rt: rt, query: query, cancel: cancel}
	br.idle = time.AfterFunc(ws.IdleTimeout.D(), func() {
		br.close(websocket.StatusGoingAway, "no message for "+ws.IdleTimeout.D().String())
	})
	defer br.idle.Stop()
	stop := context.AfterFunc(g.goingAway, func() { br.close(websocket.StatusGoingAway, "the gateway is shutting down") })
	defer stop()
	br.run(ctx, b)
}

// wsBridge is one bridged RPC: the WebSocket, the backend stream and what ends them.
type wsBridge struct {
	g      *Gateway
	conn   *websocket.Conn
	rt     *route
	query  url.Values
	cancel context.CancelFunc
	idle   *time.Timer
	once   sync.Once
}

// close ends the backend stream and closes the WebSocket with code and reason; only the first
// call counts.
func (br *wsBridge) close(code websocket.StatusCode, reason string) {
	br.once.Do(func() {
		br.cancel()
		_ = br.conn.Close(code, closeReason(reason))
	})
}

// active records a message in either direction for the idle timeout.
func (br *wsBridge) active() {
	br.idle.Reset(br.g.cfg.Streaming.WebSocket.IdleTimeout.D())
}

// run opens the backend stream, pumps messages both ways until the RPC ends, and closes the
// WebSocket with the RPC's status.
func (br *wsBridge) run(ctx context.Context, b *backend.Backend) {
	stream, err := b.Conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, br.rt.policy.Method)
	if err != nil {
		br.end(ctx, err)
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { br.pumpIn(ctx, stream) })
	br.end(ctx, br.pumpOut(ctx, stream))
	wg.Wait()
}

// end closes the WebSocket with the code and message of err, the RPC's outcome (nil: OK).
func (br *wsBridge) end(ctx context.Context, err error) {
	if err == nil {
		br.close(websocket.StatusNormalClosure, "")
		return
	}
	requestID := edge.RequestIDFrom(ctx)
	st := status.Convert(err)
	if state := edge.StateFrom(ctx); state != nil {
		state.SetGRPCCode(st.Code())
	}
	shown, replaced := clientStatus(st, requestID)
	if replaced {
		br.g.logger.LogAttrs(ctx, slog.LevelWarn, "stream failed",
			slog.String("request_id", requestID),
			slog.String("code", st.Code().String()),
			slog.String("error", st.Message()))
	}
	br.close(closeCode(shown.Code()), shown.Message())
}

// pumpOut sends every response message to the client as a text frame, and returns the RPC's
// outcome: nil when the backend ended it with OK.
func (br *wsBridge) pumpOut(ctx context.Context, stream grpc.ClientStream) error {
	for {
		msg := newMessage(br.rt.method.Output())
		if err := stream.RecvMsg(msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		br.active()
		data, err := br.g.json.Marshal(msg)
		if err != nil {
			return status.Error(codes.Internal, "a response message could not be encoded")
		}
		if err := br.write(ctx, data); err != nil {
			// The client is gone; nobody is left to tell.
			br.cancel()
			return status.Error(codes.Canceled, "the client went away")
		}
	}
}

// write sends one message, bounded by streaming.write_idle_timeout: a client that stops reading
// makes the write time out, which closes the connection.
func (br *wsBridge) write(ctx context.Context, data []byte) error {
	if d := br.g.cfg.Streaming.WriteIdleTimeout.D(); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return br.conn.Write(ctx, websocket.MessageText, data)
}

// pumpIn sends every text frame from the client to the backend as a request message. An empty
// text frame, the end marker, ends the RPC's request side while the connection stays open for
// the responses: how a client-streaming RPC gets its response. A client that closes the
// connection, with a close frame or without, cancels the RPC; a frame that is not a JSON request
// message, or any message after the end marker, closes the connection.
func (br *wsBridge) pumpIn(ctx context.Context, stream grpc.ClientStream) {
	// The read context outlives ctx: closing the connection is what ends a pending read, and
	// cancelling a read would make the library close the connection with a code of its own.
	readCtx := context.WithoutCancel(ctx)
	ended := false
	for {
		typ, data, err := br.conn.Read(readCtx)
		if err != nil {
			// The connection is over: the client closed it, with a close frame or without, or
			// broke a limit (a message over the size limit, which the library answers with 1009).
			// Nobody is left to receive the responses, so the RPC is cancelled, like a server
			// stream whose client went away; a client ends its request side with the end marker.
			// When the RPC ended first, this is the close that end sent, and cancelling is a no-op.
			br.cancel()
			return
		}
		br.active()
		switch {
		case typ != websocket.MessageText:
			br.close(websocket.StatusUnsupportedData, "send each message as JSON in a text frame")
			return
		case ended:
			br.close(closeCode(codes.InvalidArgument), "no message may follow the end marker (an empty text frame)")
			return
		case len(data) == 0:
			// The client has sent all its messages; it keeps reading until the RPC ends.
			ended = true
			_ = stream.CloseSend()
			continue
		}
		msg := newMessage(br.rt.method.Input())
		if err := br.g.json.UnmarshalOptions.Unmarshal(data, msg); err != nil {
			br.close(websocket.StatusInvalidFramePayloadData, bodyError(err).Error())
			return
		}
		if err := runtime.PopulateQueryParameters(msg, br.query, utilities.NewDoubleArray(nil)); err != nil {
			br.close(closeCode(codes.InvalidArgument), err.Error())
			return
		}
		if err := stream.SendMsg(msg); err != nil {
			// The backend ended the RPC; pumpOut reports how.
			return
		}
	}
}
