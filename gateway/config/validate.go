package config

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Validate reports every problem with c, each naming the YAML path of the
// field, as in
//
//	backends[1].address: must not be empty
//	api.unknown_fields: must be "reject" or "ignore", got "drop"
//
// The problems are joined with [errors.Join] under the prefix
// "config.Validate: ", which also counts them when there are several.
// Validate does not modify c; in particular, it accepts
// header names in any case, where [Load] and [Parse] also canonicalise them.
func (c *Config) Validate() error {
	if err := joinProblems(c.check()); err != nil {
		return fmt.Errorf("config.Validate: %w", err)
	}
	return nil
}

// fieldError is a problem with the value of one field.
type fieldError struct {
	path string // YAML path of the field, e.g. "backends[1].address"
	msg  string
	env  string // the environment variable that set the value, if one did
}

func (e *fieldError) Error() string {
	if e.env != "" {
		return fmt.Sprintf("%s: %s (set by %s)", e.path, e.msg, e.env)
	}
	return e.path + ": " + e.msg
}

// checker collects fieldErrors.
type checker struct{ errs []error }

func (ch *checker) failf(path, format string, args ...any) {
	ch.errs = append(ch.errs, &fieldError{path: path, msg: fmt.Sprintf(format, args...)})
}

// check returns every problem with c, as *fieldError values.
func (c *Config) check() []error {
	var ch checker
	ch.listenAddress("listen.address", c.Listen.Address)
	ch.nonNegative("listen.read_header_timeout", c.Listen.ReadHeaderTimeout)
	ch.nonNegative("listen.read_timeout", c.Listen.ReadTimeout)
	ch.nonNegative("listen.write_timeout", c.Listen.WriteTimeout)
	ch.nonNegative("listen.response_write_timeout", c.Listen.ResponseWriteTimeout)
	ch.nonNegative("listen.idle_timeout", c.Listen.IdleTimeout)
	if c.Listen.MaxHeaderBytes <= 0 {
		ch.failf("listen.max_header_bytes", "must be positive, got %d", c.Listen.MaxHeaderBytes)
	}

	if c.Admin.Enabled {
		ch.listenAddress("admin.address", c.Admin.Address)
	}

	ch.oneOf("log.format", c.Log.Format, "json", "text")
	ch.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")

	ch.oneOf("api.profile", string(c.API.Profile), string(ProfileArchway), string(ProfileGRPCGateway))
	ch.strictness("api.unknown_query_parameters", c.API.UnknownQueryParameters)
	if c.API.PathUnescaping != "" {
		ch.oneOf("api.path_unescaping", c.API.PathUnescaping, "all_except_slash", "legacy")
	}
	ch.strictness("api.unknown_fields", c.API.UnknownFields)
	if c.API.MaxRequestBodyBytes <= 0 {
		ch.failf("api.max_request_body_bytes", "must be positive, got %d", c.API.MaxRequestBodyBytes)
	}
	if t := c.API.MaxTotalRequestBodyBytes; t != 0 && t < c.API.MaxRequestBodyBytes {
		ch.failf("api.max_total_request_body_bytes", "must be 0 or at least api.max_request_body_bytes (%d), got %d", c.API.MaxRequestBodyBytes, t)
	}
	ch.headerNames("api.forward_headers", c.API.ForwardHeaders)
	ch.headerNames("api.forward_response_headers", c.API.ForwardResponseHeaders)

	ch.apis(c.APIs)
	ch.backends(c.Backends)
	c.checkResilience(&ch)

	ch.oneOf("composite.mode", c.Composite.Mode, "auto", "always", "never")
	ch.positive("composite.timeout", c.Composite.Timeout)

	ch.positive("readiness.check_timeout", c.Readiness.CheckTimeout)
	ch.nonNegative("shutdown.drain_timeout", c.Shutdown.DrainTimeout)

	ch.edgeFunctions(c)
	ch.telemetry(c.Telemetry)
	c.RateLimit.check(&ch, &c.Redis)
	c.Cache.check(&ch, &c.Redis)
	c.Redis.check(&ch)
	c.checkAuthn(&ch)
	c.Docs.check(&ch)
	c.Streaming.check(&ch)
	c.checkEdgeLimits(&ch)
	return ch.errs
}

