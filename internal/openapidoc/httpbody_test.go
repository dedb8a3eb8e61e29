package openapidoc_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/policy"
	"github.com/archway-gateway/archway/internal/openapidoc"
	testapiv1 "github.com/archway-gateway/archway/internal/testapi/gen/archway/testapi/v1"
)

// TestPatchDocumentsHTTPBody: the operations of google.api.HttpBody methods (the test API's
// FileService, in the shapes the generators write) describe raw content of any media type, not
// the JSON object with base64 data of the generated schema: downloads, a streamed download
// (not NDJSON), an upload (body "*") and an HttpBody field bound as the body.
func TestPatchDocumentsHTTPBody(t *testing.T) {
	t.Parallel()
	tb, err := policy.Build([]protoreflect.ServiceDescriptor{testapiv1.File_archway_testapi_v1_files_proto.Services().Get(0)}, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	v2 := `{"swagger": "2.0", "info": {"title": "T", "version": "1"}, "paths": {
  "/v1/files/{file}:content": {
    "get": {"operationId": "FileService_GetFileContent", "responses": {"200": {"description": "A successful response.", "schema": {"$ref": "#/definitions/apiHttpBody"}}}},
    "put": {"operationId": "FileService_ReplaceFileContent", "responses": {"200": {"schema": {"$ref": "#/definitions/v1File"}}},
            "parameters": [{"name": "content", "in": "body", "required": true, "schema": {"$ref": "#/definitions/apiHttpBody"}}]}},
  "/v1/files/{file}:stream": {"get": {"operationId": "FileService_StreamFileContent", "responses": {"200": {"description": "A successful response.(streaming responses)", "schema": {"type": "string", "format": "binary"}}}}},
  "/v1/files:upload": {"post": {"operationId": "FileService_UploadFile", "responses": {"200": {"schema": {"$ref": "#/definitions/v1File"}}},
            "parameters": [{"name": "body", "in": "body", "required": true, "schema": {"$ref": "#/definitions/apiHttpBody"}}]}},
  "/v1/files/{name}": {"patch": {"operationId": "FileService_UpdateFile", "responses": {"200": {"schema": {"$ref": "#/definitions/v1File"}}},
            "parameters": [{"name": "file", "in": "body", "required": true, "schema": {"$ref": "#/definitions/v1File"}}]}}
}, "securityDefinitions": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}}`
	v3 := `{"openapi": "3.1.0", "info": {"title": "files"}, "paths": {
  "/v1/files/{name}:content": {
    "get": {"operationId": "FileService_GetFileContent", "responses": {"200": {"description": "Message that represents an arbitrary HTTP body.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/google.api.HttpBody"}}}}}},
    "put": {"operationId": "FileService_ReplaceFileContent", "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/archway.testapi.v1.File"}}}}},
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/google.api.HttpBody"}}}, "required": true}}},
  "/v1/files/{name}:stream": {"get": {"operationId": "FileService_StreamFileContent", "responses": {"200": {"description": "Message that represents an arbitrary HTTP body.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/google.api.HttpBody"}}}}}}},
  "/v1/files:upload": {"post": {"operationId": "FileService_UploadFile", "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/archway.testapi.v1.File"}}}}},
            "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"data": {"type": "string", "format": "byte"}}}}}, "required": true}}},
  "/v1/files/{name}": {"patch": {"operationId": "FileService_UpdateFile", "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/archway.testapi.v1.File"}}}}},
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/archway.testapi.v1.File"}}}, "required": true}}}
}}`
	gotV2, gotV3 := patchBoth(t, tb, v2, v3)
	binary := `{"type":"string","format":"binary"}`
	s2, s3 := squeeze(string(gotV2)), squeeze(string(gotV3))
	// Every HttpBody reference is gone; the JSON File bodies stay.
	for _, c := range []struct {
		name, doc, ref string
		binaries       int
	}{{"v2", s2, "apiHttpBody", 4}, {"v3", s3, "google.api.HttpBody", 4}} {
		if strings.Contains(c.doc, c.ref) || strings.Contains(c.doc, `"format":"byte"`) {
			t.Errorf("%s: HttpBody still described as JSON:\n%s", c.name, c.doc)
		}
		if n := strings.Count(c.doc, binary); n != c.binaries {
			t.Errorf("%s: %d binary schemas, want %d (two downloads, two uploads):\n%s", c.name, n, c.binaries, c.doc)
		}
		if !strings.Contains(c.doc, `archway.testapi.v1.File"}`) && !strings.Contains(c.doc, `v1File"}`) {
			t.Errorf("%s: the JSON File schemas are gone:\n%s", c.name, c.doc)
		}
		if strings.Contains(c.doc, "x-ndjson") || strings.Contains(c.doc, "event-stream") {
			t.Errorf("%s: the HttpBody stream is described as framed:\n%s", c.name, c.doc)
		}
	}
	for _, want := range []string{`"produces":["*/*","application/json"]`, `"consumes":["*/*"]`} {
		if !strings.Contains(s2, want) {
			t.Errorf("v2 lacks %s:\n%s", want, gotV2)
		}
	}
	if n := strings.Count(s3, `"content":{"*/*":{"schema":`+binary+`}}`); n != 4 {
		t.Errorf("v3: %d */* binary contents, want 4:\n%s", n, gotV3)
	}
	again, err := openapidoc.PatchV3(gotV3, gotV2, tb)
	if err != nil || string(again) != string(gotV3) {
		t.Errorf("patching twice changed the document (err %v):\n%s", err, again)
	}
}
