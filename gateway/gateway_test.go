package gateway_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/config"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/internal/apitest"
)

// fakeUsers is a UserService whose answers each test sets, recording the metadata it received.
type fakeUsers struct {
	usersv1.UnimplementedUserServiceServer
	mu     sync.Mutex
	lastMD metadata.MD
	// lastBudget is the time the last call had left when it arrived; 0 when it had no deadline.
	lastBudget time.Duration
	lastList   *usersv1.ListUsersRequest
	getErr     error
	// deleted holds the names DeleteUser was called with; GetUser answers NOT_FOUND for them.
	deleted map[string]bool
	// hold, when set, holds GetUser until it is closed.
	hold chan struct{}
}

func (f *fakeUsers) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	var budget time.Duration
	if d, ok := ctx.Deadline(); ok {
		budget = time.Until(d)
	}
	f.mu.Lock()
	f.lastMD = md
	f.lastBudget = budget
	f.mu.Unlock()
}

func (f *fakeUsers) budget() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastBudget
}

func (f *fakeUsers) metadata() metadata.MD {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastMD
}

func (f *fakeUsers) GetUser(ctx context.Context, req *usersv1.GetUserRequest) (*usersv1.User, error) {
	f.record(ctx)
	f.mu.Lock()
	hold, deleted := f.hold, f.deleted[req.GetName()]
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if f.getErr != nil {
		return nil, f.getErr
	}
	if deleted {
		return nil, status.Errorf(codes.NotFound, "no user %s", req.GetName())
	}
	return &usersv1.User{Name: req.GetName(), DisplayName: "Ada Lovelace", Email: "ada@example.com"}, nil
}

func (f *fakeUsers) ListUsers(ctx context.Context, req *usersv1.ListUsersRequest) (*usersv1.ListUsersResponse, error) {
	f.record(ctx)
	f.mu.Lock()
	f.lastList = req
	f.mu.Unlock()
	return &usersv1.ListUsersResponse{TotalSize: 0}, nil
}

func (f *fakeUsers) CreateUser(ctx context.Context, req *usersv1.CreateUserRequest) (*usersv1.User, error) {
	f.record(ctx)
	u := req.GetUser()
	u.Name = "users/grace-hopper"
	return u, nil
}

func (f *fakeUsers) DeleteUser(ctx context.Context, req *usersv1.DeleteUserRequest) (*emptypb.Empty, error) {
	f.record(ctx)
	f.mu.Lock()
	if f.deleted == nil {
		f.deleted = make(map[string]bool)
	}
	f.deleted[req.GetName()] = true
	f.mu.Unlock()
	return &emptypb.Empty{}, nil
}

// fakeOrders streams three events for any order, or fails at once or after the first one. When
// hold is set, it waits after the first event until hold is closed.
type fakeOrders struct {
	ordersv1.UnimplementedOrderServiceServer
	failMidStream bool
	failAtOnce    error
	hold          chan struct{}
	// done, when set, receives what WatchOrder returned.
	done chan error
}

func (f *fakeOrders) WatchOrder(req *ordersv1.WatchOrderRequest, stream grpc.ServerStreamingServer[ordersv1.OrderEvent]) (err error) {
	if f.done != nil {
		defer func() { f.done <- err }()
	}
	if f.failAtOnce != nil {
		return f.failAtOnce
	}
	for i, st := range []ordersv1.OrderState{ordersv1.OrderState_ORDER_STATE_PENDING, ordersv1.OrderState_ORDER_STATE_PAID, ordersv1.OrderState_ORDER_STATE_SHIPPED} {
		if i == 1 && f.hold != nil {
			select {
			case <-f.hold:
			case <-stream.Context().Done():
				return status.FromContextError(stream.Context().Err()).Err()
			}
		}
		if i == 1 && f.failMidStream {
			return status.Error(codes.Internal, "disk on fire at /var/lib/orders")
		}
		if err := stream.Send(&ordersv1.OrderEvent{Order: &ordersv1.Order{Name: req.GetName(), State: st}}); err != nil {
			return err
		}
	}
	return nil
}

