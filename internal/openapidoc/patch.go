package openapidoc

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/archway-gateway/archway/gateway/policy"
)

// ScopesExtension is the vendor extension of an OpenAPI v2 operation that lists the scopes it
// requires: v2 allows scopes in a security requirement only for OAuth2 schemes.
const ScopesExtension = "x-archway-scopes"

// Security is what the gateway requires of the callers of one operation.
type Security struct {
	// Authenticated says whether the operation needs a credential.
	Authenticated bool
	// Scopes are the scopes the credential must hold, all of them.
	Scopes []string
}

// methods maps the operation ids that the generators write, "Service_Method" followed by a
// number for a method's additional bindings, to the gRPC methods of a policy table.
type methods struct {
	table  *policy.Table
	byName map[string]string
}

func newMethods(t *policy.Table) (*methods, error) {
	m := &methods{table: t, byName: make(map[string]string)}
	for _, full := range t.Methods() {
		svc, method, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")
		id := svc[strings.LastIndex(svc, ".")+1:] + "_" + method
		if other, ok := m.byName[id]; ok {
			return nil, fmt.Errorf("%s and %s have the same operation id prefix %s; OpenAPI operations could not be told apart", other, full, id)
		}
		m.byName[id] = full
	}
	return m, nil
}

// method returns the gRPC method of the operation with the given id and its policy.
func (m *methods) method(operationID string) (*policy.Policy, error) {
	id := operationID
	if _, ok := m.byName[id]; !ok {
		id = strings.TrimRight(id, "0123456789")
		if _, ok := m.byName[id]; !ok {
			id = strings.TrimSuffix(id, "_")
		}
	}
	full, ok := m.byName[id]
	if !ok {
		return nil, fmt.Errorf("operation %q: no method of the route policies has this operation id", operationID)
	}
	p, _ := m.table.Lookup(full)
	return p, nil
}

// OperationMethod returns the gRPC method, as in "/storefront.users.v1.UserService/GetUser",
// of the operation with the given id in a document generated from the methods of t.
func OperationMethod(t *policy.Table, operationID string) (string, error) {
	m, err := newMethods(t)
	if err != nil {
		return "", err
	}
	p, err := m.method(operationID)
	if err != nil {
		return "", err
	}
	return p.Method, nil
}

// httpMethods are the keys of an OpenAPI path item that are operations.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// eachOperation calls fn with every operation of doc, in document order.
func eachOperation(doc *object, fn func(verb string, op *object) error) error {
	paths := doc.obj("paths")
	if paths == nil {
		return nil
	}
	for _, path := range paths.keys {
		item := paths.obj(path)
		if item == nil {
			continue
		}
		for _, verb := range item.keys {
			op := item.obj(verb)
			if op == nil || !slices.Contains(httpMethods, verb) {
				continue
			}
			if err := fn(verb, op); err != nil {
				return fmt.Errorf("%s %s: %w", strings.ToUpper(verb), path, err)
			}
		}
	}
	return nil
}

// creates reports whether the gateway answers the method's successful calls on an HTTP
// binding with the given verb with 201 Created (see gateway.New).
func creates(p *policy.Policy, verb string) bool {
	_, name, _ := strings.Cut(strings.TrimPrefix(p.Method, "/"), "/")
	return strings.EqualFold(verb, http.MethodPost) && strings.HasPrefix(name, "Create")
}

// schemeNames returns the names of the security schemes of a document, sorted.
func schemeNames(schemes *object) []string {
	if schemes == nil {
		return nil
	}
	return slices.Sorted(slices.Values(schemes.keys))
}

// requirements is the security of an operation: none for a public one, else any one of the
// schemes, each with scopes when withScopes is set.
func requirements(p *policy.Policy, schemes []string, withScopes bool) []any {
	reqs := []any{}
	if !p.Authenticated {
		return reqs
	}
	for _, s := range schemes {
		scopes := []any{}
		if withScopes {
			scopes = toAny(p.Scopes)
		}
		r := newObject()
		r.set(s, scopes)
		reqs = append(reqs, r)
	}
	return reqs
}

