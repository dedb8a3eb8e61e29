package apitest

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// router finds the documented operation of a request as grpc-gateway routes it: a path
// variable matches one whole segment, and a custom verb (":watch") is split off the last
// segment first, so /v1/products/{id} does not answer /v1/products/p-1:page, whatever the
// order of the paths.
type router struct {
	doc   *openapi3.T
	paths []*template
}

// template is one documented path: its segments as a regular expression, and its verb.
type template struct {
	path  string
	re    *regexp.Regexp
	names []string
	verb  string
}

var variable = regexp.MustCompile(`\{([^{}/]+)\}`)

func newRouter(doc *openapi3.T) (*router, error) {
	r := &router{doc: doc}
	for _, path := range doc.Paths.InMatchingOrder() {
		rest, verb := splitVerb(path)
		t := &template{path: path, verb: verb}
		var expr strings.Builder
		expr.WriteByte('^')
		last := 0
		for _, m := range variable.FindAllStringSubmatchIndex(rest, -1) {
			expr.WriteString(regexp.QuoteMeta(rest[last:m[0]]))
			expr.WriteString(`([^/]+)`)
			t.names = append(t.names, rest[m[2]:m[3]])
			last = m[1]
		}
		expr.WriteString(regexp.QuoteMeta(rest[last:]))
		expr.WriteByte('$')
		re, err := regexp.Compile(expr.String())
		if err != nil {
			return nil, fmt.Errorf("path %s: %w", path, err)
		}
		t.re = re
		r.paths = append(r.paths, t)
	}
	return r, nil
}

// splitVerb splits the custom verb off the last segment of a path: "/v1/o/{id}:watch" gives
// "/v1/o/{id}" and "watch".
func splitVerb(path string) (string, string) {
	seg := path[strings.LastIndexByte(path, '/')+1:]
	i := strings.LastIndexByte(seg, ':')
	if i <= 0 || strings.Contains(seg[i:], "}") {
		return path, ""
	}
	return path[:len(path)-len(seg)+i], seg[i+1:]
}

// find returns the route of req and its path parameters, or nil when no documented
// operation has req's path and method. A request path whose last segment has a colon is
// tried with a verb first, then as a plain path.
func (r *router) find(req *http.Request) (*routers.Route, map[string]string) {
	path := req.URL.Path
	rest, verb := splitVerb(path)
	for _, try := range []struct{ path, verb string }{{rest, verb}, {path, ""}} {
		for _, t := range r.paths {
			if t.verb != try.verb {
				continue
			}
			m := t.re.FindStringSubmatch(try.path)
			if m == nil {
				continue
			}
			item := r.doc.Paths.Value(t.path)
			op := item.GetOperation(req.Method)
			if op == nil {
				return nil, nil
			}
			params := make(map[string]string, len(t.names))
			for i, n := range t.names {
				params[n] = m[i+1]
			}
			return &routers.Route{Spec: r.doc, Path: t.path, PathItem: item, Method: req.Method, Operation: op}, params
		}
		if verb == "" {
			break
		}
	}
	return nil, nil
}