// SupportChat echoes every message with its text in upper case; a message whose text is a gRPC
// code's name ("INTERNAL") ends the chat with that code and a message no client may see.
func (f *fakeOrders) SupportChat(stream grpc.BidiStreamingServer[ordersv1.SupportMessage, ordersv1.SupportMessage]) error {
	for range 100 {
		m, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		var c codes.Code
		if c.UnmarshalJSON([]byte(`"`+m.GetText()+`"`)) == nil {
			return status.Error(c, "secret at /var/lib/orders")
		}
		if err := stream.Send(&ordersv1.SupportMessage{Name: m.GetName(), Text: strings.ToUpper(m.GetText())}); err != nil {
			return err
		}
	}
	return status.Error(codes.ResourceExhausted, "too many messages")
}

type testEnv struct {
	url    string
	users  *fakeUsers
	health *health.Server
	gw     *gateway.Gateway

	mu sync.Mutex
	// calls counts the calls the backends got, by full method name.
	calls map[string]int
}

// countCalls is a server interceptor that counts the calls the backends get.
func (env *testEnv) countCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	env.mu.Lock()
	env.calls[info.FullMethod]++
	env.mu.Unlock()
	return handler(ctx, req)
}

// backendCalls returns how many calls of method ("/storefront.users.v1.UserService/GetUser")
// the backends got.
func (env *testEnv) backendCalls(method string) int {
	env.mu.Lock()
	defer env.mu.Unlock()
	return env.calls[method]
}

// newTestEnv starts the fakes on in-memory listeners, a gateway in front of them (configured by
// the YAML in extra, appended to the backends, and testAuthn unless extra has an authn section)
// and an HTTP test server for the gateway.
func newTestEnv(t *testing.T, extra string, orders *fakeOrders) *testEnv {
	t.Helper()
	env := &testEnv{users: &fakeUsers{}, health: health.NewServer(), calls: make(map[string]int)}
	if orders == nil {
		orders = &fakeOrders{}
	}
	listeners := map[string]*bufconn.Listener{"users": bufconn.Listen(1 << 20), "orders": bufconn.Listen(1 << 20)}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(env.countCalls))
	usersv1.RegisterUserServiceServer(srv, env.users)
	ordersv1.RegisterOrderServiceServer(srv, orders)
	healthpb.RegisterHealthServer(srv, env.health)
	for _, l := range listeners {
		go func() { _ = srv.Serve(l) }()
	}
	t.Cleanup(srv.Stop)

	yaml := `
admin: {enabled: false}
log: {access_log: false}
backends:
  - name: users
    address: passthrough:///users
    services: [storefront.users.v1.UserService]
  - name: orders
    address: passthrough:///orders
    services: [storefront.orders.v1.OrderService]
` + extra
	if !strings.Contains(extra, "authn:") {
		yaml += testAuthn
	}
	dialer := grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		return listeners[addr].DialContext(ctx)
	})
	env.gw, env.url = serveGateway(t, yaml, gateway.WithDialOptions(dialer))
	return env
}

type statusBody struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details"`
}

// reply is what a test reads of a response; the body is already read and closed.
type reply struct {
	StatusCode int
	Header     http.Header
	Trailer    http.Header
}

// testAPIKey is the API key that do sends, unless the header map sets X-Api-Key to "". Its
// client, "tester", holds every scope of the storefront APIs.
const testAPIKey = "test-key"

// testAuthn configures testAPIKey; newTestEnv puts it in every test gateway's configuration.
const testAuthn = `
authn:
  api_keys:
    - client_id: tester
      sha256: 62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef
      scopes: [users.read, users.write, orders.write, orders.admin, catalog.write]
`

// apiClient is the client of do: every response to an API request must match the published
// OpenAPI documents (see internal/apitest), or the request fails.
var apiClient = &http.Client{Transport: apitest.Transport(nil)}

// do sends a request with the test API key and the given headers (a header set to "" is not
// sent), and returns the response with its body read; see apiClient.
func do(t *testing.T, method, url, body string, header map[string]string) (reply, []byte) {
	t.Helper()
	return doWith(t, apiClient, method, url, body, header)
}

