package gateway_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// smallBuffers is the size asked of the kernel for the socket buffers of the tests below, so
// that a response of a few hundred kilobytes cannot fit in them while its client does not read.
const smallBuffers = 4 << 10

// smallBufferListener gives every accepted connection a small send buffer.
type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(smallBuffers)
	}
	return c, err
}

// serveSmallBuffers serves h on a loopback listener whose connections have small send buffers.
func serveSmallBuffers(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = smallBufferListener{listenLoopback(t)}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// sendAndNeverRead sends a GET of path over a connection with a small receive buffer, and never
// reads the answer. The connection closes when the test ends.
func sendAndNeverRead(t *testing.T, addr, path string, header string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.(*net.TCPConn).SetReadBuffer(smallBuffers); err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(c)
	_, _ = w.WriteString("GET " + path + " HTTP/1.1\r\nHost: gateway\r\n" + header + "\r\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// slotHeld sends one request to a gateway that serves one request at a time
// (listen.max_in_flight_requests: 1) and reports whether it was shed, which is what happens
// while another request holds the slot.
func slotHeld(t *testing.T, addr string) bool {
	t.Helper()
	resp, body := do(t, "GET", "http://"+addr+"/v1/no-such-route", "", nil)
	switch resp.StatusCode {
	case http.StatusServiceUnavailable:
		return true
	case http.StatusNotFound:
		return false
	}
	t.Fatalf("GET /v1/no-such-route = %d: %s", resp.StatusCode, body)
	return false
}

// The write timeouts of these tests leave the slot held long enough for a request of the test,
// slow under the race detector, to see it held.

// TestClientThatStopsReadingFreesItsSlot is the attack: clients fetch the docs page's script,
// a large public file, and never read it. Each held its request, and its place among
// listen.max_in_flight_requests, for ever; listen.response_write_timeout now ends it.
func TestClientThatStopsReadingFreesItsSlot(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "listen: {max_in_flight_requests: 1, response_write_timeout: 3s}\n", nil)
	addr := serveSmallBuffers(t, env.gw.Handler())
	if slotHeld(t, addr) {
		t.Fatal("shed before any client held the slot")
	}
	sendAndNeverRead(t, addr, "/docs/swagger-ui-bundle.js", "")
	if !eventually(func() bool { return slotHeld(t, addr) }) {
		t.Fatal("the request of the client that does not read never held the slot: the test proves nothing")
	}
	if !eventually(func() bool { return !slotHeld(t, addr) }) {
		t.Fatal("the client that does not read still holds the slot 10s after its write deadline")
	}
}

// TestStreamThatStopsBeingReadEnds: a server stream whose client stops reading ends once a
// write has made no progress for streaming.write_idle_timeout, its backend call is cancelled,
// and its slot is freed, however long the stream had been open.
func TestStreamThatStopsBeingReadEnds(t *testing.T) {
	t.Parallel()
	orders := &fakeOrders{hold: make(chan struct{}), done: make(chan error, 1)}
	env := newTestEnv(t, `
listen: {max_in_flight_requests: 1, response_write_timeout: 1s}
streaming: {write_idle_timeout: 3s}
`, orders)
	addr := serveSmallBuffers(t, env.gw.Handler())
	// The first event names the order; with a long name it does not fit in the buffers.
	name := strings.Repeat("o", 256<<10)
	sendAndNeverRead(t, addr, "/v1/orders/"+name+":watch", "X-Api-Key: "+testAPIKey+"\r\n")
	if !eventually(func() bool { return slotHeld(t, addr) }) {
		t.Fatal("the stream never held the slot: the test proves nothing")
	}
	select {
	case err := <-orders.done:
		if status.Code(err) != codes.Canceled {
			t.Errorf("the backend's stream ended with %v, want it cancelled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the backend's stream still runs 10s after the client stopped reading")
	}
	if !eventually(func() bool { return !slotHeld(t, addr) }) {
		t.Fatal("the stream still holds the slot after it ended")
	}
}

// TestWebSocketThatStopsBeingReadEnds: a bridged WebSocket whose client stops reading is closed
// once a write has made no progress for streaming.write_idle_timeout, and its slot is freed.
func TestWebSocketThatStopsBeingReadEnds(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "listen: {max_in_flight_requests: 1}\nstreaming: {write_idle_timeout: 2s}\n", nil)
	addr := serveSmallBuffers(t, env.gw.Handler())
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, address)
		if err == nil {
			err = c.(*net.TCPConn).SetReadBuffer(smallBuffers)
		}
		return c, err
	}}}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/v1/orders:chat?name=orders/ord-1", &websocket.DialOptions{
		HTTPClient: client, HTTPHeader: http.Header{"X-Api-Key": {testAPIKey}}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	// The echoes of these messages do not fit in the buffers.
	msg := `{"name":"orders/ord-1","text":"` + strings.Repeat("a", 60<<10) + `"}`
	for range 8 {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	if !eventually(func() bool { return slotHeld(t, addr) }) {
		t.Fatal("the WebSocket never held the slot: the test proves nothing")
	}
	if !eventually(func() bool { return !slotHeld(t, addr) }) {
		t.Fatal("the WebSocket whose client stopped reading still holds the slot 10s after its write timeout")
	}
}
