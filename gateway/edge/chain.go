package edge

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/config"
)

// Options configures [Chain].
type Options struct {
	// Logger receives the access log and recovered panics. By default, slog.Default() is used.
	Logger *slog.Logger
	// AccessLog turns the access log on. By default, it is off.
	AccessLog bool
	// AccessLogSampling says which requests the access log records. By default (nil), every
	// request.
	AccessLogSampling *Sampling
	// TrustedProxies are the proxies whose X-Forwarded-For header [ClientIP] believes. By
	// default none: the client is the connection's peer.
	TrustedProxies []netip.Prefix
	// CORS configures the answers to cross-origin requests (see [CORS]). By default (the zero
	// value, which allows no origin) CORS is off: no CORS headers are sent, and preflight
	// requests reach the next handler like any other request.
	CORS config.CORS
	// Before are links inserted after recover and before the method override link, outermost
	// first: Before[0] sees the request first. They are where the global IP filter, metrics and
	// tracing go. By default none.
	Before []func(http.Handler) http.Handler
	// MaxBodyBytes caps the request body. By default (0), bodies are not limited.
	MaxBodyBytes int64
	// BodyBudget bounds the bytes of all request bodies being served (see [LimitBodies]); it
	// needs MaxBodyBytes. By default (nil), their total is not bounded.
	BodyBudget *BodyBudget
	// MaxJSONDepth caps the nesting of JSON objects and arrays in the request body (see
	// [LimitJSONDepth]). By default (0), nesting is not limited.
	MaxJSONDepth int
	// MaxGRPCTimeout caps the client's Grpc-Timeout header and rejects malformed ones (see
	// [LimitGRPCTimeout]). By default (0), the header is neither checked nor capped.
	MaxGRPCTimeout time.Duration
	// Shedder caps the requests served at once (see [Shedder]). By default (nil), there is no
	// cap.
	Shedder *Shedder
	// WriteLimits bounds how long writing a response may take (see [LimitWrites]). By default
	// (the zero value), writes are not bounded.
	WriteLimits WriteLimits
	// KeepMethodOverride leaves X-HTTP-Method-Override and its relatives on the request, for a
	// handler that honours them (the grpc-gateway profile). By default false: they are dropped
	// (see [StripMethodOverride]).
	KeepMethodOverride bool
}

// Chain wraps next in the gateway's HTTP chain. The order of the links is written down here
// and nowhere else:
//
//  1. Request id: accept the client's X-Request-Id when it is well formed, else make one; echo it.
//     Write deadlines: a client that stops reading cannot hold its request, and its slot
//     below, longer than the response's write timeout (a stream's: its idle write timeout).
//  2. Load shedding: a request over the in-flight limit gets 503 and Retry-After at once. It
//     comes before the access log, so that a flood does not also flood the log; the shedder
//     counts what it sheds.
//  3. Client IP: the connection's peer, or, when the peer is a trusted proxy, the client it
//     names in X-Forwarded-For. Every later link (the access log, IP filtering, rate limiting)
//     sees this address.
//  4. Access log: one record per request with id, method, route, gRPC method and code, status,
//     sizes, latency, client IP and identity, also for a request that panicked; secrets are
//     never logged.
//  5. Recover: a panic becomes a 500 google.rpc.Status naming the request id (or an aborted
//     connection, when the response had started); the stack is logged.
//  6. Before: the links of [Options.Before], in order (the global IP filter, metrics, tracing),
//     so that a panic in them is recovered and their answers are logged.
//  7. Method override: drop X-HTTP-Method-Override, so the method a client sends is the method
//     that is routed and logged (unless [Options.KeepMethodOverride]).
//  8. CORS: answer preflight requests without routing them, and add CORS headers to the answers
//     to allowed origins.
//  9. Body limit: 413 up front for an oversized Content-Length, and a capped reader otherwise;
//     503 and Retry-After when the bodies being served hold the whole body budget.
//  10. JSON depth: the body's reader fails once objects and arrays nest too deep.
//  11. Grpc-Timeout: 400 for a malformed value, and a value over the cap lowered to it.
func Chain(next http.Handler, opts Options) http.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	h := next
	if opts.MaxGRPCTimeout > 0 {
		h = LimitGRPCTimeout(h, opts.MaxGRPCTimeout)
	}
	if opts.MaxJSONDepth > 0 {
		h = LimitJSONDepth(h, opts.MaxJSONDepth)
	}
	if opts.MaxBodyBytes > 0 {
		h = LimitBodies(h, opts.MaxBodyBytes, opts.BodyBudget)
	}
	h = NewCORS(opts.CORS).Middleware(h)
	if !opts.KeepMethodOverride {
		h = StripMethodOverride(h)
	}
	for i := len(opts.Before) - 1; i >= 0; i-- {
		h = opts.Before[i](h)
	}
	h = Recover(h, logger)
	if opts.AccessLog {
		sampling := EveryRequest
		if opts.AccessLogSampling != nil {
			sampling = *opts.AccessLogSampling
		}
		h = AccessLog(h, logger, sampling)
	}
	h = ClientIP(h, opts.TrustedProxies)
	if opts.Shedder != nil {
		h = opts.Shedder.Middleware(h)
	}
	h = LimitWrites(h, opts.WriteLimits)
	return RequestID(h)
}

