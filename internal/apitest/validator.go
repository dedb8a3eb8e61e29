package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/archway-gateway/archway/openapi"
)

// Media types of the responses whose bodies are streams, which are not checked.
const (
	ndjsonType      = "application/x-ndjson"
	eventStreamType = "text/event-stream"
)

// Validator checks responses against OpenAPI documents. It is safe for concurrent use.
type Validator struct {
	specs []*spec
}

// spec is one document that responses are checked against.
type spec struct {
	// name says which document a mismatch was found in.
	name   string
	doc    *openapi3.T
	router *router
	// status is the document's google.rpc.Status schema, which every error body must match.
	status *openapi3.SchemaRef
}

// Load returns a Validator for the documents in fsys, laid out as in package openapi: the
// merged OpenAPI v2 document at openapi.V2 and OpenAPI 3 documents (*.json) under v3/.
func Load(fsys fs.FS) (*Validator, error) {
	v2, err := loadV2(fsys)
	if err != nil {
		return nil, fmt.Errorf("apitest.Load: %w", err)
	}
	v3, err := loadV3(fsys)
	if err != nil {
		return nil, fmt.Errorf("apitest.Load: %w", err)
	}
	v := &Validator{}
	for _, s := range []struct {
		name, status string
		doc          *openapi3.T
	}{
		{"the OpenAPI v2 document", "rpcStatus", v2},
		{"the OpenAPI v3 documents", "google.rpc.Status", v3},
	} {
		sp, err := newSpec(s.name, s.doc, s.status)
		if err != nil {
			return nil, fmt.Errorf("apitest.Load: %w", err)
		}
		v.specs = append(v.specs, sp)
	}
	return v, nil
}

// published is the Validator of the documents that the gateway publishes.
var published = sync.OnceValues(func() (*Validator, error) { return Load(openapi.FS) })

// Published returns the Validator of the documents in package openapi, the ones the gateway
// serves. It loads them once.
func Published() (*Validator, error) { return published() }

