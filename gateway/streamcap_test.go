package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
)

// backendStreams is the HTTP/2 MAX_CONCURRENT_STREAMS of heldOrders' server: small, so that a
// few streams fill its connection.
const backendStreams = 8

// heldOrders answers GetOrder at once and holds every WatchOrder and SupportChat open, after a
// first message, until the caller goes away.
type heldOrders struct {
	ordersv1.UnimplementedOrderServiceServer
}

func (heldOrders) GetOrder(_ context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	return &ordersv1.Order{Name: req.GetName()}, nil
}

func (heldOrders) WatchOrder(req *ordersv1.WatchOrderRequest, stream grpc.ServerStreamingServer[ordersv1.OrderEvent]) error {
	if err := stream.Send(&ordersv1.OrderEvent{Order: &ordersv1.Order{Name: req.GetName()}}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func (heldOrders) SupportChat(stream grpc.BidiStreamingServer[ordersv1.SupportMessage, ordersv1.SupportMessage]) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	if err := stream.Send(&ordersv1.SupportMessage{Name: "orders/ord-1"}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

// otherAPIKey is a second client's API key, beside testAPIKey.
const otherAPIKey = "other-key"

// newCapEnv starts heldOrders on a loopback server that allows backendStreams streams per
// connection, and a gateway in front of it with two API key clients and the YAML in extra
// added to its backend's entry and to the file; it returns the gateway's URL.
func newCapEnv(t *testing.T, backendExtra, extra string) string {
	t.Helper()
	lis := listenLoopback(t)
	srv := grpc.NewServer(grpc.MaxConcurrentStreams(backendStreams))
	ordersv1.RegisterOrderServiceServer(srv, heldOrders{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	_, url := serveGateway(t, `
admin: {enabled: false}
log: {access_log: false}
cache: {enabled: false}
backends:
  - name: orders
    address: "passthrough:///`+lis.Addr().String()+`"
    services: [storefront.orders.v1.OrderService]
    health_check: {enabled: false}
`+backendExtra+`
policy:
  routes:
    storefront.orders.v1.OrderService/GetOrder: {timeout: 10s}
authn:
  api_keys:
    - client_id: tester
      sha256: 62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef
    - client_id: other
      sha256: 580843d03d2216ff1a275d0991bad66e4d1af871171d929e9de604b7959f9bca
`+extra)
	return url
}

// watch opens WatchOrder as NDJSON with key and returns the response status; a stream that
// opened stays open until ctx ends. A request still unanswered after 5s reports 0.
func watch(ctx context.Context, url, key string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/orders/ord-1:watch", nil)
	if err != nil {
		return -1
	}
	req.Header.Set("X-Api-Key", key)
	answered := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- -1
			return
		}
		answered <- resp.StatusCode
		if resp.StatusCode == http.StatusOK {
			<-ctx.Done()
		}
		_ = resp.Body.Close()
	}()
	select {
	case code := <-answered:
		return code
	case <-time.After(5 * time.Second):
		return 0
	}
}

// getOrder calls GetOrder with key and returns its status and how long it took.
func getOrder(t *testing.T, url, key string) (int, time.Duration) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/v1/orders/ord-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", key)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// One client holding as many streams as it may does not slow another client's unary call to
// the same backend: streams take at most their share of the backend connection's capacity, and
// a stream beyond it is refused at once (503) instead of queuing behind the others.
func TestStreamsOfOneClientDoNotStarveOthers(t *testing.T) {
	t.Parallel()
	// The backend's connection carries 8 streams; the gateway uses 7 of them, 3 for streams.
	url := newCapEnv(t, "    max_concurrent_calls: 7\n    stream_share: 0.5\n", "")
	ctx, hangUp := context.WithCancel(t.Context())
	defer hangUp()

	// The first client asks for more streams than the backend's connection carries; the
	// per-client limit (20 by default) lets it try them all.
	codes := make(chan int, 2*backendStreams)
	var wg sync.WaitGroup
	for range 2 * backendStreams {
		wg.Go(func() { codes <- watch(ctx, url, testAPIKey) })
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[http.StatusOK] != 3 || got[http.StatusServiceUnavailable] != 2*backendStreams-3 {
		t.Errorf("%d streams of one client answered %v, want 3 open (the streams' share) and the rest 503 at once",
			2*backendStreams, got)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/orders/ord-1:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", otherAPIKey)
	refused, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st statusBody
	err = json.NewDecoder(refused.Body).Decode(&st)
	_ = refused.Body.Close()
	if err != nil || refused.StatusCode != http.StatusServiceUnavailable || refused.Header.Get("Retry-After") != "1" || st.Code != 14 {
		t.Errorf("a stream beyond the share: %d, Retry-After %q, Status %d %q (%v); want 503, 1, UNAVAILABLE",
			refused.StatusCode, refused.Header.Get("Retry-After"), st.Code, st.Message, err)
	}

	code, took := getOrder(t, url, otherAPIKey)
	t.Logf("another client's GetOrder beside %d streams: %d in %s", got[http.StatusOK], code, took)
	if code != http.StatusOK || took > 5*time.Second {
		t.Errorf("another client's GetOrder beside them: %d in %s, want 200 well within 5s", code, took)
	}
}

// A client holds at most rate_limit.max_streams_per_client streams at once, over every
// framing; one more is answered 429 with Retry-After and a google.rpc.Status naming the limit,
// and another client still opens its own.
func TestStreamsPerClientAcrossFramings(t *testing.T) {
	t.Parallel()
	url := newCapEnv(t, "", "rate_limit: {max_streams_per_client: 3}\n")
	ctx, hangUp := context.WithCancel(t.Context())
	defer hangUp()

	if code := watch(ctx, url, testAPIKey); code != http.StatusOK {
		t.Fatalf("NDJSON stream: %d, want 200", code)
	}
	sse, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/orders/ord-1:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	sse.Header.Set("X-Api-Key", testAPIKey)
	sse.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(sse)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Server-Sent Events stream: %d, want 200", resp.StatusCode)
	}
	chat, upgrade, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/v1/orders:chat?name=orders/ord-1",
		&websocket.DialOptions{HTTPHeader: http.Header{"X-Api-Key": {testAPIKey}}})
	if upgrade != nil && upgrade.Body != nil {
		_ = upgrade.Body.Close()
	}
	if err != nil {
		t.Fatalf("WebSocket chat: %v", err)
	}
	t.Cleanup(func() { _ = chat.CloseNow() })
	if err := chat.Write(ctx, websocket.MessageText, []byte(`{"text":"hello"}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := chat.Read(ctx); err != nil {
		t.Fatalf("chat's first message: %v", err)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/orders/ord-1:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testAPIKey)
	refused, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = refused.Body.Close() }()
	var st statusBody
	if err := json.NewDecoder(refused.Body).Decode(&st); err != nil {
		t.Fatalf("body of the fourth stream: %v", err)
	}
	if refused.StatusCode != http.StatusTooManyRequests || refused.Header.Get("Retry-After") != "5" ||
		st.Code != 8 || !strings.Contains(st.Message, "a client may hold 3 streams at once") {
		t.Errorf("fourth stream: %d, Retry-After %q, Status %d %q; want 429, 5, RESOURCE_EXHAUSTED naming the limit",
			refused.StatusCode, refused.Header.Get("Retry-After"), st.Code, st.Message)
	}
	if code := watch(ctx, url, otherAPIKey); code != http.StatusOK {
		t.Errorf("another client's stream: %d, want 200", code)
	}
}