// HeaderRequestID is the header that carries the request id in both directions.
const HeaderRequestID = "X-Request-Id"

const maxRequestIDLen = 128

// RequestID makes sure every request has an id: a well-formed X-Request-Id from the client
// (1 to 128 characters of letters, digits and "-._:") is kept, anything else is replaced by a
// random id. The id is set on the response, left as the request's only X-Request-Id value (so a
// handler that forwards the header forwards the id, once) and stored in the request's [State].
// Being the outermost link, it also sets X-Content-Type-Options: nosniff on every answer.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids := r.Header[HeaderRequestID]
		switch {
		case len(ids) == 0 || !validRequestID(ids[0]):
			r.Header[HeaderRequestID] = []string{rand.Text()}
		case len(ids) > 1:
			r.Header[HeaderRequestID] = ids[:1]
		}
		id := r.Header[HeaderRequestID][0]
		h := w.Header()
		h.Set(HeaderRequestID, id)
		// Every answer, success or error, says that its Content-Type is to be believed.
		h["X-Content-Type-Options"] = noSniff
		r, _ = WithState(r, id)
		next.ServeHTTP(w, r)
	})
}

// noSniff is the value of X-Content-Type-Options on every answer; shared, since no link appends
// to it.
var noSniff = []string{"nosniff"}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == ':':
		default:
			return false
		}
	}
	return true
}

// Recover turns a panic in next into a 500 google.rpc.Status response (when nothing has been
// written yet) and logs the panic with its stack. http.ErrAbortHandler is re-raised, as
// net/http expects.
func Recover(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := wrapWriter(w)
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler { //nolint:errorlint // net/http panics with this exact value
				panic(p)
			}
			id := RequestIDFrom(r.Context())
			logger.ErrorContext(r.Context(), "panic serving request",
				slog.String("request_id", id), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			if rw.started() {
				// Part of the answer is out: abort the connection, so the client sees a
				// broken response rather than a short one that looks complete.
				panic(http.ErrAbortHandler)
			}
			WriteStatus(rw, http.StatusInternalServerError, InternalError(id))
		}()
		next.ServeHTTP(rw, r)
	})
}

// InternalError is the status a client sees for any failure whose details must stay inside
// the gateway: a fixed message and the request id to quote when reporting it.
func InternalError(requestID string) *status.Status {
	return status.New(codes.Internal, GenericMessage(codes.Internal, requestID))
}

// GenericMessage is the client-facing message for a code whose original message is withheld.
func GenericMessage(c codes.Code, requestID string) string {
	var what string
	switch c {
	case codes.Unavailable:
		what = "the service is unavailable, try again later"
	case codes.DeadlineExceeded:
		what = "the request took too long"
	case codes.Unimplemented:
		what = "the operation is not implemented"
	default:
		what = "internal error"
	}
	if requestID == "" {
		return what
	}
	return fmt.Sprintf("%s (request id %s)", what, requestID)
}

// StripMethodOverride removes X-HTTP-Method-Override and its relatives, so no layer behind the
// edge routes a request by a method other than the one on the request line.
func StripMethodOverride(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range [...]string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"} {
			r.Header.Del(h)
		}
		next.ServeHTTP(w, r)
	})
}

// IsWebSocketUpgrade reports whether r asks to switch to WebSocket: its Connection header has
// the token "upgrade" and its Upgrade header the token "websocket", in any case.
func IsWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
