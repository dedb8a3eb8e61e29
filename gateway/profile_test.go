package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/archway-gateway/archway/gateway"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	testapiv1 "github.com/archway-gateway/archway/internal/testapi/gen/archway/testapi/v1"
)

// The tests of this file pin each behaviour that api.profile switches (docs/compatibility.md),
// through a real gateway in front of a real gRPC backend, under both profiles: each fails if
// the switch is broken either way.

const (
	archwayProfile     = "api: {profile: archway}\n"
	grpcGatewayProfile = "api: {profile: grpc-gateway}\n"
)

// send sends a request with the test API key and the given headers, like do, but without
// checking the answer against the published OpenAPI documents, which describe Archway's own
// profile (201 on creates, no 501).
func send(t *testing.T, method, url, body string, header map[string]string) (reply, []byte) {
	t.Helper()
	return doWith(t, http.DefaultClient, method, url, body, header)
}

func TestProfileCreateStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config string
		status       int
		location     string
	}{
		{"archway", archwayProfile, http.StatusCreated, "/v1/users/grace-hopper"},
		{"grpc-gateway", grpcGatewayProfile, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, tc.config, nil)
			resp, body := send(t, http.MethodPost, env.url+"/v1/users", `{"displayName":"Grace","email":"g@example.com"}`, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Location"); got != tc.location {
				t.Errorf("Location = %q, want %q", got, tc.location)
			}
		})
	}
}

func TestProfileRoutingErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config, method, path string
		status                     int
		allow                      string
		body                       string
	}{
		{"archway, wrong method", archwayProfile, http.MethodPut, "/v1/users/ada", http.StatusMethodNotAllowed, "DELETE, GET, PATCH",
			`{"code":12,"message":"method PUT is not allowed for this path; allowed: DELETE, GET, PATCH"}`},
		{"grpc-gateway, wrong method", grpcGatewayProfile, http.MethodPut, "/v1/users/ada", http.StatusNotImplemented, "",
			`{"code":12,"message":"Method Not Allowed","details":[]}`},
		{"archway, unknown path", archwayProfile, http.MethodGet, "/v1/nothing/here", http.StatusNotFound, "",
			`{"code":5,"message":"no API operation matches this path"}`},
		{"grpc-gateway, unknown path", grpcGatewayProfile, http.MethodGet, "/v1/nothing/here", http.StatusNotFound, "",
			`{"code":5,"message":"Not Found","details":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, tc.config, nil)
			resp, body := send(t, tc.method, env.url+tc.path, "", nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if !jsonEqualBytes(t, body, tc.body) {
				t.Errorf("body %s, want %s", body, tc.body)
			}
		})
	}
}

// jsonEqualBytes reports whether two JSON texts hold the same value.
func jsonEqualBytes(t *testing.T, a []byte, b string) bool {
	t.Helper()
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}

// TestProfileErrorBody: a backend's error is a google.rpc.Status either way; grpc-gateway's
// marshaler writes its empty details too.
func TestProfileErrorBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config string
		body         string
	}{
		{"archway", archwayProfile, `{"code":5,"message":"no user users/ada"}`},
		{"grpc-gateway", grpcGatewayProfile, `{"code":5,"message":"no user users/ada","details":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, tc.config, nil)
			env.users.getErr = status.Error(codes.NotFound, "no user users/ada")
			resp, body := send(t, http.MethodGet, env.url+"/v1/users/ada", "", nil)
			if resp.StatusCode != http.StatusNotFound || !jsonEqualBytes(t, body, tc.body) {
				t.Errorf("answer %d %s, want 404 %s", resp.StatusCode, body, tc.body)
			}
		})
	}
}

func TestProfileDefaultValuedFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config string
		want         string
	}{
		{"archway", archwayProfile, `{}`},
		{"grpc-gateway", grpcGatewayProfile, `{"users":[],"nextPageToken":"","totalSize":0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, tc.config, nil)
			resp, body := send(t, http.MethodGet, env.url+"/v1/users", "", nil)
			if resp.StatusCode != http.StatusOK || !jsonEqualBytes(t, body, tc.want) {
				t.Errorf("answer %d %s, want 200 %s", resp.StatusCode, body, tc.want)
			}
		})
	}
}

// TestProfileUnknownInput: unknown body fields and query parameters are refused by Archway's
// profile and dropped by grpc-gateway's, unless api.unknown_fields or
// api.unknown_query_parameters says otherwise.
func TestProfileUnknownInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config           string
		fieldStatus, qryStatus int
	}{
		{"archway", archwayProfile, http.StatusBadRequest, http.StatusBadRequest},
		{"grpc-gateway", grpcGatewayProfile, http.StatusOK, http.StatusOK},
		{"grpc-gateway, reject set", "api: {profile: grpc-gateway, unknown_fields: reject, unknown_query_parameters: reject}\n",
			http.StatusBadRequest, http.StatusBadRequest},
		{"archway, ignore set", "api: {unknown_fields: ignore, unknown_query_parameters: ignore}\n", http.StatusCreated, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, tc.config, nil)
			resp, body := send(t, http.MethodPost, env.url+"/v1/users", `{"displayName":"G","email":"g@example.com","futureField":1}`, nil)
			if resp.StatusCode != tc.fieldStatus {
				t.Errorf("unknown field: status %d, want %d: %s", resp.StatusCode, tc.fieldStatus, body)
			}
			resp, body = send(t, http.MethodGet, env.url+"/v1/users?page_size=3&utm_source=mail", "", nil)
			if resp.StatusCode != tc.qryStatus {
				t.Errorf("unknown query parameter: status %d, want %d: %s", resp.StatusCode, tc.qryStatus, body)
			}
		})
	}
}

// TestProfileTrailingData: Archway refuses a body with data after its JSON value; grpc-gateway
// decodes the first value and ignores the rest.
func TestProfileTrailingData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config string
		status       int
	}{
		{"archway", archwayProfile, http.StatusBadRequest},
		{"grpc-gateway", grpcGatewayProfile, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, tc.config, nil)
			resp, body := send(t, http.MethodPost, env.url+"/v1/users", `{"displayName":"Grace","email":"g@example.com"} {"displayName":"Eve"}`, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status == http.StatusOK && !strings.Contains(string(body), `"displayName":"Grace"`) {
				t.Errorf("the backend did not get the first value: %s", body)
			}
		})
	}
}

// TestProfileMethodOverride: grpc-gateway honours X-HTTP-Method-Override on a form-encoded POST,
// and serves a form-encoded POST that no POST route matches with the GET route of its path, its
// form read as query parameters; Archway does neither. The per-route chain still applies:
// authentication and the query check follow the route the request reached.
func TestProfileMethodOverride(t *testing.T) {
	t.Parallel()
	const deleteUser = "/storefront.users.v1.UserService/DeleteUser"
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	override := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-HTTP-Method-Override": "DELETE"}
	anonymous := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-HTTP-Method-Override": "DELETE", "X-Api-Key": ""}
	for _, tc := range []struct {
		name, config, body string
		header             map[string]string
		status, deletes    int
	}{
		{"archway, override", archwayProfile, "", override, http.StatusMethodNotAllowed, 0},
		{"grpc-gateway, override", grpcGatewayProfile, "", override, http.StatusOK, 1},
		{"grpc-gateway, override without credentials", grpcGatewayProfile, "", anonymous, http.StatusUnauthorized, 0},
		{"archway, form POST to a GET route", archwayProfile, "", form, http.StatusMethodNotAllowed, 0},
		{"grpc-gateway, form POST to a GET route", grpcGatewayProfile, "", form, http.StatusOK, 0},
		{"grpc-gateway, unknown form parameter", grpcGatewayProfile, "bogus=1", form, http.StatusOK, 0},
		{"grpc-gateway, unknown form parameter rejected", "api: {profile: grpc-gateway, unknown_query_parameters: reject}\n",
			"bogus=1", form, http.StatusBadRequest, 0},
		{"grpc-gateway, form parameter not UTF-8", grpcGatewayProfile, "name=%ff", form, http.StatusBadRequest, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, tc.config, nil)
			resp, body := send(t, http.MethodPost, env.url+"/v1/users/ada", tc.body, tc.header)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := env.backendCalls(deleteUser); got != tc.deletes {
				t.Errorf("DeleteUser called %d times, want %d", got, tc.deletes)
			}
			if tc.status == http.StatusOK && tc.deletes == 0 && !strings.Contains(string(body), `"name":"users/ada"`) {
				t.Errorf("the POST did not reach GetUser: %s", body)
			}
		})
	}
}

// TestProfileServerStream: a server stream is application/x-ndjson under Archway's profile and
// application/json under grpc-gateway's; a stream that fails before its first message is a
// plain Status under Archway's and grpc-gateway's in-stream error object under grpc-gateway's.
func TestProfileServerStream(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config string
		contentType  string
		failure      string
	}{
		{"archway", archwayProfile, "application/x-ndjson", `{"code":5,"message":"no order orders/ord-1"}`},
		{"grpc-gateway", grpcGatewayProfile, "application/json", `{"error":{"code":5,"message":"no order orders/ord-1","details":[]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, tc.config, nil)
			resp, body := send(t, http.MethodGet, env.url+"/v1/orders/ord-1:watch", "", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			if n := len(strings.Split(strings.TrimSpace(string(body)), "\n")); n != 3 {
				t.Errorf("%d lines, want 3: %s", n, body)
			}

			failing := newTestEnv(t, tc.config, &fakeOrders{failAtOnce: status.Error(codes.NotFound, "no order orders/ord-1")})
			resp, body = send(t, http.MethodGet, failing.url+"/v1/orders/ord-1:watch", "", nil)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("failing stream: status %d: %s", resp.StatusCode, body)
			}
			line, _ := bufio.NewReader(strings.NewReader(string(body))).ReadString('\n')
			if !jsonEqualBytes(t, []byte(line), tc.failure) {
				t.Errorf("failing stream: body %s, want %s", body, tc.failure)
			}
		})
	}
}

