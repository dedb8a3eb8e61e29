package gateway_test

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/policy"
	"github.com/archway-gateway/archway/internal/apitest"
	"github.com/archway-gateway/archway/internal/openapidoc"
	"github.com/archway-gateway/archway/openapi"
)

// documentedServices are the services of the published documents.
var documentedServices = []string{
	"storefront.users.v1.UserService",
	"storefront.orders.v1.OrderService",
	"storefront.catalog.v1.CatalogService",
	"archway.edge.v1.CompositeService",
}

func loadV2(t *testing.T) *openapi2.T {
	t.Helper()
	b, err := fs.ReadFile(openapi.FS, openapi.V2)
	if err != nil {
		t.Fatal(err)
	}
	var doc openapi2.T
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", openapi.V2, err)
	}
	return &doc
}

func TestOpenAPIDocumentsValidate(t *testing.T) {
	t.Parallel()
	t.Run("v2", func(t *testing.T) {
		t.Parallel()
		doc := loadV2(t)
		if doc.Swagger != "2.0" || doc.Info.Title != "Archway API" || doc.Info.Version == "" || doc.Info.Description == "" {
			t.Errorf("info = %+v (swagger %q), want the title, version and description of docs.openapi's defaults", doc.Info, doc.Swagger)
		}
		v3, err := openapi2conv.ToV3(doc)
		if err != nil {
			t.Fatalf("openapi2conv.ToV3: %v", err)
		}
		if err := v3.Validate(t.Context()); err != nil {
			t.Errorf("the v2 document, converted to v3, does not validate: %v", err)
		}
	})
	err := fs.WalkDir(openapi.FS, "v3", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := fs.ReadFile(openapi.FS, name)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := openapi3.NewLoader().LoadFromData(b)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if err := doc.Validate(t.Context()); err != nil {
				t.Errorf("validate: %v", err)
			}
			if !strings.HasPrefix(doc.Info.Title, "Archway API: ") || len(doc.Components.SecuritySchemes) != 2 {
				t.Errorf("info title %q, %d security schemes; want the v2 document's title and both schemes", doc.Info.Title, len(doc.Components.SecuritySchemes))
			}
			if len(doc.Servers) == 0 || doc.Servers[0].URL != "/" {
				t.Errorf("servers %+v, want the default server \"/\"", doc.Servers)
			}
			for path, item := range doc.Paths.Map() {
				for verb, op := range item.Operations() {
					if op.Security == nil {
						t.Errorf("%s %s: no security; public operations have an empty list", verb, path)
					}
				}
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDocumentedSecurityMatchesPolicies checks every operation of the v2 document against the
// route policy table that the gateway builds with the default configuration.
func TestDocumentedSecurityMatchesPolicies(t *testing.T) {
	t.Parallel()
	table := documentedPolicies(t)
	doc := loadV2(t)
	seen := make(map[string]bool)
	for path, item := range doc.Paths {
		for verb, op := range item.Operations() {
			method, err := openapidoc.OperationMethod(table, op.OperationID)
			if err != nil {
				t.Errorf("%s %s: %v", verb, path, err)
				continue
			}
			seen[method] = true
			p, _ := table.Lookup(method)
			var schemes []string
			for _, req := range *op.Security {
				for name, scopes := range req {
					schemes = append(schemes, name)
					if len(scopes) != 0 {
						t.Errorf("%s %s: scheme %s lists scopes %v; v2 allows them only for OAuth2", verb, path, name, scopes)
					}
				}
			}
			slices.Sort(schemes)
			want := []string{}
			if p.Authenticated {
				want = []string{"apiKey", "bearer"}
			}
			if op.Security == nil || !slices.Equal(schemes, want) {
				t.Errorf("%s %s (%s): security schemes %v, want %v", verb, path, method, schemes, want)
			}
			var scopes []string
			if raw, ok := op.Extensions[openapidoc.ScopesExtension]; ok {
				for _, s := range raw.([]any) {
					scopes = append(scopes, s.(string))
				}
			}
			if !slices.Equal(scopes, p.Scopes) {
				t.Errorf("%s %s (%s): %s = %v, want %v", verb, path, method, openapidoc.ScopesExtension, scopes, p.Scopes)
			}
		}
	}
	for _, m := range table.Methods() {
		if !seen[m] {
			t.Errorf("%s has no operation in the v2 document", m)
		}
	}
}

// TestDocumentedCachingMatchesPolicies checks that the v2 document lists the conditional read
// (the If-None-Match parameter and a 304 with the cache's headers) on exactly the GET
// operations that the response cache serves: unary methods whose policy has a TTL.
func TestDocumentedCachingMatchesPolicies(t *testing.T) {
	t.Parallel()
	table := documentedPolicies(t)
	var cachedOps int
	for path, item := range loadV2(t).Paths {
		for verb, op := range item.Operations() {
			method, err := openapidoc.OperationMethod(table, op.OperationID)
			if err != nil {
				t.Fatalf("%s %s: %v", verb, path, err)
			}
			p, _ := table.Lookup(method)
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(method, "/"), "/", ".")))
			if err != nil {
				t.Fatal(err)
			}
			md := d.(protoreflect.MethodDescriptor)
			cached := verb == http.MethodGet && p.Cache.TTL > 0 && !md.IsStreamingClient() && !md.IsStreamingServer()
			conditional := slices.ContainsFunc(op.Parameters, func(p *openapi2.Parameter) bool {
				return p.In == "header" && p.Name == "If-None-Match"
			})
			notModified := op.Responses.Value(strconv.Itoa(http.StatusNotModified))
			if conditional != cached || (notModified != nil) != cached {
				t.Errorf("%s %s (%s, cache TTL %v): If-None-Match %v, 304 %v; want both %v", verb, path, method, p.Cache.TTL, conditional, notModified != nil, cached)
				continue
			}
			if !cached {
				continue
			}
			cachedOps++
			if notModified.Schema != nil {
				t.Errorf("%s %s: the 304 has a body schema", verb, path)
			}
			for _, h := range []string{"ETag", "Cache-Control", "Age"} {
				if op.Responses.Value("200").Headers[h] == nil || notModified.Headers[h] == nil {
					t.Errorf("%s %s: %s is not documented on both the 200 and the 304", verb, path, h)
				}
			}
		}
	}
	if cachedOps == 0 {
		t.Error("no operation of the v2 document is a cached read")
	}
}

