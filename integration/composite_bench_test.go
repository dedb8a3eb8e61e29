package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	archway "github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/config"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	"github.com/archway-gateway/archway/server"
)

// BenchmarkUserOverview compares one composite call with the same data fetched by a client
// with sequential REST calls through the gateway: the user, their orders, then their products
// with stock. The storefront and the gateway run in this process on loopback TCP; "delay" is the
// latency injected into every backend call.
//
//	go test -run '^$' -bench UserOverview -benchmem ./integration/
func BenchmarkUserOverview(b *testing.B) {
	for _, delay := range []time.Duration{0, time.Millisecond} {
		base := benchGateway(b, delay)
		b.Run(fmt.Sprintf("delay=%v/composite", delay), func(b *testing.B) {
			for b.Loop() {
				benchGet(b, base+"/v1/users/ada-lovelace:overview")
			}
		})
		b.Run(fmt.Sprintf("delay=%v/sequential", delay), func(b *testing.B) {
			for b.Loop() {
				benchGet(b, base+"/v1/users/ada-lovelace")
				var orders ordersv1.ListOrdersResponse
				benchDecode(b, benchGet(b, base+"/v1/users/ada-lovelace/orders?page_size=5"), &orders)
				q := url.Values{"include_stock": {"true"}}
				seen := map[string]bool{}
				for _, o := range orders.GetOrders() {
					for _, item := range o.GetItems() {
						if !seen[item.GetProductId()] {
							seen[item.GetProductId()] = true
							q.Add("ids", item.GetProductId())
						}
					}
				}
				benchGet(b, base+"/v1/products:batchGet?"+q.Encode())
			}
		})
	}
}

// benchGateway runs the storefront, with every call delayed by delay, and a gateway in front of
// it, both in this process, and returns the gateway's base URL.
func benchGateway(b *testing.B, delay time.Duration) string {
	b.Helper()
	ctx := context.Background()
	faults := map[string]server.Fault{}
	if delay > 0 {
		for _, name := range server.ServiceNames() {
			faults[name] = server.Fault{Delay: delay}
		}
	}
	sf, err := server.Start(ctx, server.Options{Faults: faults})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sf.Stop)
	cfg, err := config.Parse([]byte(gatewayConfig(map[string]string{
		"users":   sf.Addr(server.Users),
		"orders":  sf.Addr(server.Orders),
		"catalog": sf.Addr(server.Catalog),
	})), nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Log.AccessLog = false
	gw, err := archway.New(ctx, cfg, archway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = gw.Close() })
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	b.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// benchClient is the client of the benchmark: unlike client, it does not check responses
// against the published documents, which would be measured too.
var benchClient = &http.Client{Timeout: requestTimeout}

// benchGet reads the 200 response to a GET of u.
func benchGet(b *testing.B, u string) []byte {
	b.Helper()
	resp, err := benchClient.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %s %v", u, resp.StatusCode, body, err)
	}
	return body
}

func benchDecode(b *testing.B, body []byte, m proto.Message) {
	b.Helper()
	if err := protojson.Unmarshal(body, m); err != nil {
		b.Fatal(err)
	}
}
