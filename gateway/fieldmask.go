package gateway

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// A google.protobuf.FieldMask has two spellings: proto names ("display_name,address.city"), as
// grpc-gateway reads a mask from the query string and as a backend receives it, and the proto3
// JSON form ("displayName,address.city"), as protojson writes a mask. Clients use both, so the
// gateway accepts both wherever a mask is read: the query check rewrites JSON names in a mask
// parameter into proto names (queryvalues.go), and the body decoder rewrites proto names in a
// mask of a JSON body into JSON names, the only form protojson reads, which turns them back
// into proto names. Either way the backend receives proto names.

const fieldMaskName = "google.protobuf.FieldMask"

// maskPathsToProto returns the comma-separated paths of a mask with each JSON name
// ("displayName") turned into its proto name ("display_name"), as protojson does. A segment
// that holds an underscore is a proto name already and stays as it is.
func maskPathsToProto(value string) string {
	if !strings.ContainsAny(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		return value
	}
	return mapMaskSegments(value, func(b *strings.Builder, seg string) {
		if strings.IndexByte(seg, '_') >= 0 {
			b.WriteString(seg)
			return
		}
		for i := range len(seg) {
			c := seg[i]
			if 'A' <= c && c <= 'Z' {
				b.WriteByte('_')
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
	})
}

// maskPathsToJSON returns the comma-separated paths of a mask with each proto name
// ("display_name") turned into its JSON name ("displayName"). A segment whose JSON name would
// not turn back into it (an underscore before anything but a lowercase letter, or an uppercase
// letter) stays as it is, for protojson to refuse.
func maskPathsToJSON(value string) string {
	if strings.IndexByte(value, '_') < 0 {
		return value
	}
	return mapMaskSegments(value, func(b *strings.Builder, seg string) {
		for i := range len(seg) {
			c := seg[i]
			if 'A' <= c && c <= 'Z' || c == '_' && (i+1 == len(seg) || seg[i+1] < 'a' || seg[i+1] > 'z') {
				b.WriteString(seg)
				return
			}
		}
		upper := false
		for i := range len(seg) {
			c := seg[i]
			switch {
			case c == '_':
				upper = true
				continue
			case upper:
				c -= 'a' - 'A'
			}
			upper = false
			b.WriteByte(c)
		}
	})
}

// mapMaskSegments rewrites every name between the commas and dots of value with write.
func mapMaskSegments(value string, write func(*strings.Builder, string)) string {
	var b strings.Builder
	b.Grow(len(value) + 8)
	start := 0
	for i := 0; i <= len(value); i++ {
		if i < len(value) && value[i] != ',' && value[i] != '.' {
			continue
		}
		write(&b, value[start:i])
		if i < len(value) {
			b.WriteByte(value[i])
		}
		start = i + 1
	}
	return b.String()
}

// maskPathsAsJSON returns a JSON body for a message of type md in which every FieldMask string
// that names fields by their proto names names them by their JSON names instead; every other
// byte is as sent. It returns data itself when no mask needs rewriting, when md reaches no
// FieldMask, and when data is not valid JSON of the expected shape: protojson then reports the
// problem as for any body.
func maskPathsAsJSON(data []byte, md protoreflect.MessageDescriptor) []byte {
	if bytes.IndexByte(data, '_') < 0 || !reachesFieldMask(md) || !utf8.Valid(data) {
		return data
	}
	w := &maskRewriter{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	if !w.message(md, 0) || len(w.edits) == 0 {
		return data
	}
	out := make([]byte, 0, len(data)+8*len(w.edits))
	last := 0
	for _, e := range w.edits {
		out = append(append(out, data[last:e.start]...), e.text...)
		last = e.end
	}
	return append(out, data[last:]...)
}

// maskEdit replaces data[start:end], a JSON string, with text.
type maskEdit struct {
	start, end int
	text       []byte
}

// maskRewriter walks a JSON body along its message type, noting the FieldMask strings to
// rewrite. Its methods return false when the body does not have the shape of its type.
type maskRewriter struct {
	dec   *json.Decoder
	data  []byte
	edits []maskEdit
}

// maxMaskDepth bounds the walk; the edge's JSON nesting limit is far below it.
const maxMaskDepth = 100

// message walks a JSON object (or null) of type md.
func (w *maskRewriter) message(md protoreflect.MessageDescriptor, depth int) bool {
	if depth > maxMaskDepth {
		return false
	}
	tok, err := w.dec.Token()
	if err != nil {
		return false
	}
	if tok == nil {
		return true
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return false
	}
	fields := md.Fields()
	for w.dec.More() {
		key, err := w.dec.Token()
		if err != nil {
			return false
		}
		name, _ := key.(string)
		fd := fields.ByJSONName(name)
		if fd == nil {
			fd = fields.ByTextName(name)
		}
		ok := false
		switch {
		case fd == nil:
			ok = w.skip()
		case fd.IsMap():
			ok = w.object(fd.MapValue(), depth)
		case fd.IsList():
			ok = w.array(fd, depth)
		default:
			ok = w.single(fd, depth)
		}
		if !ok {
			return false
		}
	}
	_, err = w.dec.Token()
	return err == nil
}

// object walks the JSON object (or null) of a map field whose values are fd.
func (w *maskRewriter) object(fd protoreflect.FieldDescriptor, depth int) bool {
	tok, err := w.dec.Token()
	if err != nil || tok == nil {
		return err == nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return false
	}
	for w.dec.More() {
		if _, err := w.dec.Token(); err != nil || !w.single(fd, depth) {
			return false
		}
	}
	_, err = w.dec.Token()
	return err == nil
}

// array walks the JSON array (or null) of a repeated field fd.
func (w *maskRewriter) array(fd protoreflect.FieldDescriptor, depth int) bool {
	tok, err := w.dec.Token()
	if err != nil || tok == nil {
		return err == nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return false
	}
	for w.dec.More() {
		if !w.single(fd, depth) {
			return false
		}
	}
	_, err = w.dec.Token()
	return err == nil
}

// single walks one value of field fd: a FieldMask string is noted for rewriting, a message of
// the API is walked, anything else is skipped.
func (w *maskRewriter) single(fd protoreflect.FieldDescriptor, depth int) bool {
	md := fd.Message()
	switch {
	case md == nil || md.ParentFile().Package() == "google.protobuf" && md.FullName() != fieldMaskName:
		return w.skip()
	case md.FullName() == fieldMaskName:
		return w.mask()
	default:
		return w.message(md, depth+1)
	}
}

// mask notes a FieldMask string whose paths have proto names.
func (w *maskRewriter) mask() bool {
	start := int(w.dec.InputOffset())
	tok, err := w.dec.Token()
	if err != nil {
		return false
	}
	s, ok := tok.(string)
	if !ok {
		// null, or a value protojson will refuse.
		return tok == nil || w.skipRest(tok)
	}
	end := int(w.dec.InputOffset())
	if js := maskPathsToJSON(s); js != s {
		// The token starts after the separator (":" or ",") and white space before it.
		start += bytes.IndexByte(w.data[start:end], '"')
		text, err := json.Marshal(js)
		if err != nil {
			return false
		}
		w.edits = append(w.edits, maskEdit{start: start, end: end, text: text})
	}
	return true
}

// skip reads one JSON value of any shape.
func (w *maskRewriter) skip() bool {
	tok, err := w.dec.Token()
	return err == nil && w.skipRest(tok)
}

// skipRest reads the rest of the JSON value that starts with tok.
func (w *maskRewriter) skipRest(tok json.Token) bool {
	if _, ok := tok.(json.Delim); !ok {
		return true
	}
	for depth := 1; depth > 0; {
		t, err := w.dec.Token()
		if err != nil {
			return false
		}
		if d, ok := t.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return true
}

// fieldMaskReach caches reachesFieldMask per message descriptor.
var fieldMaskReach sync.Map

// reachesFieldMask reports whether a message of type md can hold a FieldMask, in a field of its
// own or of a message it holds.
func reachesFieldMask(md protoreflect.MessageDescriptor) bool {
	if v, ok := fieldMaskReach.Load(md); ok {
		return v.(bool)
	}
	found := reaches(md, map[protoreflect.FullName]bool{})
	fieldMaskReach.Store(md, found)
	return found
}

func reaches(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if md.FullName() == fieldMaskName {
		return true
	}
	if seen[md.FullName()] || md.ParentFile().Package() == "google.protobuf" {
		return false
	}
	seen[md.FullName()] = true
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if fd.Message() != nil && reaches(fd.Message(), seen) {
			return true
		}
	}
	return false
}