// listenAddress checks a TCP address to listen on: host:port, where the host
// may be empty (every interface) and the port 0 (any free port).
func (ch *checker) listenAddress(path, addr string) {
	if addr == "" {
		ch.failf(path, "must not be empty")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !validPort(port) || strings.ContainsAny(host, " /") {
		ch.failf(path, "want host:port with a numeric port, like \":8080\" or \"127.0.0.1:8080\", got %q", addr)
	}
}

// validPort reports whether port is a decimal TCP port number.
func validPort(port string) bool {
	_, err := strconv.ParseUint(port, 10, 16)
	return err == nil
}

func (ch *checker) nonNegative(path string, d Duration) {
	if d < 0 {
		ch.failf(path, "must not be negative, got %s", d)
	}
}

func (ch *checker) positive(path string, d Duration) {
	if d <= 0 {
		ch.failf(path, "must be positive, got %s", d)
	}
}

// oneOf checks that value is one of allowed.
func (ch *checker) oneOf(path, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	last := len(quoted) - 1
	want := quoted[0]
	if last > 0 {
		want = strings.Join(quoted[:last], ", ") + " or " + quoted[last]
	}
	if len(allowed) > 2 {
		want = "one of " + want
	}
	ch.failf(path, "must be %s, got %q", want, value)
}

// strictness checks a setting that may be left empty for the profile to decide.
func (ch *checker) strictness(path string, s Strictness) {
	if s != "" {
		ch.oneOf(path, string(s), string(Reject), string(Ignore))
	}
}

// reservedHeaders are names that describe the HTTP connection or the gRPC
// call itself rather than the request, and that gRPC drops or overrides when
// sent as metadata; they cannot be forwarded either way. Names starting with
// "grpc-" are reserved too.
var reservedHeaders = map[string]bool{
	"connection":        true,
	"content-length":    true,
	"content-type":      true,
	"host":              true,
	"keep-alive":        true,
	"proxy-connection":  true,
	"te":                true,
	"trailer":           true,
	"transfer-encoding": true,
	"upgrade":           true,
	"user-agent":        true,
}

// headerNames checks a list of header names that travel as gRPC metadata.
func (ch *checker) headerNames(path string, names []string) {
	seen := map[string]int{}
	for i, name := range names {
		p := fmt.Sprintf("%s[%d]", path, i)
		lower := strings.ToLower(name)
		switch {
		case name == "":
			ch.failf(p, "must not be empty")
		case !validMetadataKey(lower):
			ch.failf(p, "%q is not a header name gRPC metadata can carry: use letters, digits, '-', '_' and '.'", name)
		case strings.HasPrefix(lower, "grpc-") || reservedHeaders[lower]:
			ch.failf(p, "%q cannot be forwarded: HTTP or gRPC reserve it", name)
		}
		if j, dup := seen[lower]; dup {
			ch.failf(p, "%q duplicates %s[%d]", name, path, j)
		} else {
			seen[lower] = i
		}
	}
}

// validMetadataKey reports whether the lower-case name is a valid gRPC
// metadata key, which is also a valid HTTP header name.
func validMetadataKey(name string) bool {
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_' && r != '.' {
			return false
		}
	}
	return true
}

// ident is a proto identifier.
const ident = `[A-Za-z_][A-Za-z0-9_]*`

var (
	backendNameRE = regexp.MustCompile(`^[a-z0-9-]+$`)
	serviceNameRE = regexp.MustCompile(`^` + ident + `(\.` + ident + `)+$`)
)

