package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	"github.com/archway-gateway/archway/internal/testkit"
)

// limitBackend is an OrderService whose WatchOrder and SupportChat (after the client's first
// message) either send one message and then wait for their context to end (total 0), or send
// total messages of about 1 KB as fast as the stream takes them, counting them in sent.
type limitBackend struct {
	ordersv1.UnimplementedOrderServiceServer
	total int
	sent  atomic.Int64
	// done receives what the stream returned.
	done chan error
}

// padding makes every message about 1 KB.
var padding = strings.Repeat("x", 1000)

func messageName(i int) string { return fmt.Sprintf("orders/%06d", i) }

func (b *limitBackend) serve(ctx context.Context, send func(i int) error) (err error) {
	defer func() { b.done <- err }()
	if b.total == 0 {
		if err := send(0); err != nil {
			return err
		}
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	}
	for i := range b.total {
		if err := send(i); err != nil {
			return err
		}
		b.sent.Add(1)
	}
	return nil
}

func (b *limitBackend) WatchOrder(_ *ordersv1.WatchOrderRequest, stream grpc.ServerStreamingServer[ordersv1.OrderEvent]) error {
	return b.serve(stream.Context(), func(i int) error {
		return stream.Send(&ordersv1.OrderEvent{Order: &ordersv1.Order{Name: messageName(i), CancelReason: padding}})
	})
}

func (b *limitBackend) SupportChat(stream grpc.BidiStreamingServer[ordersv1.SupportMessage, ordersv1.SupportMessage]) error {
	if _, err := stream.Recv(); err != nil {
		b.done <- err
		return err
	}
	return b.serve(stream.Context(), func(i int) error {
		return stream.Send(&ordersv1.SupportMessage{Name: messageName(i), Text: padding})
	})
}

// newLimitEnv starts b on a loopback TCP listener and a gateway in front of it, configured by
// the YAML in extra, on a real HTTP listener; it returns the gateway's URL.
func newLimitEnv(t *testing.T, b *limitBackend, extra string) string {
	t.Helper()
	lis := listenLoopback(t)
	srv := grpc.NewServer()
	ordersv1.RegisterOrderServiceServer(srv, b)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	_, url := serveGateway(t, `
admin: {enabled: false}
log: {access_log: false}
backends:
  - {name: orders, address: "passthrough:///`+lis.Addr().String()+`", services: [storefront.orders.v1.OrderService]}
`+testAuthn+extra)
	return url
}

// frame is what a stream client read: a message (name set) or the end of the stream.
type frame struct {
	name string
	end  bool
	// code and message are the status of an error line or event.
	code    codes.Code
	message string
	// closeCode is the WebSocket close code.
	closeCode websocket.StatusCode
}

// streamClient reads one stream in one framing.
type streamClient struct {
	recv func() (frame, error)
	// hangUp closes the connection mid-stream.
	hangUp func()
	// closeFrame, for WebSocket, closes the connection with a close frame (1001, what a browser
	// sends when the page goes away).
	closeFrame func()
}

type framing struct {
	name string
	open func(t *testing.T, url string) streamClient
}

var framings = []framing{
	{"ndjson", openNDJSON},
	{"sse", openEventStream},
	{"websocket", openChat},
}

