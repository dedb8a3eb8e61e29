package edge

import (
	"net/http"
	"sync/atomic"
	"time"
)

// WriteLimits bounds how long the writes of a response may block on a client that does not
// read. A write that runs past its deadline fails, the connection (for HTTP/2, the stream) is
// reset, the request's context is cancelled, and so the handler returns, its backend call ends
// and its slot among the requests in flight is freed.
type WriteLimits struct {
	// Response bounds the writing of a response, from its first byte to its last. By default
	// (0), it is not bounded.
	Response time.Duration
	// StreamIdle bounds each write of a streamed response (see [State.StreamResponse]): a
	// stream whose writes make no progress for this long is ended. By default (0), stream
	// writes are not bounded.
	StreamIdle time.Duration
	// Exchange, when positive, is the latest a response that is not a stream may end, counted
	// from when the request reached LimitWrites (http.Server.WriteTimeout's bound, which
	// Response would otherwise extend). By default (0), there is no such bound.
	Exchange time.Duration
}

// LimitWrites sets write deadlines on every response of next, with
// http.ResponseController.SetWriteDeadline, so they apply per request and a server-wide
// http.Server.WriteTimeout is not needed: a response gets lim.Response from its first write;
// once the handler says it streams ([State.StreamResponse]), every write and flush gets
// lim.StreamIdle from when it starts, so a stream may live for hours as long as its client
// keeps reading. Over HTTP/1.1 the deadline is also set when the request arrives, so that a
// deadline left on the connection by the previous request cannot fail this one's writes.
func LimitWrites(next http.Handler, lim WriteLimits) http.Handler {
	if lim.Response <= 0 && lim.StreamIdle <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), lim: lim}
		if lim.Exchange > 0 {
			dw.end = time.Now().Add(lim.Exchange)
		}
		if r.ProtoMajor == 1 {
			dw.setDeadline(lim.Response)
		}
		if s := StateFrom(r.Context()); s != nil {
			s.mu.Lock()
			s.writes = dw
			s.mu.Unlock()
		}
		next.ServeHTTP(dw, r)
	})
}

// deadlineWriter sets the write deadlines of one response.
type deadlineWriter struct {
	http.ResponseWriter
	rc  *http.ResponseController
	lim WriteLimits
	// stream is set by State.StreamResponse, before the stream's first write.
	stream atomic.Bool
	// armed is true once the response's deadline is set from its first write.
	armed bool
	// end is the latest deadline of a response that is not a stream (Exchange); zero: none.
	end time.Time
}

// arm sets the deadline for the write about to start.
func (w *deadlineWriter) arm() {
	switch {
	case w.stream.Load():
		w.setDeadline(w.lim.StreamIdle)
	case !w.armed:
		w.armed = true
		w.setDeadline(w.lim.Response)
	}
}

// setDeadline sets the write deadline d from now (d <= 0: none), or, for a response that is not
// a stream, end when that comes first. Writers that cannot take a deadline (a test's recorder)
// are left alone.
func (w *deadlineWriter) setDeadline(d time.Duration) {
	var at time.Time
	if d > 0 {
		at = time.Now().Add(d)
	}
	if !w.end.IsZero() && !w.stream.Load() && (at.IsZero() || w.end.Before(at)) {
		at = w.end
	}
	_ = w.rc.SetWriteDeadline(at)
}

func (w *deadlineWriter) WriteHeader(code int) {
	if code >= http.StatusOK {
		w.arm()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.arm()
	return w.ResponseWriter.Write(p)
}

// Flush sends what was written; grpc-gateway calls it after every streamed message.
func (w *deadlineWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush with its error, for http.ResponseController.
func (w *deadlineWriter) FlushError() error {
	w.arm()
	return w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// StreamResponse tells the chain that the response is a stream of messages (NDJSON or
// Server-Sent Events): from now on each write, rather than the whole response, is bounded
// (see [LimitWrites]). Call it before the stream's first write.
func (s *State) StreamResponse() {
	s.mu.Lock()
	dw := s.writes
	s.mu.Unlock()
	if dw != nil {
		dw.stream.Store(true)
	}
}
