package openapidoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// object is a JSON object that keeps the order of its members.
type object struct {
	keys []string
	vals map[string]any
}

func newObject() *object { return &object{vals: make(map[string]any)} }

// get returns the member named key, or nil.
func (o *object) get(key string) any { return o.vals[key] }

// obj returns the member named key when it is an object, or nil.
func (o *object) obj(key string) *object {
	v, _ := o.vals[key].(*object)
	return v
}

// str returns the member named key when it is a string, or "".
func (o *object) str(key string) string {
	v, _ := o.vals[key].(string)
	return v
}

// set sets the member named key, appending it when it is new.
func (o *object) set(key string, v any) {
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

// setAfter sets the member named key; a new one goes right after the member named after, or
// last when there is none.
func (o *object) setAfter(after, key string, v any) {
	if _, ok := o.vals[key]; ok {
		o.vals[key] = v
		return
	}
	o.vals[key] = v
	i := slices.Index(o.keys, after)
	if i < 0 {
		o.keys = append(o.keys, key)
		return
	}
	o.keys = slices.Insert(o.keys, i+1, key)
}

// del removes the member named key, if any.
func (o *object) del(key string) {
	if _, ok := o.vals[key]; !ok {
		return
	}
	delete(o.vals, key)
	o.keys = slices.DeleteFunc(o.keys, func(k string) bool { return k == key })
}

// rename renames the member old to name, keeping its place; it does nothing when old is
// missing or name exists.
func (o *object) rename(old, name string) {
	v, ok := o.vals[old]
	if _, taken := o.vals[name]; !ok || taken {
		return
	}
	delete(o.vals, old)
	o.vals[name] = v
	for i, k := range o.keys {
		if k == old {
			o.keys[i] = name
		}
	}
}

func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		vb, err := marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal encodes v without escaping HTML characters, which documents quote in prose.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// decode parses a JSON document whose top level is an object, keeping member order.
func decode(doc []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the top-level value")
	}
	o, ok := v.(*object)
	if !ok {
		return nil, errors.New("the document is not a JSON object")
	}
	return o, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		o := newObject()
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, ok := kt.(string)
			if !ok {
				return nil, fmt.Errorf("object key %v is not a string", kt)
			}
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			if _, dup := o.vals[k]; dup {
				return nil, fmt.Errorf("duplicate key %q", k)
			}
			o.set(k, v)
		}
		_, err := dec.Token()
		return o, err
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token()
		return a, err
	default:
		return tok, nil
	}
}

// encode writes o indented by two spaces, with a final newline, as the generators do.
func encode(o *object) ([]byte, error) {
	compact, err := marshal(o)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, compact, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
