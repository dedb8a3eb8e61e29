package config

import (
	"net/url"
	"strings"
)

// Docs configures the published API documentation: the OpenAPI documents under /openapi/ and
// an interactive page (Swagger UI) that reads them. Both are public, like /healthz.
type Docs struct {
	// Enabled serves the documents and the page. By default true.
	Enabled bool `yaml:"enabled"`

	// Path is where the page is served, an absolute URL path without a trailing slash, such as
	// "/docs"; its assets are served under it. It must not be /openapi, /healthz, /readyz or
	// under /v1/, where the API is. By default "/docs".
	Path string `yaml:"path"`

	// OpenAPI is what the published documents say about the API as a whole: title,
	// description, version, license, contact and servers. By default see [OpenAPI].
	OpenAPI OpenAPI `yaml:"openapi"`
}

func defaultDocs() Docs {
	return Docs{Enabled: true, Path: "/docs", OpenAPI: defaultOpenAPI()}
}

// check checks the docs section.
func (d *Docs) check(ch *checker) {
	d.OpenAPI.check(ch)
	if !d.Enabled {
		return
	}
	p := d.Path
	u, err := url.Parse(p)
	switch {
	case err != nil || !strings.HasPrefix(p, "/") || u.Path != p || p == "/" || strings.HasSuffix(p, "/") || strings.Contains(p, "//"):
		ch.failf("docs.path", "want an absolute URL path without a trailing slash, query or escapes, like \"/docs\", got %q", p)
	case reservedPath(p):
		ch.failf("docs.path", "%q is taken by the gateway's own endpoints or the API (/openapi, /healthz, /readyz, /v<N>/...)", p)
	}
}

// reservedPath reports whether the page at p, or its assets under p/, would clash with the
// documents, the health endpoints or the API's version prefixes.
func reservedPath(p string) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	switch first {
	case "openapi", "healthz", "readyz":
		return true
	}
	return len(first) > 1 && first[0] == 'v' && strings.Trim(first[1:], "0123456789") == ""
}