// PatchV2 completes an OpenAPI v2 document generated from the methods of t: each operation's
// security from the route policy (none for public operations; any one of the document's
// security definitions for authenticated ones, with the scopes in ScopesExtension), 201
// instead of 200 for creates, and the header fields the gateway adds (see headersV2): the
// If-None-Match parameter, the 304 response and the ETag, Cache-Control and Age headers of
// cached reads, Location on creates, composite.PartialHeader on composites, and the raw
// content of google.api.HttpBody responses and request bodies.
func PatchV2(doc []byte, t *policy.Table) ([]byte, error) {
	d, err := decode(doc)
	if err != nil {
		return nil, fmt.Errorf("openapidoc.PatchV2: %w", err)
	}
	schemes := schemeNames(d.obj("securityDefinitions"))
	if len(schemes) == 0 {
		return nil, fmt.Errorf("openapidoc.PatchV2: the document has no securityDefinitions (the openapiv2_swagger option of archway/policy/v1/policy.proto declares them)")
	}
	err = patchOperations(d, t, func(verb string, op *object, p *policy.Policy) {
		streamV2(op, streamKindOf(p, verb))
		httpBodyV2(op, p)
		headersV2(op, p, verb)
		errorsV2(op, p, verb)
		fieldMasksV2(op, p)
		op.set("security", requirements(p, schemes, false))
		if len(p.Scopes) > 0 {
			op.set(ScopesExtension, toAny(p.Scopes))
		} else {
			op.del(ScopesExtension)
		}
	})
	if err == nil {
		err = describeIDParams(d, t)
	}
	if err != nil {
		return nil, fmt.Errorf("openapidoc.PatchV2: %w", err)
	}
	rulesV2(d, t)
	return encode(d)
}

// PatchV3 completes an OpenAPI 3.1 document generated from the methods of t, one of the
// per-file documents of protoc-gen-openapiv3, with the v2 document v2 (already patched):
// its title (followed by the services of the document), version, description and security
// definitions (an API key in the Authorization header, the v2 spelling of a bearer token,
// becomes an HTTP bearer scheme), each operation's security from the route policy with the
// scopes in the requirement (OpenAPI 3.1 allows them for every scheme), 201 instead of 200
// for creates, the header fields and raw HttpBody content (as PatchV2), and the examples of the v2
// document's definitions on the schemas of the same messages.
func PatchV3(doc, v2 []byte, t *policy.Table) ([]byte, error) {
	d, err := decode(doc)
	if err != nil {
		return nil, fmt.Errorf("openapidoc.PatchV3: %w", err)
	}
	src, err := decode(v2)
	if err != nil {
		return nil, fmt.Errorf("openapidoc.PatchV3: the v2 document: %w", err)
	}
	d.set("info", v3Info(src.obj("info"), d))
	components := d.obj("components")
	if components == nil {
		components = newObject()
		d.set("components", components)
	}
	copyExamples(components.obj("schemas"), src.obj("definitions"))
	schemes := v3Schemes(src.obj("securityDefinitions"))
	components.set("securitySchemes", schemes)
	names := schemeNames(schemes)
	if err := alignV3(d, src); err != nil {
		return nil, fmt.Errorf("openapidoc.PatchV3: %w", err)
	}
	if err := mergeSamePaths(d); err != nil {
		return nil, fmt.Errorf("openapidoc.PatchV3: %w", err)
	}
	err = patchOperations(d, t, func(verb string, op *object, p *policy.Policy) {
		streamV3(op, streamKindOf(p, verb))
		httpBodyV3(op, p)
		headersV3(op, p, verb)
		errorsV3(op, p, verb)
		op.set("security", requirements(p, names, true))
	})
	if err == nil {
		err = describeIDParams(d, t)
	}
	if err != nil {
		return nil, fmt.Errorf("openapidoc.PatchV3: %w", err)
	}
	rulesV3(d, t)
	return encode(d)
}

// copyExamples copies the examples of v2 definitions, and of their properties, to the v3
// schemas of the same messages: protoc-gen-openapiv3 has no option for examples, so the protos
// declare them once, with the openapiv2_schema and openapiv2_field options.
func copyExamples(schemas, definitions *object) {
	if schemas == nil || definitions == nil {
		return
	}
	for _, name := range schemas.keys {
		schema, def := schemas.obj(name), definitions.obj(v2Name(name))
		if schema == nil || def == nil {
			continue
		}
		if ex := def.get("example"); ex != nil {
			schema.set("example", ex)
		}
		props, defProps := schema.obj("properties"), def.obj("properties")
		if props == nil || defProps == nil {
			continue
		}
		for _, field := range defProps.keys {
			prop, defProp := props.obj(field), defProps.obj(field)
			if prop == nil || defProp == nil {
				continue
			}
			if ex := defProp.get("example"); ex != nil {
				prop.set("example", ex)
			}
		}
	}
}

// v2Name is the name protoc-gen-openapiv2 gives the definition of the message that
// protoc-gen-openapiv3 names by its full name: the last part of the package, then the message
// names, "storefront.users.v1.User" → "v1User".
func v2Name(fullName string) string {
	parts := strings.Split(fullName, ".")
	i := slices.IndexFunc(parts, func(p string) bool { return p != "" && unicode.IsUpper(rune(p[0])) })
	if i < 1 {
		return fullName
	}
	return parts[i-1] + strings.Join(parts[i:], "")
}

