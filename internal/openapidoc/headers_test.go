package openapidoc_test

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/composite"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/policy"
	edgev1 "github.com/archway-gateway/archway/gen/archway/edge/v1"
	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/internal/openapidoc"
)

// headersTable is the policy table of the catalog, users, orders and composite services under
// cfg.
func headersTable(t *testing.T, cfg *config.Config) *policy.Table {
	t.Helper()
	tb, err := policy.Build([]protoreflect.ServiceDescriptor{
		catalogv1.File_storefront_catalog_v1_catalog_proto.Services().Get(0),
		usersv1.File_storefront_users_v1_users_proto.Services().Get(0),
		ordersv1.File_storefront_orders_v1_orders_proto.Services().Get(0),
		edgev1.File_archway_edge_v1_composite_proto.Services().Get(0),
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// The operations of headersV2Doc and headersV3Doc: a cached public read (GetProduct, 30 s), a
// cached private one (GetUser, 5 s), a read without a TTL (BatchGetProducts), a streamed read
// (WatchOrder), a write (AdjustStock), a create (CreateUser) and a cached composite
// (GetProductPage).
const headersV2Doc = `{"swagger": "2.0", "info": {"title": "T", "version": "1"}, "paths": {
  "/v1/products/{id}": {"get": {"operationId": "CatalogService_GetProduct", "parameters": [{"name": "id", "in": "path", "required": true, "type": "string"}], "responses": {"200": {"description": "ok", "schema": {}}, "default": {"description": "error"}}}},
  "/v1/users/{user}": {"get": {"operationId": "UserService_GetUser", "responses": {"200": {"description": "ok"}, "default": {"description": "error"}}}},
  "/v1/products:batchGet": {"get": {"operationId": "CatalogService_BatchGetProducts", "responses": {"200": {"description": "ok"}, "default": {"description": "error"}}}},
  "/v1/orders/{order}:watch": {"get": {"operationId": "OrderService_WatchOrder", "responses": {"200": {"description": "ok"}, "default": {"description": "error"}}}},
  "/v1/products/{productId}/stock:adjust": {"post": {"operationId": "CatalogService_AdjustStock", "responses": {"200": {"description": "ok"}, "default": {"description": "error"}}}},
  "/v1/users": {"post": {"operationId": "UserService_CreateUser", "responses": {"200": {"description": "ok"}, "default": {"description": "error"}}}},
  "/v1/products/{id}:page": {"get": {"operationId": "CompositeService_GetProductPage", "responses": {"200": {"description": "ok"}, "default": {"description": "error"}}}}
}, "securityDefinitions": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}}`

const headersV3Doc = `{"openapi": "3.1.0", "info": {"title": "T"}, "paths": {
  "/v1/products/{id}": {"get": {"operationId": "CatalogService_GetProduct", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"default": {"description": "error"}, "200": {"description": "ok", "content": {"application/json": {"schema": {}}}}}}},
  "/v1/users/{user}": {"get": {"operationId": "UserService_GetUser", "responses": {"default": {"description": "error"}, "200": {"description": "ok"}}}},
  "/v1/products:batchGet": {"get": {"operationId": "CatalogService_BatchGetProducts", "responses": {"default": {"description": "error"}, "200": {"description": "ok"}}}},
  "/v1/orders/{order}:watch": {"get": {"operationId": "OrderService_WatchOrder", "responses": {"default": {"description": "error"}, "200": {"description": "ok", "content": {"application/json": {}}}}}},
  "/v1/products/{productId}/stock:adjust": {"post": {"operationId": "CatalogService_AdjustStock", "responses": {"default": {"description": "error"}, "200": {"description": "ok"}}}},
  "/v1/users": {"post": {"operationId": "UserService_CreateUser", "responses": {"default": {"description": "error"}, "200": {"description": "ok"}}}},
  "/v1/products/{id}:page": {"get": {"operationId": "CompositeService_GetProductPage", "responses": {"default": {"description": "error"}, "200": {"description": "ok"}}}}
}}`

// operation is what the tests read of a patched operation.
type operation struct {
	Parameters []struct {
		Name   string         `json:"name"`
		In     string         `json:"in"`
		Type   string         `json:"type"`
		Schema map[string]any `json:"schema"`
	} `json:"parameters"`
	Responses map[string]struct {
		Description string                    `json:"description"`
		Schema      any                       `json:"schema"`
		Content     any                       `json:"content"`
		Headers     map[string]map[string]any `json:"headers"`
	} `json:"responses"`
}

// operations decodes the operations of a document by "VERB path".
func operations(t *testing.T, doc []byte) map[string]operation {
	t.Helper()
	var d struct {
		Paths map[string]map[string]operation `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	ops := make(map[string]operation)
	for path, item := range d.Paths {
		for verb, op := range item {
			ops[strings.ToUpper(verb)+" "+path] = op
		}
	}
	return ops
}

// headerType is the type of a documented header, from its v2 or v3 form.
func headerType(h map[string]any) any {
	if s, ok := h["schema"].(map[string]any); ok {
		return s["type"]
	}
	return h["type"]
}

func TestPatchDocumentsHeaders(t *testing.T) {
	t.Parallel()
	tb := headersTable(t, config.Default())
	v2, v3 := patchBoth(t, tb, headersV2Doc, headersV3Doc)
	for _, doc := range []struct {
		name string
		body []byte
	}{{"v2", v2}, {"v3", v3}} {
		t.Run(doc.name, func(t *testing.T) {
			t.Parallel()
			ops := operations(t, doc.body)
			cached := map[string]string{
				"GET /v1/products/{id}":      "public, max-age=30",
				"GET /v1/users/{user}":       "private, max-age=5",
				"GET /v1/products/{id}:page": "public, max-age=5",
			}
			for key, op := range ops {
				var conditional int
				for _, p := range op.Parameters {
					if p.Name == "If-None-Match" {
						conditional++
						if p.In != "header" || (p.Type != "string" && p.Schema["type"] != "string") {
							t.Errorf("%s: If-None-Match parameter %+v, want a string header", key, p)
						}
					}
				}
				notModified, has304 := op.Responses["304"]
				cc, isCached := cached[key]
				if !isCached {
					if conditional != 0 || has304 || op.Responses["200"].Headers["ETag"] != nil {
						t.Errorf("%s is not a cached read, yet documents If-None-Match (%d), 304 (%v) or ETag", key, conditional, has304)
					}
					continue
				}
				if conditional != 1 || !has304 {
					t.Errorf("%s: %d If-None-Match parameters, 304 documented %v; want one and a 304", key, conditional, has304)
					continue
				}
				if notModified.Schema != nil || notModified.Content != nil || !strings.HasPrefix(notModified.Description, "Not Modified") {
					t.Errorf("%s: 304 %+v, want a description and no body", key, notModified)
				}
				for _, resp := range []string{"200", "304"} {
					h := op.Responses[resp].Headers
					for name, typ := range map[string]string{"ETag": "string", "Cache-Control": "string", "Age": "integer"} {
						if h[name] == nil || headerType(h[name]) != typ {
							t.Errorf("%s %s: header %s = %v, want a %s", key, resp, name, h[name], typ)
						}
					}
					if d, _ := h["Cache-Control"]["description"].(string); !strings.Contains(d, `"`+cc+`"`) {
						t.Errorf("%s %s: Cache-Control %q, want the policy's %q", key, resp, d, cc)
					}
				}
			}
			created := ops["POST /v1/users"].Responses["201"]
			if created.Headers["Location"] == nil || headerType(created.Headers["Location"]) != "string" {
				t.Errorf("CreateUser's 201 headers %v, want Location", created.Headers)
			}
			for name := range ops["POST /v1/products/{productId}/stock:adjust"].Responses["200"].Headers {
				if !strings.HasPrefix(name, "RateLimit-") {
					t.Errorf("AdjustStock, not a create, documents response header %s", name)
				}
			}
			page := ops["GET /v1/products/{id}:page"].Responses["200"].Headers
			if page[composite.PartialHeader] == nil {
				t.Errorf("the composite's 200 headers %v, want %s", page, composite.PartialHeader)
			}
			if ops["GET /v1/products/{id}"].Responses["200"].Headers[composite.PartialHeader] != nil {
				t.Errorf("GetProduct, not a composite, documents %s", composite.PartialHeader)
			}
		})
	}

	againV2, err := openapidoc.PatchV2(v2, tb)
	if err != nil || string(againV2) != string(v2) {
		t.Errorf("patching v2 twice changed the document (err %v):\n%s", err, againV2)
	}
	againV3, err := openapidoc.PatchV3(v3, v2, tb)
	if err != nil || string(againV3) != string(v3) {
		t.Errorf("patching v3 twice changed the document (err %v):\n%s", err, againV3)
	}
	if s := squeeze(string(v2)); !strings.Contains(s, `"responses":{"200":{"description":"ok","schema":{},"headers"`) ||
		!strings.Contains(s, `}},"304":{"description":"NotModified:`) {
		t.Errorf("GetProduct's 304 is not right after its 200:\n%s", v2)
	}
}

// The documented Cache-Control follows the live policy table: a route that the configuration
// makes authenticated is cached privately.
func TestPatchDocumentsCacheControlOfOverriddenRoutes(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Policy.Routes = map[string]config.RouteOverride{
		"storefront.catalog.v1.CatalogService/GetProduct": {Access: "authenticated"},
	}
	v2, err := openapidoc.PatchV2([]byte(headersV2Doc), headersTable(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	h := operations(t, v2)["GET /v1/products/{id}"].Responses["200"].Headers["Cache-Control"]
	if d, _ := h["description"].(string); !strings.Contains(d, `"private, max-age=30"`) {
		t.Errorf("Cache-Control %q, want private, max-age=30", d)
	}
}
