package testkit

import (
	"bytes"
	"sync"
)

// LogBuffer collects what a logger or a process writes, for the test to read while writing
// goes on. Its zero value is empty and ready to use, and it is safe for concurrent use. A
// LogBuffer must not be copied after first use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// lines are the complete lines in buf, without their newlines.
	lines []string
	// tail is the offset in buf of the line not yet ended by a newline.
	tail int
}

// Write implements io.Writer. It never fails.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, _ := b.buf.Write(p)
	data := b.buf.Bytes()
	for i := bytes.IndexByte(data[b.tail:], '\n'); i >= 0; i = bytes.IndexByte(data[b.tail:], '\n') {
		b.lines = append(b.lines, string(data[b.tail:b.tail+i]))
		b.tail += i + 1
	}
	return n, nil
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the lines written so far, without their newlines, in the order written. A last
// line that no newline has ended yet is left out: a logger that writes one record per Write
// never shows half a record here. The slice is the caller's.
func (b *LogBuffer) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}
