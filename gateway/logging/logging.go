package logging

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/archway-gateway/archway/gateway/config"
)

// bufferSize is the size of the write buffer: about a hundred access log lines.
const bufferSize = 32 << 10

// Logger is the gateway's logger and the buffer behind it.
type Logger struct {
	*slog.Logger
	w *bufferedWriter
}

// New returns the logger that c configures, writing to w. Call Close when done with it, to
// flush what is buffered; until then, records of level info and below reach w within
// c.FlushInterval.
func New(c config.Log, w io.Writer) *Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config.Config.Validate
	interval := c.FlushInterval.D()
	if interval <= 0 {
		return &Logger{Logger: slog.New(newHandler(c.Format, w, level))}
	}
	bw := newBufferedWriter(w, interval)
	return &Logger{Logger: slog.New(flushingHandler{Handler: newHandler(c.Format, bw, level), w: bw}), w: bw}
}

// Close flushes the buffer and stops its timer. The logger stays usable, and writes through
// from then on.
func (l *Logger) Close() error {
	if l.w == nil {
		return nil
	}
	return l.w.close()
}

func newHandler(format string, w io.Writer, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// flushingHandler flushes the buffer after each record at level warn or above.
type flushingHandler struct {
	slog.Handler
	w *bufferedWriter
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{Handler: h.Handler.WithGroup(name), w: h.w}
}

// bufferedWriter is a bufio.Writer safe for concurrent use, flushed by a timer.
type bufferedWriter struct {
	mu     sync.Mutex
	buf    *bufio.Writer
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

func newBufferedWriter(w io.Writer, interval time.Duration) *bufferedWriter {
	b := &bufferedWriter{buf: bufio.NewWriterSize(w, bufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushEvery(interval)
	return b
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if err == nil && b.closed {
		err = b.buf.Flush()
	}
	return n, err
}

func (b *bufferedWriter) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Flush()
}

func (b *bufferedWriter) flushEvery(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			// A failed write is reported to the next writer of a record; the log has no
			// better place to report its own failure.
			_ = b.flush()
		}
	}
}

func (b *bufferedWriter) close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return b.flush()
}
