package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http/httpguts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/archway-gateway/archway/gateway/config"
	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// FuzzDecodeBody feeds untrusted bodies to the gateway's JSON decoder, strict and as under the
// grpc-gateway profile: it must never panic, and its errors must be worded for clients, without
// protojson's "proto:" prefix.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"displayName":"Ada"}`, `{"displayName":`, `[1,2]`, `{"nickname":1}`, `{"tags":"x"}`,
		`{"createTime":"yesterday"}`, `{"address":{"city":7}}`, "\x00\xff", `{"a":1}{"b":2}`, `null`,
	} {
		f.Add(seed)
	}
	lenient := newJSONMarshaler(false)
	lenient.followGRPCGateway()
	codecs := []*jsonMarshaler{newJSONMarshaler(true), lenient}
	f.Fuzz(func(t *testing.T, body string) {
		for _, m := range codecs {
			var u usersv1.User
			err := m.NewDecoder(strings.NewReader(body)).Decode(&u)
			if err == nil || errors.Is(err, io.EOF) {
				continue
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "invalid JSON body: ") || strings.Contains(msg, "proto:") {
				t.Fatalf("decode(%q) (grpc-gateway profile: %v) error %q is not worded for clients", body, m.grpcGateway, msg)
			}
		}
	})
}

// FuzzReadRequests feeds untrusted NDJSON bodies to the decoder of request streams on POST, and
// to its grpc-gateway profile's twin, which reads a sequence of JSON values: it must never panic,
// and a refusal is an INVALID_ARGUMENT status naming the line (the value), worded for clients.
func FuzzReadRequests(f *testing.F) {
	for _, seed := range []string{
		"", "\n\n", "{\"text\": \"a\"}\n{\"text\": \"b\"}", "{\"text\": \"a\"}{\"text\": \"b\"}\n", "{\"text\":\n\"a\"}",
		"{\"nope\": 1}\n", "[1]\n", "null\n", "\x00\xff\n", "{\"name\": 7}\r\n{}",
	} {
		f.Add(seed)
	}
	lenient := newJSONMarshaler(true)
	lenient.followGRPCGateway()
	readers := map[string]*Gateway{"line ": {json: newJSONMarshaler(true)}, "value ": {json: lenient}}
	md := (&ordersv1.SupportMessage{}).ProtoReflect().Descriptor()
	f.Fuzz(func(t *testing.T, body string) {
		for prefix, g := range readers {
			err := g.readRequests(strings.NewReader(body), nil, md, func(proto.Message) bool { return true })
			if errors.Is(err, io.EOF) {
				continue
			}
			st, ok := status.FromError(err)
			if !ok || st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), prefix) || strings.Contains(st.Message(), "proto:") {
				t.Fatalf("readRequests(%q) = %v, want io.EOF or INVALID_ARGUMENT starting %q", body, err, prefix)
			}
		}
	})
}

// FuzzCheckQuery feeds untrusted query strings to the query check of every route: it must never
// panic, and a rejection must name one of the parameters sent.
func FuzzCheckQuery(f *testing.F) {
	for _, seed := range []string{
		"page_size=1", "colour=red", "price.min_minor=1&price.x=2", "a[b]=c", "tags=a&tags=b",
		"read_mask=id,title", ".=1", "..=", "price..min=1", "%zz=1", "created_after.seconds=1",
	} {
		f.Add(seed)
	}
	routes, err := buildRoutes(slices.Sorted(maps.Keys(builtinServices)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, r := range routes {
			err := r.checkQuery(values)
			if err == nil {
				continue
			}
			named := false
			for key := range values {
				if strings.Contains(err.Error(), strconv.Quote(key)) {
					named = true
				}
			}
			if !named {
				t.Fatalf("%s %s: error %q names no parameter of %q", r.httpMethod, r.pattern, err, raw)
			}
		}
	})
}

// fuzzUsers echoes what it decoded and records the metadata of its last call.
type fuzzUsers struct {
	usersv1.UnimplementedUserServiceServer
	mu sync.Mutex
	md metadata.MD
}

