package gateway

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
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