// newProfileFilesEnv serves the test API's FileService, whose downloads send header and trailer
// metadata (see fakeFiles), with the given api section.
func newProfileFilesEnv(t *testing.T, api string) *filesEnv {
	t.Helper()
	files := &fakeFiles{uploads: make(chan *httpbody.HttpBody, 1), updates: make(chan *testapiv1.UpdateFileRequest, 1)}
	env := newTestAPIEnv(t, testapiv1.FileService_ServiceDesc.ServiceName,
		func(s *grpc.Server) { testapiv1.RegisterFileServiceServer(s, files) }, testapiv1.RegisterFileServiceHandler, api)
	return &filesEnv{testAPIEnv: env, files: files}
}

// TestProfileResponseMetadata: under Archway's profile only the allowlisted keys come back,
// under their own names; under grpc-gateway's every key does, as Grpc-Metadata-<key> and
// Grpc-Trailer-<key>, unless the allowlist narrows them. Error answers carry them as successes
// do.
func TestProfileResponseMetadata(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config     string
		headers          map[string]string // want, "" for absent
		trailers         map[string]string
		headersOnFailure string
	}{
		{
			"archway, none listed", archwayProfile,
			map[string]string{"X-Ratelimit-Remaining": "", "Foo": "", "Grpc-Metadata-Foo": ""},
			map[string]string{"X-Checksum": "", "Grpc-Trailer-X-Checksum": ""}, "",
		},
		{
			"archway, listed", "api: {forward_response_headers: [x-ratelimit-remaining, x-checksum, foo]}\n",
			map[string]string{"X-Ratelimit-Remaining": "7", "Foo": "foo1", "Grpc-Metadata-Foo": ""},
			map[string]string{"X-Checksum": "abc", "Foo": "foo2", "Grpc-Trailer-X-Checksum": ""}, "X-Ratelimit-Remaining",
		},
		{
			"grpc-gateway, every key", grpcGatewayProfile,
			map[string]string{"Grpc-Metadata-X-Ratelimit-Remaining": "7", "Grpc-Metadata-Foo": "foo1", "Foo": "", "X-Ratelimit-Remaining": ""},
			map[string]string{"Grpc-Trailer-X-Checksum": "abc", "Grpc-Trailer-Foo": "foo2", "X-Checksum": ""}, "Grpc-Metadata-X-Ratelimit-Remaining",
		},
		{
			"grpc-gateway, listed", "api: {profile: grpc-gateway, forward_response_headers: [x-ratelimit-remaining, x-checksum]}\n",
			map[string]string{"Grpc-Metadata-X-Ratelimit-Remaining": "7", "Grpc-Metadata-Foo": ""},
			map[string]string{"Grpc-Trailer-X-Checksum": "abc", "Grpc-Trailer-Foo": ""}, "Grpc-Metadata-X-Ratelimit-Remaining",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newProfileFilesEnv(t, tc.config)
			resp, body := env.send(t, false, http.MethodGet, "/v1/files/a:content", "", "", acceptTrailers)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("answer %d %s", resp.StatusCode, body)
			}
			for name, want := range tc.headers {
				if got := strings.Join(resp.Header.Values(name), ","); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			for name, want := range tc.trailers {
				if got := strings.Join(resp.Trailer.Values(name), ","); got != want {
					t.Errorf("trailer %s = %q, want %q", name, got, want)
				}
			}
			resp, body = env.send(t, false, http.MethodGet, "/v1/files/missing:content", "", "", nil)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("error answer %d %s, want 404", resp.StatusCode, body)
			}
			if name := tc.headersOnFailure; name != "" && resp.Header.Get(name) != "7" {
				t.Errorf("error answer: header %s = %q, want 7", name, resp.Header.Get(name))
			}
		})
	}
}