// messageOf returns the name of a streamed message: an OrderEvent's order or a SupportMessage.
func messageOf(data []byte) (string, error) {
	var m struct {
		Name  string `json:"name"`
		Order struct {
			Name string `json:"name"`
		} `json:"order"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return "", fmt.Errorf("message %.80q: %w", data, err)
	}
	return m.Name + m.Order.Name, nil
}

// openHTTPStream opens the server stream with the given Accept header ("" for none) and returns
// its body, closed at the end of the test, and what hangs up.
func openHTTPStream(t *testing.T, url, accept string) (*bufio.Reader, context.CancelFunc) {
	t.Helper()
	ctx, hangUp := context.WithCancel(t.Context())
	t.Cleanup(hangUp)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/orders/ord-1:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testAPIKey)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	return bufio.NewReaderSize(resp.Body, 64<<10), hangUp
}

func openNDJSON(t *testing.T, url string) streamClient {
	r, hangUp := openHTTPStream(t, url, "")
	return streamClient{hangUp: hangUp, recv: func() (frame, error) {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return frame{}, err
		}
		var chunk struct {
			Result json.RawMessage `json:"result"`
			Error  *statusBody     `json:"error"`
		}
		if err := json.Unmarshal(line, &chunk); err != nil {
			return frame{}, fmt.Errorf("line %.80q: %w", line, err)
		}
		if chunk.Error != nil {
			return frame{end: true, code: codes.Code(chunk.Error.Code), message: chunk.Error.Message}, nil
		}
		name, err := messageOf(chunk.Result)
		return frame{name: name}, err
	}}
}

func openEventStream(t *testing.T, url string) streamClient {
	r, hangUp := openHTTPStream(t, url, "text/event-stream")
	return streamClient{hangUp: hangUp, recv: func() (frame, error) {
		for range 1000 {
			ev, err := testkit.ReadSSEEvent(r)
			switch {
			case err != nil:
				return frame{}, err
			case ev.Comment != "":
				continue
			case ev.Event == "error":
				var st statusBody
				if err := json.Unmarshal([]byte(ev.Data), &st); err != nil {
					return frame{}, fmt.Errorf("error event %q: %w", ev.Data, err)
				}
				return frame{end: true, code: codes.Code(st.Code), message: st.Message}, nil
			case ev.Event != "":
				return frame{end: true}, nil
			}
			name, err := messageOf([]byte(ev.Data))
			return frame{name: name}, err
		}
		return frame{}, errors.New("only pings")
	}}
}

func openChat(t *testing.T, url string) streamClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/v1/orders:chat?name=orders/ord-1",
		&websocket.DialOptions{HTTPHeader: http.Header{"X-Api-Key": {testAPIKey}}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"text":"go"}`)); err != nil {
		t.Fatal(err)
	}
	return streamClient{hangUp: func() { _ = c.CloseNow() }, closeFrame: func() { _ = c.Close(websocket.StatusGoingAway, "") }, recv: func() (frame, error) {
		_, data, err := c.Read(t.Context())
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return frame{end: true, closeCode: ce.Code, message: ce.Reason}, nil
			}
			return frame{}, err
		}
		name, err := messageOf(data)
		return frame{name: name}, err
	}}
}

// backendEnded waits up to 5s for the backend stream to return and returns its error.
func backendEnded(t *testing.T, b *limitBackend) error {
	t.Helper()
	select {
	case err := <-b.done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the backend stream did not end within 5s")
		return nil
	}
}

// shortDeadlines gives both streaming methods a 300ms timeout.
const shortDeadlines = `
policy:
  routes:
    storefront.orders.v1.OrderService/WatchOrder: {timeout: 300ms}
    storefront.orders.v1.OrderService/SupportChat: {timeout: 300ms}
`

// TestStreamDeadline checks that a route's timeout cuts a stream that would never end, in every
// framing: the client gets DEADLINE_EXCEEDED as the framing reports it, with a message fit for
// clients, and the backend's stream context ends.
func TestStreamDeadline(t *testing.T) {
	t.Parallel()
	for _, f := range framings {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			b := &limitBackend{done: make(chan error, 1)}
			url := newLimitEnv(t, b, shortDeadlines)
			start := time.Now()
			c := f.open(t, url)
			if fr, err := c.recv(); err != nil || fr.name != messageName(0) {
				t.Fatalf("first message %+v, %v", fr, err)
			}
			fr, err := c.recv()
			elapsed := time.Since(start)
			if err != nil || !fr.end {
				t.Fatalf("after the first message: %+v, %v; want the end of the stream", fr, err)
			}
			if elapsed < 250*time.Millisecond || elapsed > 5*time.Second {
				t.Errorf("the stream ended after %v, want about 300ms", elapsed)
			}
			if f.name == "websocket" {
				if fr.closeCode != websocket.StatusTryAgainLater {
					t.Errorf("close code %d, want 1013 (try again later)", fr.closeCode)
				}
			} else if fr.code != codes.DeadlineExceeded {
				t.Errorf("end %+v, want DEADLINE_EXCEEDED", fr)
			}
			if !strings.Contains(fr.message, "request id") {
				t.Errorf("message %q, want the generic one with the request id", fr.message)
			}
			if code := status.Code(backendEnded(t, b)); code != codes.DeadlineExceeded && code != codes.Canceled {
				t.Errorf("the backend stream ended with %v, want its context ended", code)
			}
		})
	}
}