// doWith is do through client.
func doWith(t *testing.T, client *http.Client, method, url, body string, header map[string]string) (reply, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testAPIKey)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{StatusCode: resp.StatusCode, Header: resp.Header, Trailer: resp.Trailer}, b
}

func decodeStatus(t *testing.T, resp reply, body []byte) statusBody {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type = %q, want application/json; body %s", ct, body)
	}
	var s statusBody
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("error body is not a google.rpc.Status: %v: %s", err, body)
	}
	if s.Code == 0 || s.Message == "" {
		t.Fatalf("error body lacks code or message: %s", body)
	}
	return s
}

func TestErrorsAreStatusJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		header      map[string]string
		wantHTTP    int
		wantCode    codes.Code
		wantMessage string
		wantAllow   string
	}{
		{name: "unknown path", method: "GET", path: "/v2/nothing", wantHTTP: 404, wantCode: codes.NotFound, wantMessage: "no API operation"},
		{name: "root", method: "GET", path: "/", wantHTTP: 404, wantCode: codes.NotFound},
		{name: "wrong method", method: "PUT", path: "/v1/users/ada", wantHTTP: 405, wantCode: codes.Unimplemented, wantAllow: "DELETE, GET, PATCH"},
		{name: "wrong method on collection", method: "DELETE", path: "/v1/users", wantHTTP: 405, wantCode: codes.Unimplemented, wantAllow: "GET, POST"},
		{name: "unknown custom verb", method: "POST", path: "/v1/users/u1:reopen", wantHTTP: 404, wantCode: codes.NotFound, wantMessage: "no API operation"},
		{name: "unknown custom verb under GET", method: "DELETE", path: "/v1/orders/ord-1:reopen", wantHTTP: 404, wantCode: codes.NotFound},
		{name: "wrong method for a custom verb", method: "DELETE", path: "/v1/orders/ord-1:watch", wantHTTP: 405, wantCode: codes.Unimplemented, wantAllow: "GET"},
		{name: "unknown query parameter", method: "GET", path: "/v1/users?page_size=2&colour=red", wantHTTP: 400, wantCode: codes.InvalidArgument, wantMessage: `"colour"`},
		{name: "query into a scalar", method: "GET", path: "/v1/users?pageSize.x=1", wantHTTP: 400, wantCode: codes.InvalidArgument, wantMessage: `"pageSize.x"`},
		{name: "query sets a path field", method: "GET", path: "/v1/users/ada?name=users/bob", wantHTTP: 400, wantCode: codes.InvalidArgument, wantMessage: "set by the URL path"},
		{name: "query on a body route", method: "POST", path: "/v1/users?user.email=x", body: `{"displayName":"x"}`, wantHTTP: 400, wantCode: codes.InvalidArgument, wantMessage: "set by the request body"},
		{name: "bad query value", method: "GET", path: "/v1/users?page_size=lots", wantHTTP: 400, wantCode: codes.InvalidArgument},
		{name: "unknown body field", method: "POST", path: "/v1/users", body: `{"displayName":"Grace","nickname":"x"}`, wantHTTP: 400, wantCode: codes.InvalidArgument, wantMessage: `unknown field "nickname"`},
		{name: "malformed JSON", method: "POST", path: "/v1/users", body: `{"displayName":`, wantHTTP: 400, wantCode: codes.InvalidArgument, wantMessage: "invalid JSON body"},
		{name: "JSON of the wrong type", method: "POST", path: "/v1/users", body: `["a"]`, wantHTTP: 400, wantCode: codes.InvalidArgument, wantMessage: "invalid JSON body"},
		{name: "body too large by Content-Length", method: "POST", path: "/v1/users", body: `{"displayName":"` + strings.Repeat("a", 2048) + `"}`, wantHTTP: 413, wantCode: codes.InvalidArgument, wantMessage: "larger than the limit of 1024 bytes"},
		{name: "malformed grpc-timeout", method: "GET", path: "/v1/users/ada", header: map[string]string{"Grpc-Timeout": "soon"}, wantHTTP: 400, wantCode: codes.InvalidArgument},
		{name: "malformed grpc-timeout on a stream", method: "GET", path: "/v1/orders/ord-1:watch", header: map[string]string{"Grpc-Timeout": "soon"}, wantHTTP: 400, wantCode: codes.InvalidArgument},
		{name: "trailing data after a body field", method: "POST", path: "/v1/users", body: `{"displayName":"a"} trailing`, wantHTTP: 400, wantCode: codes.InvalidArgument, wantMessage: "invalid JSON body"},
		{name: "health wrong method", method: "POST", path: "/healthz", wantHTTP: 405, wantCode: codes.Unimplemented, wantAllow: "GET, HEAD"},
	}
	env := newTestEnv(t, "api: {max_request_body_bytes: 1024}\n", nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := do(t, tc.method, env.url+tc.path, tc.body, tc.header)
			if resp.StatusCode != tc.wantHTTP {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantHTTP, body)
			}
			st := decodeStatus(t, resp, body)
			if codes.Code(st.Code) != tc.wantCode {
				t.Errorf("code = %v, want %v", codes.Code(st.Code), tc.wantCode)
			}
			if !strings.Contains(st.Message, tc.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", st.Message, tc.wantMessage)
			}
			if strings.Contains(st.Message, "proto:") || strings.Contains(st.Message, "rpc error") {
				t.Errorf("message leaks another layer's text: %q", st.Message)
			}
			if got := resp.Header.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tc.wantAllow)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id on the error response")
			}
		})
	}
}

