package openapidoc

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/policy"
	"github.com/archway-gateway/archway/gateway/ratelimit"
)

// The header fields that come with the gateway's error answers (see gateway/authn, gateway/edge
// and gateway/ratelimit).
const (
	wwwAuthenticateHeader = "WWW-Authenticate"
	retryAfterHeader      = ratelimit.HeaderRetryAfter
)

// rateLimitHeaders are the header fields of every answer, success or 429, to a route whose
// policy names a rate-limit class, in the order the gateway documents them.
var rateLimitHeaders = []string{ratelimit.HeaderLimit, ratelimit.HeaderRemaining, ratelimit.HeaderReset, ratelimit.HeaderPolicy}

// headerNotes describe the header fields of error answers, and their JSON type.
var headerNotes = map[string]struct{ typ, note string }{
	wwwAuthenticateHeader: {"string", `The RFC 6750 challenge, such as Bearer realm="archway", error="invalid_token".`},
	retryAfterHeader:      {"integer", "Seconds to wait before sending the request again."},
	ratelimit.HeaderLimit: {"integer", "Requests the client can make at once when it has made none for a while " +
		"(the burst of the route's rate-limit class)."},
	ratelimit.HeaderRemaining: {"integer", "Requests the client can make at once now."},
	ratelimit.HeaderReset:     {"integer", "Seconds until RateLimit-Remaining is back to RateLimit-Limit."},
	ratelimit.HeaderPolicy:    {"string", "The quota of the route's rate-limit class, as \"100;w=1;burst=200\": requests per window of w seconds, and the burst."},
}

