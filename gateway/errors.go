package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/backend"
	"github.com/archway-gateway/archway/gateway/edge"
)

// clientStatus turns the status of a failed call into what the client may see. Codes that
// describe the request (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...) keep the backend's
// message and details: they are part of the API. Codes that describe the system (INTERNAL,
// UNKNOWN, DATA_LOSS, UNAVAILABLE, DEADLINE_EXCEEDED, UNIMPLEMENTED) get a fixed message with the
// request id instead, because their text comes from transports, runtimes and other layers.
// UNAUTHENTICATED from a backend becomes INTERNAL: the gateway authenticates clients, so a
// backend refusing a call refused the gateway's signed identity. The second result reports
// whether the status was replaced.
func clientStatus(st *status.Status, requestID string) (*status.Status, bool) {
	switch st.Code() {
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unavailable, codes.DeadlineExceeded, codes.Unimplemented:
		return status.New(st.Code(), edge.GenericMessage(st.Code(), requestID)), true
	case codes.Canceled:
		return status.New(codes.Canceled, "the request was cancelled by the client"), true
	case codes.Unauthenticated:
		// The gateway authenticates clients; a backend that refuses the call refused the
		// gateway's signed identity, which is the gateway's fault, not the client's.
		return status.New(codes.Internal, edge.GenericMessage(codes.Internal, requestID)), true
	default:
		return st, false
	}
}

// handleError is the ServeMux's error handler: every failed request ends here, whether it
// failed while decoding, at the backend or while writing the response.
func (g *Gateway) handleError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	state := edge.StateFrom(r.Context())
	if edge.RefuseOverBudget(w, state) {
		return
	}
	if state != nil && state.BodyTooLarge() {
		g.writeStatus(w, http.StatusRequestEntityTooLarge, edge.BodyTooLargeStatus(g.cfg.API.MaxRequestBodyBytes), false)
		return
	}
	requestID := edge.RequestIDFrom(ctx)
	httpStatus := 0
	var st *status.Status
	var hse *runtime.HTTPStatusError
	if errors.As(err, &hse) {
		httpStatus = hse.HTTPStatus
		st = status.New(codes.InvalidArgument, "the URL path contains a malformed escape sequence")
	} else {
		st = status.Convert(err)
	}
	if state != nil {
		state.SetGRPCCode(st.Code())
	}
	shown, replaced := clientStatus(st, requestID)
	if replaced {
		g.logger.LogAttrs(ctx, slog.LevelWarn, "backend call failed",
			slog.String("request_id", requestID),
			slog.String("code", st.Code().String()),
			slog.String("error", st.Message()))
	}
	// The backend's allowlisted response metadata travels on errors as on successes.
	md, hasMD := runtime.ServerMetadataFromContext(ctx)
	if hasMD {
		g.setHeaders(w.Header(), md.HeaderMD)
	}
	if sw, ok := w.(*sseWriter); ok {
		sw.writeError(shown)
		return
	}
	// A call refused by the backend guard (in-flight limit, open circuit breaker) says when to
	// come back.
	if secs, ok := backend.RetryAfter(err); ok && st.Code() == codes.Unavailable {
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	trailers := hasMD && acceptsTrailers(r) && g.setTrailers(w.Header(), md.TrailerMD)
	g.writeStatus(w, httpStatus, shown, trailers)
}