// noScopesKey is an API key, sha256 below, whose client holds no scopes.
const noScopesKey = "no-scopes-key"

// TestDocumentedOperationsAreServed sends every operation of the v2 document to a gateway
// whose backends are down: each must be routed (no 404 or 405), refuse a caller without
// credentials exactly when the document lists security, and refuse a caller without scopes
// exactly when it lists scopes.
func TestDocumentedOperationsAreServed(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, `
admin: {enabled: false}
log: {access_log: false}
backends:
  - name: storefront
    address: passthrough:///127.0.0.1:1
    services: [storefront.users.v1.UserService, storefront.orders.v1.OrderService, storefront.catalog.v1.CatalogService]
authn:
  api_keys:
    - client_id: nobody
      sha256: e691f3149082142d7a460698b8d46aac1509c6956d2d482dfe4da8bd9392cd56
`)
	validator, err := apitest.Published()
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	doc := loadV2(t)
	for path, item := range doc.Paths {
		for verb, op := range item.Operations() {
			t.Run(verb+" "+path, func(t *testing.T) {
				t.Parallel()
				url := param.ReplaceAllString(path, "x")
				send := func(key string) int {
					var body *strings.Reader
					if verb == http.MethodPost || verb == http.MethodPatch {
						body = strings.NewReader("{}")
					} else {
						body = strings.NewReader("")
					}
					req := httptest.NewRequestWithContext(t.Context(), verb, url, body)
					if key != "" {
						req.Header.Set("X-Api-Key", key)
					}
					rec := httptest.NewRecorder()
					gw.Handler().ServeHTTP(rec, req)
					if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
						t.Fatalf("%s %s answered %d %s: the documented operation is not routed", verb, url, rec.Code, rec.Body)
					}
					if err := validator.Validate(req, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
						t.Error(err)
					}
					return rec.Code
				}
				secured := op.Security != nil && len(*op.Security) > 0
				if got := send(""); (got == http.StatusUnauthorized) != secured {
					t.Errorf("without credentials: %d; documented security %v", got, op.Security)
				}
				_, scoped := op.Extensions[openapidoc.ScopesExtension]
				got := send(noScopesKey)
				if got == http.StatusUnauthorized {
					t.Errorf("with an API key: 401")
				}
				if (got == http.StatusForbidden) != scoped {
					t.Errorf("with an API key without scopes: %d; documented scopes %v", got, op.Extensions[openapidoc.ScopesExtension])
				}
			})
		}
	}
}

