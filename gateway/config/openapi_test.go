package config_test

import (
	"strings"
	"testing"

	"github.com/archway-gateway/archway/gateway/config"
)

func TestDocsOpenAPI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(o *config.OpenAPI)
		want string // "" when valid
	}{
		{"defaults", func(*config.OpenAPI) {}, ""},
		{"everything", func(o *config.OpenAPI) {
			o.License = config.OpenAPILicense{Name: "Apache-2.0", URL: "https://www.apache.org/licenses/LICENSE-2.0"}
			o.Contact = config.OpenAPIContact{Name: "API team", URL: "https://example.com/team", Email: "api@example.com"}
			o.Servers = []config.OpenAPIServer{{URL: "https://api.example.com/shop", Description: "production"}, {URL: "/"}, {URL: "/api"}}
		}, ""},
		{"license name only", func(o *config.OpenAPI) { o.License.Name = "Proprietary" }, ""},
		{"no title", func(o *config.OpenAPI) { o.Title = " " }, "docs.openapi.title: want a title"},
		{"no version", func(o *config.OpenAPI) { o.Version = "" }, "docs.openapi.version: want the API's version"},
		{"license URL without a name", func(o *config.OpenAPI) { o.License.URL = "https://example.com/l" }, "docs.openapi.license.name: want the name"},
		{"license URL not a URL", func(o *config.OpenAPI) { o.License = config.OpenAPILicense{Name: "X", URL: "example.com/l"} }, "docs.openapi.license.url: want an absolute"},
		{"contact URL", func(o *config.OpenAPI) { o.Contact.URL = "ftp://example.com" }, "docs.openapi.contact.url: want an absolute"},
		{"contact email", func(o *config.OpenAPI) { o.Contact.Email = "API team <api@example.com>" }, "docs.openapi.contact.email: want an address"},
		{"no servers", func(o *config.OpenAPI) { o.Servers = nil }, "docs.openapi.servers: want at least one server"},
		{"server relative", func(o *config.OpenAPI) { o.Servers = []config.OpenAPIServer{{URL: "api"}} }, "docs.openapi.servers: want an absolute"},
		{"server with a query", func(o *config.OpenAPI) { o.Servers = []config.OpenAPIServer{{URL: "https://example.com/?a=1"}} }, "docs.openapi.servers: want an absolute"},
		{"server with a template", func(o *config.OpenAPI) { o.Servers = []config.OpenAPIServer{{URL: "https://{region}.example.com"}} }, "docs.openapi.servers: want an absolute"},
		{"server without host", func(o *config.OpenAPI) { o.Servers = []config.OpenAPIServer{{URL: "//example.com"}} }, "docs.openapi.servers: want an absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			tc.set(&c.Docs.OpenAPI)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
