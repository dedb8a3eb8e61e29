package edge

import (
	"fmt"
	"io"
	"net/http"
)

// JSONDepthError is the error a body capped by [LimitJSONDepth] returns once its objects and
// arrays nest deeper than the limit. Its message is worded for clients.
type JSONDepthError struct {
	// Limit is the deepest nesting allowed.
	Limit int
}

func (e *JSONDepthError) Error() string {
	return fmt.Sprintf("request body nests JSON objects and arrays deeper than the limit of %d levels", e.Limit)
}

// LimitJSONDepth caps the nesting of JSON objects and arrays in request bodies. The body is
// scanned as it is read, byte by byte, with no copy and no parsing beyond brackets and strings:
// once it nests deeper than maxDepth, the read fails with a [*JSONDepthError], so a decoder
// gives up after reading about maxDepth bytes of a hostile body instead of recursing through
// all of it. Malformed JSON is left to the decoder to reject.
func LimitJSONDepth(next http.Handler, maxDepth int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &depthBody{rc: r.Body, max: maxDepth}
		}
		next.ServeHTTP(w, r)
	})
}

// WithoutJSONDepth returns body without the nesting check of [LimitJSONDepth], for a body that
// is not JSON (a raw upload); any other body is returned as it is.
func WithoutJSONDepth(body io.ReadCloser) io.ReadCloser {
	if d, ok := body.(*depthBody); ok {
		return d.rc
	}
	return body
}

// depthBody tracks the nesting of the JSON text read through it.
type depthBody struct {
	rc       io.ReadCloser
	max      int
	depth    int
	inString bool
	escaped  bool
	err      error
}

func (b *depthBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	if i := b.scan(p[:n]); i >= 0 {
		b.err = &JSONDepthError{Limit: b.max}
		return i, b.err
	}
	return n, err
}

// Byte classes for scan: everything else is plain.
const (
	plain = iota
	quote
	backslash
	open
	closing
)

var jsonClass = func() (t [256]uint8) {
	t['"'], t['\\'] = quote, backslash
	t['{'], t['['] = open, open
	t['}'], t[']'] = closing, closing
	return t
}()

// scan advances the state over p and returns the index of the byte that went too deep, or -1.
// One table lookup per byte, with the state in local variables.
func (b *depthBody) scan(p []byte) int {
	depth, inString, escaped := b.depth, b.inString, b.escaped
	defer func() { b.depth, b.inString, b.escaped = depth, inString, escaped }()
	for i, c := range p {
		class := jsonClass[c]
		if class == plain {
			escaped = false
			continue
		}
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped = class == backslash
			inString = class != quote
		case class == quote:
			inString = true
		case class == open:
			depth++
			if depth > b.max {
				return i
			}
		case class == closing:
			depth--
		}
	}
	return -1
}

func (b *depthBody) Close() error { return b.rc.Close() }
