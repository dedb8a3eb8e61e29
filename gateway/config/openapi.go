package config

import (
	"net/mail"
	"net/url"
	"strings"
)

// OpenAPI is what the published OpenAPI documents say about the API as a whole: the info
// object (title, description, version, license, contact) and the servers that clients send
// requests to. The gateway writes it into every document it serves; `make generate` writes the
// defaults into the committed ones.
type OpenAPI struct {
	// Title names the API. The OpenAPI 3.1 documents, one per proto file, append the names of
	// their services, as in "Archway API: UserService". By default "Archway API".
	Title string `yaml:"title"`

	// Description introduces the API, in CommonMark. By default a paragraph on the gateway's
	// errors and credentials.
	Description string `yaml:"description"`

	// Version is the version of the API (not of the gateway or of OpenAPI). By default "1.0.0".
	Version string `yaml:"version"`

	// License is the license the API is offered under. By default none.
	License OpenAPILicense `yaml:"license"`

	// Contact is who answers questions about the API. By default none.
	Contact OpenAPIContact `yaml:"contact"`

	// Servers are where clients send requests: absolute URLs ("https://api.example.com") or
	// paths relative to the gateway that serves the documents ("/"). The OpenAPI 2.0 document,
	// which can name one host only, takes the host, scheme and path of the first absolute URL.
	// By default one server, "/": the gateway that serves the document.
	Servers []OpenAPIServer `yaml:"servers"`
}

// OpenAPILicense is the license of the API.
type OpenAPILicense struct {
	// Name is the license's name, such as "Apache-2.0". Required when URL is set. By default
	// empty: no license is documented.
	Name string `yaml:"name"`

	// URL is where the license's text is, an absolute http or https URL. By default empty.
	URL string `yaml:"url"`
}

// OpenAPIContact is who answers questions about the API.
type OpenAPIContact struct {
	// Name is the person or team. By default empty.
	Name string `yaml:"name"`

	// URL is their page, an absolute http or https URL. By default empty.
	URL string `yaml:"url"`

	// Email is their address, such as "api@example.com". By default empty.
	Email string `yaml:"email"`
}

// OpenAPIServer is one server of the API.
type OpenAPIServer struct {
	// URL is the server's URL: absolute (http or https, without query or fragment) or an
	// absolute path such as "/".
	URL string `yaml:"url"`

	// Description says which server it is, such as "production". By default empty.
	Description string `yaml:"description"`
}

// defaultOpenAPIDescription is the default description of the API.
const defaultOpenAPIDescription = "Served by the Archway gateway. Every error is a google.rpc.Status JSON body. " +
	"Operations that require authentication accept either a JWT bearer token (`Authorization: Bearer <token>`) " +
	"or an API key (`X-Api-Key: <key>`), never both; operations with scopes need a credential that holds all of them."

func defaultOpenAPI() OpenAPI {
	return OpenAPI{
		Title:       "Archway API",
		Description: defaultOpenAPIDescription,
		Version:     "1.0.0",
		Servers:     []OpenAPIServer{{URL: "/"}},
	}
}

// check checks the docs.openapi section.
func (o *OpenAPI) check(ch *checker) {
	if strings.TrimSpace(o.Title) == "" {
		ch.failf("docs.openapi.title", "want a title for the API, got an empty one")
	}
	if strings.TrimSpace(o.Version) == "" {
		ch.failf("docs.openapi.version", "want the API's version, such as \"1.0.0\", got an empty one")
	}
	if o.License.URL != "" && o.License.Name == "" {
		ch.failf("docs.openapi.license.name", "want the name of the license whose URL docs.openapi.license.url gives")
	}
	if o.License.URL != "" && !webURL(o.License.URL) {
		ch.failf("docs.openapi.license.url", "want an absolute http or https URL, got %q", o.License.URL)
	}
	if o.Contact.URL != "" && !webURL(o.Contact.URL) {
		ch.failf("docs.openapi.contact.url", "want an absolute http or https URL, got %q", o.Contact.URL)
	}
	if e := o.Contact.Email; e != "" {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			ch.failf("docs.openapi.contact.email", "want an address such as \"api@example.com\", got %q", e)
		}
	}
	if len(o.Servers) == 0 {
		ch.failf("docs.openapi.servers", "want at least one server, such as \"/\" for the gateway that serves the documents")
	}
	for _, s := range o.Servers {
		if !webURL(s.URL) && !serverPath(s.URL) {
			ch.failf("docs.openapi.servers", "want an absolute http or https URL without query or fragment, or an absolute path such as \"/\", got %q", s.URL)
		}
	}
}

// webURL reports whether s is an absolute http or https URL with a host, and no query or
// fragment.
func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "" && u.Fragment == "" && !strings.ContainsAny(s, "?#{}")
}

// serverPath reports whether s is an absolute URL path, without query, fragment or escapes.
func serverPath(s string) bool {
	u, err := url.Parse(s)
	return err == nil && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && u.Path == s
}
