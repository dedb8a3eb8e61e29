package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/archway-gateway/archway/gateway/config"
	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// The hot-path benchmarks measure one request's steps through the gateway, each alone:
//
//	decode   JSON body → request message, through the gateway's marshaler
//	route    the ServeMux's match of method and path (a probe request: no handler runs)
//	forward  the whole handler, edge chain included, over an in-memory backend (bufconn)
//	encode   response message → JSON, through the gateway's marshaler
//
// Run them with `make bench-micro` and compare runs with benchstat.

func benchProduct(i int) *catalogv1.Product {
	return &catalogv1.Product{
		Id:          fmt.Sprintf("sku-bench-%04d", i),
		Title:       "Espresso Blend, 250 g",
		Description: "Chocolatey house blend of Brazilian and Indian beans, roasted for espresso.",
		Category:    catalogv1.Category_CATEGORY_COFFEE,
		Price:       &catalogv1.Money{CurrencyCode: "EUR", AmountMinor: 1290},
		Tags:        []string{"blend", "espresso", "bestseller"},
		CreateTime:  timestamppb.New(time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)),
	}
}

func benchUser() *usersv1.User {
	tags := make([]string, 20)
	for i := range tags {
		tags[i] = fmt.Sprintf("benchmark-label-%02d-abcdefghijk", i)
	}
	return &usersv1.User{
		Name:        "users/ada-lovelace",
		DisplayName: "Ada Lovelace, Countess of Lovelace, mathematician and writer",
		Email:       "ada@example.org",
		State:       usersv1.UserState_USER_STATE_ACTIVE,
		Tags:        tags,
		Address: &usersv1.Address{
			Street: "12 St James's Square, Westminster, second floor, the door on the left past the garden gate",
			City:   "London", PostalCode: "SW1Y 4JH", CountryCode: "GB",
		},
	}
}

// benchList is a ListProducts page of about 16 KB as JSON.
func benchList() *catalogv1.ListProductsResponse {
	resp := &catalogv1.ListProductsResponse{NextPageToken: "bmV4dC1wYWdlLXRva2Vu"}
	for i := range 54 {
		resp.Products = append(resp.Products, benchProduct(i))
	}
	return resp
}

// benchBackend answers the benchmarked RPCs with fixed messages.
type benchBackend struct {
	catalogv1.UnimplementedCatalogServiceServer
	usersv1.UnimplementedUserServiceServer
	product *catalogv1.Product
	list    *catalogv1.ListProductsResponse
	user    *usersv1.User
}

func (b *benchBackend) GetProduct(context.Context, *catalogv1.GetProductRequest) (*catalogv1.Product, error) {
	return b.product, nil
}

func (b *benchBackend) ListProducts(context.Context, *catalogv1.ListProductsRequest) (*catalogv1.ListProductsResponse, error) {
	return b.list, nil
}

func (b *benchBackend) UpdateUser(context.Context, *usersv1.UpdateUserRequest) (*usersv1.User, error) {
	return b.user, nil
}

// chainOff configures a gateway whose edge functions are all off: no access log, no metrics, no
// rate limit, no authentication (the benchmarked write is made public), no response cache.
const chainOff = `
log: {access_log: false}
telemetry: {metrics: {enabled: false}}
cache: {enabled: false}
policy:
  defaults: {rate_limit_class: none, access: public}
  routes:
    storefront.users.v1.UserService/UpdateUser: {scopes: []}
`

// chainOn configures a gateway with every edge function on, as in production: JSON access log,
// metrics, a global IP allowlist, CORS, API key authentication (benchAPIKey) and a rate limit
// that is never hit. Tracing stays off, as its cost is the exporter's; so does the response
// cache, which would answer the benchmarked GET itself (BenchmarkCache measures it).
const chainOn = `
log: {access_log: true}
cache: {enabled: false}
telemetry: {metrics: {enabled: true}}
ip_filter: {allow: [192.0.2.0/24, 127.0.0.0/8]}
cors: {allowed_origins: ["https://app.example.com"]}
rate_limit: {classes: {default: {requests: 1000000000, per: 1s, burst: 1000000000}}}
authn:
  api_keys:
    - {client_id: bench, sha256: 62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef, scopes: [users.write]}
`