func TestChunkedBodyOverLimitIs413(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "api: {max_request_body_bytes: 1024}\n", nil)
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(`{"displayName":"` + strings.Repeat("a", 4096) + `"}`))
		_ = pw.Close()
	}()
	req, err := http.NewRequestWithContext(t.Context(), "POST", env.url+"/v1/users", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413; body %s", resp.StatusCode, body)
	}
	decodeStatus(t, reply{StatusCode: resp.StatusCode, Header: resp.Header}, body)
}

func TestBackendErrors(t *testing.T) {
	t.Parallel()
	badRequest, _ := status.New(codes.InvalidArgument, "display_name is too long").WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "user.display_name", Description: "at most 100 characters"}},
	})
	tests := []struct {
		name        string
		err         error
		wantHTTP    int
		wantMessage string
		hidden      string
		wantDetails int
	}{
		{"not found passes through", status.Error(codes.NotFound, "user users/ada not found"), 404, "user users/ada not found", "", 0},
		{"invalid argument keeps details", badRequest.Err(), 400, "display_name is too long", "", 1},
		{"failed precondition", status.Error(codes.FailedPrecondition, "order has shipped"), 400, "order has shipped", "", 0},
		{"already exists", status.Error(codes.AlreadyExists, "email taken"), 409, "email taken", "", 0},
		{"internal is hidden", status.Error(codes.Internal, "pq: password authentication failed for user admin"), 500, "internal error (request id ", "password", 0},
		{"unknown is hidden", fmt.Errorf("panic: runtime error at main.go:12"), 500, "internal error", "main.go", 0},
		{"unavailable is hidden", status.Error(codes.Unavailable, "dial tcp 10.0.0.7:9090: connection refused"), 503, "unavailable", "10.0.0.7", 0},
		{"deadline is hidden", status.Error(codes.DeadlineExceeded, "context deadline exceeded in db.Query"), 504, "took too long", "db.Query", 0},
		{"resource exhausted", status.Error(codes.ResourceExhausted, "quota exceeded"), 429, "quota exceeded", "", 0},
		{"backend refusing the gateway is internal", status.Error(codes.Unauthenticated, "x-archway-identity-sig: bad signature"), 500, "internal error", "x-archway", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, "", nil)
			env.users.getErr = tc.err
			resp, body := do(t, "GET", env.url+"/v1/users/ada", "", map[string]string{"X-Request-Id": "req-42"})
			if resp.StatusCode != tc.wantHTTP {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantHTTP, body)
			}
			st := decodeStatus(t, resp, body)
			if !strings.Contains(st.Message, tc.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", st.Message, tc.wantMessage)
			}
			if tc.hidden != "" && strings.Contains(string(body), tc.hidden) {
				t.Errorf("body leaks %q: %s", tc.hidden, body)
			}
			if tc.wantHTTP == 500 && !strings.Contains(st.Message, "req-42") {
				t.Errorf("internal error message %q lacks the request id", st.Message)
			}
			if len(st.Details) != tc.wantDetails {
				t.Errorf("details = %d, want %d: %s", len(st.Details), tc.wantDetails, body)
			}
		})
	}
}

