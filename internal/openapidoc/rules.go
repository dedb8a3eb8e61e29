package openapidoc

import (
	"slices"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/policy"
)

// The rules below are buf.validate field rules that have a JSON Schema equivalent; the others
// (prefix, contains, map rules, CEL expressions...) stay in the backend's 400s. Bounds of
// 64-bit integers are left out: proto3 JSON writes those as strings, whose schemas cannot
// bound them.

// rulesOf returns the buf.validate rules of a field, or nil.
func rulesOf(f protoreflect.FieldDescriptor) *validate.FieldRules {
	r, _ := proto.GetExtension(f.Options(), validate.E_Field).(*validate.FieldRules)
	return r
}

// constrain writes into schema, the schema of a field's value (a property, a query
// parameter's schema, or a v2 parameter itself), the JSON Schema keywords of the field's rules
// of one type; v2 selects the OpenAPI v2 spelling of exclusive bounds.
func constrain(schema *object, rules protoreflect.Message, v2 bool) {
	if rules == nil || schema == nil {
		return
	}
	switch rules.Descriptor().FullName() {
	case "buf.validate.StringRules":
		s, _ := rules.Interface().(*validate.StringRules)
		constrainString(schema, s)
	case "buf.validate.RepeatedRules":
		r, _ := rules.Interface().(*validate.RepeatedRules)
		if r.HasMinItems() {
			schema.set("minItems", r.GetMinItems())
		}
		if r.HasMaxItems() {
			schema.set("maxItems", r.GetMaxItems())
		}
		if r.GetUnique() {
			schema.set("uniqueItems", true)
		}
		if items := schema.obj("items"); items != nil && r.GetItems() != nil {
			constrain(items, typeRules(r.GetItems()), v2)
		}
	case "buf.validate.Int32Rules", "buf.validate.UInt32Rules", "buf.validate.SInt32Rules",
		"buf.validate.Fixed32Rules", "buf.validate.SFixed32Rules", "buf.validate.FloatRules", "buf.validate.DoubleRules":
		constrainNumber(schema, rules, v2)
	}
}

func constrainString(schema *object, s *validate.StringRules) {
	if s.HasLen() {
		schema.set("minLength", s.GetLen())
		schema.set("maxLength", s.GetLen())
	}
	if s.HasMinLen() {
		schema.set("minLength", s.GetMinLen())
	}
	if s.HasMaxLen() {
		schema.set("maxLength", s.GetMaxLen())
	}
	if s.HasPattern() {
		schema.set("pattern", s.GetPattern())
	}
	switch {
	case s.GetEmail():
		schema.set("format", "email")
	case s.GetUuid():
		schema.set("format", "uuid")
	case s.GetUri():
		schema.set("format", "uri")
	case s.GetHostname():
		schema.set("format", "hostname")
	}
	if in := s.GetIn(); len(in) > 0 {
		schema.set("enum", toAny(in))
	}
}

// constrainNumber writes the bounds of a rules message of a 32-bit or floating-point number,
// read by field name since every numeric rules message names them alike.
func constrainNumber(schema *object, rules protoreflect.Message, v2 bool) {
	get := func(name protoreflect.Name) (any, bool) {
		f := rules.Descriptor().Fields().ByName(name)
		if f == nil || !rules.Has(f) {
			return nil, false
		}
		return rules.Get(f).Interface(), true
	}
	if v, ok := get("gte"); ok {
		schema.set("minimum", v)
	}
	if v, ok := get("lte"); ok {
		schema.set("maximum", v)
	}
	if v, ok := get("gt"); ok {
		if v2 {
			schema.set("minimum", v)
			schema.set("exclusiveMinimum", true)
		} else {
			schema.set("exclusiveMinimum", v)
		}
	}
	if v, ok := get("lt"); ok {
		if v2 {
			schema.set("maximum", v)
			schema.set("exclusiveMaximum", true)
		} else {
			schema.set("exclusiveMaximum", v)
		}
	}
}