// benchAPIKey is the key that chainOn configures.
const benchAPIKey = "test-key"

// newBenchGateway returns a gateway configured by chain (chainOff or chainOn) in front of
// benchBackend on in-memory listeners. Its logs are JSON, discarded.
func newBenchGateway(b *testing.B, chain string) *Gateway {
	b.Helper()
	cfg, err := config.Parse([]byte(`
admin: {enabled: false}
backends:
  - name: catalog
    address: passthrough:///catalog
    services: [storefront.catalog.v1.CatalogService]
  - name: users
    address: passthrough:///users
    services: [storefront.users.v1.UserService]
`+chain), nil)
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(b.Context(), cfg, WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))),
		WithDialOptions(newBenchBackend(b), grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Close() })
	return g
}

// newBenchBackend serves benchBackend as the catalog and users services on two in-memory
// listeners, addressed passthrough:///catalog and passthrough:///users, and returns the dial
// option that reaches them.
func newBenchBackend(b *testing.B) grpc.DialOption {
	b.Helper()
	backend := &benchBackend{product: benchProduct(0), list: benchList(), user: benchUser()}
	listeners := map[string]*bufconn.Listener{"catalog": bufconn.Listen(1 << 20), "users": bufconn.Listen(1 << 20)}
	srv := grpc.NewServer()
	catalogv1.RegisterCatalogServiceServer(srv, backend)
	usersv1.RegisterUserServiceServer(srv, backend)
	for _, l := range listeners {
		go func() { _ = srv.Serve(l) }()
	}
	b.Cleanup(srv.Stop)
	return grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		return listeners[addr].DialContext(ctx)
	})
}

// newBareMux returns what a team gets without Archway, the baseline of BenchmarkChain: a
// grpc-gateway ServeMux with default options and the generated handlers, in front of the same
// in-memory backend as newBenchGateway's.
func newBareMux(b *testing.B) http.Handler {
	b.Helper()
	dialer := newBenchBackend(b)
	mux := runtime.NewServeMux()
	for target, register := range map[string]func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		"passthrough:///catalog": catalogv1.RegisterCatalogServiceHandler,
		"passthrough:///users":   usersv1.RegisterUserServiceHandler,
	} {
		conn, err := grpc.NewClient(target, dialer, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		if err := register(b.Context(), mux, conn); err != nil {
			b.Fatal(err)
		}
	}
	return mux
}

// benchRequest is one benchmarked REST request.
type benchRequest struct {
	name, method, path string
	body               []byte
}

func benchRequests(b *testing.B) []benchRequest {
	u := benchUser()
	body, err := protojson.Marshal(&usersv1.User{DisplayName: u.GetDisplayName(), Email: u.GetEmail(), Tags: u.GetTags(), Address: u.GetAddress()})
	if err != nil {
		b.Fatal(err)
	}
	return []benchRequest{
		{"small-get", http.MethodGet, "/v1/products/sku-espresso-250", nil},
		{"body-1k", http.MethodPatch, "/v1/users/ada-lovelace", body},
		{"list-16k", http.MethodGet, "/v1/products?page_size=54", nil},
	}
}

