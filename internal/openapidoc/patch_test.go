package openapidoc_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/policy"
	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	"github.com/archway-gateway/archway/internal/openapidoc"
	testapiv1 "github.com/archway-gateway/archway/internal/testapi/gen/archway/testapi/v1"
)

// patchBoth patches a v2 document and a v3 one with the policies of tb, as the pipeline does.
func patchBoth(t *testing.T, tb *policy.Table, v2, v3 string) (patchedV2, patchedV3 []byte) {
	t.Helper()
	patchedV2, err := openapidoc.PatchV2([]byte(v2), tb)
	if err != nil {
		t.Fatal(err)
	}
	patchedV3, err = openapidoc.PatchV3([]byte(v3), patchedV2, tb)
	if err != nil {
		t.Fatal(err)
	}
	return patchedV2, patchedV3
}

// squeeze drops the white space of a JSON text, so that checks ignore indentation.
func squeeze(s string) string { return strings.Join(strings.Fields(s), "") }

func table(t *testing.T) *policy.Table {
	t.Helper()
	tb, err := policy.Build([]protoreflect.ServiceDescriptor{catalogv1.File_storefront_catalog_v1_catalog_proto.Services().Get(0)}, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

const v2Doc = `{
  "swagger": "2.0",
  "info": {"title": "T <api>", "version": "1"},
  "paths": {
    "/v1/products/{id}": {"get": {"operationId": "CatalogService_GetProduct2", "responses": {"200": {}}}},
    "/v1/products/{productId}/stock:adjust": {"post": {"operationId": "CatalogService_AdjustStock", "responses": {"200": {}}}}
  },
  "securityDefinitions": {"bearer": {"type": "apiKey", "in": "header", "name": "Authorization"}, "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}
}`

func TestPatchV2(t *testing.T) {
	t.Parallel()
	tb := table(t)
	got, err := openapidoc.PatchV2([]byte(v2Doc), tb)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"operationId": "CatalogService_GetProduct2",`,
		`"security": []`,
		`"security": [
            {
              "apiKey": []
            },
            {
              "bearer": []
            }
          ],
          "x-archway-scopes": [
            "catalog.write"
          ]`,
		`"title": "T <api>"`,
	} {
		if !strings.Contains(squeeze(string(got)), squeeze(want)) {
			t.Errorf("patched document lacks %s:\n%s", want, got)
		}
	}
	again, err := openapidoc.PatchV2(got, tb)
	if err != nil || string(again) != string(got) {
		t.Errorf("patching twice changed the document (err %v):\n%s", err, again)
	}
}

func TestPatchV3(t *testing.T) {
	t.Parallel()
	v3 := `{"openapi": "3.1.0", "info": {"title": "catalog"}, "tags": [{"name": "CatalogService"}], "paths": {
  "/v1/products/{id}": {"get": {"operationId": "CatalogService_GetProduct", "parameters": [{"name": "id", "in": "path"}]}},
  "/v1/products/{product_id}": {"post": {"operationId": "CatalogService_AdjustStock", "parameters": [{"name": "product_id", "in": "path"}]}}
}}`
	got, err := openapidoc.PatchV3([]byte(v3), []byte(v2Doc), table(t))
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	for _, want := range []string{`"title": "T <api>: CatalogService"`, `"scheme": "bearer"`, `"apiKey": [
                "catalog.write"
              ]`} {
		if !strings.Contains(squeeze(s), squeeze(want)) {
			t.Errorf("patched document lacks %s:\n%s", want, s)
		}
	}
	if strings.Contains(s, "{product_id}") || strings.Count(s, `"name": "id"`) != 2 {
		t.Errorf("paths that differ only in parameter names were not merged:\n%s", s)
	}
}

func TestPatchRefusesUnknownOperations(t *testing.T) {
	t.Parallel()
	doc := strings.Replace(v2Doc, "CatalogService_AdjustStock", "CatalogService_Nope", 1)
	if _, err := openapidoc.PatchV2([]byte(doc), table(t)); err == nil || !strings.Contains(err.Error(), `"CatalogService_Nope"`) {
		t.Errorf("PatchV2 = %v, want an error naming the operation", err)
	}
}

func TestRestrict(t *testing.T) {
	t.Parallel()
	doc := `{
  "swagger": "2.0",
  "tags": [{"name": "CatalogService"}, {"name": "UserService"}],
  "paths": {
    "/v1/products/{id}": {"get": {"operationId": "CatalogService_GetProduct", "tags": ["CatalogService"], "responses": {"200": {"schema": {"$ref": "#/definitions/v1Product"}}}}},
    "/v1/users/{user}": {"parameters": [], "get": {"operationId": "UserService_GetUser", "tags": ["UserService"], "responses": {"200": {"schema": {"$ref": "#/definitions/v1User"}}}}}
  },
  "definitions": {
    "v1Product": {"properties": {"price": {"$ref": "#/definitions/v1Money"}}},
    "v1Money": {},
    "v1User": {"properties": {"address": {"$ref": "#/definitions/v1Address"}}},
    "v1Address": {}
  }
}`
	got, empty, err := openapidoc.Restrict([]byte(doc), table(t))
	if err != nil || empty {
		t.Fatalf("Restrict = %v, empty %v", err, empty)
	}
	s := squeeze(string(got))
	for _, gone := range []string{"/v1/users/{user}", "UserService", "v1User", "v1Address"} {
		if strings.Contains(s, gone) {
			t.Errorf("%s is still in the restricted document:\n%s", gone, got)
		}
	}
	for _, kept := range []string{`"/v1/products/{id}"`, `"tags":[{"name":"CatalogService"}]`, `"v1Product"`, `"v1Money"`} {
		if !strings.Contains(s, kept) {
			t.Errorf("%s is missing from the restricted document:\n%s", kept, got)
		}
	}
	onlyUsers := strings.Replace(doc, `"/v1/products/{id}": {"get": {"operationId": "CatalogService_GetProduct", "tags": ["CatalogService"], "responses": {"200": {"schema": {"$ref": "#/definitions/v1Product"}}}}},`, "", 1)
	if _, empty, err := openapidoc.Restrict([]byte(onlyUsers), table(t)); err != nil || !empty {
		t.Errorf("Restrict of a document with no served operation = %v, empty %v; want empty", err, empty)
	}
}

func TestPatchDocumentsStreams(t *testing.T) {
	t.Parallel()
	tb, err := policy.Build([]protoreflect.ServiceDescriptor{ordersv1.File_storefront_orders_v1_orders_proto.Services().Get(0)}, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	v2 := `{"swagger": "2.0", "info": {"title": "T", "version": "1"}, "paths": {
  "/v1/orders/{order}:watch": {"get": {"operationId": "OrderService_WatchOrder", "responses": {"200": {"description": "A successful response.(streaming responses)", "schema": {}}}}},
  "/v1/orders:chat": {"get": {"operationId": "OrderService_SupportChat", "responses": {"200": {"description": "A successful response.(streaming responses)", "schema": {"properties": {"result": {"$ref": "#/definitions/v1SupportMessage"}}}}}}}
}, "securityDefinitions": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}}`
	v3 := `{"openapi": "3.1.0", "info": {"title": "orders"}, "paths": {
  "/v1/orders/{name}:watch": {"get": {"operationId": "OrderService_WatchOrder", "responses": {"200": {"description": "One change.", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/v1/orders:chat": {"get": {"operationId": "OrderService_SupportChat", "responses": {"200": {"description": "One message of a SupportChat. (streaming responses)", "content": {"application/json": {}}}}}}
}}`
	gotV2, gotV3 := patchBoth(t, tb, v2, v3)
	for _, c := range []struct {
		doc  []byte
		want []string
	}{
		{gotV2, []string{`"produces":["application/json","application/x-ndjson","text/event-stream"]`, `"101":{"description":"Switching Protocols:`, `"x-archway-websocket-message":{"$ref":"#/definitions/v1SupportMessage"}`}},
		{gotV3, []string{`"content":{"application/x-ndjson":{"schema":{"type":"object"}},"text/event-stream":{"schema":{"type":"string"}}}`, `"101":{"description":"One message of a SupportChat. Switching Protocols:`}},
	} {
		s := squeeze(string(c.doc))
		for _, want := range c.want {
			if !strings.Contains(s, squeeze(want)) {
				t.Errorf("patched document lacks %s:\n%s", want, c.doc)
			}
		}
		if n := strings.Count(s, `"200"`); n != 1 {
			t.Errorf("%d 200 responses, want 1: the WebSocket method answers 101:\n%s", n, c.doc)
		}
	}
	again, err := openapidoc.PatchV3(gotV3, gotV2, tb)
	if err != nil || string(again) != string(gotV3) {
		t.Errorf("patching twice changed the document (err %v):\n%s", err, again)
	}
}

// TestPatchDocumentsRequestStreams: a client stream and a bidirectional stream bound to POST
// (the test API's TallyService, in the shapes the generators write) take a newline-delimited
// JSON body, the bidirectional one answers NDJSON too, and neither is described as a WebSocket.
func TestPatchDocumentsRequestStreams(t *testing.T) {
	t.Parallel()
	tb, err := policy.Build([]protoreflect.ServiceDescriptor{testapiv1.File_archway_testapi_v1_tally_proto.Services().Get(0)}, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	v2 := `{"swagger": "2.0", "info": {"title": "T", "version": "1"}, "paths": {
  "/v1/tally:running": {"post": {"operationId": "TallyService_RunningSum",
    "responses": {"200": {"description": "A successful response.(streaming responses)", "schema": {"properties": {"result": {"$ref": "#/definitions/v1Total"}}}}},
    "parameters": [{"name": "body", "description": "One number of a tally. (streaming inputs)", "in": "body", "required": true, "schema": {"$ref": "#/definitions/v1Number"}}]}},
  "/v1/tally:sum": {"post": {"operationId": "TallyService_Sum",
    "responses": {"200": {"description": "A successful response.", "schema": {"$ref": "#/definitions/v1Total"}}},
    "parameters": [{"name": "body", "description": "One number of a tally. (streaming inputs)", "in": "body", "required": true, "schema": {"$ref": "#/definitions/v1Number"}}]}}
}, "securityDefinitions": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}}`
	v3 := `{"openapi": "3.1.0", "info": {"title": "tally"}, "paths": {
  "/v1/tally:sum": {"post": {"operationId": "TallyService_Sum",
    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": true},
    "responses": {"200": {"description": "A total.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/archway.testapi.v1.Total"}}}}}}},
  "/v1/tally:running": {"post": {"operationId": "TallyService_RunningSum",
    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": true},
    "responses": {"200": {"description": "A total. (streaming responses)", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
}}`
	gotV2, gotV3 := patchBoth(t, tb, v2, v3)
	s2, s3 := squeeze(string(gotV2)), squeeze(string(gotV3))
	for _, c := range []struct {
		name, doc string
		want      []string
		count     map[string]int
	}{
		{"v2", s2, []string{`"produces":["application/json","application/x-ndjson"]`},
			map[string]int{`"consumes":["application/x-ndjson"]`: 2, "one message per line": 2, "or an `error`": 1}},
		{"v3", s3, []string{`"200":{"description":"A total.","content":{"application/json"`},
			map[string]int{`"requestBody":{"content":{"application/x-ndjson"`: 2, `"content":{"application/x-ndjson":{"schema":{"type":"object"}}}`: 3, "one message per line": 2}},
	} {
		for _, want := range c.want {
			if !strings.Contains(c.doc, squeeze(want)) {
				t.Errorf("%s lacks %s:\n%s", c.name, want, c.doc)
			}
		}
		for want, n := range c.count {
			if got := strings.Count(c.doc, squeeze(want)); got != n {
				t.Errorf("%s has %s %d times, want %d:\n%s", c.name, want, got, n, c.doc)
			}
		}
		if strings.Contains(c.doc, `"101"`) || strings.Contains(c.doc, "event-stream") {
			t.Errorf("%s describes a POST request stream as a WebSocket or an event stream:\n%s", c.name, c.doc)
		}
	}
}
