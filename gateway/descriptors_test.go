package gateway_test

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/server"
	"github.com/archway-gateway/archway/server/catalog"
	"github.com/archway-gateway/archway/server/orders"
	"github.com/archway-gateway/archway/server/users"
)

// storefrontServices are the demo's services, by full name.
var storefrontServices = []string{
	usersv1.UserService_ServiceDesc.ServiceName,
	ordersv1.OrderService_ServiceDesc.ServiceName,
	catalogv1.CatalogService_ServiceDesc.ServiceName,
}

// writeDescriptorSet writes the files that define services, with everything they import, as a
// serialized FileDescriptorSet built from the descriptors linked into the test binary, the way
// `buf build -o` writes one; it returns the file's path.
func writeDescriptorSet(t *testing.T, services ...string) string {
	t.Helper()
	var files []*descriptorpb.FileDescriptorProto
	seen := make(map[string]bool)
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		files = append(files, protodesc.ToFileDescriptorProto(fd))
	}
	for _, svc := range services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		if err != nil {
			t.Fatal(err)
		}
		add(d.ParentFile())
	}
	data, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: files})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "api.binpb")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startFrozenStorefront serves the three storefront services, with the server's own interceptor
// chain (validation included), on one loopback listener, every clock stopped at the same
// instant, so that two of them answer the same calls with the same bytes.
func startFrozenStorefront(t *testing.T) string {
	t.Helper()
	now := func() time.Time { return time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC) }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	srv := server.NewGRPCServer(nil, nil, func(r grpc.ServiceRegistrar) {
		usersv1.RegisterUserServiceServer(r, users.New(users.WithClock(now), users.WithInsecureNoIdentity()))
		catalogv1.RegisterCatalogServiceServer(r, catalog.New(catalog.WithClock(now)))
		ordersv1.RegisterOrderServiceServer(r, orders.New(catalogv1.NewCatalogServiceClient(conn),
			orders.WithClock(now), orders.WithInsecureNoIdentity()))
	})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// storefrontConfig is the configuration of a gateway for the storefront at addr; apis is the
// YAML of its apis[] list, "" for none.
func storefrontConfig(addr, apis string) string {
	return fmt.Sprintf(`
admin: {enabled: false}
log: {access_log: false}
api: {forward_headers: [x-tenant]}
%s
backends:
  - name: users
    address: %[2]s
    services: [storefront.users.v1.UserService]
  - name: orders
    address: %[2]s
    services: [storefront.orders.v1.OrderService]
  - name: catalog
    address: %[2]s
    services: [storefront.catalog.v1.CatalogService]
`, apis, addr) + testAuthn
}

// userSuffix is the random part of a new user's resource name, the one thing two storefronts
// answer differently.
var userSuffix = regexp.MustCompile(`(users/grace-brewster-)[a-z0-9]{6}`)