// TestExamplesValidate checks every example of the published documents against its schema, as
// a response (output-only fields allowed) and, for the schemas of request bodies, as a request:
// the docs page offers them as request bodies to try.
func TestExamplesValidate(t *testing.T) {
	t.Parallel()
	v2, err := openapi2conv.ToV3(loadV2(t))
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]*openapi3.T{openapi.V2: v2}
	err = fs.WalkDir(openapi.FS, "v3", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(openapi.FS, name)
		if err != nil {
			return err
		}
		doc, err := openapi3.NewLoader().LoadFromData(b)
		docs[name] = doc
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range docs {
		var opts []openapi3.SchemaValidationOption
		if doc.IsOpenAPI31OrLater() {
			opts = append(opts, openapi3.EnableJSONSchema2020())
		}
		requestBodies := make(map[*openapi3.Schema]bool)
		for _, item := range doc.Paths.Map() {
			for _, op := range item.Operations() {
				if op.RequestBody == nil {
					continue
				}
				for _, mt := range op.RequestBody.Value.Content {
					requestBodies[mt.Schema.Value] = true
				}
			}
		}
		examples := 0
		check := func(where string, s *openapi3.Schema) {
			if s == nil || s.Example == nil {
				return
			}
			examples++
			if err := s.VisitJSON(s.Example, append(opts, openapi3.VisitAsResponse())...); err != nil {
				t.Errorf("%s: %s: the example is not a valid response: %v", name, where, err)
			}
			if requestBodies[s] {
				if err := s.VisitJSON(s.Example, append(opts, openapi3.VisitAsRequest())...); err != nil {
					t.Errorf("%s: %s: the example is not a valid request body: %v", name, where, err)
				}
			}
		}
		for schemaName, ref := range doc.Components.Schemas {
			check(schemaName, ref.Value)
			for prop, p := range ref.Value.Properties {
				check(schemaName+"."+prop, p.Value)
			}
		}
		for path, item := range doc.Paths.Map() {
			for verb, op := range item.Operations() {
				if op.RequestBody != nil {
					for _, mt := range op.RequestBody.Value.Content {
						check(verb+" "+path+" request body", mt.Schema.Value)
					}
				}
			}
		}
		if name == openapi.V2 && examples < 4 {
			t.Errorf("%s: %d examples; want those of User, Order, Product and Money at least", name, examples)
		}
	}
}

// documentedPolicies is the route policy table that the gateway builds for the documented
// services with the default configuration.
func documentedPolicies(t *testing.T) *policy.Table {
	t.Helper()
	var sds []protoreflect.ServiceDescriptor
	for _, name := range documentedServices {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Fatal(err)
		}
		sds = append(sds, d.(protoreflect.ServiceDescriptor))
	}
	table, err := policy.Build(sds, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	return table
}