// TestStreamClientGoneCancelsBackend checks that a client that goes away mid-stream cancels the
// backend stream, in every framing.
func TestStreamClientGoneCancelsBackend(t *testing.T) {
	t.Parallel()
	type hangUp struct {
		name      string
		framing   framing
		withFrame bool
	}
	cases := []hangUp{{"websocket/close frame", framings[2], true}}
	for _, f := range framings {
		cases = append(cases, hangUp{name: f.name + "/connection closed", framing: f})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &limitBackend{done: make(chan error, 1)}
			c := tc.framing.open(t, newLimitEnv(t, b, ""))
			if fr, err := c.recv(); err != nil || fr.name != messageName(0) {
				t.Fatalf("first message %+v, %v", fr, err)
			}
			if tc.withFrame {
				c.closeFrame()
			} else {
				c.hangUp()
			}
			if code := status.Code(backendEnded(t, b)); code != codes.Canceled {
				t.Errorf("the backend stream ended with %v, want CANCELLED", code)
			}
		})
	}
}

// floodMessages is how many messages of about 1 KB the backend of TestStreamBackpressure offers to
// a client that then hangs up: about 100 MB, far more than the flow-control windows and socket
// buffers on the way hold (about 4 MB). A client that then reads everything gets fewer, which is
// still five times what those hold, so that the test stays quick under the race detector.
const (
	floodMessages   = 100_000
	readAllMessages = 20_000
)

// maxHeapGrowth bounds how much the gateway's process may hold for one stream whose client does
// not read.
const maxHeapGrowth = 32 << 20

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// plateau polls the backend's count of sent messages until it has not moved for half a second
// and returns it.
func plateau(t *testing.T, b *limitBackend) int64 {
	t.Helper()
	last, still := int64(-1), 0
	for range 1200 {
		time.Sleep(50 * time.Millisecond)
		n := b.sent.Load()
		if n == last {
			still++
		} else {
			last, still = n, 0
		}
		if still == 10 {
			return n
		}
	}
	t.Fatalf("the backend never stopped sending: %d messages", b.sent.Load())
	return 0
}

// TestStreamBackpressure checks, in every framing, that a client that does not read stops the
// backend (its Send blocks far short of the messages it has) without the gateway holding the
// rest, and that the stream then carries on: the client reads every message in order, or goes
// away and cancels the backend. It measures the process's heap, so it does not run in parallel.
func TestStreamBackpressure(t *testing.T) {
	for _, f := range framings {
		for _, readAll := range []bool{true, false} {
			name, total := f.name+"/then hang up", floodMessages
			if readAll {
				name, total = f.name+"/then read everything", readAllMessages
			}
			t.Run(name, func(t *testing.T) {
				b := &limitBackend{total: total, done: make(chan error, 1)}
				url := newLimitEnv(t, b, "")
				before := heapInUse()
				c := f.open(t, url)
				sent := plateau(t, b)
				growth := int64(heapInUse()) - int64(before)
				t.Logf("%s: the backend sent %d of %d messages before its Send blocked; heap grew by %.1f MiB",
					f.name, sent, total, float64(growth)/(1<<20))
				if sent > int64(total)/2 {
					t.Errorf("the backend sent %d of %d messages to a client that reads nothing", sent, total)
				}
				if growth > maxHeapGrowth {
					t.Errorf("heap grew by %d bytes, want at most %d", growth, maxHeapGrowth)
				}
				if !readAll {
					c.hangUp()
					if code := status.Code(backendEnded(t, b)); code != codes.Canceled {
						t.Errorf("the backend stream ended with %v, want CANCELLED", code)
					}
					return
				}
				for i := range total {
					fr, err := c.recv()
					if err != nil || fr.name != messageName(i) {
						t.Fatalf("message %d: %+v, %v", i, fr, err)
					}
				}
				fr, err := c.recv()
				switch f.name {
				case "ndjson":
					if !errors.Is(err, io.EOF) {
						t.Errorf("after the last message: %+v, %v; want the end of the body", fr, err)
					}
				case "websocket":
					if err != nil || fr.closeCode != websocket.StatusNormalClosure {
						t.Errorf("after the last message: %+v, %v; want close code 1000", fr, err)
					}
				default:
					if err != nil || !fr.end || fr.code != codes.OK {
						t.Errorf("after the last message: %+v, %v; want the end event", fr, err)
					}
				}
				if err := backendEnded(t, b); err != nil {
					t.Errorf("the backend stream ended with %v", err)
				}
			})
		}
	}
}
