package edge

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// Sampling says which requests the access log records: every request that failed (status 400
// or more) or was slow, and a random fraction of the others.
type Sampling struct {
	// Rate is the fraction, from 0 to 1, of successful and fast requests recorded.
	Rate float64
	// SlowThreshold is the latency from which a request is slow; 0 means none is.
	SlowThreshold time.Duration
}

// EveryRequest is the Sampling that records every request.
var EveryRequest = Sampling{Rate: 1}

func (s Sampling) keep(status int, latency time.Duration) bool {
	switch {
	case status >= http.StatusBadRequest:
		return true
	case s.SlowThreshold > 0 && latency >= s.SlowThreshold:
		return true
	case s.Rate >= 1:
		return true
	default:
		return rand.Float64() < s.Rate
	}
}

// AccessLog logs one record per request after it completes, as sampling says: request id,
// method, path, query (with secret values redacted), route pattern, gRPC method and code (when
// the layers behind recorded them in the [State]; a routed request answered 2xx without a
// recorded code is logged as OK), HTTP status, latency, request and response
// body bytes, client IP, peer address, the caller's subject (when authenticated) and user agent.
// No header that carries credentials (Authorization, Cookie, X-Api-Key) is ever logged.
func AccessLog(next http.Handler, logger *slog.Logger, sampling Sampling) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := wrapWriter(w)
		var in *countingBody
		if r.Body != nil && r.Body != http.NoBody {
			in = &countingBody{rc: r.Body}
			r.Body = in
		}
		defer func() { logRequest(logger, sampling, r, rw, in, start) }()
		next.ServeHTTP(rw, r)
	})
}

func logRequest(logger *slog.Logger, sampling Sampling, r *http.Request, rw *responseWriter, in *countingBody, start time.Time) {
	latency := time.Since(start)
	st := rw.status
	if st == 0 {
		st = http.StatusOK
	}
	if !sampling.keep(st, latency) {
		return
	}
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs, slog.String("request_id", RequestIDFrom(r.Context())),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path))
	if r.URL.RawQuery != "" {
		attrs = append(attrs, slog.String("query", redactQuery(r.URL.RawQuery)))
	}
	var bytesIn int64
	if in != nil {
		bytesIn = in.n
	}
	s := StateFrom(r.Context())
	var route, method, client string
	if s != nil {
		route, method = s.Route(), s.GRPCMethod()
		if ip := s.ClientIP(); ip.IsValid() {
			client = ip.String()
		}
	}
	attrs = append(attrs,
		slog.String("route", route),
		slog.String("grpc_method", method),
		slog.Int("status", st))
	if s != nil {
		c, ok := s.GRPCCode()
		if !ok && method != "" && st >= 200 && st < 300 {
			// A routed call answered 2xx succeeded; other statuses map back to several
			// codes, so only a recorded code is logged for them.
			c, ok = codes.OK, true
		}
		if ok {
			attrs = append(attrs, slog.String("grpc_code", c.String()))
		}
	}
	attrs = append(attrs,
		slog.Duration("duration", latency),
		slog.Int64("bytes_in", bytesIn),
		slog.Int64("bytes_out", rw.bytes),
		slog.String("client_ip", client),
		slog.String("remote", r.RemoteAddr))
	if s != nil {
		if id, ok := s.Identity(); ok {
			attrs = append(attrs, slog.String("subject", id.Subject))
			if id.Issuer != "" { // a subject is unique only within its issuer
				attrs = append(attrs, slog.String("issuer", id.Issuer))
			}
		}
	}
	attrs = append(attrs, slog.String("user_agent", r.UserAgent()))
	logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	rc io.ReadCloser
	n  int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// redacted replaces the value of a query parameter that may carry a secret.
const redacted = "REDACTED"

// redactQuery returns the raw query with the values of parameters whose names suggest secrets
// (see [secretParam]) replaced by "REDACTED". A query with no such parameter is returned as is.
func redactQuery(raw string) string {
	var b strings.Builder
	rest := raw
	done := 0 // raw[:done] is in b, or nothing is when b is empty
	for pos := 0; rest != ""; {
		part, after, found := strings.Cut(rest, "&")
		name, _, hasValue := strings.Cut(part, "=")
		if hasValue && secretParam(name) {
			if b.Len() == 0 {
				b.Grow(len(raw))
			}
			b.WriteString(raw[done : pos+len(name)+1])
			b.WriteString(redacted)
			done = pos + len(part)
		}
		pos += len(part)
		if found {
			pos++
		}
		rest = after
	}
	if b.Len() == 0 {
		return raw
	}
	b.WriteString(raw[done:])
	return b.String()
}

// secretWords are the parameter names, or parts of names, whose values are never logged.
var secretWords = [...]string{"key", "token", "password", "passwd", "secret", "signature", "auth", "session"}

// secretParam reports whether a query parameter named name (still escaped) may carry a secret:
// whether its name, unescaped and in lower case, contains one of [secretWords], as in api_key,
// key, token, access_token or password.
func secretParam(name string) bool {
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	name = strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}
