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
	"github.com/archway-gateway/archway/internal/openapidoc"
	"github.com/archway-gateway/archway/openapi"
)

// errorsV2Doc has a public read with a path parameter and an authenticated write with a body.
const errorsV2Doc = `{
  "swagger": "2.0",
  "info": {"title": "T", "version": "1"},
  "paths": {
    "/v1/products/{id}": {"get": {"operationId": "CatalogService_GetProduct2",
      "parameters": [{"name": "id", "in": "path", "required": true, "type": "string"}],
      "responses": {"200": {"description": "ok"}, "default": {"description": "error", "schema": {"$ref": "#/definitions/rpcStatus"}}}}},
    "/v1/products/{productId}/stock:adjust": {"post": {"operationId": "CatalogService_AdjustStock",
      "parameters": [{"name": "productId", "in": "path", "required": true, "type": "string"}, {"name": "body", "in": "body", "schema": {}}],
      "responses": {"200": {"description": "ok"}, "default": {"description": "error", "schema": {"$ref": "#/definitions/rpcStatus"}}}}}
  },
  "securityDefinitions": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}
}`

// errorsV3Doc is errorsV2Doc in OpenAPI v3.
const errorsV3Doc = `{
  "openapi": "3.1.0",
  "info": {"title": "T", "version": "1"},
  "paths": {
    "/v1/products/{id}": {"get": {"operationId": "CatalogService_GetProduct2",
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/google.rpc.Status"}}}}, "200": {"description": "ok"}}}},
    "/v1/products/{productId}/stock:adjust": {"post": {"operationId": "CatalogService_AdjustStock",
      "parameters": [{"name": "productId", "in": "path", "required": true, "schema": {"type": "string"}}],
      "requestBody": {"content": {"application/json": {"schema": {}}}},
      "responses": {"default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/google.rpc.Status"}}}}, "200": {"description": "ok"}}}}
  }
}`

// errResponse is the part of an OpenAPI response that the tests read, in either version.
type errResponse struct {
	Description string                     `json:"description"`
	Schema      map[string]any             `json:"schema"`
	Content     map[string]map[string]any  `json:"content"`
	Headers     map[string]json.RawMessage `json:"headers"`
}

type errOperation struct {
	OperationID string                 `json:"operationId"`
	Responses   map[string]errResponse `json:"responses"`
}

type errDocument struct {
	Paths map[string]map[string]json.RawMessage `json:"paths"`
}

// operations returns the operations of a document, by "VERB path".
func errOperations(t *testing.T, doc []byte) map[string]errOperation {
	t.Helper()
	var d errDocument
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	ops := make(map[string]errOperation)
	for path, item := range d.Paths {
		for verb, raw := range item {
			if verb == "parameters" {
				continue
			}
			var op errOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			ops[strings.ToUpper(verb)+" "+path] = op
		}
	}
	return ops
}

// statusRef returns the $ref of a response's schema, in either version.
func statusRef(r errResponse) string {
	if r.Schema != nil {
		ref, _ := r.Schema["$ref"].(string)
		return ref
	}
	if mt, ok := r.Content["application/json"]; ok {
		if s, ok := mt["schema"].(map[string]any); ok {
			ref, _ := s["$ref"].(string)
			return ref
		}
	}
	return ""
}

