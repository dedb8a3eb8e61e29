package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/archway-gateway/archway/gateway/edge"
)

// TestReadAll reads bodies around the sizes where readAll changes buffers, through readers
// that return data in odd ways.
func TestReadAll(t *testing.T) {
	t.Parallel()
	readers := map[string]func(io.Reader) io.Reader{
		"plain":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for _, size := range []int{0, 1, minScratch - 1, minScratch, minScratch + 1, minScratch + bodyChunk, minScratch + 3*bodyChunk + 7} {
		body := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		for name, wrap := range readers {
			if name == "one byte" && size > 2*minScratch {
				continue
			}
			got, err := readAll(wrap(bytes.NewReader(body)), make([]byte, 0, minScratch))
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("%s reader, %d bytes: got %d bytes, %v", name, size, len(got), err)
			}
		}
	}
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(make([]byte, minScratch+bodyChunk+1)), iotest.ErrReader(boom))
	if _, err := readAll(r, make([]byte, 0, minScratch)); !errors.Is(err, boom) {
		t.Errorf("error after two chunks: %v, want boom", err)
	}
}

// TestDecodeLargeBody decodes bodies larger than the scratch buffer, which are read into one
// buffer of their known size: an in-memory body (as grpc-gateway's generated code makes of a body
// it reads twice) and a body of declared size behind the edge's body limit.
func TestDecodeLargeBody(t *testing.T) {
	t.Parallel()
	m := newJSONMarshaler(true)
	text := strings.Repeat("a", 3*minScratch+5)
	body := `"` + text + `"`
	check := func(name string, r io.Reader) {
		t.Helper()
		var v wrapperspb.StringValue
		if err := m.NewDecoder(r).Decode(&v); err != nil || v.GetValue() != text {
			t.Errorf("%s: decoded %d bytes, %v; want %d", name, len(v.GetValue()), err, len(text))
		}
	}
	check("in memory", bytes.NewReader([]byte(body)))
	h := edge.LimitBody(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if got := edge.BodySize(r.Body); got != int64(len(body)) {
			t.Errorf("BodySize = %d, want %d", got, len(body))
		}
		check("declared", r.Body)
	}), 1<<20)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)))
}