// TestProfileEmptyBodyOnFieldRoute: an empty body on a `body: "field"` route leaves the field
// unset under Archway's profile; grpc-gateway sets it to an empty message.
func TestProfileEmptyBodyOnFieldRoute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config string
		wantSet      bool
	}{
		{"archway", archwayProfile, false},
		{"grpc-gateway", grpcGatewayProfile, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newProfileFilesEnv(t, tc.config)
			resp, body := env.send(t, false, http.MethodPatch, "/v1/files/a", "application/json", "", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("answer %d %s", resp.StatusCode, body)
			}
			if got := <-env.files.updates; (got.File != nil) != tc.wantSet {
				t.Errorf("file set = %v, want %v", got.File != nil, tc.wantSet)
			}
		})
	}
}

// TestProfileServedDocuments: the OpenAPI documents the gateway serves describe a create as it
// answers it: 201 with Location under Archway's profile, 200 under grpc-gateway's.
func TestProfileServedDocuments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config string
		status       string
		location     bool
	}{
		{"archway", archwayProfile, "201", true},
		{"grpc-gateway", grpcGatewayProfile, "200", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v2, v3 := servedDocs(t, "storefront.users.v1.UserService", tc.config)
			for name, doc := range map[string]*openapi3.T{"v2": v2, "v3": v3["/openapi/v3/storefront/users/v1/users.openapi.json"]} {
				if doc == nil || doc.Paths.Value("/v1/users") == nil || doc.Paths.Value("/v1/users").Post == nil {
					t.Fatalf("%s: no POST /v1/users", name)
				}
				responses := doc.Paths.Value("/v1/users").Post.Responses
				var codes []string
				for code := range responses.Map() {
					if strings.HasPrefix(code, "2") {
						codes = append(codes, code)
					}
				}
				if len(codes) != 1 || codes[0] != tc.status {
					t.Errorf("%s: success responses %v, want [%s]", name, codes, tc.status)
					continue
				}
				_, hasLocation := responses.Value(tc.status).Value.Headers["Location"]
				if hasLocation != tc.location {
					t.Errorf("%s: Location documented = %v, want %v", name, hasLocation, tc.location)
				}
			}
		})
	}
}

