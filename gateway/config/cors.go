package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// CORS configures cross-origin resource sharing: which web pages, served from
// other origins, browsers let call the API. It is off until AllowedOrigins
// names at least one origin.
type CORS struct {
	// AllowedOrigins lists the origins allowed to call the API, each as
	// scheme://host[:port], such as "https://shop.example.com". An origin
	// may start its host with "*." to allow every subdomain,
	// "https://*.example.com", and "*" allows every origin, but only when
	// AllowCredentials is false. By default empty: CORS is off, no CORS
	// headers are sent and preflight requests are routed like any other.
	AllowedOrigins []string `yaml:"allowed_origins"`

	// AllowedMethods lists the HTTP methods that cross-origin requests may
	// use. By default GET, HEAD, POST, PUT, PATCH and DELETE.
	AllowedMethods []string `yaml:"allowed_methods"`

	// AllowedHeaders lists the request headers that cross-origin requests
	// may send, besides those browsers always allow. By default
	// Authorization, Content-Type, X-Api-Key and X-Request-Id.
	AllowedHeaders []string `yaml:"allowed_headers"`

	// ExposedHeaders lists the response headers that scripts of allowed
	// origins may read, besides those browsers always expose. By default
	// X-Request-Id, the RateLimit-Limit, RateLimit-Remaining,
	// RateLimit-Reset and RateLimit-Policy headers, Retry-After,
	// Archway-Partial and Location.
	ExposedHeaders []string `yaml:"exposed_headers"`

	// AllowCredentials lets browsers send cookies and HTTP authentication
	// with cross-origin requests, and let scripts read the answers. By
	// default false.
	AllowCredentials bool `yaml:"allow_credentials"`

	// MaxAge is how long browsers may cache a preflight answer; browsers
	// cap it (Chromium at 2h). Zero leaves the choice to the browser. By
	// default 10m.
	MaxAge Duration `yaml:"max_age"`
}

// Enabled reports whether CORS is on: whether any origin is allowed.
func (c CORS) Enabled() bool { return len(c.AllowedOrigins) > 0 }

func defaultCORS() CORS {
	return CORS{
		AllowedMethods: []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"},
		AllowedHeaders: []string{"Authorization", "Content-Type", "X-Api-Key", "X-Request-Id"},
		ExposedHeaders: []string{
			"X-Request-Id", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
			"RateLimit-Policy", "Retry-After", "Archway-Partial", "Location",
		},
		MaxAge: Duration(10 * time.Minute),
	}
}

// cors checks the cors section.
func (ch *checker) cors(c CORS) {
	for i, o := range c.AllowedOrigins {
		p := fmt.Sprintf("cors.allowed_origins[%d]", i)
		if o == "*" {
			if c.AllowCredentials {
				ch.failf(p, `"*" cannot be combined with cors.allow_credentials: list the origins allowed to send credentials`)
			}
			continue
		}
		if msg := checkOrigin(o); msg != "" {
			ch.failf(p, "%s", msg)
		}
	}
	ch.tokens("cors.allowed_methods", c.AllowedMethods, "method")
	for i, m := range c.AllowedMethods {
		if strings.ToUpper(m) != m {
			ch.failf(fmt.Sprintf("cors.allowed_methods[%d]", i), "%q must be written in upper case: methods are case-sensitive", m)
		}
	}
	ch.tokens("cors.allowed_headers", c.AllowedHeaders, "header name")
	ch.tokens("cors.exposed_headers", c.ExposedHeaders, "header name")
	ch.nonNegative("cors.max_age", c.MaxAge)
}

// checkOrigin checks one allowed origin other than "*", returning what is
// wrong with it or "".
func checkOrigin(origin string) string {
	const want = `want scheme://host[:port] such as "https://shop.example.com", optionally with "*." before the host to allow its subdomains`
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fmt.Sprintf("%q is not an origin; %s", origin, want)
	}
	host := u.Hostname()
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		host = rest
	}
	if host == "" || strings.ContainsAny(host, "*") {
		return fmt.Sprintf("%q: a wildcard may only be a leading \"*.\" of the host; %s", origin, want)
	}
	if u.Port() != "" && !validPort(u.Port()) {
		return fmt.Sprintf("%q has an invalid port; %s", origin, want)
	}
	if strings.ToLower(origin) != origin {
		return fmt.Sprintf("%q must be written in lower case, as browsers send origins", origin)
	}
	return ""
}

// tokens checks a list of HTTP methods or header names, which are tokens of
// RFC 9110, each listed once.
func (ch *checker) tokens(path string, list []string, what string) {
	seen := map[string]int{}
	for i, s := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case s == "":
			ch.failf(p, "must not be empty")
		case s == "*":
			ch.failf(p, "wildcards are not supported: list each %s", what)
		case !isToken(s):
			ch.failf(p, "%q is not a valid %s", s, what)
		}
		key := strings.ToLower(s)
		if j, dup := seen[key]; dup {
			ch.failf(p, "%q duplicates %s[%d]", s, path, j)
		} else {
			seen[key] = i
		}
	}
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