func errorCodes(op errOperation) []string {
	var codes []string
	for code := range op.Responses {
		if code >= "400" && code != "default" {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes)
	return codes
}

func TestPatchDocumentsErrors(t *testing.T) {
	t.Parallel()
	tb := table(t)
	v2, v3 := patchBoth(t, tb, errorsV2Doc, errorsV3Doc)
	for name, doc := range map[string][]byte{"v2": v2, "v3": v3} {
		ops := errOperations(t, doc)
		read, write := ops["GET /v1/products/{id}"], ops["POST /v1/products/{productId}/stock:adjust"]
		// The read is public, has no body and is no write; the write needs catalog.write.
		if got, want := errorCodes(read), []string{"400", "401", "404", "429", "503", "504"}; !slices.Equal(got, want) {
			t.Errorf("%s: the public read documents errors %v, want %v", name, got, want)
		}
		if got, want := errorCodes(write), []string{"400", "401", "403", "404", "409", "413", "429", "503", "504"}; !slices.Equal(got, want) {
			t.Errorf("%s: the authenticated write documents errors %v, want %v", name, got, want)
		}
		for _, op := range []errOperation{read, write} {
			for _, code := range errorCodes(op) {
				r := op.Responses[code]
				if ref := statusRef(r); !strings.HasSuffix(ref, "Status") {
					t.Errorf("%s: %s %s has schema %q, want the google.rpc.Status of the default response", name, op.OperationID, code, ref)
				}
				if r.Description == "" {
					t.Errorf("%s: %s %s has no description", name, op.OperationID, code)
				}
			}
		}
		for _, c := range []struct {
			op     errOperation
			code   string
			header string
		}{
			{write, "401", "WWW-Authenticate"},
			{write, "403", "WWW-Authenticate"},
			{read, "429", "Retry-After"},
			{read, "429", "RateLimit-Policy"},
			{read, "503", "Retry-After"},
			{read, "200", "RateLimit-Remaining"},
		} {
			if _, ok := c.op.Responses[c.code].Headers[c.header]; !ok {
				t.Errorf("%s: %s %s does not document %s", name, c.op.OperationID, c.code, c.header)
			}
		}
		if !strings.Contains(read.Responses["401"].Description, "public") {
			t.Errorf("%s: the 401 of a public read does not say that credentials are optional: %q", name, read.Responses["401"].Description)
		}
	}
	for name, patched := range map[string]func([]byte) ([]byte, error){
		"v2": func(doc []byte) ([]byte, error) { return openapidoc.PatchV2(doc, tb) },
		"v3": func(doc []byte) ([]byte, error) { return openapidoc.PatchV3(doc, v2, tb) },
	} {
		doc := map[string][]byte{"v2": v2, "v3": v3}[name]
		again, err := patched(doc)
		if err != nil || string(again) != string(doc) {
			t.Errorf("%s: patching twice changed the document (err %v)", name, err)
		}
	}
}

// TestPatchErrorsFollowLivePolicy patches documents already patched with the annotated
// policies again with overrides, as the gateway does at start-up: a write made public loses
// its 401 challenge and its 403, and a route without a rate-limit class its RateLimit fields.
func TestPatchErrorsFollowLivePolicy(t *testing.T) {
	t.Parallel()
	v2, err := openapidoc.PatchV2([]byte(errorsV2Doc), table(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Policy.Routes = map[string]config.RouteOverride{
		"storefront.catalog.v1.CatalogService/AdjustStock": {Access: "public", Scopes: []string{}, RateLimitClass: policy.NoRateLimit},
	}
	live, err := policy.Build([]protoreflect.ServiceDescriptor{catalogv1.File_storefront_catalog_v1_catalog_proto.Services().Get(0)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := openapidoc.PatchV2(v2, live)
	if err != nil {
		t.Fatal(err)
	}
	write := errOperations(t, got)["POST /v1/products/{productId}/stock:adjust"]
	if got, want := errorCodes(write), []string{"400", "401", "404", "409", "413", "429", "503", "504"}; !slices.Equal(got, want) {
		t.Errorf("the write made public documents errors %v, want %v", got, want)
	}
	for _, code := range []string{"200", "429"} {
		for name := range write.Responses[code].Headers {
			if strings.HasPrefix(name, "RateLimit-") {
				t.Errorf("%s of a route without a rate-limit class documents %s", code, name)
			}
		}
	}
}

// TestPublishedDocumentsErrors checks the committed documents: every errOperation documents at
// least one client error, and every error it documents has the google.rpc.Status schema.
func TestPublishedDocumentsErrors(t *testing.T) {
	t.Parallel()
	err := fs.WalkDir(openapi.FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".json") {
			return err
		}
		doc, err := fs.ReadFile(openapi.FS, name)
		if err != nil {
			return err
		}
		for key, op := range errOperations(t, doc) {
			codes := errorCodes(op)
			if len(codes) == 0 || codes[0] >= "500" {
				t.Errorf("%s: %s documents no 4xx answer", name, key)
			}
			for _, code := range codes {
				if ref := statusRef(op.Responses[code]); !strings.HasSuffix(ref, "Status") {
					t.Errorf("%s: %s %s has schema %q, want google.rpc.Status", name, key, code, ref)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
