package openapidoc

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/archway-gateway/archway/gateway/config"
)

// Description is what a document says about the API as a whole, from the gateway's
// configuration (config.OpenAPI): its info object and its servers.
type Description struct {
	// Title names the API; the per-file OpenAPI 3.1 documents append their services' names.
	Title string
	// Description introduces the API, in CommonMark; empty leaves it out.
	Description string
	// Version is the API's version.
	Version string
	// LicenseName and LicenseURL are the API's license; an empty name leaves it out.
	LicenseName, LicenseURL string
	// ContactName, ContactURL and ContactEmail are who answers questions about the API; all
	// empty leaves the contact out.
	ContactName, ContactURL, ContactEmail string
	// Servers are where clients send requests, absolute URLs or absolute paths.
	Servers []Server
}

// FromConfig returns the description that the docs.openapi section of the configuration gives.
func FromConfig(c config.OpenAPI) Description {
	d := Description{
		Title: c.Title, Description: c.Description, Version: c.Version,
		LicenseName: c.License.Name, LicenseURL: c.License.URL,
		ContactName: c.Contact.Name, ContactURL: c.Contact.URL, ContactEmail: c.Contact.Email,
	}
	for _, s := range c.Servers {
		d.Servers = append(d.Servers, Server{URL: s.URL, Description: s.Description})
	}
	return d
}

// Server is one server of the API.
type Server struct {
	// URL is an absolute URL or an absolute path, relative to the gateway serving the document.
	URL string
	// Description says which server it is; empty leaves it out.
	Description string
}

// Describe writes d into an OpenAPI v2 or v3 document (patched by PatchV2 or PatchV3): the
// info object (title, with the services of a v3 document after it as PatchV3 writes them,
// description, version, license, contact) and, in v3, the servers. A v2 document can name one
// server only: it gets the host, base path and scheme of the first absolute server URL, and
// none when every server is a path (clients then use the host that served the document).
func Describe(doc []byte, d Description) ([]byte, error) {
	o, err := decode(doc)
	if err != nil {
		return nil, fmt.Errorf("openapidoc.Describe: %w", err)
	}
	v3 := o.get("openapi") != nil
	info := newObject()
	title := d.Title
	if v3 {
		if services := tagNames(o); services != "" {
			title += ": " + services
		}
	}
	info.set("title", title)
	if d.Description != "" {
		info.set("description", d.Description)
	}
	info.set("version", d.Version)
	if d.ContactName != "" || d.ContactURL != "" || d.ContactEmail != "" {
		c := newObject()
		for _, kv := range [][2]string{{"name", d.ContactName}, {"url", d.ContactURL}, {"email", d.ContactEmail}} {
			if kv[1] != "" {
				c.set(kv[0], kv[1])
			}
		}
		info.set("contact", c)
	}
	if d.LicenseName != "" {
		l := newObject()
		l.set("name", d.LicenseName)
		if d.LicenseURL != "" {
			l.set("url", d.LicenseURL)
		}
		info.set("license", l)
	}
	o.set("info", info)
	if v3 {
		servers := []any{}
		for _, s := range d.Servers {
			so := newObject()
			so.set("url", s.URL)
			if s.Description != "" {
				so.set("description", s.Description)
			}
			servers = append(servers, so)
		}
		o.setAfter("info", "servers", servers)
	} else {
		describeHostV2(o, d.Servers)
	}
	return encode(o)
}

// describeHostV2 sets the host, basePath and schemes of a v2 document from the first absolute
// server URL, or removes them when there is none.
func describeHostV2(o *object, servers []Server) {
	for _, s := range servers {
		u, err := url.Parse(s.URL)
		if err != nil || u.Host == "" {
			continue
		}
		o.setAfter("info", "host", u.Host)
		base := u.Path
		if base == "" {
			base = "/"
		}
		o.setAfter("host", "basePath", base)
		o.setAfter("basePath", "schemes", []any{u.Scheme})
		return
	}
	o.del("host")
	o.del("basePath")
	o.del("schemes")
}

// tagNames returns the names of a document's tags (its services), comma-separated.
func tagNames(o *object) string {
	tags, _ := o.get("tags").([]any)
	var names []string
	for _, tag := range tags {
		if t, ok := tag.(*object); ok {
			names = append(names, t.str("name"))
		}
	}
	return strings.Join(names, ", ")
}