func newSpec(name string, doc *openapi3.T, statusSchema string) (*spec, error) {
	status := doc.Components.Schemas[statusSchema]
	if status == nil {
		return nil, fmt.Errorf("%s: no %s schema", name, statusSchema)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	router, err := newRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &spec{name: name, doc: doc, router: router, status: status}, nil
}

func loadV2(fsys fs.FS) (*openapi3.T, error) {
	b, err := fs.ReadFile(fsys, openapi.V2)
	if err != nil {
		return nil, err
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(b, &doc2); err != nil {
		return nil, fmt.Errorf("%s: %w", openapi.V2, err)
	}
	doc, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", openapi.V2, err)
	}
	return doc, nil
}

// loadV3 loads every document under v3/ and merges them into one, so that one router sees
// every path: a path of one document can shadow a more specific one of another
// (/v1/products/{id} and /v1/products/{id}:page).
func loadV3(fsys fs.FS) (*openapi3.T, error) {
	var merged *openapi3.T
	err := fs.WalkDir(fsys, "v3", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".json") {
			return err
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		doc, err := openapi3.NewLoader().LoadFromData(b)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if merged == nil {
			merged = doc
			return nil
		}
		if err := merge(merged, doc); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if merged == nil {
		return nil, errors.New("no OpenAPI v3 documents under v3/")
	}
	return merged, nil
}

// merge adds the paths and schemas of doc to into. A path in both is an error; a schema in
// both must be the same, since the documents name schemas by their full proto names.
func merge(into, doc *openapi3.T) error {
	for path, item := range doc.Paths.Map() {
		if into.Paths.Value(path) != nil {
			return fmt.Errorf("path %s is in two documents", path)
		}
		into.Paths.Set(path, item)
	}
	for name, s := range doc.Components.Schemas {
		have, ok := into.Components.Schemas[name]
		if !ok {
			into.Components.Schemas[name] = s
			continue
		}
		a, errA := json.Marshal(have)
		b, errB := json.Marshal(s)
		if err := errors.Join(errA, errB); err != nil {
			return err
		}
		if !bytes.Equal(a, b) {
			return fmt.Errorf("schema %s differs between documents", name)
		}
	}
	return nil
}

// APIPath reports whether path is one of the API's, under a version segment such as /v1/;
// other paths (/healthz, /docs, /openapi/..., /metrics) are the gateway's own endpoints.
func APIPath(path string) bool {
	first, _, found := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return found && len(first) > 1 && first[0] == 'v' && strings.Trim(first[1:], "0123456789") == ""
}

// checked reports whether the response to req is checked: req is an API request and not a
// CORS preflight, which the edge answers for every path and no operation describes.
func checked(req *http.Request) bool {
	preflight := req.Method == http.MethodOptions && req.Header.Get("Origin") != "" && req.Header.Get("Access-Control-Request-Method") != ""
	return APIPath(req.URL.Path) && !preflight
}

// streamed reports whether a response's body is a stream, which Validate does not read: a
// WebSocket upgrade, newline-delimited JSON or Server-Sent Events.
func streamed(code int, header http.Header) bool {
	if code == http.StatusSwitchingProtocols {
		return true
	}
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	return mt == ndjsonType || mt == eventStreamType
}

// Validate checks the response to req (its status, header and whole body) against every
// document, and returns an error that describes each mismatch. Requests outside the API (see
// APIPath) and CORS preflights pass unchecked; for streamed responses, only the status is
// checked.
func (v *Validator) Validate(req *http.Request, code int, header http.Header, body []byte) error {
	if !checked(req) {
		return nil
	}
	var errs []error
	for _, s := range v.specs {
		if err := s.validate(req, code, header, body); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s %s answered %d %s: %w", req.Method, req.URL.RequestURI(), code, clip(body), errors.Join(errs...))
	}
	return nil
}

func (s *spec) validate(req *http.Request, code int, header http.Header, body []byte) error {
	route, params := s.router.find(req)
	if route == nil {
		// No documented operation: only an error may answer, and it must be a google.rpc.Status.
		if code < http.StatusBadRequest {
			return fmt.Errorf("no documented operation answers %s %s, yet the response is not an error", req.Method, req.URL.Path)
		}
		return s.validateStatus(code, header, body)
	}
	op := route.Operation
	documented := op.Responses.Status(code)
	if code < http.StatusBadRequest && documented == nil {
		return fmt.Errorf("operation %s documents no %d response (it documents %s)", op.OperationID, code, strings.Join(codes(op), ", "))
	}
	if streamed(code, header) {
		return nil
	}
	if code == http.StatusNotModified {
		if err := notModified(req, body); err != nil {
			return fmt.Errorf("operation %s: %w", op.OperationID, err)
		}
		return nil
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 code,
		Header:                 header,
		Options:                filterOptions,
	}
	input.SetBodyBytes(body)
	response := documented
	if response == nil {
		response = op.Responses.Default()
	}
	if err := errors.Join(openapi3filter.ValidateResponse(req.Context(), input), undocumentedFields(response, header, body)); err != nil {
		return fmt.Errorf("operation %s: %w", op.OperationID, err)
	}
	return nil
}

// notModified checks a documented 304 Not Modified, which openapi3filter passes unchecked: it
// answers a conditional request and has no body.
func notModified(req *http.Request, body []byte) error {
	if req.Header.Get("If-None-Match") == "" && req.Header.Get("If-Modified-Since") == "" {
		return errors.New("304 Not Modified to a request without If-None-Match or If-Modified-Since")
	}
	if len(body) > 0 {
		return fmt.Errorf("304 Not Modified with a %d-byte body, want none", len(body))
	}
	return nil
}

// filterOptions are the options of every openapi3filter.ValidateResponse: a status that the
// operation does not document fails, and errors are short.
var filterOptions = func() *openapi3filter.Options {
	o := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	}
	o.WithCustomSchemaErrorFunc(schemaError)
	return o
}()

// schemaError describes a schema mismatch by where it is and why, without the schema and
// value that kin-openapi prints by default.
func schemaError(err *openapi3.SchemaError) string {
	return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
}

// validateStatus checks an error response to a request that no documented operation
// describes (an unknown path, a method the path does not serve): a JSON google.rpc.Status.
func (s *spec) validateStatus(code int, header http.Header, body []byte) error {
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if mt != "application/json" {
		return fmt.Errorf("error %d has Content-Type %q, want application/json", code, header.Get("Content-Type"))
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("error body is not JSON: %w", err)
	}
	var opts []openapi3.SchemaValidationOption
	if s.doc.IsOpenAPI31OrLater() {
		opts = append(opts, openapi3.EnableJSONSchema2020())
	}
	opts = append(opts, openapi3.MultiErrors(), openapi3.VisitAsResponse(), openapi3.SetSchemaErrorMessageCustomizer(schemaError))
	if err := s.status.Value.VisitJSON(value, opts...); err != nil {
		return fmt.Errorf("error body does not match the google.rpc.Status schema: %w", err)
	}
	return closed(s.status.Value, value, "")
}

// undocumentedFields checks that a JSON body has no member that its schema does not list:
// the gateway writes proto3 JSON, so a member the document does not know is a field renamed
// or missing in the document.
func undocumentedFields(response *openapi3.ResponseRef, header http.Header, body []byte) error {
	if response == nil || response.Value == nil {
		return nil
	}
	mt := response.Value.Content.Get(header.Get("Content-Type"))
	if mt == nil || mt.Schema == nil || len(body) == 0 {
		return nil
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	return closed(mt.Schema.Value, value, "")
}

// closed reports the first member of value, at any depth, that schema does not declare where
// it lists properties and says nothing of additional ones.
func closed(schema *openapi3.Schema, value any, at string) error {
	if schema == nil {
		return nil
	}
	switch v := value.(type) {
	case map[string]any:
		ap := schema.AdditionalProperties
		open := (ap.Has != nil && *ap.Has) || ap.Schema != nil
		for _, k := range slices.Sorted(maps.Keys(v)) {
			p := schema.Properties[k]
			switch {
			case p != nil:
				if err := closed(p.Value, v[k], at+"/"+k); err != nil {
					return err
				}
			case ap.Schema != nil:
				if err := closed(ap.Schema.Value, v[k], at+"/"+k); err != nil {
					return err
				}
			case !open && len(schema.Properties) > 0:
				return fmt.Errorf("body member %s/%s is not in the documented schema", at, k)
			}
		}
	case []any:
		if schema.Items == nil {
			return nil
		}
		for i, e := range v {
			if err := closed(schema.Items.Value, e, at+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// codes lists the status codes that op documents.
func codes(op *openapi3.Operation) []string {
	return slices.Sorted(maps.Keys(op.Responses.Map()))
}

// clip shortens a body for an error message.
func clip(body []byte) string {
	const limit = 512
	if len(body) > limit {
		return string(body[:limit]) + "…"
	}
	return string(body)
}

// Transport returns an http.RoundTripper that sends requests with base (http.DefaultTransport
// when nil) and checks every response with v. A response that does not match its document is
// closed and the round trip fails with an error that describes the mismatch. The bodies of
// non-streamed API responses are read in full before the round trip returns.
func (v *Validator) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{v: v, base: base}
}

type transport struct {
	v    *Validator
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || !checked(req) {
		return resp, err
	}
	if streamed(resp.StatusCode, resp.Header) {
		if err := t.v.Validate(req, resp.StatusCode, resp.Header, nil); err != nil {
			_ = resp.Body.Close()
			return nil, err
		}
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := t.v.Validate(req, resp.StatusCode, resp.Header, body); err != nil {
		return nil, err
	}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the base transport, so that
// http.Client.CloseIdleConnections works through it.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Transport is Published().Transport(base). When the published documents do not load, every
// round trip of an API request fails with the reason, so that no response goes unchecked.
func Transport(base http.RoundTripper) http.RoundTripper {
	v, err := Published()
	if err != nil {
		if base == nil {
			base = http.DefaultTransport
		}
		return failing{base, err}
	}
	return v.Transport(base)
}

// failing fails the round trip of every API request; others go through base.
type failing struct {
	base http.RoundTripper
	err  error
}

func (f failing) RoundTrip(req *http.Request) (*http.Response, error) {
	if APIPath(req.URL.Path) {
		return nil, f.err
	}
	return f.base.RoundTrip(req)
}
