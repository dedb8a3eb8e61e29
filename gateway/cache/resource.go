package cache

import (
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/archway-gateway/archway/gateway/transcode"
)

// A resource name is a path without its version prefix and verb, such as "users/ada/orders".
// The cached read of resource R depends on these tags:
//
//	"s:" + each leading part of R, R included ("s:users", "s:users/ada", "s:users/ada/orders"):
//	     a write to any of them, or to anything above R, invalidates the read;
//	"e:" + R: a write to a resource directly below R (R is its collection) invalidates it.
//
// A write to resource N invalidates "s:"+N and "e:"+ the collection of N: N itself, everything
// below it, and the collection it belongs to, but not its siblings.

// readTags returns the tags the cached read of resource depends on.
func readTags(resource string) []string {
	tags := make([]string, 0, strings.Count(resource, "/")+2)
	// Every "s:" tag is a prefix of the last one.
	all := "s:" + resource
	for i := 2; i < len(all); i++ {
		if all[i] == '/' {
			tags = append(tags, all[:i])
		}
	}
	return append(tags, all, "e:"+resource)
}

// writeTags appends the tags that a write to resource invalidates.
func writeTags(tags []string, resource string) []string {
	tags = append(tags, "s:"+resource)
	if i := strings.LastIndexByte(resource, '/'); i > 0 {
		tags = append(tags, "e:"+resource[:i])
	}
	return tags
}

// template is a parsed path template in google.api.http syntax, such as
// "/v1/{name=users/*}/orders" or "{parent=users/*}/orders", without its verb.
type template struct {
	// parts are literal segments and variables, in order, to be joined with "/"; a variable is
	// the name of the field it binds, written "{name}".
	parts []string
}

// parseTemplate parses a template with the gateway's one google.api.http template parser
// (package transcode); the leading slash is optional, as in policy invalidation patterns, and
// the verb is dropped. When withoutPrefix is set, a leading literal segment (the version prefix,
// "v1") is left out. It returns false for a template that does not parse, or that has wildcards
// outside variables, which cannot be resolved to one resource.
func parseTemplate(s string, withoutPrefix bool) (template, bool) {
	parsed, err := transcode.ParseTemplate("/" + strings.TrimPrefix(s, "/"))
	if err != nil {
		return template{}, false
	}
	var t template
	for _, seg := range parsed.Segments {
		switch {
		case seg.FieldPath != "":
			t.parts = append(t.parts, "{"+seg.FieldPath+"}")
		case seg.Wildcard != "":
			return template{}, false
		default:
			t.parts = append(t.parts, seg.Literal)
		}
	}
	if withoutPrefix && t.hasPrefix() {
		t.parts = t.parts[1:]
	}
	return t, len(t.parts) > 0
}

// hasPrefix reports whether the template starts with a literal segment: a version prefix.
func (t template) hasPrefix() bool {
	return len(t.parts) > 0 && !strings.HasPrefix(t.parts[0], "{")
}

// stripVerb removes a ":verb" suffix from the last segment of a template or path.
func stripVerb(seg string) string {
	if i := strings.LastIndexByte(seg, '}'); i >= 0 {
		return seg[:i+1]
	}
	if i := strings.IndexByte(seg, ':'); i >= 0 {
		return seg[:i]
	}
	return seg
}

// render returns the resource name the template names for the path parameters params, and false
// when a variable has no value.
func (t template) render(params map[string]string) (string, bool) {
	var b strings.Builder
	for i, p := range t.parts {
		if i > 0 {
			b.WriteByte('/')
		}
		if name, ok := strings.CutPrefix(p, "{"); ok {
			v := params[strings.TrimSuffix(name, "}")]
			if v == "" {
				return "", false
			}
			b.WriteString(v)
			continue
		}
		b.WriteString(p)
	}
	return b.String(), true
}

// pathResource is the resource name of a request path: without the version prefix and verb.
func pathResource(path string) string {
	path = strings.TrimPrefix(path, "/")
	if _, rest, ok := strings.Cut(path, "/"); ok {
		path = rest
	}
	i := strings.LastIndexByte(path, '/') + 1
	return path[:i+len(stripVerb(path[i:]))]
}

// pathParams returns the path parameters of the route that grpc-gateway's ServeMux matched, as
// the mux itself would compute them, or nil when there is no matched route.
func pathParams(r *http.Request) map[string]string {
	pat, ok := runtime.HTTPPattern(r.Context())
	if !ok {
		return nil
	}
	comps := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	verb := pat.Verb()
	if verb != "" {
		comps[len(comps)-1] = strings.TrimSuffix(comps[len(comps)-1], ":"+verb)
	}
	params, err := pat.MatchAndEscape(comps, verb, runtime.UnescapingModeDefault)
	if err != nil {
		return nil
	}
	return params
}
