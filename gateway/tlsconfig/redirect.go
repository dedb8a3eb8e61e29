package tlsconfig

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/edge"
)

// RedirectHandler answers every request with 308 Permanent Redirect to the same host, path and
// query over HTTPS on port (left out of the URL when it is 443), and a small google.rpc.Status
// body for clients that do not follow redirects. 308 keeps the method and body, so a POST is
// sent again as a POST. The host is the one the client asked for; a Host header that is not a
// plain host name or address is answered with 400, so the redirect cannot be pointed at a URL
// of the client's making. The handler never reads the request body.
func RedirectHandler(port int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if !validHost(host) {
			edge.WriteStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument, "this listener only redirects to HTTPS, and needs a valid Host header to do so"))
			return
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if port != 443 {
			host += ":" + strconv.Itoa(port)
		}
		target := url.URL{Scheme: "https", Host: host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		loc := target.String()
		w.Header().Set("Location", loc)
		edge.WriteStatus(w, http.StatusPermanentRedirect, status.New(codes.FailedPrecondition, "this API is served over HTTPS only: "+loc))
	})
}

// validHost reports whether h is a DNS name (letters, digits, '-', '.', '_') or an IP address.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if strings.Contains(h, ":") {
		return net.ParseIP(h) != nil
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '.' && c != '_' {
			return false
		}
	}
	return true
}