func TestCreateAnswers201WithLocation(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", nil)
	resp, body := do(t, "POST", env.url+"/v1/users", `{"displayName":"Grace Hopper","email":"grace@example.com"}`, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d, want 201; body %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Location"); got != "/v1/users/grace-hopper" {
		t.Errorf("Location = %q, want /v1/users/grace-hopper", got)
	}
	var u map[string]any
	if err := json.Unmarshal(body, &u); err != nil || u["name"] != "users/grace-hopper" {
		t.Errorf("body = %s (%v)", body, err)
	}
	// A delete is not a create.
	resp, _ = do(t, "DELETE", env.url+"/v1/users/grace-hopper", "", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
		t.Errorf("delete: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestHeadersForwardedOnlyWhenAllowlisted(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "api: {forward_headers: [X-Tenant]}\n", nil)
	resp, body := do(t, "GET", env.url+"/v1/users/ada", "", map[string]string{
		"X-Tenant":                   "acme",
		"X-Secret":                   "s3cret",
		"Grpc-Metadata-X-Admin":      "yes",
		"Grpc-Metadata-X-Tenant":     "other",
		"X-Request-Id":               "trace-me-1",
		"Grpc-Metadata-X-Request-Id": "spoofed",
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	md := env.users.metadata()
	if got := md.Get("x-tenant"); len(got) == 0 || got[0] != "acme" && got[len(got)-1] != "acme" {
		t.Errorf("x-tenant = %q, want acme forwarded", got)
	}
	for _, k := range []string{"x-secret", "x-admin", "grpcgateway-x-secret"} {
		if v := md.Get(k); len(v) != 0 {
			t.Errorf("metadata %s = %q forwarded without being allowlisted", k, v)
		}
	}
	if got := md.Get("x-request-id"); len(got) != 1 || got[0] != "trace-me-1" {
		t.Errorf("x-request-id = %q, want [trace-me-1]", got)
	}
}

func TestMethodOverrideIsIgnored(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", nil)
	// Were the override honoured, this POST would become a DELETE and succeed.
	resp, body := do(t, "POST", env.url+"/v1/users/ada", "", map[string]string{
		"X-HTTP-Method-Override": "DELETE",
		"Content-Type":           "application/x-www-form-urlencoded",
	})
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("status = %d, want 405; body %s", resp.StatusCode, body)
	}
}

func TestUnknownInputCanBeIgnored(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "api: {unknown_query_parameters: ignore, unknown_fields: ignore}\n", nil)
	resp, body := do(t, "GET", env.url+"/v1/users?page_size=3&utm_source=mail", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("query: status %d: %s", resp.StatusCode, body)
	}
	if got := env.users.lastList.GetPageSize(); got != 3 {
		t.Errorf("page_size reached the backend as %d, want 3", got)
	}
	resp, body = do(t, "POST", env.url+"/v1/users", `{"displayName":"G","email":"g@example.com","futureField":1}`, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("body: status %d: %s", resp.StatusCode, body)
	}
}

func TestServerStreamIsNDJSON(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", nil)
	resp, body := do(t, "GET", env.url+"/v1/orders/ord-1:watch", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type = %q", ct)
	}
	var states []string
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		var line struct {
			Result struct {
				Order struct {
					Name  string `json:"name"`
					State string `json:"state"`
				} `json:"order"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		states = append(states, line.Result.Order.State)
	}
	want := "ORDER_STATE_PENDING,ORDER_STATE_PAID,ORDER_STATE_SHIPPED"
	if got := strings.Join(states, ","); got != want {
		t.Errorf("states = %s, want %s", got, want)
	}
}

func TestStreamErrorIsHidden(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", &fakeOrders{failMidStream: true})
	_, body := do(t, "GET", env.url+"/v1/orders/ord-1:watch", "", nil)
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a result line and an error line, got %q", body)
	}
	var last struct {
		Error statusBody `json:"error"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &last); err != nil {
		t.Fatal(err)
	}
	if codes.Code(last.Error.Code) != codes.Internal || strings.Contains(lines[1], "/var/lib") {
		t.Errorf("stream error line = %s", lines[1])
	}
}

func TestRunDrainsAndStops(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, `
listen: {address: "127.0.0.1:0"}
admin: {enabled: false}
shutdown: {drain_timeout: 2s}
backends:
  - name: users
    address: 127.0.0.1:1
    services: [storefront.users.v1.UserService]
`)
	ln := listenLoopback(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln, nil) }()
	resp, _ := do(t, "GET", "http://"+ln.Addr().String()+"/healthz", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

// TestShutdownTurnsNotReadyBeforeClosing checks the order of a graceful shutdown: readiness
// turns false at once, the listeners keep serving for shutdown.ready_delay, then they close.
func TestShutdownTurnsNotReadyBeforeClosing(t *testing.T) {
	t.Parallel()
	const readyDelay = 1500 * time.Millisecond
	gw := newGateway(t, `
listen: {address: "127.0.0.1:0"}
admin: {enabled: true, address: "127.0.0.1:0"}
shutdown: {drain_timeout: 2s, ready_delay: 1500ms}
backends:
  - name: users
    address: 127.0.0.1:1
    services: [storefront.users.v1.UserService]
`)
	ln := listenLoopback(t)
	adminLn := listenLoopback(t)
	api, admin := "http://"+ln.Addr().String(), "http://"+adminLn.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln, adminLn) }()
	if resp, body := do(t, "GET", admin+"/readyz", "", nil); strings.Contains(string(body), `"draining":true`) {
		t.Fatalf("draining before shutdown: %d %s", resp.StatusCode, body)
	}

	start := time.Now()
	cancel()
	deadline := time.Now().Add(readyDelay / 2)
	for {
		_, body := do(t, "GET", admin+"/readyz", "", nil)
		if strings.Contains(string(body), `"draining":true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness not draining %v after shutdown began: %s", readyDelay/2, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp, body := do(t, "GET", api+"/readyz", "", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("public readyz while draining = %d: %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", api+"/healthz", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz during the ready delay = %d, want 200: the listener must still serve", resp.StatusCode)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(readyDelay + 5*time.Second):
		t.Fatal("Serve did not return after the ready delay")
	}
	if elapsed := time.Since(start); elapsed < readyDelay {
		t.Errorf("Serve returned %v after shutdown began, before the %v ready delay", elapsed, readyDelay)
	}
	if conn, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		_ = conn.Close()
		t.Error("the API listener still accepts connections after Serve returned")
	}
}

func TestStreamFailingAtOnceIsPlainStatus(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", &fakeOrders{failAtOnce: status.Error(codes.NotFound, `order "orders/x" not found`)})
	resp, body := do(t, "GET", env.url+"/v1/orders/x:watch", "", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status = %d, want 404: %s", resp.StatusCode, body)
	}
	st := decodeStatus(t, resp, body)
	if codes.Code(st.Code) != codes.NotFound || !strings.Contains(st.Message, "not found") {
		t.Errorf("body = %s", body)
	}
}

// TestRouteTimeoutBoundsBackendCall checks the deadline a backend call gets: the default route
// timeout, a per-method override, and a client's shorter Grpc-Timeout.
func TestRouteTimeoutBoundsBackendCall(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, `
cache: {enabled: false}
policy:
  defaults: {timeout: 4s}
  routes:
    storefront.users.v1.UserService/ListUsers: {timeout: 9s}
`, nil)
	for _, tc := range []struct {
		name     string
		path     string
		header   map[string]string
		min, max time.Duration
	}{
		{"default", "/v1/users/ada", nil, 3 * time.Second, 4 * time.Second},
		{"override", "/v1/users", nil, 8 * time.Second, 9 * time.Second},
		{"client's shorter timeout", "/v1/users/ada", map[string]string{"Grpc-Timeout": "2S"}, time.Second, 2 * time.Second},
		{"client's longer timeout", "/v1/users/ada", map[string]string{"Grpc-Timeout": "60S"}, 3 * time.Second, 4 * time.Second},
	} {
		resp, body := do(t, http.MethodGet, env.url+tc.path, "", tc.header)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tc.name, resp.StatusCode, body)
		}
		if got := env.users.budget(); got < tc.min || got > tc.max {
			t.Errorf("%s: backend call had %v left, want between %v and %v", tc.name, got, tc.min, tc.max)
		}
	}
}

// TestAuthenticationComesFirst checks that a protected route answers an anonymous caller 401
// before it looks at the input, and that the caller's credentials never reach the backend.
func TestAuthenticationComesFirst(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", nil)
	resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada?bogus=1", "", map[string]string{"X-Api-Key": ""})
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("anonymous call with a bad query: status %d, WWW-Authenticate %q, want 401 with a challenge; body %s",
			resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	if st := decodeStatus(t, resp, body); st.Code != int(codes.Unauthenticated) {
		t.Errorf("code %d, want UNAUTHENTICATED", st.Code)
	}
	if resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada?bogus=1", "", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("authenticated call with a bad query: status %d, want 400; body %s", resp.StatusCode, body)
	}
	resp, body = do(t, http.MethodGet, env.url+"/v1/users/ada", "", map[string]string{"Authorization": "Bearer x"})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a bad token next to a good API key: status %d, want 401; body %s", resp.StatusCode, body)
	}
}

// TestCredentialsStayAtTheEdge checks that a verified bearer token is not forwarded to the
// backend: grpc-gateway would send Authorization as metadata.
func TestCredentialsStayAtTheEdge(t *testing.T) {
	t.Parallel()
	key := []byte(strings.Repeat("k", 32))
	jwks := fmt.Sprintf(`{"keys":[{"kty":"oct","kid":"hs-1","alg":"HS256","k":%q}]}`, base64.RawURLEncoding.EncodeToString(key))
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, []byte(jwks), 0o600); err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t, fmt.Sprintf(`
authn:
  jwt_issuers:
    - {issuer: "https://issuer.test", audiences: [archway], jwks_file: %q, algorithms: [HS256]}
`, path), nil)
	enc := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	signing := enc(`{"alg":"HS256","kid":"hs-1","typ":"JWT"}`) + "." +
		enc(fmt.Sprintf(`{"iss":"https://issuer.test","aud":"archway","sub":"ada","exp":%d}`, time.Now().Add(time.Hour).Unix()))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	token := signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada", "", map[string]string{"X-Api-Key": "", "Authorization": "Bearer " + token})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if v := env.users.metadata().Get("authorization"); len(v) > 0 {
		t.Errorf("the backend received the client's Authorization: %q", v)
	}
}

// newGateway builds a gateway from yaml and opts, with its logs discarded unless opts set a
// logger, and closes it when the test ends.
func newGateway(t *testing.T, yaml string, opts ...gateway.Option) *gateway.Gateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(t.Context(), cfg, append([]gateway.Option{gateway.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	return gw
}

// serveGateway builds a gateway as newGateway does and serves its API on a loopback test
// server, closed when the test ends; it returns the gateway and the server's URL.
func serveGateway(t *testing.T, yaml string, opts ...gateway.Option) (*gateway.Gateway, string) {
	t.Helper()
	gw := newGateway(t, yaml, opts...)
	hs := httptest.NewServer(gw.Handler())
	t.Cleanup(hs.Close)
	return gw, hs.URL
}

// listenLoopback opens a listener on a free loopback port.
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