// v3Info is the info of a per-file v3 document: the v2 document's, with the names of the
// document's tags (its services) after the title.
func v3Info(v2 *object, d *object) *object {
	info := newObject()
	title := v2.str("title")
	if tags, _ := d.get("tags").([]any); len(tags) > 0 {
		var names []string
		for _, tag := range tags {
			if o, ok := tag.(*object); ok {
				names = append(names, o.str("name"))
			}
		}
		title += ": " + strings.Join(names, ", ")
	}
	info.set("title", title)
	if s := v2.str("description"); s != "" {
		info.set("description", s)
	}
	info.set("version", v2.str("version"))
	return info
}

// v3Schemes converts v2 security definitions to v3 security schemes.
func v3Schemes(defs *object) *object {
	schemes := newObject()
	for _, name := range schemeNames(defs) {
		def := defs.obj(name)
		s := newObject()
		if def.str("type") == "apiKey" && def.str("in") == "header" && http.CanonicalHeaderKey(def.str("name")) == "Authorization" {
			s.set("type", "http")
			s.set("scheme", "bearer")
			s.set("bearerFormat", "JWT")
		} else {
			for _, k := range []string{"type", "in", "name"} {
				if v := def.get(k); v != nil {
					s.set(k, v)
				}
			}
		}
		if v := def.str("description"); v != "" {
			s.set("description", v)
		}
		schemes.set(name, s)
	}
	return schemes
}

func toAny(ss []string) []any {
	a := make([]any, len(ss))
	for i, s := range ss {
		a[i] = s
	}
	return a
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// mergeSamePaths merges path items whose paths differ only in the names of their parameters,
// such as /v1/users/{name} and /v1/users/{user.name}, which OpenAPI forbids and
// protoc-gen-openapiv3 writes when two methods bind different fields at the same place. The
// later item's operations move to the first one, their path parameters renamed to the first
// path's: the URL is the same, only the documented name of the segment changes.
func mergeSamePaths(d *object) error {
	paths := d.obj("paths")
	if paths == nil {
		return nil
	}
	first := make(map[string]string)
	var keep []string
	for _, path := range paths.keys {
		shape := pathParam.ReplaceAllString(path, "{}")
		target, dup := first[shape]
		if !dup {
			first[shape] = path
			keep = append(keep, path)
			continue
		}
		rename := make(map[string]string)
		from, to := pathParam.FindAllString(path, -1), pathParam.FindAllString(target, -1)
		for i := range from {
			rename[strings.Trim(from[i], "{}")] = strings.Trim(to[i], "{}")
		}
		item, into := paths.obj(path), paths.obj(target)
		for _, verb := range item.keys {
			if into.get(verb) != nil {
				return fmt.Errorf("paths %s and %s both have %s operations", target, path, verb)
			}
			if op := item.obj(verb); op != nil {
				params, _ := op.get("parameters").([]any)
				for _, p := range params {
					if po, ok := p.(*object); ok && po.str("in") == "path" {
						if n, ok := rename[po.str("name")]; ok {
							po.set("name", n)
						}
					}
				}
			}
			into.set(verb, item.get(verb))
		}
		delete(paths.vals, path)
	}
	paths.keys = keep
	return nil
}

// patchOperations runs patch on every operation of d with its method's policy from t, after
// documenting a create's success as 201 instead of 200: the part of PatchV2 and PatchV3 that
// does not depend on the OpenAPI version.
func patchOperations(d *object, t *policy.Table, patch func(verb string, op *object, p *policy.Policy)) error {
	m, err := newMethods(t)
	if err != nil {
		return err
	}
	return eachOperation(d, func(verb string, op *object) error {
		p, err := m.method(op.str("operationId"))
		if err != nil {
			return err
		}
		if creates(p, verb) {
			op.obj("responses").rename("200", "201")
		}
		patch(verb, op, p)
		return nil
	})
}

// CreatesAnswer200 documents the creates of a document that PatchV2 or PatchV3 completed as the
// gateway answers them under the grpc-gateway profile (config.ProfileGRPCGateway): 200 instead
// of 201, without Location.
func CreatesAnswer200(doc []byte, t *policy.Table) ([]byte, error) {
	d, err := decode(doc)
	if err != nil {
		return nil, fmt.Errorf("openapidoc.CreatesAnswer200: %w", err)
	}
	m, err := newMethods(t)
	if err != nil {
		return nil, fmt.Errorf("openapidoc.CreatesAnswer200: %w", err)
	}
	err = eachOperation(d, func(verb string, op *object) error {
		p, err := m.method(op.str("operationId"))
		if err != nil || !creates(p, verb) {
			return err
		}
		responses := op.obj("responses")
		if responses == nil {
			return nil
		}
		if created := responses.obj("201"); created != nil {
			if headers := created.obj("headers"); headers != nil {
				headers.del(locationHeader)
				if len(headers.keys) == 0 {
					created.del("headers")
				}
			}
		}
		responses.rename("201", "200")
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("openapidoc.CreatesAnswer200: %w", err)
	}
	return encode(d)
}