func BenchmarkHotPath(b *testing.B) {
	m := newJSONMarshaler(true)
	user := benchUser()
	small, err := protojson.Marshal(&catalogv1.AdjustStockRequest{ProductId: "sku-espresso-250", Delta: -2, Reason: "sold at the counter"})
	if err != nil {
		b.Fatal(err)
	}
	large, err := protojson.Marshal(&usersv1.User{DisplayName: user.GetDisplayName(), Email: user.GetEmail(), Tags: user.GetTags(), Address: user.GetAddress()})
	if err != nil {
		b.Fatal(err)
	}
	decodes := []struct {
		name string
		body []byte
		msg  func() proto.Message
	}{
		{"small", small, func() proto.Message { return &catalogv1.AdjustStockRequest{} }},
		{"1k", large, func() proto.Message { return &usersv1.User{} }},
	}
	for _, d := range decodes {
		b.Run("decode/"+d.name, func(b *testing.B) {
			b.SetBytes(int64(len(d.body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := m.NewDecoder(bytes.NewReader(d.body)).Decode(d.msg()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}

	g := newBenchGateway(b, chainOff)
	for _, r := range benchRequests(b) {
		b.Run("route/"+r.name, func(b *testing.B) {
			var found []string
			req := httptest.NewRequestWithContext(context.WithValue(b.Context(), probeKey{}, &found), r.method, r.path, http.NoBody)
			b.ReportAllocs()
			for b.Loop() {
				found = found[:0]
				g.mux.ServeHTTP(discardWriter{}, req)
			}
			if len(found) == 0 {
				b.Fatalf("%s %s matched no route", r.method, r.path)
			}
		})
	}
	handler := g.Handler()
	for _, r := range benchRequests(b) {
		b.Run("forward/"+r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequestWithContext(b.Context(), r.method, r.path, bytes.NewReader(r.body))
				w := httptest.NewRecorder()
				handler.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s %s: HTTP %d: %s", r.method, r.path, w.Code, w.Body)
				}
			}
		})
	}

	encodes := []struct {
		name string
		msg  proto.Message
	}{
		{"small", benchProduct(0)},
		{"1k", user},
		{"16k", benchList()},
	}
	for _, e := range encodes {
		b.Run("encode/"+e.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				data, err := m.Marshal(e.msg)
				if err != nil {
					b.Fatal(err)
				}
				n = len(data)
			}
			b.SetBytes(int64(n))
		})
	}
}

// BenchmarkChain measures the whole edge chain's cost per request: the same requests through a
// gateway with every edge function off, one with every function on, and, as the baseline, a bare
// grpc-gateway ServeMux.
func BenchmarkChain(b *testing.B) {
	for _, c := range []struct {
		name, config string
		header       http.Header
	}{
		{"grpc-gateway", "", nil},
		{"off", chainOff, nil},
		{"on", chainOn, http.Header{"X-Api-Key": {benchAPIKey}, "Origin": {"https://app.example.com"}}},
	} {
		var handler http.Handler
		if c.config == "" {
			handler = newBareMux(b)
		} else {
			handler = newBenchGateway(b, c.config).Handler()
		}
		for _, r := range benchRequests(b)[:2] {
			b.Run(c.name+"/"+r.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequestWithContext(b.Context(), r.method, r.path, bytes.NewReader(r.body))
					maps.Copy(req.Header, c.header)
					w := httptest.NewRecorder()
					handler.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("%s %s: HTTP %d: %s", r.method, r.path, w.Code, w.Body)
					}
				}
			})
		}
	}
}

// BenchmarkCache compares a cached read with the same read passed through to the backend: the
// small GET through a gateway whose response cache is on (every request after the first is a
// hit) and one whose cache is off. Both have every other edge function off.
func BenchmarkCache(b *testing.B) {
	for _, c := range []struct{ name, config string }{
		{"hit", strings.Replace(chainOff, "cache: {enabled: false}", "cache: {enabled: true}", 1)},
		{"pass-through", chainOff},
	} {
		handler := newBenchGateway(b, c.config).Handler()
		r := benchRequests(b)[0]
		b.Run(c.name+"/"+r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequestWithContext(b.Context(), r.method, r.path, http.NoBody)
				w := httptest.NewRecorder()
				handler.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s %s: HTTP %d: %s", r.method, r.path, w.Code, w.Body)
				}
			}
		})
	}
}
