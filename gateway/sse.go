package gateway

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/archway-gateway/archway/gateway/edge"
)

// Server-Sent Events for server streams. A client that sends Accept: text/event-stream (what
// browsers' EventSource sends) gets every message of a server stream as one event:
//
//	id: 1
//	data: {"order":{...}}
//
// an error as a final "event: error" whose data is the google.rpc.Status, a ": ping" comment
// when the stream has been silent for streaming.sse_heartbeat, and, when the stream ends
// normally, a final "event: end" that tells the client not to reconnect.
//
// The work is split in two. sseMarshaler, registered with grpc-gateway for text/event-stream,
// turns each message and the in-stream error into a complete frame: grpc-gateway's own hooks
// (a marshaler per media type, StreamContentType, Delimiter) cover that much. They cannot send
// anything between messages or after the last one, since grpc-gateway's loop blocks in the
// backend's Recv and returns silently at the end of the stream, so sseWriter, which callRoute
// puts around the response, adds the event ids, the heartbeats and the end event, serialises
// the heartbeat goroutine's writes with the stream's, and answers 200 even when the stream fails
// before its first message: EventSource does not read the body of any other answer. Failures
// of the chain before the stream (authentication, rate limit) keep their HTTP status and plain
// google.rpc.Status body.

const sseContentType = "text/event-stream"

// sseMarshaler frames server-stream chunks as events. Other values (a unary response to a
// client that happened to send Accept: text/event-stream) are plain JSON.
type sseMarshaler struct{ *jsonMarshaler }

// StreamContentType is the media type of a server stream.
func (sseMarshaler) StreamContentType(any) string { return sseContentType }

// Delimiter is empty: every frame that Marshal returns ends with its own blank line.
func (sseMarshaler) Delimiter() []byte { return nil }

// Marshal frames grpc-gateway's stream chunks, {"result": message} and {"error": Status}, as a
// message event and an error event.
func (m sseMarshaler) Marshal(v any) ([]byte, error) {
	switch v := v.(type) {
	case map[string]any:
		if res, ok := v["result"]; ok && len(v) == 1 {
			data, err := m.jsonMarshaler.Marshal(res)
			if err != nil {
				return nil, err
			}
			return appendEvent(nil, "", data), nil
		}
	case map[string]proto.Message:
		if st, ok := v["error"]; ok && len(v) == 1 {
			data, err := m.jsonMarshaler.Marshal(st)
			if err != nil {
				return nil, err
			}
			return appendEvent(nil, sseErrorEvent, data), nil
		}
	}
	return m.jsonMarshaler.Marshal(v)
}

const (
	sseErrorEvent = "error"
	sseEndEvent   = "end"
)

// appendEvent appends one event with the given type ("" for a message) and data. A newline in
// data starts another data line, which the client joins back with a newline.
func appendEvent(b []byte, event string, data []byte) []byte {
	if event != "" {
		b = append(b, "event: "...)
		b = append(b, event...)
		b = append(b, '\n')
	}
	for line := range bytes.Lines(data) {
		b = append(b, "data: "...)
		b = append(b, bytes.TrimRight(line, "\r\n")...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// acceptsEventStream reports whether the Accept header lists text/event-stream.
func acceptsEventStream(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			if mt, _, err := mime.ParseMediaType(part); err == nil && mt == sseContentType {
				return true
			}
		}
	}
	return false
}

// sseWriter is the response of a server stream served as Server-Sent Events; see the top of
// this file. It is safe for the stream's goroutine and the heartbeat's to use at once.
type sseWriter struct {
	w http.ResponseWriter

	mu sync.Mutex
	// quiet is true when nothing was written since the last heartbeat tick.
	quiet bool
	// ended is true once the error or end event is written: nothing follows it.
	ended bool
	// events counts the message events, which are numbered from 1.
	events int
	// failed is true once a write failed: the client is gone.
	failed bool
}

// newSSEWriter starts the response: its status line goes out before the stream begins, so the
// client's EventSource opens at once, and the heartbeat goroutine never touches the headers,
// which grpc-gateway's goroutine is still free to change (to no effect: headers and metadata
// from the backend do not reach an SSE client).
func newSSEWriter(w http.ResponseWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", sseContentType)
	// No event may be stored. A stream to a caller who authenticated already says so and more:
	// the cache link marked it private, no-store.
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	return &sseWriter{w: w, quiet: true}
}

// errClientGone is what writes return after one failed.
var errClientGone = errors.New("the client went away")

func (s *sseWriter) Header() http.Header { return s.w.Header() }

// WriteHeader ignores the status: an SSE answer is always 200, and errors travel as events.
func (s *sseWriter) WriteHeader(int) {}

// Write takes one frame from sseMarshaler, numbering message events. The empty delimiter is
// dropped.
func (s *sseWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return len(p), nil
	}
	if bytes.HasPrefix(p, []byte("data:")) {
		s.events++
		id := strconv.AppendInt([]byte("id: "), int64(s.events), 10)
		if err := s.writeLocked(append(id, '\n')); err != nil {
			return 0, err
		}
	}
	if bytes.HasPrefix(p, []byte("event: "+sseErrorEvent+"\n")) {
		s.ended = true
	}
	if err := s.writeLocked(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeLocked writes p. s.mu is held.
func (s *sseWriter) writeLocked(p []byte) error {
	if s.failed {
		return errClientGone
	}
	s.quiet = false
	if _, err := s.w.Write(p); err != nil {
		s.failed = true
		return err
	}
	return nil
}

// FlushError sends what was written so far; grpc-gateway flushes after every message.
func (s *sseWriter) FlushError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushLocked()
}

func (s *sseWriter) flushLocked() error {
	if s.failed {
		return nil
	}
	return http.NewResponseController(s.w).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *sseWriter) Unwrap() http.ResponseWriter { return s.w }

// writeEvent writes and flushes a whole frame that ends the stream or keeps it alive.
func (s *sseWriter) writeEvent(frame []byte, final bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = final
	if s.writeLocked(frame) == nil {
		_ = s.flushLocked()
	}
}

// writeError ends the stream with an error event; handleError calls it for failures before the
// stream began (an unknown resource, a backend that is down).
func (s *sseWriter) writeError(st *status.Status) {
	s.writeEvent(appendEvent(nil, sseErrorEvent, edge.StatusJSON(st)), true)
}

// finish ends a stream that neither failed nor lost its client with the end event.
func (s *sseWriter) finish(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	s.writeEvent(appendEvent(nil, sseEndEvent, []byte("{}")), true)
}

var sseHeartbeat = []byte(": ping\n\n")

// heartbeat sends a ping comment whenever a whole interval passed without a write, until the
// returned stop is called; stop waits for the goroutine to end.
func (s *sseWriter) heartbeat(interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			s.mu.Lock()
			if s.ended || s.failed {
				s.mu.Unlock()
				return
			}
			if s.quiet && s.writeLocked(sseHeartbeat) == nil {
				_ = s.flushLocked()
			}
			s.quiet = true
			s.mu.Unlock()
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