// TestDescriptorSetMatchesGeneratedHandlers is the differential test of the handlers built from
// descriptors: the storefront served once through the generated handlers linked into the gateway
// and once through a descriptor set of the same protos, each over its own real backends with
// frozen clocks, gets the same requests, covering every route (path shapes, nested path fields,
// query types, bodies `*` and field, field masks, response_body, additional bindings, custom
// verbs, server streams, 201 and Location, 404, 405, and errors of every stage), and must answer
// each with the same status, headers (but the request id and date) and body, byte for byte.
func TestDescriptorSetMatchesGeneratedHandlers(t *testing.T) {
	set := writeDescriptorSet(t, storefrontServices...)
	_, generated := serveGateway(t, storefrontConfig(startFrozenStorefront(t), ""))
	_, described := serveGateway(t, storefrontConfig(startFrozenStorefront(t), "apis:\n  - descriptor_set: "+set))

	type request struct {
		method, path, body string
		header             map[string]string
	}
	requests := []request{
		// users: nested path fields, body field with a field mask, deletes.
		{method: "GET", path: "/v1/users/ada-lovelace"},
		{method: "GET", path: "/v1/users/nobody"},
		{method: "GET", path: "/v1/users/ada-lovelace?readMask=displayName,email"},
		{method: "GET", path: "/v1/users/ada-lovelace?read_mask=display_name"},
		{method: "GET", path: "/v1/users/ada-lovelace?readMask=nope"},
		{method: "GET", path: "/v1/users/ada-lovelace?name=users/x"},
		{method: "GET", path: "/v1/users?pageSize=2"},
		{method: "GET", path: "/v1/users?page_size=2&page_token=bad"},
		{method: "GET", path: "/v1/users?pageSize=abc"},
		{method: "GET", path: "/v1/users?pageSize=99999999999"},
		{method: "GET", path: "/v1/users?unknown=1"},
		{method: "GET", path: "/v1/users?pageSize=1&pageSize=2"},
		{method: "POST", path: "/v1/users", body: `{"displayName":"Grace Brewster","email":"gb@example.org"}`},
		{method: "POST", path: "/v1/users", body: `{"displayName":"Grace Brewster","email":"gb@example.org"}`},
		{method: "POST", path: "/v1/users", body: `{"displayName":`},
		{method: "POST", path: "/v1/users", body: `{"nickname":"x"}`},
		{method: "POST", path: "/v1/users", body: `[1,2]`},
		{method: "POST", path: "/v1/users"},
		{method: "POST", path: "/v1/users?userId=x", body: `{"displayName":"A"}`},
		{method: "PATCH", path: "/v1/users/ada-lovelace", body: `{"displayName":"Ada King"}`},
		{method: "PATCH", path: "/v1/users/ada-lovelace?updateMask=email", body: `{"displayName":"Ada K","email":"ada.king@example.org"}`},
		{method: "PATCH", path: "/v1/users/ada-lovelace?update_mask=tags", body: `{"tags":["a"]}`},
		{method: "PATCH", path: "/v1/users/ada-lovelace?updateMask=displayName,address.city", body: `{"displayName":"Ada B","address":{"city":"Leeds"}}`},
		{method: "PATCH", path: "/v1/users/ada-lovelace?updateMask=nope", body: `{"displayName":"Ada C"}`},
		{method: "PATCH", path: "/v1/users/ada-lovelace", body: `{"displayName":""}`},
		{method: "PATCH", path: "/v1/users/ada-lovelace", body: `{"address":{"city":"Paris"}}`},
		{method: "PATCH", path: "/v1/users/nobody", body: `{"displayName":"X"}`},
		{method: "PATCH", path: "/v1/users/ada-lovelace"},
		{method: "GET", path: "/v1/users/ada-lovelace"},
		{method: "DELETE", path: "/v1/users/alan-turing"},
		{method: "DELETE", path: "/v1/users/alan-turing"},
		{method: "PUT", path: "/v1/users/ada-lovelace", body: `{}`},
		{method: "POST", path: "/v1/users/ada-lovelace"},
		{method: "GET", path: "/v1/users/ada-lovelace/extra"},
		{method: "GET", path: "/v1/nothing"},
		{method: "GET", path: "/v1/users/%2E%2E%2Forders"},
		// catalog: additional bindings, repeated and typed query parameters, response_body.
		{method: "GET", path: "/v1/products/sku-espresso-250"},
		{method: "GET", path: "/v1/catalog/products/sku-espresso-250"},
		{method: "GET", path: "/v1/products/sku-none"},
		{method: "GET", path: "/v1/products?pageSize=3"},
		{method: "GET", path: "/v1/products?category=CATEGORY_COFFEE&pageSize=2"},
		{method: "GET", path: "/v1/products?category=NOT_A_CATEGORY"},
		{method: "GET", path: "/v1/products?category=1"},
		{method: "GET", path: "/v1/products?maxPrice.units=10"},
		{method: "GET", path: "/v1/products:batchGet?ids=sku-espresso-250&ids=sku-espresso-1000"},
		{method: "GET", path: "/v1/products:batchGet?ids=sku-espresso-250&ids=sku-none"},
		{method: "GET", path: "/v1/products:batchGet"},
		{method: "GET", path: "/v1/products:unknownVerb"},
		{method: "GET", path: "/v1/products/sku-espresso-250/stock"},
		{method: "GET", path: "/v1/products/sku-none/stock"},
		{method: "POST", path: "/v1/products/sku-espresso-250/stock:adjust", body: `{"delta":5,"reason":"restock"}`},
		{method: "POST", path: "/v1/products/sku-espresso-250/stock:adjust", body: `{"delta":"x"}`},
		{method: "POST", path: "/v1/products/sku-espresso-250/stock:adjust?delta=1", body: `{"delta":1}`},
		{method: "POST", path: "/v1/products/sku-espresso-250/stock:adjust"},
		{method: "GET", path: "/v1/products/sku-espresso-250/stock"},
		{method: "GET", path: "/v1/products/sku-espresso-250/stock:adjust"},
		// orders: creates answered 201 with Location, custom verbs with body "*", streams.
		{method: "POST", path: "/v1/users/ada-lovelace/orders", body: `{"items":[{"productId":"sku-espresso-250","quantity":2}]}`},
		{method: "POST", path: "/v1/users/ada-lovelace/orders", body: `{"items":[]}`},
		{method: "POST", path: "/v1/users/ada-lovelace/orders", body: `{"items":[{"productId":"sku-none","quantity":1}]}`},
		{method: "POST", path: "/v1/users/nobody/orders", body: `{"items":[{"productId":"sku-espresso-250","quantity":1}]}`},
		{method: "POST", path: "/v1/users/ada-lovelace/orders", body: `{"items":[{"productId":"sku-espresso-250","quantity":"two"}]}`},
		{method: "POST", path: "/v1/users/ada-lovelace/orders"},
		{method: "GET", path: "/v1/orders/ord-1001"},
		{method: "GET", path: "/v1/orders/ord-9999"},
		{method: "GET", path: "/v1/users/ada-lovelace/orders?pageSize=2"},
		{method: "GET", path: "/v1/orders?pageSize=2"},
		{method: "GET", path: "/v1/orders?state=ORDER_STATE_PLACED"},
		{method: "GET", path: "/v1/orders?filter=x"},
		{method: "GET", path: "/v1/orders:count"},
		{method: "GET", path: "/v1/orders:count?parent=users/ada-lovelace"},
		{method: "POST", path: "/v1/orders/ord-1001:advance", body: `{}`},
		{method: "POST", path: "/v1/orders/ord-1001:advance"},
		{method: "POST", path: "/v1/orders/ord-1001:cancel", body: `{"reason":"changed my mind"}`},
		{method: "POST", path: "/v1/orders/ord-1001:cancel", body: `{"reason":"again"}`},
		{method: "POST", path: "/v1/orders/ord-1001:cancel", body: `{"name":"orders/ord-1002"}`},
		{method: "POST", path: "/v1/orders/ord-1001:reopen", body: `{}`},
		{method: "GET", path: "/v1/orders/ord-1001:watch"},
		{method: "GET", path: "/v1/orders/ord-1001:watch", header: map[string]string{"Accept": "text/event-stream"}},
		{method: "GET", path: "/v1/orders/ord-9999:watch"},
		{method: "GET", path: "/v1/orders/ord-1001"},
		// The composites, served in-process in both, over backends served both ways.
		{method: "GET", path: "/v1/users/ada-lovelace:overview"},
		{method: "GET", path: "/v1/products/sku-espresso-250:page"},
		{method: "GET", path: "/v1/users/nobody:overview"},
		// Headers, credentials, methods.
		{method: "GET", path: "/v1/users/ada-lovelace", header: map[string]string{"X-Api-Key": ""}},
		{method: "GET", path: "/v1/users/ada-lovelace", header: map[string]string{"X-Api-Key": "wrong"}},
		{method: "GET", path: "/v1/users/ada-lovelace", header: map[string]string{"X-Tenant": "t1", "Grpc-Metadata-X-Tenant": "t2"}},
		{method: "GET", path: "/v1/users/ada-lovelace", header: map[string]string{"Accept": "application/xml"}},
		{method: "POST", path: "/v1/users", body: `{"displayName":"X"}`, header: map[string]string{"Content-Type": "text/plain"}},
		{method: "DELETE", path: "/v1/products/sku-espresso-250"},
		{method: "OPTIONS", path: "/v1/users"},
	}
	for i, req := range requests {
		name := fmt.Sprintf("%02d %s %s", i, req.method, req.path)
		respA, bodyA := do(t, req.method, generated+req.path, req.body, req.header)
		respB, bodyB := do(t, req.method, described+req.path, req.body, req.header)
		bodyA, bodyB = userSuffix.ReplaceAll(bodyA, []byte("${1}xxxxxx")), userSuffix.ReplaceAll(bodyB, []byte("${1}xxxxxx"))
		if respA.StatusCode != respB.StatusCode {
			t.Errorf("%s: status %d through generated handlers, %d through the descriptor set", name, respA.StatusCode, respB.StatusCode)
		}
		if !bytes.Equal(bodyA, bodyB) {
			t.Errorf("%s: bodies differ:\ngenerated: %s\ndescribed: %s", name, bodyA, bodyB)
		}
		ha, hb := comparableHeader(respA.Header), comparableHeader(respB.Header)
		if !maps.EqualFunc(ha, hb, slices.Equal) {
			t.Errorf("%s: headers differ:\ngenerated: %v\ndescribed: %v", name, ha, hb)
		}
	}
}

// comparableHeader drops what differs between any two answers (date, request id, and the rate
// limiter's count, which refills with time) and masks the random part of a new user's name.
func comparableHeader(h http.Header) http.Header {
	out := h.Clone()
	out.Del("Date")
	out.Del("X-Request-Id")
	out.Del("Ratelimit-Remaining")
	out.Del("Ratelimit-Reset")
	for k, vs := range out {
		for i, v := range vs {
			vs[i] = userSuffix.ReplaceAllString(v, "${1}xxxxxx")
		}
		out[k] = vs
	}
	if strings.TrimSpace(out.Get("Content-Length")) == "" {
		out.Del("Content-Length")
	}
	return out
}

// requestIDs matches the request id that system errors name, which differs between two answers.
var requestIDs = regexp.MustCompile(`request id [0-9A-Z]+`)
