package transcode

import (
	"errors"
	"fmt"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
)

// Template is a parsed google.api.http path template, such as "/v1/{name=shelves/*/books/*}:read":
// the grammar of google/api/http.proto,
//
//	Template = "/" Segments [ Verb ] ;
//	Segments = Segment { "/" Segment } ;
//	Segment  = "*" | "**" | LITERAL | Variable ;
//	Variable = "{" FieldPath [ "=" Segments ] "}" ;
//	FieldPath = IDENT { "." IDENT } ;
//	Verb     = ":" LITERAL ;
//
// A variable without segments matches one segment ("{id}" is "{id=*}"). The template "/" alone
// matches the root.
type Template struct {
	// Segments are the template's top-level segments, in order.
	Segments []Segment
	// Verb is the custom verb after the last segment, without its colon; "" when none.
	Verb string
}

// Segment is one segment of a Template: a literal, a wildcard ("*" one segment, "**" any number),
// or a variable capturing the segments it holds into the request field named by FieldPath.
type Segment struct {
	// Literal is the segment's text when it is a literal.
	Literal string
	// Wildcard is "*" or "**" when the segment is a wildcard.
	Wildcard string
	// FieldPath is the dotted request field path of a variable ("book.name"); "" otherwise.
	FieldPath string
	// Inner are a variable's segments; a variable written "{id}" has one, "*".
	Inner []Segment
}

// Fields returns the field paths of the template's variables, in order.
func (t *Template) Fields() []string {
	var fields []string
	for _, s := range t.Segments {
		if s.FieldPath != "" {
			fields = append(fields, s.FieldPath)
		}
	}
	return fields
}

// ParseTemplate parses a google.api.http path template. The error names the template and what is
// wrong with it.
func ParseTemplate(tmpl string) (*Template, error) {
	t, err := parseTemplate(tmpl)
	if err != nil {
		return nil, fmt.Errorf("path template %q: %w", tmpl, err)
	}
	return t, nil
}

func parseTemplate(tmpl string) (*Template, error) {
	rest, ok := strings.CutPrefix(tmpl, "/")
	if !ok {
		return nil, errors.New("does not start with /")
	}
	if rest == "" {
		return &Template{}, nil
	}
	rest, verb, err := cutVerb(rest)
	if err != nil {
		return nil, err
	}
	p := &templateParser{in: rest}
	segs, err := p.segments(false)
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.in) {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.in[p.pos:], p.pos+1)
	}
	if err := checkVariables(segs); err != nil {
		return nil, err
	}
	return &Template{Segments: segs, Verb: verb}, nil
}

// cutVerb splits the custom verb off the template (without its leading slash). The verb follows
// a colon in the last segment, outside any variable: after a variable the first colon starts it
// ("{name}:cancel"), in a literal the last one does ("a:b:cancel" is the literal "a:b").
func cutVerb(path string) (string, string, error) {
	depth, tail, afterVariable := 0, 0, false
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				tail, afterVariable = i+1, true
			}
		case '/':
			if depth == 0 {
				tail, afterVariable = i+1, false
			}
		}
	}
	if depth != 0 {
		// An unbalanced variable; the parser reports it.
		return path, "", nil
	}
	var idx int
	if afterVariable {
		idx = strings.IndexByte(path[tail:], ':')
	} else {
		idx = strings.LastIndexByte(path[tail:], ':')
	}
	if idx < 0 {
		return path, "", nil
	}
	idx += tail
	verb := path[idx+1:]
	if verb == "" {
		return "", "", errors.New("empty custom verb after ':'")
	}
	if err := checkLiteral(verb); err != nil {
		return "", "", fmt.Errorf("custom verb %q: %w", verb, err)
	}
	if idx == tail && !afterVariable {
		return "", "", errors.New("empty segment before the custom verb")
	}
	return path[:idx], verb, nil
}

type templateParser struct {
	in  string
	pos int
}

// segments parses Segments; inVariable stops at the "}" closing a variable.
func (p *templateParser) segments(inVariable bool) ([]Segment, error) {
	var segs []Segment
	for {
		s, err := p.segment(inVariable)
		if err != nil {
			return nil, err
		}
		segs = append(segs, s)
		if p.pos < len(p.in) && p.in[p.pos] == '/' {
			p.pos++
			continue
		}
		return segs, nil
	}
}

func (p *templateParser) segment(inVariable bool) (Segment, error) {
	if p.pos < len(p.in) && p.in[p.pos] == '{' {
		if inVariable {
			return Segment{}, fmt.Errorf("variable nested in a variable at offset %d", p.pos+1)
		}
		return p.variable()
	}
	end := p.pos
	for end < len(p.in) && p.in[end] != '/' && p.in[end] != '{' && p.in[end] != '}' {
		end++
	}
	text := p.in[p.pos:end]
	switch text {
	case "":
		return Segment{}, fmt.Errorf("empty segment at offset %d", p.pos+1)
	case "*", "**":
		p.pos = end
		return Segment{Wildcard: text}, nil
	}
	if err := checkLiteral(text); err != nil {
		return Segment{}, fmt.Errorf("segment %q: %w", text, err)
	}
	p.pos = end
	return Segment{Literal: text}, nil
}