// backends checks each backend, the uniqueness of their names, and that
// every service has one backend.
func (ch *checker) backends(backends []Backend) {
	names := map[string]int{}
	services := map[string]string{}
	for i, b := range backends {
		p := fmt.Sprintf("backends[%d]", i)
		switch {
		case b.Name == "":
			ch.failf(p+".name", "must not be empty")
		case !backendNameRE.MatchString(b.Name):
			ch.failf(p+".name", "must be made of lower-case letters, digits and '-', got %q", b.Name)
		}
		if j, dup := names[b.Name]; dup {
			ch.failf(p+".name", "%q duplicates backends[%d].name", b.Name, j)
		} else if b.Name != "" {
			names[b.Name] = i
		}

		if b.Address == "" {
			if len(b.Addresses) == 0 {
				ch.failf(p+".address", "must not be empty")
			}
		} else if msg := checkTarget(b.Address); msg != "" {
			ch.failf(p+".address", "%s", msg)
		}

		if len(b.Services) == 0 {
			ch.failf(p+".services", "must list at least one service")
		}
		for k, s := range b.Services {
			sp := fmt.Sprintf("%s.services[%d]", p, k)
			switch {
			case s == "":
				ch.failf(sp, "must not be empty")
				continue
			case !serviceNameRE.MatchString(s):
				ch.failf(sp, "%q is not a fully-qualified proto service name like \"storefront.users.v1.UserService\"", s)
			}
			if first, dup := services[s]; dup {
				ch.failf(sp, "%q is already listed at %s", s, first)
			} else {
				services[s] = sp
			}
		}

		ch.positive(p+".max_reconnect_backoff", b.MaxReconnectBackoff)
	}
}

// targetForms lists the gRPC targets a backend address may be.
const targetForms = `"host:port", "dns:///host:port" or "unix:///path"`

// checkTarget checks a backend's gRPC target, returning what is wrong with
// it or "". It accepts the forms of gRPC's naming document that Archway
// supports: dns:[//authority/]host:port, unix:path, unix:///absolute-path,
// passthrough:///address (handed to the dialer unresolved), and host:port
// (resolved by DNS).
func checkTarget(target string) string {
	switch {
	case strings.HasPrefix(target, "passthrough:"):
		rest, ok := strings.CutPrefix(target, "passthrough:///")
		if !ok || rest == "" {
			return fmt.Sprintf("%q: after passthrough:/// comes the address to dial, as in \"passthrough:///10.0.0.7:9090\"", target)
		}
	case strings.HasPrefix(target, "dns:"):
		endpoint := strings.TrimPrefix(target, "dns:")
		if rest, ok := strings.CutPrefix(endpoint, "//"); ok {
			_, endpoint, ok = strings.Cut(rest, "/")
			if !ok {
				return fmt.Sprintf("%q has no host:port after the authority; want %s", target, targetForms)
			}
		}
		if !validHostPort(endpoint) {
			return fmt.Sprintf("%q does not end in host:port with a port from 1 to 65535; want %s", target, targetForms)
		}
	case strings.HasPrefix(target, "unix:"):
		path := strings.TrimPrefix(target, "unix:")
		if rest, ok := strings.CutPrefix(path, "//"); ok {
			if !strings.HasPrefix(rest, "/") {
				return fmt.Sprintf("%q: after unix:// comes an absolute path, as in \"unix:///run/users.sock\"", target)
			}
			path = rest
		}
		if path == "" {
			return fmt.Sprintf("%q has no socket path; want %s", target, targetForms)
		}
	case strings.Contains(target, "://"):
		scheme, _, _ := strings.Cut(target, "://")
		return fmt.Sprintf("%q uses the unsupported scheme %q; want %s", target, scheme, targetForms)
	default:
		if !validHostPort(target) {
			return fmt.Sprintf("%q is not host:port with a port from 1 to 65535; want %s", target, targetForms)
		}
	}
	return ""
}

// validHostPort reports whether s is host:port with a non-empty host and a
// port a client can dial.
func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || strings.ContainsAny(host, " /") {
		return false
	}
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n > 0
}