// TestProfileForwardedHeaderNames: the headers of api.forward_headers reach the backend under
// their own names, except that under grpc-gateway's profile one that grpc-gateway forwards as
// "grpcgateway-<name>" (Accept-Language) arrives under that name. Unlisted headers never do.
func TestProfileForwardedHeaderNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config string
		want         map[string]string // metadata key: value, "" for absent
	}{
		{"archway", "api: {profile: archway, forward_headers: [Accept-Language, X-Tenant]}\n",
			map[string]string{"accept-language": "fr", "grpcgateway-accept-language": "", "x-tenant": "acme", "grpcgateway-referer": "", "referer": ""}},
		{"grpc-gateway", "api: {profile: grpc-gateway, forward_headers: [Accept-Language, X-Tenant]}\n",
			map[string]string{"accept-language": "", "grpcgateway-accept-language": "fr", "x-tenant": "acme", "grpcgateway-referer": "", "referer": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, tc.config, nil)
			resp, body := send(t, http.MethodGet, env.url+"/v1/users/ada", "", map[string]string{
				"Accept-Language": "fr", "X-Tenant": "acme", "Referer": "https://example.com/",
			})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			md := env.users.metadata()
			for key, want := range tc.want {
				if got := strings.Join(md.Get(key), ","); got != want {
					t.Errorf("metadata %s = %q, want %q", key, got, want)
				}
			}
		})
	}
}