func (u *fuzzUsers) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	u.mu.Lock()
	u.md = md
	u.mu.Unlock()
}

func (u *fuzzUsers) lastMD() metadata.MD {
	u.mu.Lock()
	defer u.mu.Unlock()
	md := u.md
	u.md = nil
	return md
}

func (u *fuzzUsers) GetUser(ctx context.Context, req *usersv1.GetUserRequest) (*usersv1.User, error) {
	u.record(ctx)
	return &usersv1.User{Name: req.GetName()}, nil
}

func (u *fuzzUsers) ListUsers(ctx context.Context, req *usersv1.ListUsersRequest) (*usersv1.ListUsersResponse, error) {
	u.record(ctx)
	return &usersv1.ListUsersResponse{NextPageToken: req.GetPageToken()}, nil
}

func (u *fuzzUsers) CreateUser(ctx context.Context, req *usersv1.CreateUserRequest) (*usersv1.User, error) {
	u.record(ctx)
	return req.GetUser(), nil
}

func (u *fuzzUsers) UpdateUser(ctx context.Context, req *usersv1.UpdateUserRequest) (*usersv1.User, error) {
	u.record(ctx)
	return req.GetUser(), nil
}

// panicLog fails fuzzing when the gateway recovers a panic: Recover turns it into a 500, which
// alone would not tell a panic from a backend's internal error.
type panicLog struct {
	slog.Handler
	panics atomic.Int64
}

func (h *panicLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *panicLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		h.panics.Add(1)
	}
	return nil
}

// fuzzGateway is a gateway in front of every storefront service on an in-memory listener: users
// echoes, orders and catalog are unimplemented. Every method is public and not rate limited, so
// that fuzzed requests reach decoding and the backend. extra is appended to its configuration.
func fuzzGateway(f *testing.F, extra ...string) (http.Handler, *fuzzUsers, *panicLog) {
	f.Helper()
	users := &fuzzUsers{}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	usersv1.RegisterUserServiceServer(srv, users)
	ordersv1.RegisterOrderServiceServer(srv, ordersv1.UnimplementedOrderServiceServer{})
	catalogv1.RegisterCatalogServiceServer(srv, catalogv1.UnimplementedCatalogServiceServer{})
	go func() { _ = srv.Serve(lis) }()
	f.Cleanup(srv.Stop)
	cfg, err := config.Parse([]byte(`
admin: {enabled: false}
log: {access_log: false}
api: {forward_headers: [X-Tenant]}
policy: {defaults: {access: public, rate_limit_class: none}}
authn:
  api_keys:
    - client_id: fuzzer
      sha256: 62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef
      scopes: [users.read, users.write, orders.write, orders.admin, catalog.write]
backends:
  - {name: users, address: "passthrough:///x", services: [storefront.users.v1.UserService]}
  - {name: orders, address: "passthrough:///x", services: [storefront.orders.v1.OrderService]}
  - {name: catalog, address: "passthrough:///x", services: [storefront.catalog.v1.CatalogService]}
`+strings.Join(extra, "")), nil)
	if err != nil {
		f.Fatal(err)
	}
	logs := &panicLog{}
	g, err := New(f.Context(), cfg, WithLogger(slog.New(logs)), WithDialOptions(
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = g.Close() })
	return g.Handler(), users, logs
}

// checkAnswer checks what every answer must be: no recovered panic, and an error is a
// google.rpc.Status JSON body.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, logs *panicLog, what string) {
	t.Helper()
	if n := logs.panics.Swap(0); n > 0 {
		t.Fatalf("%s: the gateway recovered a panic", what)
	}
	if rec.Code < 400 {
		return
	}
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Code == 0 || st.Message == "" {
		t.Fatalf("%s: %d answer is not a google.rpc.Status: %q", what, rec.Code, rec.Body)
	}
}

var fuzzMethods = [...]string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut}