// typeRules returns the rules of the set member of a FieldRules' type oneof (string, int32,
// repeated...), or nil.
func typeRules(r *validate.FieldRules) protoreflect.Message {
	if r == nil {
		return nil
	}
	m := r.ProtoReflect()
	oneof := m.Descriptor().Oneofs().ByName("type")
	if oneof == nil {
		return nil
	}
	f := m.WhichOneof(oneof)
	if f == nil || f.Message() == nil {
		return nil
	}
	return m.Get(f).Message()
}

// messagesOf returns every message that the methods of t take or answer, and those their
// fields hold, each once.
func messagesOf(t *policy.Table) []protoreflect.MessageDescriptor {
	var out []protoreflect.MessageDescriptor
	seen := make(map[protoreflect.FullName]bool)
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if md == nil || seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		out = append(out, md)
		fields := md.Fields()
		for i := range fields.Len() {
			walk(fields.Get(i).Message())
		}
	}
	for _, full := range t.Methods() {
		if p, ok := t.Lookup(full); ok && p.Descriptor != nil {
			walk(p.Descriptor.Input())
			walk(p.Descriptor.Output())
		}
	}
	return out
}

// constrainSchema writes the rules of md's fields into schema, the schema of md: each
// property's keywords, and the fields whose rules say required in its required list.
func constrainSchema(schema *object, md protoreflect.MessageDescriptor, v2 bool) {
	props := schema.obj("properties")
	if props == nil {
		return
	}
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		r := rulesOf(f)
		if r == nil {
			continue
		}
		prop := props.obj(f.JSONName())
		if prop == nil {
			continue
		}
		if r.GetRequired() {
			required, _ := schema.get("required").([]any)
			if !slices.Contains(required, any(f.JSONName())) {
				schema.set("required", append(required, f.JSONName()))
			}
		}
		if prop.get("$ref") != nil {
			continue
		}
		constrain(prop, typeRules(r), v2)
	}
}

// rulesV2 carries the buf.validate rules of the messages of t into an OpenAPI v2 document:
// into their definitions, the message schemas inlined as body parameters, and the query
// parameters of operations.
func rulesV2(d *object, t *policy.Table) {
	carryRules(d, t, d.obj("definitions"), v2Name, true)
}

// rulesV3 is rulesV2 for an OpenAPI v3 document: its component schemas and query parameters.
func rulesV3(d *object, t *policy.Table) {
	var schemas *object
	if components := d.obj("components"); components != nil {
		schemas = components.obj("schemas")
	}
	carryRules(d, t, schemas, func(name string) string { return name }, false)
}

// carryRules is rulesV2 and rulesV3: schemas holds the document's message schemas, under the
// names that schemaName gives full message names; a v2 query parameter holds its constraints
// itself, a v3 one in its schema.
func carryRules(d *object, t *policy.Table, schemas *object, schemaName func(string) string, v2 bool) {
	for _, md := range messagesOf(t) {
		if schemas != nil {
			if schema := schemas.obj(schemaName(string(md.FullName()))); schema != nil {
				constrainSchema(schema, md, v2)
			}
		}
	}
	m, err := newMethods(t)
	if err != nil {
		return
	}
	_ = eachOperation(d, func(_ string, op *object) error {
		p, err := m.method(op.str("operationId"))
		if err != nil || p.Descriptor == nil {
			return nil
		}
		in := p.Descriptor.Input()
		params, _ := op.get("parameters").([]any)
		for _, param := range params {
			po, ok := param.(*object)
			if !ok {
				continue
			}
			switch po.str("in") {
			case "query":
				f := in.Fields().ByJSONName(po.str("name"))
				if f == nil || rulesOf(f) == nil {
					continue
				}
				target := po
				if !v2 {
					target = po.obj("schema")
				}
				constrain(target, typeRules(rulesOf(f)), v2)
			case "body":
				f := in.Fields().ByName(protoreflect.Name(po.str("name")))
				if v2 && f != nil && f.Message() != nil && po.obj("schema") != nil {
					constrainSchema(po.obj("schema"), f.Message(), true)
				}
			}
		}
		return nil
	})
}