// TestProfileMatchesGRPCGateway sends the same requests to a gateway under the grpc-gateway
// profile and to a bare grpc-gateway ServeMux with its default options, in front of the same
// backends, and wants the same answers: status, headers and body. Left out of the comparison
// are the headers Archway adds to every answer or to cached reads (docs/compatibility.md), and
// answers whose message Archway words on purpose (malformed JSON, system errors).
func TestProfileMatchesGRPCGateway(t *testing.T) {
	t.Parallel()
	// Each request reaches the backend twice; drain empties the channels after each.
	files := &fakeFiles{uploads: make(chan *httpbody.HttpBody, 2), updates: make(chan *testapiv1.UpdateFileRequest, 2)}
	serve := func(orders *fakeOrders) (archway, bare string) {
		lis := bufconn.Listen(1 << 20)
		srv := grpc.NewServer()
		usersv1.RegisterUserServiceServer(srv, &fakeUsers{})
		ordersv1.RegisterOrderServiceServer(srv, orders)
		testapiv1.RegisterFileServiceServer(srv, files)
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		dialer := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })
		_, archway = serveGateway(t, `
admin: {enabled: false}
log: {access_log: false}
api: {profile: grpc-gateway}
policy: {defaults: {access: public}}
backends:
  - name: all
    address: passthrough:///all
    services: [storefront.users.v1.UserService, storefront.orders.v1.OrderService, archway.testapi.v1.FileService]
`+testAuthn, gateway.WithService(testapiv1.FileService_ServiceDesc.ServiceName, testapiv1.RegisterFileServiceHandler), gateway.WithDialOptions(dialer))
		conn, err := grpc.NewClient("passthrough:///all", dialer, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		mux := runtime.NewServeMux()
		for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
			usersv1.RegisterUserServiceHandler, ordersv1.RegisterOrderServiceHandler, testapiv1.RegisterFileServiceHandler,
		} {
			if err := register(t.Context(), mux, conn); err != nil {
				t.Fatal(err)
			}
		}
		hs := httptest.NewServer(mux)
		t.Cleanup(hs.Close)
		return archway, hs.URL
	}
	archway, bare := serve(&fakeOrders{})
	failingArchway, failingBare := serve(&fakeOrders{failAtOnce: status.Error(codes.NotFound, "no order orders/o1")})

	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	jsonBody := map[string]string{"Content-Type": "application/json"}
	for _, tc := range []struct {
		name, method, path, body string
		header                   map[string]string
		failing                  bool
		// statusOnly: the profile keeps Archway's body (docs/compatibility.md, never switched).
		statusOnly bool
	}{
		{name: "list, default-valued fields", method: http.MethodGet, path: "/v1/users"},
		{name: "get", method: http.MethodGet, path: "/v1/users/ada", header: map[string]string{"Cache-Control": "no-cache"}},
		{name: "unknown query parameter", method: http.MethodGet, path: "/v1/users?utm_source=mail&page_size=2"},
		{name: "query parameter for a path-bound field", method: http.MethodGet, path: "/v1/users/ada?name=users/bob"},
		{name: "malformed query value", method: http.MethodGet, path: "/v1/users?page_size=lots", statusOnly: true},
		{name: "create", method: http.MethodPost, path: "/v1/users", body: `{"displayName":"G","email":"g@example.com"}`},
		{name: "create, empty body", method: http.MethodPost, path: "/v1/users"},
		{name: "create, unknown field", method: http.MethodPost, path: "/v1/users", body: `{"displayName":"G","zz":1}`},
		{name: "create, trailing data", method: http.MethodPost, path: "/v1/users", body: `{"displayName":"G"} trailing`},
		{name: "create, second value", method: http.MethodPost, path: "/v1/users", body: `{"displayName":"G"}{"displayName":"H"}`},
		{name: "wrong method", method: http.MethodPut, path: "/v1/users/ada"},
		{name: "unknown path", method: http.MethodGet, path: "/v1/nothing"},
		{name: "encoded slash between segments", method: http.MethodGet, path: "/v1/users%2Fada"},
		{name: "method override", method: http.MethodPost, path: "/v1/users/ada",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-HTTP-Method-Override": "DELETE"}},
		{name: "method override, not a form", method: http.MethodPost, path: "/v1/users/ada", header: map[string]string{"X-HTTP-Method-Override": "DELETE"}},
		{name: "form POST to a GET route", method: http.MethodPost, path: "/v1/users/ada", body: "zz=1", header: form},
		{name: "server stream", method: http.MethodGet, path: "/v1/orders/o1:watch"},
		{name: "server stream failing at once", method: http.MethodGet, path: "/v1/orders/o1:watch", failing: true},
		{name: "metadata and trailers", method: http.MethodGet, path: "/v1/files/a:content", header: map[string]string{"Te": "trailers"}},
		{name: "metadata and trailers on an error", method: http.MethodGet, path: "/v1/files/missing:content", header: map[string]string{"Te": "trailers"}},
		{name: "HttpBody stream", method: http.MethodGet, path: "/v1/files/a:stream"},
		{name: "HttpBody stream failing at once", method: http.MethodGet, path: "/v1/files/missing:stream"},
		{name: "HttpBody upload", method: http.MethodPost, path: "/v1/files:upload", body: `{"contentType":"text/plain","data":"aGk="}`, header: jsonBody},
		{name: "empty body on a field route", method: http.MethodPatch, path: "/v1/files/a", header: jsonBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := archway, bare
			if tc.failing {
				a, b = failingArchway, failingBare
			}
			got, want := answer(t, tc.method, a+tc.path, tc.body, tc.header), answer(t, tc.method, b+tc.path, tc.body, tc.header)
			if tc.statusOnly {
				got, _, _ = strings.Cut(got, " | ")
				want, _, _ = strings.Cut(want, " | ")
			}
			if got != want {
				t.Errorf("answers differ:\nArchway:      %q\ngrpc-gateway: %q", got, want)
			}
			drain(files)
		})
	}
}

// drain empties the request channels of files.
func drain(files *fakeFiles) {
	for {
		select {
		case <-files.uploads:
		case <-files.updates:
		default:
			return
		}
	}
}

// archwayHeaders are the headers Archway adds that grpc-gateway does not, and framing headers;
// answer leaves them out.
var archwayHeaders = map[string]bool{
	"Date": true, "Content-Length": true, "Transfer-Encoding": true, "X-Request-Id": true, "X-Content-Type-Options": true,
	"Cache-Control": true, "Age": true, "Etag": true, "Vary": true, "Content-Security-Policy": true,
	"Ratelimit-Limit": true, "Ratelimit-Policy": true, "Ratelimit-Remaining": true, "Ratelimit-Reset": true,
}