func (p *templateParser) variable() (Segment, error) {
	start := p.pos
	p.pos++ // {
	end := p.pos
	for end < len(p.in) && p.in[end] != '=' && p.in[end] != '}' && p.in[end] != '/' && p.in[end] != '{' {
		end++
	}
	path := p.in[p.pos:end]
	if err := checkFieldPath(path); err != nil {
		return Segment{}, fmt.Errorf("variable at offset %d: %w", start+1, err)
	}
	p.pos = end
	v := Segment{FieldPath: path, Inner: []Segment{{Wildcard: "*"}}}
	if p.pos < len(p.in) && p.in[p.pos] == '=' {
		p.pos++
		inner, err := p.segments(true)
		if err != nil {
			return Segment{}, fmt.Errorf("variable %q: %w", path, err)
		}
		v.Inner = inner
	}
	if p.pos >= len(p.in) || p.in[p.pos] != '}' {
		return Segment{}, fmt.Errorf("variable %q is not closed by '}'", path)
	}
	p.pos++
	return v, nil
}

// checkVariables refuses a field bound by two variables.
func checkVariables(segs []Segment) error {
	seen := make(map[string]bool)
	for _, s := range segs {
		if s.FieldPath == "" {
			continue
		}
		if seen[s.FieldPath] {
			return fmt.Errorf("field %q is bound by two variables", s.FieldPath)
		}
		seen[s.FieldPath] = true
	}
	return nil
}

// checkFieldPath checks a dotted path of proto identifiers.
func checkFieldPath(path string) error {
	if path == "" {
		return errors.New("empty field path")
	}
	for ident := range strings.SplitSeq(path, ".") {
		if ident == "" {
			return fmt.Errorf("field path %q has an empty component", path)
		}
		for i, r := range ident {
			switch {
			case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
			case '0' <= r && r <= '9' && i > 0:
			default:
				return fmt.Errorf("field path %q: %q is not a proto identifier", path, ident)
			}
		}
	}
	return nil
}

// checkLiteral checks that a literal segment or verb is made of URL path characters (RFC 3986
// pchar, with percent-encoded octets).
func checkLiteral(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0:
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return errors.New("'%' is not followed by two hex digits")
			}
			i += 2
		default:
			return fmt.Errorf("character %q is not allowed in a URL path segment", c)
		}
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// opcodeVersion is the version of the OpCode programs runtime.NewPattern accepts.
const opcodeVersion = 1

// Compile turns the template into the program of grpc-gateway's pattern matcher: one op per
// literal (push it), wildcard (push one, or all remaining), and, for a variable, its segments'
// ops followed by "concatenate n" and "capture into the field". Literals and field paths share
// one pool, in order of first use.
func (t *Template) Compile() (runtime.Pattern, error) {
	c := compiler{index: make(map[string]int)}
	if len(t.Segments) == 0 {
		c.emit(utilities.OpLitPush, c.intern(""))
	}
	for _, s := range t.Segments {
		c.segment(s)
	}
	p, err := runtime.NewPattern(opcodeVersion, c.ops, c.pool, t.Verb)
	if err != nil {
		return runtime.Pattern{}, fmt.Errorf("runtime.NewPattern: %w", err)
	}
	return p, nil
}

type compiler struct {
	ops   []int
	pool  []string
	index map[string]int
}

func (c *compiler) emit(op utilities.OpCode, operand int) {
	c.ops = append(c.ops, int(op), operand)
}

func (c *compiler) intern(s string) int {
	if i, ok := c.index[s]; ok {
		return i
	}
	c.index[s] = len(c.pool)
	c.pool = append(c.pool, s)
	return len(c.pool) - 1
}

func (c *compiler) segment(s Segment) {
	switch {
	case s.FieldPath != "":
		for _, in := range s.Inner {
			c.segment(in)
		}
		c.emit(utilities.OpConcatN, len(s.Inner))
		c.emit(utilities.OpCapture, c.intern(s.FieldPath))
	case s.Wildcard == "*":
		c.emit(utilities.OpPush, 0)
	case s.Wildcard == "**":
		c.emit(utilities.OpPushM, 0)
	default:
		c.emit(utilities.OpLitPush, c.intern(s.Literal))
	}
}

// Shape returns the template with its variables flattened into the segments they match, such as
// "/v1/users/*:cancel" for both "/v1/{name=users/*}:cancel" and "/v1/users/{id}:cancel": two
// templates of the same shape match the same requests, whatever their variables bind.
func (t *Template) Shape() string {
	var b strings.Builder
	var write func(segs []Segment)
	write = func(segs []Segment) {
		for _, s := range segs {
			switch {
			case s.FieldPath != "":
				write(s.Inner)
			case s.Wildcard != "":
				b.WriteString("/" + s.Wildcard)
			default:
				b.WriteString("/" + s.Literal)
			}
		}
	}
	write(t.Segments)
	if b.Len() == 0 {
		b.WriteString("/")
	}
	if t.Verb != "" {
		b.WriteString(":" + t.Verb)
	}
	return b.String()
}
