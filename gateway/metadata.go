package gateway

import (
	"context"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Response metadata. A backend's header and trailer metadata reach the client only for the keys
// listed in api.forward_response_headers, under the same name (responseMetadata), on successes
// and on errors alike: header metadata as response headers, trailer metadata as HTTP trailers
// when the client sent "TE: trailers" (RFC 9110 section 6.5.1: trailers that the client has not
// asked for may be dropped on the way). Under the grpc-gateway profile every key reaches the
// client unless the list names some, as "Grpc-Metadata-<key>" and "Grpc-Trailer-<key>", the
// names grpc-gateway's default matchers give them.
//
// grpc-gateway forwards header metadata on successes itself (the outgoing header matcher). Its
// trailers are declared in the Trailer header and their values added to the header map under the
// same name after the body, so a key that a backend uses for both a header and a trailer ends up
// in the trailer section with both values: net/http sends every value of a declared name. The
// gateway therefore refuses every key in grpc-gateway's outgoing trailer matcher and sets the
// trailers itself under net/http's TrailerPrefix, which keeps them apart from the header of the
// same name.

// acceptsTrailersKey marks, in a request's context, a client that accepts trailers.
type acceptsTrailersKey struct{}

// withTrailers marks r's context when the client sent "TE: trailers", for forwardTrailers, which
// sees the context but not the request. Requests without it (nearly all) are returned as they
// are.
func withTrailers(r *http.Request) *http.Request {
	if !acceptsTrailers(r) {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), acceptsTrailersKey{}, true))
}

// acceptsTrailers reports whether the client sent "TE: trailers".
func acceptsTrailers(r *http.Request) bool {
	// "Te" is the canonical key: Values("TE") would canonicalise it, an allocation per request.
	for _, v := range r.Header["Te"] {
		for part := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(name), "trailers") {
				return true
			}
		}
	}
	return false
}

// responseMetadata returns the matchers of the backend response metadata that reaches clients,
// as headers and as trailers: the keys of api.forward_response_headers under their own names or,
// under the grpc-gateway profile, under grpc-gateway's, every key when the list is empty.
func (g *Gateway) responseMetadata() (headers, trailers runtime.HeaderMatcherFunc) {
	names := g.cfg.API.ForwardResponseHeaders
	allowed := make(map[string]bool, len(names))
	for _, n := range names {
		allowed[strings.ToLower(n)] = true
	}
	every := g.grpcGateway && len(names) == 0
	matcher := func(prefix string) runtime.HeaderMatcherFunc {
		return func(key string) (string, bool) {
			if !every && !allowed[strings.ToLower(key)] {
				return "", false
			}
			return prefix + strings.ToLower(key), true
		}
	}
	if g.grpcGateway {
		return matcher(runtime.MetadataHeaderPrefix), matcher(runtime.MetadataTrailerPrefix)
	}
	return matcher(""), matcher("")
}

// refuseAll is grpc-gateway's outgoing trailer matcher: the gateway forwards trailers itself.
func refuseAll(string) (string, bool) { return "", false }

// forwardTrailers is a forward-response option: it sets the allowlisted trailer metadata of a
// successful unary call as HTTP trailers, when the client accepts them.
func (g *Gateway) forwardTrailers(ctx context.Context, w http.ResponseWriter, _ proto.Message) error {
	if accepts, _ := ctx.Value(acceptsTrailersKey{}).(bool); !accepts {
		return nil
	}
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
		g.setTrailers(w.Header(), md.TrailerMD)
	}
	return nil
}

// setHeaders sets the allowlisted keys of md as response headers. Each name is replaced, not
// added to, so that calling it again (grpc-gateway forwarded the headers, then the response
// failed to encode) does not repeat a value.
func (g *Gateway) setHeaders(h http.Header, md metadata.MD) {
	setMetadata(h, md, g.responseHeaders, "")
}

// setTrailers sets the allowlisted keys of md as trailers (see the top of this file); it
// reports whether it set any.
func (g *Gateway) setTrailers(h http.Header, md metadata.MD) bool {
	return setMetadata(h, md, g.responseTrailers, http.TrailerPrefix)
}

func setMetadata(h http.Header, md metadata.MD, match runtime.HeaderMatcherFunc, prefix string) bool {
	set := false
	for k, vs := range md {
		name, ok := match(k)
		if !ok || len(vs) == 0 {
			continue
		}
		key := prefix + http.CanonicalHeaderKey(name)
		h[key] = append(h[key][:0:0], vs...)
		set = true
	}
	return set
}