// FuzzRequest sends untrusted requests through the whole gateway: route matching, path
// parameter and query decoding, JSON body decoding into the request message, and the call to
// a backend. No request may panic, every error must be a google.rpc.Status, and a GetUser that
// succeeds must have decoded one path segment into the name.
func FuzzRequest(f *testing.F) {
	for _, seed := range []struct {
		method            byte
		path, query, body string
	}{
		{0, "/v1/users/ada", "", ""},
		{0, "/v1/users/a%2Fb", "", ""},
		{0, "/v1/users/%zz", "", ""},
		{0, "/v1/users/ada/extra", "", ""},
		{0, "/v1/users", "page_size=2&page_token=x", ""},
		{0, "/v1/users", "page_size=-1&page_size=2", ""},
		{0, "/v1/users", "read_mask=name,email&filter=%00", ""},
		{1, "/v1/users", "", `{"displayName":"Ada","email":"ada@example.com"}`},
		{1, "/v1/users", "", `{"displayName":` + strings.Repeat("[", 200)},
		{2, "/v1/users/ada", "update_mask=display_name", `{"displayName":"Ada"}`},
		{2, "/v1/users/ada", "", `{"name":"users/eve"}`},
		{3, "/v1/users/ada", "etag=1", ""},
		{0, "/v1/products", "price.min_minor=1&tags=a&tags=b", ""},
		{0, "/v1/products/p1", "", ""},
		{1, "/v1/orders", "", `{"items":[{"productId":"p1","quantity":2}]}`},
		{0, "/v1/orders/o1:watch", "", ""},
		{0, "/v1/users/ada:custom", "", ""},
		{4, "/v1/users/ada", "", "{}"},
		{0, "//v1//users/ada", "", ""},
		{0, "/v1/users/..%2F..%2Fadmin", "", ""},
		{0, "/v1/users/ada%FF", "", ""},
		{0, "/v1/users", "page_token=%C0%AF", ""},
		{2, "/v1/users/%ED%A0%80", "", `{"displayName":"Ada"}`},
	} {
		f.Add(seed.method, seed.path, seed.query, seed.body)
	}
	h, users, logs := fuzzGateway(f)
	f.Fuzz(func(t *testing.T, method byte, path, query, body string) {
		if !strings.HasPrefix(path, "/") {
			return
		}
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		req, err := http.NewRequest(m, "http://gateway.test"+path+"?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("X-Api-Key", "test-key")
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		what := fmt.Sprintf("%s %q ? %q with body %q", m, path, query, body)
		checkAnswer(t, rec, logs, what)
		users.lastMD()
		if m != http.MethodGet || rec.Code != http.StatusOK || !strings.HasPrefix(req.URL.Path, "/v1/users/") {
			return
		}
		var u struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &u); err != nil {
			t.Fatalf("%s: 200 with body %q: %v", what, rec.Body, err)
		}
		// grpc-gateway lets * match an empty segment too ("GET /v1/users/" asks for
		// "users/"), which the backend's validation refuses; a slash inside the segment can
		// only come from an escaped one.
		seg, ok := strings.CutPrefix(u.Name, "users/")
		escaped := strings.Contains(strings.ToUpper(req.URL.EscapedPath()), "%2F")
		if !ok || strings.Contains(seg, "/") && !escaped {
			t.Fatalf("%s: GetUser decoded name %q, want users/ and one segment", what, u.Name)
		}
	})
}

