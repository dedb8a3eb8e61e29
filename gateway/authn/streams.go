package authn

import (
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
)

// The places where a browser's streaming request may carry its credential, when
// authn.stream_credentials enables them; see the package documentation.
const (
	// WebSocketProtocol is the subprotocol of the gateway's WebSocket bridge. A page that sends
	// its credential as a subprotocol offers this one too, and the gateway selects it.
	WebSocketProtocol = "archway.v1"
	// BearerProtocolPrefix starts the subprotocol that carries a bearer token:
	// "archway.bearer.<token>".
	BearerProtocolPrefix = "archway.bearer."
	// APIKeyProtocolPrefix starts the subprotocol that carries an API key:
	// "archway.apikey.<key>".
	APIKeyProtocolPrefix = "archway.apikey."
	// AccessTokenParameter is the query parameter that carries a bearer token (RFC 6750,
	// section 2.3).
	AccessTokenParameter = "access_token"
	// APIKeyParameter is the query parameter that carries an API key.
	APIKeyParameter = "api_key"
)

const protocolHeader = "Sec-WebSocket-Protocol"

// credential is one credential a request presents, and where.
type credential struct {
	apiKey bool
	value  string
	// multiple is true when its place held more than one value.
	multiple bool
}

// streamCredentials finds the credentials of r outside its headers: the subprotocols and query
// parameters that cfg enables. It returns them, and the request to pass on: r itself when it
// carries none, else a copy without them, so that neither the backend nor grpc-gateway's query
// parsing sees them (r, which the access log holds, keeps them for its redacted record). A
// request that carries such a credential but is not a streaming request of its route fails.
func streamCredentials(r *http.Request, cfg config.StreamCredentials, md protoreflect.MethodDescriptor) ([]credential, *http.Request, *failure) {
	var creds []credential
	var protocols []string
	stripProtocols := false
	if cfg.WebSocketProtocol {
		var offered []credential
		protocols, offered = protocolCredentials(r.Header.Values(protocolHeader))
		if len(offered) > 0 {
			stripProtocols = true
			creds = append(creds, offered...)
		}
	}
	var query url.Values // the query without its credentials; nil when it had none
	if cfg.QueryParameter && r.URL.RawQuery != "" {
		q := r.URL.Query()
		for _, name := range []string{AccessTokenParameter, APIKeyParameter} {
			if vs, ok := q[name]; ok {
				creds = append(creds, credential{apiKey: name == APIKeyParameter, value: vs[0], multiple: len(vs) > 1})
				q.Del(name)
				query = q
			}
		}
	}
	if len(creds) == 0 {
		return nil, r, nil
	}
	upgrade, events := streamingRequest(r, md)
	switch {
	case stripProtocols && !upgrade:
		return nil, nil, errNotStreamProtocol
	case stripProtocols && !slices.Contains(protocols, WebSocketProtocol):
		return nil, nil, errNoArchwayProtocol
	case !upgrade && !events:
		return nil, nil, errNotStreamQuery
	}
	out := r.WithContext(r.Context())
	if stripProtocols {
		out.Header = r.Header.Clone()
		out.Header.Del(protocolHeader)
		if len(protocols) > 0 {
			out.Header.Set(protocolHeader, strings.Join(protocols, ", "))
		}
	}
	if query != nil {
		u := *r.URL
		u.RawQuery = query.Encode()
		out.URL = &u
		out.RequestURI = u.RequestURI()
		// grpc-gateway reads the query from Form: parse it again from the new URL.
		out.Form = nil
	}
	return creds, out, nil
}

// protocolCredentials splits the Sec-WebSocket-Protocol values into the plain subprotocols
// and the credentials.
func protocolCredentials(values []string) (protocols []string, creds []credential) {
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			switch {
			case p == "":
			case strings.HasPrefix(p, BearerProtocolPrefix):
				creds = append(creds, credential{value: p[len(BearerProtocolPrefix):]})
			case strings.HasPrefix(p, APIKeyProtocolPrefix):
				creds = append(creds, credential{apiKey: true, value: p[len(APIKeyProtocolPrefix):]})
			default:
				protocols = append(protocols, p)
			}
		}
	}
	return protocols, creds
}

// streamingRequest reports whether r is a WebSocket upgrade to a client-streaming or
// bidirectional method, which the gateway bridges, or a request for Server-Sent Events to a
// server-streaming method, which the gateway answers with events.
func streamingRequest(r *http.Request, md protoreflect.MethodDescriptor) (upgrade, events bool) {
	if md == nil {
		return false, false
	}
	if md.IsStreamingClient() {
		return edge.IsWebSocketUpgrade(r), false
	}
	return false, md.IsStreamingServer() && acceptsEventStream(r.Header)
}

// acceptsEventStream reports whether the Accept header lists text/event-stream.
func acceptsEventStream(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			if mt, _, err := mime.ParseMediaType(part); err == nil && mt == "text/event-stream" {
				return true
			}
		}
	}
	return false
}
