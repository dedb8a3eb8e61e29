package openapidoc

import (
	"fmt"
	"slices"
	"strings"

	"github.com/archway-gateway/archway/gateway/policy"
)

// Restrict removes from an OpenAPI document (v2 or v3) what a gateway serving only the methods
// of t does not serve: every operation of another method, the paths and tags left without
// operations, and the schemas that nothing left refers to. Empty reports whether the document
// has no operation left. A gateway that serves fewer services than the documents describe
// publishes only its own.
func Restrict(doc []byte, t *policy.Table) (out []byte, empty bool, err error) {
	d, err := decode(doc)
	if err != nil {
		return nil, false, fmt.Errorf("openapidoc.Restrict: %w", err)
	}
	m, err := newMethods(t)
	if err != nil {
		return nil, false, fmt.Errorf("openapidoc.Restrict: %w", err)
	}
	tags := make(map[string]bool)
	if paths := d.obj("paths"); paths != nil {
		for _, path := range slices.Clone(paths.keys) {
			item := paths.obj(path)
			if item == nil {
				continue
			}
			for _, verb := range slices.Clone(item.keys) {
				op := item.obj(verb)
				if op == nil || !slices.Contains(httpMethods, verb) {
					continue
				}
				if _, err := m.method(op.str("operationId")); err != nil {
					item.del(verb)
					continue
				}
				opTags, _ := op.get("tags").([]any)
				for _, tag := range opTags {
					if s, ok := tag.(string); ok {
						tags[s] = true
					}
				}
			}
			if !slices.ContainsFunc(item.keys, func(k string) bool { return slices.Contains(httpMethods, k) }) {
				paths.del(path)
			}
		}
		empty = len(paths.keys) == 0
	}
	if all, ok := d.get("tags").([]any); ok {
		d.set("tags", slices.DeleteFunc(all, func(tag any) bool {
			o, ok := tag.(*object)
			return ok && !tags[o.str("name")]
		}))
	}
	pruneSchemas(d)
	out, err = encode(d)
	return out, empty, err
}

// pruneSchemas removes the schemas (v2 definitions, v3 components.schemas) that neither the
// paths nor another kept schema refer to.
func pruneSchemas(d *object) {
	schemas, prefix := d.obj("definitions"), "#/definitions/"
	if c := d.obj("components"); c != nil && c.obj("schemas") != nil {
		schemas, prefix = c.obj("schemas"), "#/components/schemas/"
	}
	if schemas == nil {
		return
	}
	keep := make(map[string]bool)
	queue := refs(d.get("paths"), prefix, nil)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if keep[name] {
			continue
		}
		keep[name] = true
		queue = refs(schemas.get(name), prefix, queue)
	}
	for _, name := range slices.Clone(schemas.keys) {
		if !keep[name] {
			schemas.del(name)
		}
	}
}

// refs appends to names the schema names of every "$ref" under v that starts with prefix.
func refs(v any, prefix string, names []string) []string {
	switch v := v.(type) {
	case *object:
		for _, k := range v.keys {
			if s, ok := v.vals[k].(string); ok && k == "$ref" {
				if name, ok := strings.CutPrefix(s, prefix); ok {
					names = append(names, name)
				}
				continue
			}
			names = refs(v.vals[k], prefix, names)
		}
	case []any:
		for _, e := range v {
			names = refs(e, prefix, names)
		}
	}
	return names
}
