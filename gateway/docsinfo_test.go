package gateway_test

import (
	"testing"
)

// TestServedDocumentsDescribeTheConfiguredAPI checks that docs.openapi, not a proto, gives the
// served documents their title, description, version, license, contact and servers.
func TestServedDocumentsDescribeTheConfiguredAPI(t *testing.T) {
	t.Parallel()
	v2, v3 := servedDocs(t, "storefront.users.v1.UserService", `
docs:
  openapi:
    title: Team API
    description: What the team serves.
    version: 2.3.0
    license: {name: Apache-2.0, url: "https://www.apache.org/licenses/LICENSE-2.0"}
    contact: {name: API team, email: api@example.com}
    servers:
      - {url: "https://api.example.com/shop", description: production}
      - {url: /}
`)
	users := v3["/openapi/v3/storefront/users/v1/users.openapi.json"]
	if users == nil {
		t.Fatal("the users' v3 document is not served")
	}
	for name, info := range map[string]struct{ title, want string }{
		"v2": {v2.Info.Title, "Team API"},
		"v3": {users.Info.Title, "Team API: UserService"},
	} {
		if info.title != info.want {
			t.Errorf("%s: title %q, want %q", name, info.title, info.want)
		}
	}
	for name, doc := range map[string]struct {
		description, version, license, licenseURL, contact, email string
	}{
		"v2": {v2.Info.Description, v2.Info.Version, v2.Info.License.Name, v2.Info.License.URL, v2.Info.Contact.Name, v2.Info.Contact.Email},
		"v3": {users.Info.Description, users.Info.Version, users.Info.License.Name, users.Info.License.URL, users.Info.Contact.Name, users.Info.Contact.Email},
	} {
		want := struct {
			description, version, license, licenseURL, contact, email string
		}{"What the team serves.", "2.3.0", "Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0", "API team", "api@example.com"}
		if doc != want {
			t.Errorf("%s: info %+v, want %+v", name, doc, want)
		}
	}
	if len(users.Servers) != 2 || users.Servers[0].URL != "https://api.example.com/shop" || users.Servers[0].Description != "production" || users.Servers[1].URL != "/" {
		t.Errorf("v3 servers %+v, want the configured two", users.Servers)
	}
	// v2 names one server: the first absolute URL, which openapi2conv reads back as a server.
	if len(v2.Servers) != 1 || v2.Servers[0].URL != "https://api.example.com/shop" {
		t.Errorf("v2 servers (from host, basePath and schemes) %+v, want https://api.example.com/shop", v2.Servers)
	}
}
