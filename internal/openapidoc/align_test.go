package openapidoc_test

import (
	"encoding/json"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/policy"
	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/internal/openapidoc"
	"github.com/archway-gateway/archway/openapi"
)

func usersAndCatalog(t *testing.T) *policy.Table {
	t.Helper()
	tb, err := policy.Build([]protoreflect.ServiceDescriptor{
		catalogv1.File_storefront_catalog_v1_catalog_proto.Services().Get(0),
		usersv1.File_storefront_users_v1_users_proto.Services().Get(0),
	}, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// The generators' names, as protoc-gen-openapiv2 and protoc-gen-openapiv3 write them.
const (
	alignV2Doc = `{"swagger": "2.0", "info": {"title": "T", "version": "1"}, "paths": {
  "/v1/users/{user}": {
    "get": {"operationId": "UserService_GetUser", "parameters": [{"name": "user", "in": "path", "required": true, "type": "string"}], "responses": {"200": {}}},
    "patch": {"operationId": "UserService_UpdateUser", "parameters": [{"name": "user", "in": "path", "required": true, "type": "string"}, {"name": "user", "in": "body", "required": true, "schema": {}}], "responses": {"200": {}}}
  },
  "/v1/catalog/products/{id}": {"get": {"operationId": "CatalogService_GetProduct2", "parameters": [{"name": "id", "in": "path", "required": true, "type": "string", "description": "Product id."}], "responses": {"200": {}}}},
  "/v1/products/{productId}/stock": {"get": {"operationId": "CatalogService_GetStock", "parameters": [{"name": "productId", "in": "path", "required": true, "type": "string", "description": "Product id."}], "responses": {"200": {}}}}
}, "securityDefinitions": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}}`
	alignV3Doc = `{"openapi": "3.1.0", "info": {"title": "T", "version": "1"}, "paths": {
  "/v1/users/{name}": {
    "get": {"operationId": "UserService_GetUser", "parameters": [{"name": "name", "in": "path", "description": "Resource name of the user, \"users/{user_id}\".", "required": true, "schema": {"type": "string"}}], "responses": {"200": {}}},
    "patch": {"operationId": "UserService_UpdateUser", "parameters": [{"name": "name", "in": "path", "description": "Resource name, \"users/{user_id}\".", "required": true, "schema": {"type": "string"}}, {"name": "updateMask", "in": "query", "schema": {"type": "string"}}], "requestBody": {"content": {"application/json": {"schema": {}}}}, "responses": {"200": {}}}
  },
  "/v1/catalog/products/{id}": {"get": {"operationId": "CatalogService_GetProduct_1", "parameters": [{"name": "id", "in": "path", "description": "Product id.", "required": true, "schema": {"type": "string"}}], "responses": {"200": {}}}},
  "/v1/products/{product_id}/stock": {"get": {"operationId": "CatalogService_GetStock", "parameters": [{"name": "product_id", "in": "path", "description": "Product id.", "required": true, "schema": {"type": "string"}}], "responses": {"200": {}}}}
}}`
)

// param is a parameter of an operation, as the tests compare them.
type param struct{ name, in, description string }

// namesOf returns, by "VERB path", each operation's id and its path and query parameters.
func namesOf(t *testing.T, doc []byte) map[string][]param {
	t.Helper()
	var d struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				Name        string `json:"name"`
				In          string `json:"in"`
				Description string `json:"description"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]param)
	for path, item := range d.Paths {
		for verb, op := range item {
			ps := []param{{name: op.OperationID, in: "operationId"}}
			for _, p := range op.Parameters {
				if p.In == "path" || p.In == "query" {
					ps = append(ps, param{p.Name, p.In, p.Description})
				}
			}
			slices.SortFunc(ps[1:], func(a, b param) int { return strings.Compare(a.in+a.name, b.in+b.name) })
			out[strings.ToUpper(verb)+" "+path] = ps
		}
	}
	return out
}

// withoutDescriptions drops the descriptions, which the two generators write differently.
func withoutDescriptions(ps []param) []param {
	out := make([]param, len(ps))
	for i, p := range ps {
		out[i] = param{name: p.name, in: p.in}
	}
	return out
}

func TestPatchAlignsNames(t *testing.T) {
	t.Parallel()
	tb := usersAndCatalog(t)
	v2, v3 := patchBoth(t, tb, alignV2Doc, alignV3Doc)
	names2, names3 := namesOf(t, v2), namesOf(t, v3)
	want := map[string][]param{
		"GET /v1/users/{user}":               {{"UserService_GetUser", "operationId", ""}, {"user", "path", ""}},
		"PATCH /v1/users/{user}":             {{"UserService_UpdateUser", "operationId", ""}, {"user", "path", ""}, {"updateMask", "query", ""}},
		"GET /v1/catalog/products/{id}":      {{"CatalogService_GetProduct2", "operationId", ""}, {"id", "path", ""}},
		"GET /v1/products/{productId}/stock": {{"CatalogService_GetStock", "operationId", ""}, {"productId", "path", ""}},
	}
	for name, got := range map[string]map[string][]param{"v2": names2, "v3": names3} {
		if len(got) != len(want) {
			t.Errorf("%s has operations %v, want %d", name, got, len(want))
		}
		for key, ps := range want {
			if !slices.Equal(withoutDescriptions(got[key]), ps) {
				t.Errorf("%s: %s names %v, want %v", name, key, got[key], ps)
			}
		}
		for _, key := range []string{"GET /v1/users/{user}", "PATCH /v1/users/{user}"} {
			user := got[key][1]
			if !strings.Contains(user.description, `"users/{user}": only its last segment`) || strings.Contains(user.description, "user_id") {
				t.Errorf("%s: %s describes {user} as %q, want the id alone", name, key, user.description)
			}
		}
		if d := got["GET /v1/products/{productId}/stock"][1].description; d != "Product id." {
			t.Errorf("%s: a field bound whole to the path lost its own description, now %q", name, d)
		}
	}
	again, err := openapidoc.PatchV3(v3, v2, tb)
	if err != nil || string(again) != string(v3) {
		t.Errorf("patching v3 twice changed the document (err %v):\n%s", err, again)
	}
}

// TestPublishedDocumentsAgreeOnNames checks the committed documents: the v2 document and the
// v3 documents have the same operations, at the same paths, with the same operation ids and
// the same path and query parameter names.
func TestPublishedDocumentsAgreeOnNames(t *testing.T) {
	t.Parallel()
	v2, err := fs.ReadFile(openapi.FS, openapi.V2)
	if err != nil {
		t.Fatal(err)
	}
	names2 := namesOf(t, v2)
	names3 := make(map[string][]param)
	err = fs.WalkDir(openapi.FS, "v3", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		doc, err := fs.ReadFile(openapi.FS, name)
		if err != nil {
			return err
		}
		for k, v := range namesOf(t, doc) {
			names3[k] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, ps := range names2 {
		if got, ok := names3[key]; !ok {
			t.Errorf("%s is in the v2 document only", key)
		} else if !slices.Equal(withoutDescriptions(got), withoutDescriptions(ps)) {
			t.Errorf("%s: v2 names %v, v3 %v", key, withoutDescriptions(ps), withoutDescriptions(got))
		}
	}
	for key := range names3 {
		if _, ok := names2[key]; !ok {
			t.Errorf("%s is in a v3 document only", key)
		}
	}
}
