package gateway

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/edge"
)

// Request smuggling guard: a request with both Content-Length and Transfer-Encoding is refused
// with 400 and its connection closed, as nginx does. Go's HTTP/1 server accepts such a request
// and frames it by Transfer-Encoding alone (RFC 9112, 6.3), which is safe for the gateway itself,
// but an intermediary in front of it that framed the same bytes by Content-Length would read a
// different request boundary: the classic request smuggling desync. Go removes Content-Length
// from the parsed header before a handler runs, so the guard reads the header lines as they come
// off the connection (framingConn) and the handler asks the connection (refuseAmbiguousFraming).

// framingListener wraps the accepted connections of a plaintext HTTP listener in framingConns.
type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c}, nil
}

// framingConn scans what the HTTP/1 server reads off the connection for header blocks that
// hold both a Content-Length and a Transfer-Encoding line. It does not parse bodies: a body that
// holds such a block is counted too, which can only make the next chunked request on the same
// connection be refused, never let an ambiguous one through.
type framingConn struct {
	net.Conn
	// ambiguous counts the blocks seen with both lines and not yet refused.
	ambiguous atomic.Int32
	// The rest is used by Read only, which the HTTP server never calls concurrently.
	off          bool // an HTTP/2 connection (prior knowledge): nothing to scan
	lines        int
	prefix       [len("transfer-encoding:")]byte
	n            int // bytes of the current line in prefix
	lineLen      int
	sawCL, sawTE bool
}

func (c *framingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.off {
		c.scan(p[:n])
	}
	return n, err
}

// CloseWrite half-closes the connection, as the HTTP server does before it closes one whose
// request it refused (431, for one), so that the client reads the answer rather than a reset.
func (c *framingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) for responses that use it.
func (c *framingConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

func (c *framingConn) scan(p []byte) {
	for len(p) > 0 && !c.off {
		i := bytes.IndexByte(p, '\n')
		line := p
		if i >= 0 {
			line = p[:i]
		}
		c.n += copy(c.prefix[c.n:], line)
		c.lineLen += len(line)
		if i < 0 {
			return
		}
		c.endLine()
		p = p[i+1:]
	}
}

func (c *framingConn) endLine() {
	line := c.prefix[:c.n]
	empty := c.lineLen == 0 || c.lineLen == 1 && line[0] == '\r'
	switch {
	case c.lines == 0 && bytes.HasPrefix(line, []byte("PRI * HTTP/2")):
		c.off = true
	case empty:
		if c.sawCL && c.sawTE {
			c.ambiguous.Add(1)
		}
		c.sawCL, c.sawTE = false, false
	case hasPrefixFold(line, "content-length:"):
		c.sawCL = true
	case hasPrefixFold(line, "transfer-encoding:"):
		c.sawTE = true
	}
	c.lines++
	c.n, c.lineLen = 0, 0
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// takeAmbiguous reports whether a block with both framing headers is waiting to be refused,
// and marks it refused.
func (c *framingConn) takeAmbiguous() bool {
	for {
		n := c.ambiguous.Load()
		if n == 0 {
			return false
		}
		if c.ambiguous.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

type framingConnKey struct{}

// withFramingConn is the API server's ConnContext: it makes the connection's framingConn
// available to refuseAmbiguousFraming.
func withFramingConn(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framingConn); ok {
		return context.WithValue(ctx, framingConnKey{}, fc)
	}
	return ctx
}

// refuseAmbiguousFraming answers 400 and closes the connection when an HTTP/1 request came with
// both Content-Length and Transfer-Encoding. Go's server only serves such a request as chunked,
// so only a chunked request can be one.
func refuseAmbiguousFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			if fc, ok := r.Context().Value(framingConnKey{}).(*framingConn); ok && fc.takeAmbiguous() {
				w.Header().Set("Connection", "close")
				edge.WriteStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument,
					"the request has both Content-Length and Transfer-Encoding headers: its length is ambiguous"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
