package openapidoc

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/policy"
)

// v2Operation is where the v2 document has an operation: its path and operation id.
type v2Operation struct {
	path, id string
}

// alignV3 gives the operations of a v3 document the names that the v2 document gives the same
// operations (same method, same path but for the names of its parameters), so that a client
// reading either finds the same names: the v2 path, whose parameters protoc-gen-openapiv2 names
// after the collection of a resource name ({user} for users/*) or by their JSON name
// ({productId}), where protoc-gen-openapiv3 uses the field's name ({name}, {product_id}); and
// the v2 operation id, which numbers a method's further bindings 2, 3... where
// protoc-gen-openapiv3 writes _1, _2... Paths that become the same are merged. Operations that
// the v2 document lacks keep their names.
func alignV3(d, v2 *object) error {
	paths := d.obj("paths")
	if paths == nil || v2.obj("paths") == nil {
		return nil
	}
	byShape := make(map[string]v2Operation)
	v2Paths := v2.obj("paths")
	for _, path := range v2Paths.keys {
		item := v2Paths.obj(path)
		if item == nil {
			continue
		}
		for _, verb := range item.keys {
			if op := item.obj(verb); op != nil {
				byShape[verb+" "+pathParam.ReplaceAllString(path, "{}")] = v2Operation{path: path, id: op.str("operationId")}
			}
		}
	}
	aligned := newObject()
	for _, path := range paths.keys {
		item := paths.obj(path)
		if item == nil {
			aligned.set(path, paths.get(path))
			continue
		}
		target := path
		for _, verb := range item.keys {
			op := item.obj(verb)
			if op == nil {
				continue
			}
			v2op, ok := byShape[verb+" "+pathParam.ReplaceAllString(path, "{}")]
			if !ok {
				continue
			}
			target = v2op.path
			op.set("operationId", v2op.id)
			renamePathParams(op, pathParam.FindAllString(path, -1), pathParam.FindAllString(v2op.path, -1))
		}
		into := aligned.obj(target)
		if into == nil {
			aligned.set(target, item)
			continue
		}
		for _, verb := range item.keys {
			if into.get(verb) != nil {
				return fmt.Errorf("paths %s and %s both have %s operations", target, path, verb)
			}
			into.set(verb, item.get(verb))
		}
	}
	d.set("paths", aligned)
	return nil
}

// renamePathParams renames the path parameters of op from the names of the template from to
// those of the template to, by position.
func renamePathParams(op *object, from, to []string) {
	if len(from) != len(to) {
		return
	}
	rename := make(map[string]string)
	for i := range from {
		rename[strings.Trim(from[i], "{}")] = strings.Trim(to[i], "{}")
	}
	params, _ := op.get("parameters").([]any)
	for _, p := range params {
		if po, ok := p.(*object); ok && po.str("in") == "path" {
			if n, ok := rename[po.str("name")]; ok {
				po.set("name", n)
			}
		}
	}
}

// describeIDParams describes the path parameters that hold one segment of a resource name, as
// protoc-gen-openapiv2 and expand_slashed_path_patterns write a binding such as
// {name=users/*}: /v1/users/{user}, whose {user} is the user's id alone, while the generators
// copy the description of the name field ("users/{user_id}"), which a client would then send
// whole and get 404 for. Such a parameter is one that names no field of the method's request.
func describeIDParams(d *object, t *policy.Table) error {
	paths := d.obj("paths")
	if paths == nil {
		return nil
	}
	m, err := newMethods(t)
	if err != nil {
		return err
	}
	for _, path := range paths.keys {
		item := paths.obj(path)
		if item == nil {
			continue
		}
		for _, verb := range item.keys {
			op := item.obj(verb)
			if op == nil || op.str("operationId") == "" {
				continue
			}
			p, err := m.method(op.str("operationId"))
			if err != nil {
				return fmt.Errorf("%s %s: %w", strings.ToUpper(verb), path, err)
			}
			params, _ := op.get("parameters").([]any)
			for _, param := range params {
				po, ok := param.(*object)
				if !ok || po.str("in") != "path" || requestField(p.Descriptor, po.str("name")) {
					continue
				}
				if collection := collectionOf(path, po.str("name")); collection != "" {
					po.set("description", idNote(collection, po.str("name")))
				}
			}
		}
	}
	return nil
}

// requestField reports whether name, a path parameter, names a scalar field of the method's
// request, by its name or JSON name, or a field path through messages ("user.name"); without a
// descriptor, it reports true. A parameter that names a message field ({user} of
// {user.name=users/*}) or no field ({order} of {name=orders/*}) holds a resource's id.
func requestField(md protoreflect.MethodDescriptor, name string) bool {
	if md == nil {
		return true
	}
	msg := md.Input()
	for part := range strings.SplitSeq(name, ".") {
		if msg == nil {
			return false
		}
		f := msg.Fields().ByName(protoreflect.Name(part))
		if f == nil {
			f = msg.Fields().ByJSONName(part)
		}
		if f == nil {
			return false
		}
		msg = f.Message()
	}
	return msg == nil
}

// collectionOf returns the literal path segment right before the parameter {name} in path,
// the collection whose member it names ("users" in /v1/users/{user}), or "".
func collectionOf(path, name string) string {
	before, _, ok := strings.Cut(path, "/{"+name+"}")
	if !ok {
		return ""
	}
	seg := before[strings.LastIndex(before, "/")+1:]
	if seg == "" || strings.ContainsAny(seg, "{}") {
		return ""
	}
	return seg
}

// idNote describes a path parameter that holds the id of a member of collection.
func idNote(collection, name string) string {
	return fmt.Sprintf("The id of the resource named %q: only its last segment, without the %q prefix; a whole "+
		"resource name here is not found.", collection+"/{"+name+"}", collection+"/")
}

// fieldMaskNote describes a field mask parameter that the v2 generator leaves out.
const fieldMaskNote = "The fields to change, as comma-separated field paths such as \"displayName,email\"; " +
	"without it, the fields that the body sets."

// fieldMasksV2 documents, in an OpenAPI v2 operation whose body is one field of the request,
// the query parameters of the request's google.protobuf.FieldMask fields (update_mask), which
// protoc-gen-openapiv2 leaves out of PATCH operations and protoc-gen-openapiv3 documents: the
// gateway reads them from the query like any field outside the path and the body.
func fieldMasksV2(op *object, p *policy.Policy) {
	if p.Descriptor == nil {
		return
	}
	in := p.Descriptor.Input()
	params, _ := op.get("parameters").([]any)
	var body protoreflect.FieldDescriptor
	for _, param := range params {
		if po, ok := param.(*object); ok && po.str("in") == "body" {
			body = in.Fields().ByName(protoreflect.Name(po.str("name")))
			if body == nil {
				body = in.Fields().ByJSONName(po.str("name"))
			}
			if body == nil {
				return
			}
		}
	}
	if body == nil {
		return
	}
	fields := in.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f == body || f.IsList() || f.Message() == nil || f.Message().FullName() != "google.protobuf.FieldMask" {
			continue
		}
		param := newObject()
		param.set("name", f.JSONName())
		param.set("description", fieldMaskNote)
		param.set("in", "query")
		param.set("required", false)
		param.set("type", "string")
		addParameter(op, param)
	}
}
