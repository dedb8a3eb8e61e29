package edge

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/config"
)

// CORS answers cross-origin requests from browsers as its [config.CORS] says. Create it with
// [NewCORS]; it is safe for concurrent use.
//
// A preflight request (OPTIONS with Origin and Access-Control-Request-Method) is answered by
// the middleware itself, before routing: 204 with the CORS headers when the origin, the method
// and every requested header are allowed, and otherwise 403 PERMISSION_DENIED without CORS
// headers, so the browser refuses the cross-origin call. Any other request from an allowed
// origin gets Access-Control-Allow-Origin (the origin itself, with Vary: Origin, or "*" when
// every origin is allowed), Access-Control-Allow-Credentials when credentials are allowed, and
// Access-Control-Expose-Headers; from another origin it is served without CORS headers, and the
// browser keeps the answer from the page.
type CORS struct {
	allowAll      bool
	exact         map[string]struct{}
	wildcards     []wildcardOrigin
	methods       []string
	headers       []string
	allowMethods  string
	allowHeaders  string
	exposeHeaders string
	credentials   bool
	maxAge        string
}

// wildcardOrigin is an allowed origin of the form scheme://*.host[:port]: prefix is
// "scheme://", suffix ".host[:port]".
type wildcardOrigin struct {
	prefix, suffix string
}

// NewCORS returns the CORS edge function for cfg, which must be valid (see
// [config.Config.Validate]). When cfg allows no origin, CORS is off: its middleware passes
// every request on untouched.
func NewCORS(cfg config.CORS) *CORS {
	c := &CORS{
		exact:         make(map[string]struct{}),
		methods:       cfg.AllowedMethods,
		headers:       cfg.AllowedHeaders,
		allowMethods:  strings.Join(cfg.AllowedMethods, ", "),
		allowHeaders:  strings.Join(cfg.AllowedHeaders, ", "),
		exposeHeaders: strings.Join(cfg.ExposedHeaders, ", "),
		credentials:   cfg.AllowCredentials,
	}
	if secs := int64(cfg.MaxAge.D().Seconds()); secs > 0 {
		c.maxAge = strconv.FormatInt(secs, 10)
	}
	for _, o := range cfg.AllowedOrigins {
		scheme, rest, _ := strings.Cut(o, "://")
		switch {
		case o == "*":
			c.allowAll = true
		case strings.HasPrefix(rest, "*."):
			c.wildcards = append(c.wildcards, wildcardOrigin{prefix: scheme + "://", suffix: rest[1:]})
		default:
			c.exact[o] = struct{}{}
		}
	}
	return c
}

func (c *CORS) enabled() bool {
	return c.allowAll || len(c.exact) > 0 || len(c.wildcards) > 0
}

// Middleware answers preflight requests and adds CORS headers to the answers of other requests
// from allowed origins. When CORS is off, it returns next.
func (c *CORS) Middleware(next http.Handler) http.Handler {
	if !c.enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			c.preflight(w, r, origin)
			return
		}
		h := w.Header()
		if !c.allowAll {
			h.Add("Vary", "Origin")
		}
		if c.originAllowed(origin) {
			c.setAllowOrigin(h, origin)
			if c.exposeHeaders != "" {
				h.Set("Access-Control-Expose-Headers", c.exposeHeaders)
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (c *CORS) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	if !c.originAllowed(origin) {
		refuse(w, "the origin is not allowed")
		return
	}
	if !slices.Contains(c.methods, r.Header.Get("Access-Control-Request-Method")) {
		refuse(w, "the method is not allowed")
		return
	}
	if !c.headersAllowed(r.Header.Values("Access-Control-Request-Headers")) {
		refuse(w, "a request header is not allowed")
		return
	}
	c.setAllowOrigin(h, origin)
	h.Set("Access-Control-Allow-Methods", c.allowMethods)
	if c.allowHeaders != "" {
		h.Set("Access-Control-Allow-Headers", c.allowHeaders)
	}
	if c.maxAge != "" {
		h.Set("Access-Control-Max-Age", c.maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}

// refuse answers a preflight request that is not allowed. The answer has no CORS headers, so
// the browser refuses the cross-origin call; the Status body is for people reading the network
// log.
func refuse(w http.ResponseWriter, why string) {
	WriteStatus(w, http.StatusForbidden, status.New(codes.PermissionDenied, "cross-origin request refused: "+why))
}

func (c *CORS) setAllowOrigin(h http.Header, origin string) {
	if c.allowAll {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if c.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// AllowsOrigin reports whether cfg.AllowedOrigins admits origin ("https://shop.example.com").
// The WebSocket bridge uses it for the origin check of a WebSocket upgrade.
func (c *CORS) AllowsOrigin(origin string) bool { return c.originAllowed(origin) }

func (c *CORS) originAllowed(origin string) bool {
	if c.allowAll {
		return true
	}
	if _, ok := c.exact[origin]; ok {
		return true
	}
	for _, wc := range c.wildcards {
		if wc.matches(origin) {
			return true
		}
	}
	return false
}

// matches reports whether origin is prefix, then one or more host labels, then suffix.
func (wc wildcardOrigin) matches(origin string) bool {
	if len(origin) <= len(wc.prefix)+len(wc.suffix) || !strings.HasPrefix(origin, wc.prefix) || !strings.HasSuffix(origin, wc.suffix) {
		return false
	}
	sub := origin[len(wc.prefix) : len(origin)-len(wc.suffix)]
	if sub[0] == '.' || sub[len(sub)-1] == '.' {
		return false
	}
	for i := 0; i < len(sub); i++ {
		ch := sub[i]
		if (ch < 'a' || ch > 'z') && (ch < '0' || ch > '9') && ch != '-' && ch != '.' {
			return false
		}
	}
	return !strings.Contains(sub, "..")
}

// headersAllowed reports whether every header named in the Access-Control-Request-Headers lines
// is allowed; names are compared without regard to case.
func (c *CORS) headersAllowed(lines []string) bool {
	for _, line := range lines {
		for name := range strings.SplitSeq(line, ",") {
			name = strings.TrimSpace(name)
			if name != "" && !containsFold(c.headers, name) {
				return false
			}
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