// writeStatus is edge.WriteStatus for the mux's error handlers. Under the grpc-gateway profile
// the body is rendered as grpc-gateway's default marshaler renders it, with every field
// ("details": [] included). An answer that ends with trailers has no Content-Length, which
// would make an HTTP/1.1 server drop them (they need a chunked body).
func (g *Gateway) writeStatus(w http.ResponseWriter, httpStatus int, st *status.Status, trailers bool) {
	if !g.grpcGateway && !trailers {
		edge.WriteStatus(w, httpStatus, st)
		return
	}
	if httpStatus == 0 {
		httpStatus = edge.HTTPStatus(st.Code())
	}
	body := edge.StatusJSON(st)
	if g.grpcGateway {
		if b, err := g.json.Marshal(st.Proto()); err == nil {
			body = b
		}
	}
	h := w.Header()
	h.Set("Content-Type", edge.ContentTypeJSON)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Transfer-Encoding")
	if trailers {
		h.Del("Content-Length")
	} else {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}

// handleStreamError renders an error that ends a server stream after it started.
func (g *Gateway) handleStreamError(ctx context.Context, err error) *status.Status {
	markStreamFailed(ctx)
	st := status.Convert(err)
	requestID := edge.RequestIDFrom(ctx)
	shown, replaced := clientStatus(st, requestID)
	if replaced {
		g.logger.LogAttrs(ctx, slog.LevelWarn, "stream failed",
			slog.String("request_id", requestID),
			slog.String("code", st.Code().String()),
			slog.String("error", st.Message()))
	}
	return shown
}

type probeKey struct{}

// allowProbeMethods are the methods tried when working out a path's Allow header.
var allowProbeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// handleRoutingError answers requests that match no route: 404 for an unknown path, 405 with an
// Allow header for a path that exists under other methods, 400 for a path that cannot be parsed.
// Under the grpc-gateway profile it answers as grpc-gateway does (grpcGatewayRoutingStatus).
func (g *Gateway) handleRoutingError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if probe, ok := ctx.Value(probeKey{}).(*[]string); ok && probe != nil {
		return
	}
	if g.grpcGateway {
		g.writeStatus(w, 0, grpcGatewayRoutingStatus(httpStatus), false)
		return
	}
	var allowed []string
	if httpStatus == http.StatusMethodNotAllowed {
		// The mux answers 405 when another method's verb-less pattern takes the request's
		// custom verb as part of a resource id ("u1:reopen"); a verb no route declares is
		// an unknown operation.
		if allowed = g.allowedMethods(r); len(allowed) == 0 {
			httpStatus = http.StatusNotFound
		}
	}
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		edge.WriteStatus(w, http.StatusMethodNotAllowed, status.New(codes.Unimplemented,
			fmt.Sprintf("method %s is not allowed for this path; allowed: %s", r.Method, strings.Join(allowed, ", "))))
	case http.StatusNotFound:
		edge.WriteStatus(w, http.StatusNotFound, status.New(codes.NotFound, "no API operation matches this path"))
	default:
		edge.WriteStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument, "the request path is malformed"))
	}
}

// grpcGatewayRoutingStatus is the status grpc-gateway's default routing error handler answers
// httpStatus with: the status text as the message, UNIMPLEMENTED (501) for a path that exists
// under other methods. A status the mux does not send (it sends 400, 404 and 405) is
// INVALID_ARGUMENT here, where grpc-gateway would answer INTERNAL: no input reaches a 5xx.
func grpcGatewayRoutingStatus(httpStatus int) *status.Status {
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		return status.New(codes.Unimplemented, http.StatusText(httpStatus))
	case http.StatusNotFound:
		return status.New(codes.NotFound, http.StatusText(httpStatus))
	default:
		return status.New(codes.InvalidArgument, http.StatusText(http.StatusBadRequest))
	}
}

// allowedMethods returns, sorted, the methods under which the mux routes r's path and custom
// verb. When the last segment of the path has a colon, only patterns that declare a verb count:
// a pattern without one would take "u1:reopen" as a resource id, and a verb that no route of
// the path declares makes the operation unknown (404), not a wrong method.
func (g *Gateway) allowedMethods(r *http.Request) []string {
	last := r.URL.EscapedPath()
	last = last[strings.LastIndexByte(last, '/')+1:]
	needVerb := strings.IndexByte(last, ':') > 0
	var allowed []string
	for _, m := range allowProbeMethods {
		verbs := g.routedVerbs(r.Context(), m, r.URL.RequestURI())
		if len(verbs) > 0 && (!needVerb || slices.ContainsFunc(verbs, func(v string) bool { return v != "" })) {
			allowed = append(allowed, m)
		}
	}
	slices.Sort(allowed)
	return allowed
}

// routable reports whether the mux has a route for method and path.
func (g *Gateway) routable(ctx context.Context, method, path string) bool {
	return len(g.routedVerbs(ctx, method, path)) > 0
}

// routedVerbs returns the custom verb ("" for none) of the pattern under which the mux routes
// method and path, or nil when it routes them nowhere. It replays the request under a probe
// marker: the probe middleware records the match without calling the handler, and the routing
// error handler stays silent.
func (g *Gateway) routedVerbs(ctx context.Context, method, path string) []string {
	var found []string
	req, err := http.NewRequestWithContext(context.WithValue(ctx, probeKey{}, &found), method, path, http.NoBody)
	if err != nil {
		return nil
	}
	g.mux.ServeHTTP(discardWriter{}, req)
	return found
}

// probeMiddleware short-circuits probe requests made by routedVerbs, recording the custom verb
// of the matched pattern.
func probeMiddleware(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if probe, ok := r.Context().Value(probeKey{}).(*[]string); ok && probe != nil {
			p, _ := runtime.HTTPPattern(r.Context())
			*probe = append(*probe, p.Verb())
			return
		}
		next(w, r, params)
	}
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}
