package openapidoc

import (
	"github.com/archway-gateway/archway/gateway/policy"
)

// google.api.HttpBody is raw content in and out (gateway/httpbody.go): the generators describe
// it as a JSON object with base64 data, which is not what the gateway sends or takes.

// httpBodyName is the full name of google.api.HttpBody.
const httpBodyName = "google.api.HttpBody"

// References to the HttpBody schema in the generators' documents.
const (
	httpBodyRefV2 = "#/definitions/apiHttpBody"
	httpBodyRefV3 = "#/components/schemas/google.api.HttpBody"
)

// anyMediaType stands for the content type of an HttpBody: whatever the backend or client sets.
const anyMediaType = "*/*"

// Descriptions of a raw response and a raw request body.
const (
	rawResponseNote = "The content itself, with its own Content-Type (application/octet-stream when the backend names none)."
	rawStreamNote   = "The content itself, sent in chunks as the backend streams them, with the Content-Type of the first " +
		"chunk. A stream that fails after it started is cut off (the connection is reset), never ended with an error object."
	rawRequestNote = "The content itself, with its Content-Type; the gateway passes both to the backend as they are."
)

// returnsHTTPBody reports whether the policy's method answers HttpBody (a unary response, or
// a server stream).
func returnsHTTPBody(p *policy.Policy) bool {
	md := p.Descriptor
	return md != nil && !md.IsStreamingClient() && md.Output().FullName() == httpBodyName
}

// takesHTTPBody reports whether the policy's method's request is an HttpBody.
func takesHTTPBody(p *policy.Policy) bool {
	md := p.Descriptor
	return md != nil && !md.IsStreamingClient() && md.Input().FullName() == httpBodyName
}

// binarySchema is the schema of raw content.
func binarySchema() *object {
	s := newObject()
	s.set("type", "string")
	s.set("format", "binary")
	return s
}

// rawBodyV3 is an OpenAPI v3 content map of raw content of any media type.
func rawBodyV3() *object {
	media := newObject()
	media.set("schema", binarySchema())
	content := newObject()
	content.set(anyMediaType, media)
	return content
}

// httpBodyV2 documents the raw response and request bodies of an OpenAPI v2 operation.
func httpBodyV2(op *object, p *policy.Policy) {
	if returnsHTTPBody(p) {
		op.set("produces", []any{anyMediaType, "application/json"})
		if ok := response200(op); ok != nil {
			ok.set("description", rawNote(p))
			ok.set("schema", binarySchema())
		}
	}
	params, _ := op.get("parameters").([]any)
	for _, param := range params {
		param, _ := param.(*object)
		if param == nil || param.str("in") != "body" {
			continue
		}
		if takesHTTPBody(p) || schemaRef(param) == httpBodyRefV2 {
			op.set("consumes", []any{anyMediaType})
			param.set("description", rawRequestNote)
			param.set("schema", binarySchema())
		}
	}
}

// httpBodyV3 documents the raw response and request bodies of an OpenAPI v3 operation.
func httpBodyV3(op *object, p *policy.Policy) {
	if returnsHTTPBody(p) {
		if ok := response200(op); ok != nil {
			ok.set("description", rawNote(p))
			ok.set("content", rawBodyV3())
		}
	}
	body := op.obj("requestBody")
	if body == nil {
		return
	}
	var ref string
	if content := body.obj("content"); content != nil && content.obj("application/json") != nil {
		ref = schemaRef(content.obj("application/json"))
	}
	if takesHTTPBody(p) || ref == httpBodyRefV3 {
		body.set("description", rawRequestNote)
		body.set("content", rawBodyV3())
	}
}

func rawNote(p *policy.Policy) string {
	if p.Descriptor.IsStreamingServer() {
		return rawStreamNote
	}
	return rawResponseNote
}

// response200 returns the operation's 200 response, or nil.
func response200(op *object) *object {
	if responses := op.obj("responses"); responses != nil {
		return responses.obj("200")
	}
	return nil
}

// schemaRef returns the $ref of o's schema, or "".
func schemaRef(o *object) string {
	if schema := o.obj("schema"); schema != nil {
		return schema.str("$ref")
	}
	return ""
}
