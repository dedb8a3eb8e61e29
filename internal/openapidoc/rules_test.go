package openapidoc_test

import (
	"strings"
	"testing"

	"github.com/archway-gateway/archway/internal/openapidoc"
)

func TestPatchCarriesValidationRules(t *testing.T) {
	t.Parallel()
	tb := usersAndCatalog(t)
	v2Doc := `{"swagger": "2.0", "info": {"title": "T", "version": "1"}, "paths": {
  "/v1/products": {"get": {"operationId": "CatalogService_ListProducts", "parameters": [{"name": "pageSize", "in": "query", "required": false, "type": "integer", "format": "int32"}], "responses": {"200": {}}}},
  "/v1/users/{user}": {"patch": {"operationId": "UserService_UpdateUser", "parameters": [{"name": "user", "in": "path", "required": true, "type": "string"}, {"name": "user", "in": "body", "required": true, "schema": {"type": "object", "properties": {"email": {"type": "string"}}}}], "responses": {"200": {}}}}
}, "definitions": {
  "v1User": {"type": "object", "properties": {"displayName": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}, "state": {"$ref": "#/definitions/v1UserState"}}},
  "v1CreateUserRequest": {"type": "object", "properties": {"user": {"$ref": "#/definitions/v1User"}}}
}, "securityDefinitions": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}}`
	v2, err := openapidoc.PatchV2([]byte(v2Doc), tb)
	if err != nil {
		t.Fatal(err)
	}
	v3Doc := `{"openapi": "3.1.0", "info": {"title": "T", "version": "1"}, "paths": {
  "/v1/products": {"get": {"operationId": "CatalogService_ListProducts", "parameters": [{"name": "pageSize", "in": "query", "schema": {"type": "integer", "format": "int32"}}], "responses": {"200": {}}}}
}, "components": {"schemas": {
  "storefront.users.v1.User": {"type": "object", "properties": {"displayName": {"type": "string"}, "email": {"type": "string"}}, "required": ["displayName"]},
  "storefront.users.v1.Address": {"type": "object", "properties": {"countryCode": {"type": "string"}}}
}}}`
	v3, err := openapidoc.PatchV3([]byte(v3Doc), v2, tb)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		doc  []byte
		want []string
	}{
		"v2": {v2, []string{
			`{"name":"pageSize","in":"query","required":false,"type":"integer","format":"int32","minimum":0,"maximum":100}`,
			`"v1User":{"type":"object","properties":{"displayName":{"type":"string","minLength":1,"maxLength":100},"tags":{"type":"array","items":{"type":"string","minLength":1,"maxLength":32},"maxItems":20}`,
			`"v1CreateUserRequest":{"type":"object","properties":{"user":{"$ref":"#/definitions/v1User"}},"required":["user"]}`,
			`"schema":{"type":"object","properties":{"email":{"type":"string","format":"email"}}}`,
		}},
		"v3": {v3, []string{
			`{"name":"pageSize","in":"query","schema":{"type":"integer","format":"int32","minimum":0,"maximum":100}}`,
			`"storefront.users.v1.User":{"type":"object","properties":{"displayName":{"type":"string","minLength":1,"maxLength":100},"email":{"type":"string","format":"email"}},"required":["displayName"]}`,
			`"countryCode":{"type":"string","pattern":"^([A-Z]{2})?$"}`,
		}},
	} {
		s := squeeze(string(c.doc))
		for _, want := range c.want {
			if !strings.Contains(s, want) {
				t.Errorf("%s lacks %s:\n%s", name, want, c.doc)
			}
		}
		if strings.Contains(s, `"state":{"$ref":"#/definitions/v1UserState","`) {
			t.Errorf("%s: a $ref property got keywords beside it:\n%s", name, c.doc)
		}
	}
	again, err := openapidoc.PatchV2(v2, tb)
	if err != nil || string(again) != string(v2) {
		t.Errorf("patching v2 twice changed the document (err %v):\n%s", err, again)
	}
}
