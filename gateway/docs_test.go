package gateway_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/archway-gateway/archway/internal/openapidoc"
	"github.com/archway-gateway/archway/openapi"
)

// get fetches url without credentials: the documents and the page are public.
func get(t *testing.T, url string) (reply, []byte) {
	t.Helper()
	return do(t, http.MethodGet, url, "", map[string]string{"X-Api-Key": ""})
}

func TestDocsPageServesItsDocuments(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "docs: {path: /api-docs}\n", nil)

	resp, page := get(t, env.url+"/api-docs")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /api-docs: %d %s, want 200 HTML", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	spec := regexp.MustCompile(`"swaggerJsonUrl":"([^"]+)"`).FindSubmatch(page)
	if spec == nil {
		t.Fatalf("the page names no document:\n%s", page)
	}
	urls := []string{string(spec[1])}
	for _, m := range regexp.MustCompile(`"url":"(/openapi/[^"]+)"`).FindAllSubmatch(page, -1) {
		urls = append(urls, string(m[1]))
	}
	// The test gateway serves users and orders, not the catalog, so not the composites either.
	if want := []string{"/openapi/v2/archway.swagger.json", "/openapi/v2/archway.swagger.json", "/openapi/v3/storefront/orders/v1/orders.openapi.json", "/openapi/v3/storefront/users/v1/users.openapi.json"}; !slices.Equal(urls, want) {
		t.Errorf("the page lists %v; want %v: the v2 document and the v3 documents of the services served", urls, want)
	}
	for _, u := range urls {
		resp, body := get(t, env.url+u)
		var doc struct {
			Swagger string `json:"swagger"`
			OpenAPI string `json:"openapi"`
		}
		if err := json.Unmarshal(body, &doc); resp.StatusCode != http.StatusOK || err != nil || doc.Swagger+doc.OpenAPI == "" {
			t.Errorf("GET %s: %d, %v; want an OpenAPI document", u, resp.StatusCode, err)
		}
	}
	for _, asset := range []string{"/api-docs/swagger-ui-bundle.js", "/api-docs/swagger-ui.css"} {
		if resp, _ := get(t, env.url+asset); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", asset, resp.StatusCode)
		}
	}
	if resp, _ := get(t, env.url+"/openapi/v3/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /openapi/v3/: %d, want 404 (no listings)", resp.StatusCode)
	}
}

func TestDocsCanBeSwitchedOff(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "docs: {enabled: false}\n", nil)
	for _, path := range []string{"/docs", "/openapi/v2/archway.swagger.json"} {
		if resp, _ := get(t, env.url+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// docsGateway starts a gateway configured by the YAML in extra after its backends (every
// service listed in services at an address where nothing listens: the documents need no
// backend), and returns its URL.
func docsGateway(t *testing.T, services, extra string) string {
	t.Helper()
	gw := newGateway(t, `
admin: {enabled: false}
log: {access_log: false}
backends:
  - name: storefront
    address: passthrough:///127.0.0.1:1
    services: [`+services+`]
`+extra)
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// servedDocs starts a gateway as docsGateway does and returns the v2 document it serves,
// converted to v3, and its v3 documents by URL path; each must validate.
func servedDocs(t *testing.T, services, extra string) (*openapi3.T, map[string]*openapi3.T) {
	t.Helper()
	url := docsGateway(t, services, extra)
	resp, body := get(t, url+"/openapi/v2/archway.swagger.json")
	var doc2 openapi2.T
	if err := json.Unmarshal(body, &doc2); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("GET the v2 document: %d, %v", resp.StatusCode, err)
	}
	v2, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		t.Fatal(err)
	}
	if err := v2.Validate(t.Context()); err != nil {
		t.Errorf("the served v2 document does not validate: %v", err)
	}
	v3 := make(map[string]*openapi3.T)
	for _, name := range []string{"archway/edge/v1/composite", "storefront/catalog/v1/catalog", "storefront/orders/v1/orders", "storefront/users/v1/users"} {
		path := "/openapi/v3/" + name + ".openapi.json"
		resp, body := get(t, url+path)
		if resp.StatusCode == http.StatusNotFound {
			continue
		}
		doc, err := openapi3.NewLoader().LoadFromData(body)
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
		}
		if err := doc.Validate(t.Context()); err != nil {
			t.Errorf("the served %s does not validate: %v", path, err)
		}
		v3[path] = doc
	}
	return v2, v3
}

// security lists the schemes of an operation's security requirements, each with its scopes.
func security(op *openapi3.Operation) []string {
	if op == nil || op.Security == nil {
		return nil
	}
	out := []string{}
	for _, req := range *op.Security {
		for name, scopes := range req {
			out = append(out, name+strings.Join(append([]string{""}, scopes...), " "))
		}
	}
	slices.Sort(out)
	return out
}