// errorCodes are the statuses that errorsV2 and errorsV3 manage: each is documented on the
// operations that can get it, and removed from the others.
var errorCodes = []int{
	http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
	http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUpgradeRequired,
	http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// errorAnswer is one error status the gateway can answer an operation with.
type errorAnswer struct {
	code    int
	note    string
	headers []string
}

// operationShape is what the error answers of an operation depend on besides its policy.
type operationShape struct {
	verb       string
	kind       streamKind
	pathParams bool
	body       bool
}

// errorAnswers returns, by status, the error answers the gateway can give an operation of the
// given shape whose method has policy p: the ones that every request can get (400, 503, 504,
// and 401 for a credential that is not valid, which the gateway checks on public routes too),
// and those that follow from the policy and the binding.
func errorAnswers(p *policy.Policy, s operationShape) []errorAnswer {
	limited := p.RateLimitClass != ""
	var answers []errorAnswer
	add := func(code int, note string, headers ...string) {
		answers = append(answers, errorAnswer{code: code, note: http.StatusText(code) + ": " + note, headers: headers})
	}
	add(http.StatusBadRequest, "the path, query or body cannot be read into the request, or the backend refused "+
		"its content (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE). A credential sent in a place this "+
		"request does not accept is refused too, with a challenge in WWW-Authenticate.", wwwAuthenticateHeader)
	if p.Authenticated {
		add(http.StatusUnauthorized, "the request carries no credential, or one that is not valid (UNAUTHENTICATED).", wwwAuthenticateHeader)
	} else {
		add(http.StatusUnauthorized, "the request carries a credential that is not valid (UNAUTHENTICATED). The "+
			"operation is public: a request without a credential is not refused.", wwwAuthenticateHeader)
	}
	var forbidden []string
	if len(p.Scopes) > 0 {
		forbidden = append(forbidden, "the credential lacks one of the scopes "+strings.Join(p.Scopes, ", ")+
			" (with error=\"insufficient_scope\" in WWW-Authenticate)")
	}
	if p.Authenticated {
		forbidden = append(forbidden, "the backend does not let the caller act on this resource")
	}
	if p.IPFilterClass != "" {
		forbidden = append(forbidden, "the client address is not allowed by the ip_filter class "+p.IPFilterClass)
	}
	if len(forbidden) > 0 {
		headers := []string(nil)
		if len(p.Scopes) > 0 {
			headers = append(headers, wwwAuthenticateHeader)
		}
		add(http.StatusForbidden, strings.Join(forbidden, "; ")+" (PERMISSION_DENIED).", headers...)
	}
	if s.pathParams || namesParent(p.Descriptor) {
		add(http.StatusNotFound, "no resource has this name, or the caller may not see it (NOT_FOUND).")
	}
	if !strings.EqualFold(s.verb, http.MethodGet) {
		add(http.StatusConflict, "the change conflicts with the resource's current state (ALREADY_EXISTS, ABORTED).")
	}
	if s.body {
		add(http.StatusRequestEntityTooLarge, "the request body is larger than the gateway accepts (api.max_request_body_bytes).")
	}
	if s.kind == webSocket {
		add(http.StatusUpgradeRequired, "the request is not a WebSocket upgrade; this operation is served over WebSocket only.")
	}
	tooMany := []string{"the client failed authentication too often and sent a credential again"}
	headers := []string{retryAfterHeader}
	if limited {
		tooMany = append(tooMany, "it made more requests than the rate-limit class "+p.RateLimitClass+" allows")
		headers = append(headers, rateLimitHeaders...)
	}
	if s.kind != unary {
		tooMany = append(tooMany, "it holds as many streams open as the gateway allows a client")
	}
	add(http.StatusTooManyRequests, strings.Join(tooMany, ", or ")+" (RESOURCE_EXHAUSTED).", headers...)
	add(http.StatusServiceUnavailable, "the gateway is serving or reading too many requests, or the backend is "+
		"unavailable (UNAVAILABLE); retry later, after Retry-After when it is sent.", retryAfterHeader)
	add(http.StatusGatewayTimeout, "the backend did not answer within the operation's deadline (DEADLINE_EXCEEDED).")
	return answers
}

// namesParent reports whether the method's request names a resource in a parent field, which
// the backend answers NOT_FOUND when it does not exist.
func namesParent(md protoreflect.MethodDescriptor) bool {
	return md != nil && md.Input().Fields().ByName("parent") != nil
}

// errorsV2 documents, in an OpenAPI v2 operation, the errors of errorAnswers, each with the
// google.rpc.Status schema of its default response and its header fields, and the rate-limit
// header fields of its success answers.
func errorsV2(op *object, p *policy.Policy, verb string) {
	s := operationShape{verb: verb, kind: streamKindOf(p, verb)}
	params, _ := op.get("parameters").([]any)
	for _, param := range params {
		if o, ok := param.(*object); ok {
			s.pathParams = s.pathParams || o.str("in") == "path"
			s.body = s.body || o.str("in") == "body" || o.str("in") == "formData"
		}
	}
	s.body = s.body || s.kind == requestStream || s.kind == bidiStream
	documentErrors(op, p, s, func(a errorAnswer, def *object) *object {
		resp := newObject()
		resp.set("description", a.note)
		if def != nil && def.get("schema") != nil {
			resp.set("schema", def.get("schema"))
		}
		if len(a.headers) > 0 {
			setHeaders(resp, a.headers, headerObjects(a.headers, headerV2))
		}
		return resp
	}, headerV2)
}

// errorsV3 is errorsV2 for an OpenAPI v3 operation.
func errorsV3(op *object, p *policy.Policy, verb string) {
	s := operationShape{verb: verb, kind: streamKindOf(p, verb), body: op.get("requestBody") != nil}
	params, _ := op.get("parameters").([]any)
	for _, param := range params {
		if o, ok := param.(*object); ok && o.str("in") == "path" {
			s.pathParams = true
		}
	}
	documentErrors(op, p, s, func(a errorAnswer, def *object) *object {
		resp := newObject()
		resp.set("description", a.note)
		if def != nil && def.get("content") != nil {
			resp.set("content", def.get("content"))
		}
		if len(a.headers) > 0 {
			setHeaders(resp, a.headers, headerObjects(a.headers, headerV3))
		}
		return resp
	}, headerV3)
}

// documentErrors sets the error responses of op, made by response from the operation's default
// response, removes the managed statuses it cannot get, and sets or removes the rate-limit header
// fields of its other responses (success, and 304 Not Modified from the cache, which answers
// after the rate limit).
func documentErrors(op *object, p *policy.Policy, s operationShape, response func(errorAnswer, *object) *object, header func(typ, description string) *object) {
	responses := op.obj("responses")
	if responses == nil {
		return
	}
	def := responses.obj("default")
	answers := errorAnswers(p, s)
	for _, code := range errorCodes {
		i := slices.IndexFunc(answers, func(a errorAnswer) bool { return a.code == code })
		if i < 0 {
			responses.del(strconv.Itoa(code))
			continue
		}
		setSorted(responses, strconv.Itoa(code), response(answers[i], def))
	}
	for _, key := range responses.keys {
		if len(key) != 3 || key >= "400" {
			continue
		}
		resp := responses.obj(key)
		if resp == nil {
			continue
		}
		if p.RateLimitClass != "" {
			setHeaders(resp, rateLimitHeaders, headerObjects(rateLimitHeaders, header))
			continue
		}
		if hs := resp.obj("headers"); hs != nil {
			for _, name := range rateLimitHeaders {
				hs.del(name)
			}
			if len(hs.keys) == 0 {
				resp.del("headers")
			}
		}
	}
}

// setSorted sets the response of status code in responses: in place when it is there, else
// before the first numbered response with a higher status, or last.
func setSorted(responses *object, code string, resp *object) {
	if responses.get(code) != nil {
		responses.set(code, resp)
		return
	}
	after := ""
	for _, k := range responses.keys {
		if len(k) == 3 && k < code {
			after = k
		}
	}
	if after == "" {
		responses.set(code, resp)
		return
	}
	responses.setAfter(after, code, resp)
}

// headerObjects returns the header objects of the named fields, made by header.
func headerObjects(names []string, header func(typ, description string) *object) []*object {
	hs := make([]*object, len(names))
	for i, name := range names {
		n := headerNotes[name]
		hs[i] = header(n.typ, n.note)
	}
	return hs
}
