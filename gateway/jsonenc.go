package gateway

import (
	"encoding/base64"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The gateway encodes responses itself rather than through protojson, which spends most of a
// small response's encoding time sorting fields and boxing values, and allocates for each
// message it visits. The encoder writes exactly what protojson.MarshalOptions{} writes, compacted
// (protojson adds a space after commas in some builds, on purpose, so that nobody relies on its
// whitespace): lowerCamelCase names, fields in declaration order, fields at their default value
// left out, 64-bit integers as strings, enums by name, bytes in standard base64, Timestamps in
// RFC 3339. It covers the messages of the gateway's own APIs; a message that reaches anything
// else (maps, extensions, required fields, well-known types other than Timestamp) is encoded by
// protojson, and so is one with a value protojson rejects, such as invalid UTF-8 or an
// out-of-range Timestamp, so that errors stay protojson's. TestMarshalMatchesProtojson checks
// the equivalence on a corpus of every API message type.

// messagePlan is what the encoder precomputes for one message type.
type messagePlan struct {
	// fast is true when every message type reachable from this one is covered.
	fast bool
	// timestamp marks google.protobuf.Timestamp, written as a string.
	timestamp bool
	fields    []fieldPlan
}

type fieldPlan struct {
	fd protoreflect.FieldDescriptor
	// name is the field's JSON name, quoted, followed by a colon.
	name []byte
}

// plans caches a *messagePlan per protoreflect.MessageDescriptor.
var plans sync.Map

const timestampName = "google.protobuf.Timestamp"

func planFor(md protoreflect.MessageDescriptor) *messagePlan {
	if p, ok := plans.Load(md); ok {
		return p.(*messagePlan)
	}
	p := &messagePlan{fast: covered(md, map[protoreflect.MessageDescriptor]bool{}), timestamp: md.FullName() == timestampName}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name, ok := appendString(nil, fd.JSONName())
		if !ok {
			p.fast = false
		}
		p.fields = append(p.fields, fieldPlan{fd: fd, name: append(name, ':')})
	}
	actual, _ := plans.LoadOrStore(md, p)
	return actual.(*messagePlan)
}

// covered reports whether the encoder handles md and every message type it reaches; visiting
// holds the types whose check is under way, which recursive types reach again.
func covered(md protoreflect.MessageDescriptor, visiting map[protoreflect.MessageDescriptor]bool) bool {
	if md.FullName() == timestampName {
		return true
	}
	if visiting[md] {
		return true
	}
	if md.ParentFile().Package() == "google.protobuf" || md.ExtensionRanges().Len() > 0 {
		return false
	}
	visiting[md] = true
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.Cardinality() == protoreflect.Required, fd.IsMap(), fd.Kind() == protoreflect.GroupKind:
			return false
		case fd.Kind() == protoreflect.EnumKind && fd.Enum().FullName() == "google.protobuf.NullValue":
			return false
		case fd.Kind() == protoreflect.MessageKind && !covered(fd.Message(), visiting):
			return false
		}
	}
	return true
}

// appendMessage appends m as JSON; ok is false when m holds a value that protojson rejects,
// and what was appended is then to be discarded.
func appendMessage(b []byte, m protoreflect.Message) ([]byte, bool) {
	p := planFor(m.Descriptor())
	if p.timestamp {
		return appendTimestamp(b, m)
	}
	b = append(b, '{')
	first := true
	for i := range p.fields {
		f := &p.fields[i]
		if !m.Has(f.fd) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, f.name...)
		var ok bool
		if f.fd.IsList() {
			b, ok = appendList(b, m.Get(f.fd).List(), f.fd)
		} else {
			b, ok = appendSingular(b, m.Get(f.fd), f.fd)
		}
		if !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

func appendList(b []byte, list protoreflect.List, fd protoreflect.FieldDescriptor) ([]byte, bool) {
	b = append(b, '[')
	for i := range list.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendSingular(b, list.Get(i), fd); !ok {
			return b, false
		}
	}
	return append(b, ']'), true
}

func appendSingular(b []byte, v protoreflect.Value, fd protoreflect.FieldDescriptor) ([]byte, bool) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), true
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b = append(b, '"')
		return append(strconv.AppendInt(b, v.Int(), 10), '"'), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b = append(b, '"')
		return append(strconv.AppendUint(b, v.Uint(), 10), '"'), true
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32), true
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64), true
	case protoreflect.BytesKind:
		b = append(b, '"')
		return append(base64.StdEncoding.AppendEncode(b, v.Bytes()), '"'), true
	case protoreflect.EnumKind:
		ev := fd.Enum().Values().ByNumber(v.Enum())
		if ev == nil {
			return strconv.AppendInt(b, int64(v.Enum()), 10), true
		}
		return appendString(b, string(ev.Name()))
	case protoreflect.MessageKind:
		return appendMessage(b, v.Message())
	default:
		return b, false
	}
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping what protojson escapes: '"', '\\' and the
// control characters, the common ones in their short form. ok is false for invalid UTF-8.
func appendString(b []byte, s string) ([]byte, bool) {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return b, false
			}
			i += size
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}

// appendFloat writes a float as protojson does: NaN and the infinities as strings, other values
// as the shortest decimal that reads back the same, in exponent form below 1e-6 and from 1e21
// on, with a two-digit negative exponent written without its leading zero ("1e-07" is "1e-7").
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 {
		small, large := a < 1e-6, a >= 1e21
		if bits == 32 {
			small, large = float32(a) < 1e-6, float32(a) >= 1e21
		}
		if small || large {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b
}

// Timestamp bounds: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, as protojson checks them.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// appendTimestamp writes a Timestamp in RFC 3339 in UTC, with 0, 3, 6 or 9 fractional digits,
// the fewest that hold its nanoseconds.
func appendTimestamp(b []byte, m protoreflect.Message) ([]byte, bool) {
	fields := m.Descriptor().Fields()
	secs := m.Get(fields.ByNumber(1)).Int()
	nanos := m.Get(fields.ByNumber(2)).Int()
	if secs < minTimestampSeconds || secs > maxTimestampSeconds || nanos < 0 || nanos >= 1e9 {
		return b, false
	}
	t := time.Unix(secs, nanos).UTC()
	year, month, day := t.Date()
	hour, minute, second := t.Clock()
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = appendDigits(append(b, '-'), int(month), 2)
	b = appendDigits(append(b, '-'), day, 2)
	b = appendDigits(append(b, 'T'), hour, 2)
	b = appendDigits(append(b, ':'), minute, 2)
	b = appendDigits(append(b, ':'), second, 2)
	switch n := int(nanos); {
	case n == 0:
	case n%1e6 == 0:
		b = appendDigits(append(b, '.'), n/1e6, 3)
	case n%1e3 == 0:
		b = appendDigits(append(b, '.'), n/1e3, 6)
	default:
		b = appendDigits(append(b, '.'), n, 9)
	}
	return append(b, 'Z', '"'), true
}

// appendDigits appends the non-negative n in decimal, zero-padded to width digits.
func appendDigits(b []byte, n, width int) []byte {
	var digits [9]byte
	for i := width - 1; i >= 0; i-- {
		digits[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, digits[:width]...)
}

// compactJSON removes the whitespace outside strings from b, in place: what protojson's output
// needs to match the encoder's.
func compactJSON(b []byte) []byte {
	out := b[:0]
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ', c == '\t', c == '\n', c == '\r':
			continue
		}
		out = append(out, c)
	}
	return out
}
