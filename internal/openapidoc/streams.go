package openapidoc

import (
	"net/http"
	"strings"

	"github.com/archway-gateway/archway/gateway/policy"
)

// Media types of the streamed responses of the gateway (gateway/stream.go, gateway/sse.go).
const (
	ndjsonType      = "application/x-ndjson"
	eventStreamType = "text/event-stream"
)

// WebSocketMessageExtension is the vendor extension of the 101 response of a method served
// over WebSocket that holds the schema of one message, the JSON of one text frame.
const WebSocketMessageExtension = "x-archway-websocket-message"

// streamKind is how the gateway serves a method over HTTP.
type streamKind int

const (
	// unary methods answer one JSON message.
	unary streamKind = iota
	// serverStream methods answer a stream: newline-delimited JSON, or Server-Sent Events for
	// clients that accept text/event-stream.
	serverStream
	// webSocket methods (client and bidirectional streams bound to GET) switch the connection
	// to WebSocket.
	webSocket
	// requestStream methods (client streams bound to another method) read their messages from
	// the request body as newline-delimited JSON and answer one message (requeststream.go).
	requestStream
	// bidiStream methods (bidirectional streams bound to another method) read as requestStream
	// and answer their messages as newline-delimited JSON.
	bidiStream
	// rawStream methods stream google.api.HttpBody: the content itself, unframed (httpbody.go).
	rawStream
)

// streamKindOf returns the kind of the policy's method bound to the HTTP method verb; a policy
// without a descriptor is unary.
func streamKindOf(p *policy.Policy, verb string) streamKind {
	md := p.Descriptor
	switch {
	case md == nil:
		return unary
	case md.IsStreamingClient() && strings.EqualFold(verb, http.MethodGet):
		return webSocket
	case md.IsStreamingClient() && md.IsStreamingServer():
		return bidiStream
	case md.IsStreamingClient():
		return requestStream
	case md.IsStreamingServer() && md.Output().FullName() == httpBodyName:
		return rawStream
	case md.IsStreamingServer():
		return serverStream
	}
	return unary
}

// streamNote ends the description of a server stream's 200 response.
const streamNote = " Sent as newline-delimited JSON (" + ndjsonType + "), one object per line with the message in " +
	"`result`, or an `error` with a google.rpc.Status that ends the stream; or, to clients that accept " +
	eventStreamType + ", as Server-Sent Events: one event per message whose data is the message, " +
	"a final `event: error` with the google.rpc.Status, and a final `event: end`."

// requestStreamNote ends the description of the request body of a client or bidirectional
// stream bound to a method other than GET.
const requestStreamNote = " Sent as newline-delimited JSON (" + ndjsonType + "), one message per line; " +
	"the end of the body ends the stream."

// bidiStreamNote ends the description of the 200 response of a bidirectional stream bound to a
// method other than GET.
const bidiStreamNote = " Sent as newline-delimited JSON (" + ndjsonType + "), one object per line with the " +
	"message in `result`, or an `error` with a google.rpc.Status that ends the stream."

// webSocketNote describes the answer to a method served over WebSocket.
const webSocketNote = "Switching Protocols: the connection becomes a WebSocket (send `Connection: Upgrade` and " +
	"`Upgrade: websocket`). Each text frame carries one JSON message of the stream, both ways; the " +
	"close code, mapped from the final gRPC status, and the reason, its message, end the call. " +
	"Without the upgrade headers the gateway answers 426."

// streamV2 documents a stream in an OpenAPI v2 operation: the media types of a server stream
// (v2 lists them per operation, errors' application/json included), 101 instead of 200 for
// WebSocket methods, and the NDJSON body (and, for bidirectional streams, response) of request
// streams bound to other methods.
func streamV2(op *object, kind streamKind) {
	switch kind {
	case serverStream:
		op.set("produces", []any{"application/json", ndjsonType, eventStreamType})
		noteStream(op.obj("responses").obj("200"))
	case webSocket:
		switchProtocols(op.obj("responses"))
	case requestStream, bidiStream:
		op.set("consumes", []any{ndjsonType})
		params, _ := op.get("parameters").([]any)
		for _, param := range params {
			if param, _ := param.(*object); param != nil && param.str("in") == "body" {
				note(param, requestStreamNote)
			}
		}
		if kind == bidiStream {
			op.set("produces", []any{"application/json", ndjsonType})
			note(op.obj("responses").obj("200"), bidiStreamNote)
		}
	}
}

// streamV3 documents a stream in an OpenAPI v3 operation: a server stream's 200 as
// newline-delimited JSON (the generator's application/json, one line's schema) or Server-Sent
// Events, 101 instead of 200 for WebSocket methods, and the NDJSON request body (and, for
// bidirectional streams, response) of request streams bound to other methods.
func streamV3(op *object, kind streamKind) {
	switch kind {
	case serverStream:
		ok := op.obj("responses").obj("200")
		noteStream(ok)
		content := ok.obj("content")
		if content == nil {
			return
		}
		content.rename("application/json", ndjsonType)
		if content.get(eventStreamType) == nil {
			schema := newObject()
			schema.set("type", "string")
			events := newObject()
			events.set("schema", schema)
			content.set(eventStreamType, events)
		}
	case webSocket:
		switchProtocols(op.obj("responses"))
	case requestStream, bidiStream:
		if body := op.obj("requestBody"); body != nil {
			note(body, requestStreamNote)
			if content := body.obj("content"); content != nil {
				content.rename("application/json", ndjsonType)
			}
		}
		if kind == bidiStream {
			ok := op.obj("responses").obj("200")
			note(ok, bidiStreamNote)
			if content := ok.obj("content"); content != nil {
				content.rename("application/json", ndjsonType)
			}
		}
	}
}

// noteStream adds streamNote to a response's description, once.
func noteStream(resp *object) { note(resp, streamNote) }

// note adds text to the description of o, once.
func note(o *object, text string) {
	if o == nil {
		return
	}
	if d := o.str("description"); !strings.Contains(d, text) {
		o.set("description", strings.TrimSpace(d)+text)
	}
}

// switchProtocols replaces the 200 response of a WebSocket method with a 101 one, which has
// no body: the 200's description, which names the message, then webSocketNote. The schema of
// one message, the generator's stream result, stays in the WebSocketMessageExtension of the 101
// response.
func switchProtocols(responses *object) {
	ok := responses.obj("200")
	if ok == nil {
		return
	}
	what := strings.TrimSpace(strings.TrimSuffix(ok.str("description"), "(streaming responses)"))
	if what == "A successful response." {
		what = ""
	}
	schema := ok.obj("schema")
	if content := ok.obj("content"); content != nil && content.obj("application/json") != nil {
		schema = content.obj("application/json").obj("schema")
	}
	resp := newObject()
	resp.set("description", strings.TrimSpace(what+" "+webSocketNote))
	if schema != nil && schema.obj("properties") != nil && schema.obj("properties").obj("result") != nil {
		resp.set(WebSocketMessageExtension, schema.obj("properties").obj("result"))
	}
	responses.rename("200", "101")
	responses.set("101", resp)
}