// answer sends a request and sums up its answer: the status, the headers and trailers but
// archwayHeaders, and each line of the body, as normalised JSON where it is JSON.
func answer(t *testing.T, method, url, body string, header map[string]string) string {
	t.Helper()
	resp, b := send(t, method, url, body, header)
	var parts []string
	for k, vs := range resp.Header {
		if !archwayHeaders[k] {
			parts = append(parts, k+": "+strings.Join(vs, ", "))
		}
	}
	for k, vs := range resp.Trailer {
		parts = append(parts, "trailer "+k+": "+strings.Join(vs, ", "))
	}
	slices.Sort(parts)
	for line := range strings.SplitSeq(string(b), "\n") {
		var v any
		if json.Unmarshal([]byte(line), &v) == nil {
			n, _ := json.Marshal(v)
			line = string(n)
		}
		parts = append(parts, line)
	}
	return fmt.Sprintf("%d %s | %s", resp.StatusCode, http.StatusText(resp.StatusCode), strings.Join(parts, " | "))
}

// TestProfileHTTPBody: under Archway's profile a google.api.HttpBody request is the raw body and
// a stream of them is their bare data back to back; under grpc-gateway's the request is the
// HttpBody's JSON and each streamed message's data is followed by a newline.
func TestProfileHTTPBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config           string
		uploadType, uploadBody string
		wantType, wantData     string
		stream                 string
	}{
		{"archway", archwayProfile, "text/plain", "hello", "text/plain", "hello", strings.Join(pngChunks, "")},
		{"grpc-gateway", grpcGatewayProfile, "application/json", `{"contentType":"text/plain","data":"aGVsbG8="}`, "text/plain", "hello",
			strings.Join(pngChunks, "\n") + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newProfileFilesEnv(t, tc.config)
			resp, body := env.send(t, false, http.MethodPost, "/v1/files:upload", tc.uploadType, tc.uploadBody, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("upload: answer %d %s", resp.StatusCode, body)
			}
			if got := <-env.files.uploads; got.GetContentType() != tc.wantType || string(got.GetData()) != tc.wantData {
				t.Errorf("upload: backend got %q %q, want %q %q", got.GetContentType(), got.GetData(), tc.wantType, tc.wantData)
			}
			resp, body = env.send(t, false, http.MethodGet, "/v1/files/a:stream", "", "", nil)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || string(body) != tc.stream {
				t.Errorf("stream: answer %d %q %q, want 200 image/png %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.stream)
			}
		})
	}
}

// TestProfileRequestStreamValues: a request stream on POST is newline-delimited JSON under
// Archway's profile; under grpc-gateway's it is a sequence of JSON values, with or without
// newlines between them. A value that is not a message is refused under both.
func TestProfileRequestStreamValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config, body string
		status             int
		want               string
	}{
		{"archway, lines", archwayProfile, "{\"value\": 1}\n{\"value\": 2}\n", http.StatusOK, `"sum":"3"`},
		{"archway, no newlines", archwayProfile, `{"value": 1}{"value": 2}`, http.StatusBadRequest, `line 1`},
		{"grpc-gateway, lines", grpcGatewayProfile, "{\"value\": 1}\n{\"value\": 2}\n", http.StatusOK, `"sum":"3"`},
		{"grpc-gateway, no newlines", grpcGatewayProfile, `{"value": 1}{"value": 2} {"value": 3}`, http.StatusOK, `"sum":"6"`},
		{"grpc-gateway, not a message", grpcGatewayProfile, `{"value": 1}[2]`, http.StatusBadRequest, `value 2`},
		{"grpc-gateway, cut off", grpcGatewayProfile, `{"value": 1}{"val`, http.StatusBadRequest, `value 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTallyGateway(t, tc.config)
			code, _, body := postStream(t, env, false, "/v1/tally:sum", tc.body, true, nil)
			if code != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("answer %d %s, want %d with %s", code, body, tc.status, tc.want)
			}
		})
	}
}