// FuzzParameters feeds untrusted path segments and query parameters, percent-encoded byte for
// byte, to the path and query decoders of the users API, whose backend answers every call: no
// input may reach a 5xx (a value that is not UTF-8 once decoded had made the backend call fail to
// encode, a 500), and every refusal is a google.rpc.Status.
func FuzzParameters(f *testing.F) {
	for _, seed := range [][3]string{
		{"ada", "page_token", "x"}, {"ada\xff", "page_token", "\xfe"}, {"%zz", "tags", "\xed\xa0\x80"},
		{"a/b", "page_token", "\x00"}, {"\xc0\xaf", "read_mask", "name,\xff"}, {"x", "\xff", "1"},
		{"", "created_after", "2026-01-01T00:00:00Z\xff"}, {"é", "country_code", "\x80"}, {"ü\xff", "state", "\xff"},
		{"x", "update_mask", "display_name\xff"}, {"..", "page_size", "1\xff"}, {"a:b", "tags", "é"},
		{"x", "updateMask", "displayName,address.postalCode"}, {"x", "state", "USER_STATE_BOGUS"}, {"x", "pageSize", "-2147483649"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	h, users, logs := fuzzGateway(f)
	f.Fuzz(func(t *testing.T, segment, key, value string) {
		query := url.QueryEscape(key) + "=" + url.QueryEscape(value)
		for _, target := range []struct{ method, path, body string }{
			{http.MethodGet, "/v1/users/" + url.PathEscape(segment) + "?" + query, ""},
			{http.MethodGet, "/v1/users?" + query, ""},
			{http.MethodPatch, "/v1/users/" + url.PathEscape(segment) + "?" + query, `{"displayName":"Ada"}`},
		} {
			req := httptest.NewRequest(target.method, "http://gateway.test"+target.path, strings.NewReader(target.body))
			req.Header.Set("X-Api-Key", "test-key")
			req.RemoteAddr = "192.0.2.1:1234"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			what := fmt.Sprintf("%s %s", target.method, target.path)
			checkAnswer(t, rec, logs, what)
			users.lastMD()
			if rec.Code >= 500 {
				t.Fatalf("%s: %d %s", what, rec.Code, rec.Body)
			}
		}
	})
}

// forwardedAlways are the metadata keys every backend call carries, whatever the client sends.
var forwardedAlways = map[string]bool{
	":authority": true, "content-type": true, "user-agent": true, "x-request-id": true,
	"x-forwarded-for": true, "x-forwarded-host": true,
}

// FuzzHeaderToMetadata sends one untrusted header with a request: only an allowlisted header
// (X-Tenant, or Grpc-Metadata-X-Tenant) may reach the backend as metadata, with its value as
// sent; nothing else the client sends may appear there.
func FuzzHeaderToMetadata(f *testing.F) {
	for _, seed := range [][2]string{
		{"X-Tenant", "acme"}, {"x-tenant", "acme"}, {"Grpc-Metadata-X-Tenant", "acme"}, {"Grpc-Metadata-X-Other", "x"},
		{"X-Other", "x"}, {"Authorization", "Bearer x"}, {"Grpc-Timeout", "1S"}, {"Grpc-Metadata-Grpc-Status", "0"},
		{"Grpc-Metadata-", "x"}, {"X-Tenant-Bin", "AAEC"}, {"Grpc-Metadata-X-Tenant-Bin", "AAEC"}, {"Te", "trailers"},
		{"Content-Type", "application/grpc"}, {"X-Request-Id", "abc"}, {"Host", "evil.test"}, {"Connection", "close"},
	} {
		f.Add(seed[0], seed[1])
	}
	h, users, logs := fuzzGateway(f)
	f.Fuzz(func(t *testing.T, name, value string) {
		if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "/v1/users/ada", nil)
		req.Header.Set("X-Api-Key", "test-key")
		req.Header.Set(name, value)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		what := fmt.Sprintf("header %q: %q", name, value)
		checkAnswer(t, rec, logs, what)
		md := users.lastMD()
		if md == nil {
			return
		}
		canonical := http.CanonicalHeaderKey(name)
		allowlisted := canonical == "X-Tenant" || canonical == "Grpc-Metadata-X-Tenant"
		for k, v := range md {
			switch {
			case forwardedAlways[k] || strings.HasPrefix(k, "grpc-") || strings.HasPrefix(k, "x-archway-") || k == "traceparent" || k == "tracestate":
			case k == "x-tenant" && allowlisted:
				if len(v) != 1 || v[0] != value {
					t.Fatalf("%s: backend got x-tenant %q", what, v)
				}
			default:
				t.Fatalf("%s: backend got metadata %q: %q, which the allowlist does not name", what, k, v)
			}
		}
	})
}