func TestServedDocumentsFollowPolicyOverrides(t *testing.T) {
	t.Parallel()
	v2, v3 := servedDocs(t, "storefront.users.v1.UserService, storefront.catalog.v1.CatalogService", `
policy:
  routes:
    storefront.catalog.v1.CatalogService/GetProduct: {access: authenticated, scopes: [catalog.read]}
    storefront.users.v1.UserService/DeleteUser: {access: public, scopes: []}
`)
	catalog := v3["/openapi/v3/storefront/catalog/v1/catalog.openapi.json"]
	users := v3["/openapi/v3/storefront/users/v1/users.openapi.json"]
	if catalog == nil || users == nil {
		t.Fatalf("served v3 documents %v; want the catalog's and the users'", slices.Sorted(func(yield func(string) bool) {
			for k := range v3 {
				if !yield(k) {
					return
				}
			}
		}))
	}
	tests := []struct {
		name   string
		op     *openapi3.Operation
		want   []string
		scopes any
	}{
		{"v2, public made authenticated", v2.Paths.Value("/v1/products/{id}").Get, []string{"apiKey", "bearer"}, []any{"catalog.read"}},
		{"v2, additional binding", v2.Paths.Value("/v1/catalog/products/{id}").Get, []string{"apiKey", "bearer"}, []any{"catalog.read"}},
		{"v2, scoped made public", v2.Paths.Value("/v1/users/{user}").Delete, []string{}, nil},
		{"v2, untouched", v2.Paths.Value("/v1/products").Get, []string{}, nil},
		{"v3, public made authenticated", catalog.Paths.Value("/v1/products/{id}").Get, []string{"apiKey catalog.read", "bearer catalog.read"}, nil},
		{"v3, scoped made public", users.Paths.Value("/v1/users/{user}").Delete, []string{}, nil},
		{"v3, untouched", users.Paths.Value("/v1/users/{user}").Get, []string{"apiKey", "bearer"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.op == nil {
				t.Fatal("the operation is not in the served document")
			}
			if got := security(tc.op); !slices.Equal(got, tc.want) {
				t.Errorf("security %v, want %v", got, tc.want)
			}
			if got := tc.op.Extensions[openapidoc.ScopesExtension]; !jsonEqual(got, tc.scopes) {
				t.Errorf("%s = %v, want %v", openapidoc.ScopesExtension, got, tc.scopes)
			}
		})
	}
	// The read made authenticated is cached per caller: its documented Cache-Control is private.
	for name, doc := range map[string]*openapi3.T{"v2": v2, "v3": catalog} {
		op := doc.Paths.Value("/v1/products/{id}").Get
		for _, code := range []int{http.StatusOK, http.StatusNotModified} {
			resp := op.Responses.Status(code)
			if resp == nil || resp.Value.Headers["Cache-Control"] == nil {
				t.Errorf("%s: GetProduct documents no %d with Cache-Control", name, code)
				continue
			}
			if d := resp.Value.Headers["Cache-Control"].Value.Description; !strings.Contains(d, `"private, max-age=30"`) {
				t.Errorf("%s: GetProduct's %d Cache-Control %q, want private, max-age=30", name, code, d)
			}
		}
	}
}

func jsonEqual(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

func TestServedDocumentsOnlyHaveServedServices(t *testing.T) {
	t.Parallel()
	v2, v3 := servedDocs(t, "storefront.users.v1.UserService, storefront.catalog.v1.CatalogService", "")
	for path, item := range v2.Paths.Map() {
		for verb, op := range item.Operations() {
			if strings.HasPrefix(op.OperationID, "OrderService_") || strings.HasPrefix(op.OperationID, "CompositeService_") {
				t.Errorf("v2: %s %s (%s) is documented, but the gateway serves no orders and no composites", verb, path, op.OperationID)
			}
		}
	}
	if v2.Paths.Value("/v1/users/{user}") == nil || v2.Paths.Value("/v1/products") == nil {
		t.Errorf("v2: the users' or the catalog's paths are missing")
	}
	for _, name := range []string{"v1Order", "v1OrderEvent", "v1UserOverview"} {
		if v2.Components.Schemas[name] != nil {
			t.Errorf("v2: schema %s of a service not served is still documented", name)
		}
	}
	for _, tag := range v2.Tags {
		if tag.Name == "OrderService" || tag.Name == "CompositeService" {
			t.Errorf("v2: tag %s of a service not served is still documented", tag.Name)
		}
	}
	var got []string
	for path := range v3 {
		got = append(got, path)
	}
	slices.Sort(got)
	if want := []string{"/openapi/v3/storefront/catalog/v1/catalog.openapi.json", "/openapi/v3/storefront/users/v1/users.openapi.json"}; !slices.Equal(got, want) {
		t.Errorf("served v3 documents %v, want %v", got, want)
	}
}

// TestServedDocumentsAreTheCommittedOnes checks that a gateway that serves every service with
// the default policies serves the committed documents byte for byte: `make generate` applies
// the same patches with the same table.
func TestServedDocumentsAreTheCommittedOnes(t *testing.T) {
	t.Parallel()
	url := docsGateway(t, "storefront.users.v1.UserService, storefront.orders.v1.OrderService, storefront.catalog.v1.CatalogService", "")
	err := fs.WalkDir(openapi.FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".json") {
			return err
		}
		want, err := fs.ReadFile(openapi.FS, name)
		if err != nil {
			return err
		}
		resp, got := get(t, url+"/openapi/"+name)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			t.Errorf("GET /openapi/%s: %d, %d bytes; want the committed document, %d bytes", name, resp.StatusCode, len(got), len(want))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
