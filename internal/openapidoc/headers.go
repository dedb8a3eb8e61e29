package openapidoc

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/composite"
	"github.com/archway-gateway/archway/gateway/policy"
)

// The header fields of cached reads (see gateway/cache): the client revalidates with
// If-None-Match and the gateway answers 304 Not Modified when the entity tag still matches.
const (
	ifNoneMatchHeader  = "If-None-Match"
	etagHeader         = "ETag"
	cacheControlHeader = "Cache-Control"
	ageHeader          = "Age"
	locationHeader     = "Location"
)

// Descriptions of the documented header fields and responses.
const (
	ifNoneMatchNote = "Entity tags of a response the client has kept, from its ETag. When the gateway's response cache " +
		"is on and one of them matches its current response, the gateway answers 304 Not Modified without a body."
	etagNote = "Strong entity tag of the response body, sent when the gateway's response cache is on; send it back " +
		"in If-None-Match to revalidate."
	ageNote = "Seconds since the gateway's response cache stored the response (0 for one just fetched from the " +
		"backend), sent when the cache is on."
	notModifiedNote = "Not Modified: the response whose entity tag the request sent in If-None-Match is still " +
		"current. No body."
	locationNote = "The path of the new resource (the route's version prefix, then the resource name), when a GET " +
		"route of the gateway serves it."
	partialNote = "Sent only when the response is partial: the names of the parts that could not be fetched in " +
		"time, comma-separated, such as \"orders, products\". Those parts are empty in the body and listed in its " +
		"degradedParts; the response is still 200."
)

// cachedRead reports whether the gateway's response cache serves the operation: a GET of a
// unary method whose policy has a cache TTL.
func cachedRead(p *policy.Policy, verb string, kind streamKind) bool {
	return strings.EqualFold(verb, http.MethodGet) && kind == unary && p.Cache.TTL > 0
}

// cacheControl is the Cache-Control value of the method's cached responses, as the cache
// writes it: private for authenticated methods, the TTL, and the stale-while-revalidate window.
func cacheControl(p *policy.Policy) string {
	scope := "private"
	if !p.Authenticated {
		scope = "public"
	}
	v := fmt.Sprintf("%s, max-age=%d", scope, int64(p.Cache.TTL/time.Second))
	if swr := p.Cache.StaleWhileRevalidate; swr > 0 {
		v += fmt.Sprintf(", stale-while-revalidate=%d", int64(swr/time.Second))
	}
	return v
}

func cacheControlNote(p *policy.Policy) string {
	return fmt.Sprintf("How long the response may be reused, sent when the gateway's response cache is on: %q "+
		"(the method's cache policy).", cacheControl(p))
}

// partial reports whether the method's responses can be partial: its response message lists
// degraded parts, and the gateway then sets composite.PartialHeader.
func partial(md protoreflect.MethodDescriptor) bool {
	if md == nil {
		return false
	}
	f := md.Output().Fields().ByName("degraded_parts")
	return f != nil && f.IsList() && f.Kind() == protoreflect.StringKind
}

// headerV2 is an OpenAPI v2 header object.
func headerV2(typ, description string) *object {
	h := newObject()
	h.set("type", typ)
	h.set("description", description)
	return h
}

// headerV3 is an OpenAPI v3 header object.
func headerV3(typ, description string) *object {
	h := newObject()
	h.set("description", description)
	schema := newObject()
	schema.set("type", typ)
	h.set("schema", schema)
	return h
}

// setHeaders sets header objects on a response, by name, in order.
func setHeaders(resp *object, names []string, headers []*object) {
	if resp == nil {
		return
	}
	hs := resp.obj("headers")
	if hs == nil {
		hs = newObject()
		resp.set("headers", hs)
	}
	for i, name := range names {
		hs.set(name, headers[i])
	}
}

// addParameter adds an operation parameter unless one with its name and location exists.
func addParameter(op, param *object) {
	params, _ := op.get("parameters").([]any)
	for _, p := range params {
		if o, ok := p.(*object); ok && strings.EqualFold(o.str("name"), param.str("name")) && o.str("in") == param.str("in") {
			return
		}
	}
	op.set("parameters", append(params, param))
}

// headersV2 documents, in an OpenAPI v2 operation, the header fields the gateway adds to its
// answers: the conditional request and the 304 of cached reads with their cache headers,
// Location on the 201 of creates, and the partial-response header of composites.
func headersV2(op *object, p *policy.Policy, verb string) {
	ifNoneMatch := newObject()
	ifNoneMatch.set("name", ifNoneMatchHeader)
	ifNoneMatch.set("description", ifNoneMatchNote)
	ifNoneMatch.set("in", "header")
	ifNoneMatch.set("required", false)
	ifNoneMatch.set("type", "string")
	addHeaders(op, p, verb, ifNoneMatch, headerV2)
}

// headersV3 is headersV2 for an OpenAPI v3 operation.
func headersV3(op *object, p *policy.Policy, verb string) {
	ifNoneMatch := newObject()
	ifNoneMatch.set("name", ifNoneMatchHeader)
	ifNoneMatch.set("in", "header")
	ifNoneMatch.set("description", ifNoneMatchNote)
	schema := newObject()
	schema.set("type", "string")
	ifNoneMatch.set("schema", schema)
	addHeaders(op, p, verb, ifNoneMatch, headerV3)
}

// addHeaders is headersV2 and headersV3, given the If-None-Match parameter and the response
// header of their OpenAPI version.
func addHeaders(op *object, p *policy.Policy, verb string, ifNoneMatch *object, header func(typ, description string) *object) {
	responses := op.obj("responses")
	if responses == nil {
		return
	}
	if cachedRead(p, verb, streamKindOf(p, verb)) {
		addParameter(op, ifNoneMatch)
		names := []string{etagHeader, cacheControlHeader, ageHeader}
		headers := func() []*object {
			return []*object{header("string", etagNote), header("string", cacheControlNote(p)), header("integer", ageNote)}
		}
		setHeaders(responses.obj("200"), names, headers())
		notModified := newObject()
		notModified.set("description", notModifiedNote)
		setHeaders(notModified, names, headers())
		responses.setAfter("200", "304", notModified)
	}
	if creates(p, verb) {
		setHeaders(responses.obj("201"), []string{locationHeader}, []*object{header("string", locationNote)})
	}
	if partial(p.Descriptor) {
		setHeaders(responses.obj("200"), []string{composite.PartialHeader}, []*object{header("string", partialNote)})
	}
}
