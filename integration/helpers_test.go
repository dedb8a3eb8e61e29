package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/identity"
	"github.com/archway-gateway/archway/internal/apitest"
	"github.com/archway-gateway/archway/internal/testkit"
)

// Bounds of the waits in this package. Every wait polls until its condition holds or its bound
// passes; none waits for a fixed time.
const (
	// startTimeout bounds how long a process may take to log that it listens.
	startTimeout = 15 * time.Second
	// stopTimeout bounds how long a process may take to exit after SIGTERM before it is killed.
	stopTimeout = 10 * time.Second
	// requestTimeout bounds one unary HTTP request.
	requestTimeout = 10 * time.Second
	// pollInterval is the pause between two checks of a polled condition.
	pollInterval = 20 * time.Millisecond
	// maxBodyBytes is the api.max_request_body_bytes of every gateway the tests start.
	maxBodyBytes = 64 << 10
)

// buildDir holds the binaries built by [binaries]; TestMain removes it.
var buildDir string

// build builds the binaries once per test binary run.
var build = sync.OnceValues(func() (bins, error) {
	root, err := moduleRoot()
	if err != nil {
		return bins{}, err
	}
	dir, err := os.MkdirTemp("", "archway-integration-")
	if err != nil {
		return bins{}, err
	}
	buildDir = dir
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/storefront", "./cmd/archway")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return bins{}, fmt.Errorf("go build: %w\n%s", err, out)
	}
	b := bins{storefront: filepath.Join(dir, "storefront"), archway: filepath.Join(dir, "archway")}
	if os.Getenv("ARCHWAY_TEST_STOREFRONT") == "descriptors" {
		b.storefrontSet = filepath.Join(dir, "storefront.binpb")
		if err := writeStorefrontSet(b.storefrontSet); err != nil {
			return bins{}, err
		}
	}
	return b, nil
})

// writeStorefrontSet writes the storefront services' files, with everything they import, as a
// serialized FileDescriptorSet built from the descriptors linked into the test binary, as
// `buf build -o` writes one.
func writeStorefrontSet(path string) error {
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
	for _, svc := range slices.Sorted(maps.Values(backendServices)) {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		if err != nil {
			return fmt.Errorf("storefront descriptor set: %w", err)
		}
		add(d.ParentFile())
	}
	data, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: files})
	if err != nil {
		return fmt.Errorf("storefront descriptor set: %w", err)
	}
	return os.WriteFile(path, data, 0o600)
}

// TestMain runs the tests, then removes the binaries they built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// bins are the paths of the built binaries.
type bins struct {
	storefront, archway string
	// storefrontSet is, with ARCHWAY_TEST_STOREFRONT=descriptors, the path of a descriptor set
	// of the storefront services, which every gateway of gatewayConfig then loads: the whole
	// suite runs against the storefront translated from descriptors, without the generated
	// handlers linked into the binary. It is empty otherwise.
	storefrontSet string
}

// binaries returns the built binaries, building them on first use. It skips the test with -short
// and fails it when the build fails.
func binaries(t *testing.T) bins {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	b, err := build()
	if err != nil {
		t.Fatalf("building the binaries: %v", err)
	}
	return b
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// poll calls cond every pollInterval until it reports true or timeout passes, and returns
// whether it did.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// record is one JSON log record of a process.
type record map[string]any

// str returns the record's attribute key as a string, or "" when it is missing or not a string.
func (r record) str(key string) string {
	s, _ := r[key].(string)
	return s
}

// startGateways starts n gateway processes configured by cfg and waits until every one is
// ready.
func startGateways(t *testing.T, n int, cfg string) []*gateway {
	t.Helper()
	gws := make([]*gateway, n)
	for i := range gws {
		gws[i] = startGatewayConfig(t, cfg)
	}
	for _, g := range gws {
		g.waitReady(t, startTimeout)
	}
	// Runs before the gateways stop: a connection the client dialed but never sent a request
	// on would hold each gateway's graceful shutdown for seconds.
	t.Cleanup(client.CloseIdleConnections)
	return gws
}

// repeat calls each from workers goroutines, each pausing pause between calls, until stop is
// called; stop returns once every call in progress has returned. n numbers the calls from 1,
// across the workers.
func repeat(workers int, pause time.Duration, each func(n int)) (stop func()) {
	const maxPerWorker = 100000 // a bound on each loop; the tests stop it long before
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	for range workers {
		wg.Go(func() {
			for range maxPerWorker {
				select {
				case <-done:
					return
				default:
				}
				each(int(next.Add(1)))
				time.Sleep(pause)
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// proc is a running subprocess whose stdout and stderr are collected in logs.
type proc struct {
	name string
	cmd  *exec.Cmd
	logs *testkit.LogBuffer
	done chan struct{} // closed when the process has exited and its output is collected
	err  error         // the result of cmd.Wait, set before done is closed
}

// startProc starts bin with args and the environment env (added to this process's environment,
// less any ARCHWAY_* variables), and registers a cleanup that stops it.
func startProc(t *testing.T, name, bin string, args, env []string) *proc {
	t.Helper()
	p := &proc{name: name, logs: &testkit.LogBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARCHWAY_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("output of %s (exit: %v):\n%s", p.name, p.err, p.logs.String())
		}
	})
	return p
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// terminate sends SIGTERM to the process unless it has exited.
func (p *proc) terminate(t *testing.T) {
	t.Helper()
	if p.exited() {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("SIGTERM %s: %v", p.name, err)
	}
}

// wait waits up to timeout for the process to exit and returns its exit code; ok is false when
// it is still running.
func (p *proc) wait(timeout time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), true
	case <-time.After(timeout):
		return 0, false
	}
}

// stop sends SIGTERM, waits up to stopTimeout, then kills the process. It is safe to call more
// than once and returns the exit code (-1 when the process was killed by a signal).
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	p.terminate(t)
	if code, ok := p.wait(stopTimeout); ok {
		return code
	}
	t.Errorf("%s did not exit within %v of SIGTERM; killing it", p.name, stopTimeout)
	_ = p.cmd.Process.Kill()
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// records returns the lines the process has written so far that are JSON objects.
func (p *proc) records() []record {
	var recs []record
	for _, l := range p.logs.Lines() {
		var r record
		if json.Unmarshal([]byte(l), &r) == nil {
			recs = append(recs, r)
		}
	}
	return recs
}

// waitRecord waits up to timeout for a JSON log record for which match reports true, and
// returns it. It fails the test when the process exits or the time passes first.
func (p *proc) waitRecord(t *testing.T, timeout time.Duration, what string, match func(record) bool) record {
	t.Helper()
	var found record
	ok := poll(timeout, func() bool {
		for _, r := range p.records() {
			if match(r) {
				found = r
				return true
			}
		}
		return p.exited()
	})
	if !ok || found == nil {
		t.Fatalf("%s: no log record %s within %v (exited: %v)", p.name, what, timeout, p.exited())
	}
	return found
}

// listenAddr waits for the record {"msg":"listening", key: value} and returns its addr.
func (p *proc) listenAddr(t *testing.T, key, value string) string {
	t.Helper()
	r := p.waitRecord(t, startTimeout, fmt.Sprintf("listening with %s=%s", key, value), func(r record) bool {
		return r.str("msg") == "listening" && r.str(key) == value
	})
	addr := r.str("addr")
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("%s: %s %s listens on %q, want a 127.0.0.1 address", p.name, key, value, addr)
	}
	return addr
}

// storefront is a running storefront process and the addresses of its services.
type storefront struct {
	*proc
	addrs map[string]string // service name → listen address
}

// startStorefront runs a storefront process serving services. addrs sets the listen address of
// a service (by default 127.0.0.1:0); catalogTarget is passed as -catalog-target when not empty.
func startStorefront(t *testing.T, services []string, addrs map[string]string, catalogTarget string) *storefront {
	t.Helper()
	return startStorefrontArgs(t, services, addrs, catalogTarget)
}

// startStorefrontArgs is startStorefront with extra flags, such as -test-faults.
func startStorefrontArgs(t *testing.T, services []string, addrs map[string]string, catalogTarget string, extra ...string) *storefront {
	t.Helper()
	args := []string{"-services", strings.Join(services, ","), "-log-format", "json", "-log-level", "info"}
	args = append(args, extra...)
	for _, s := range services {
		addr := addrs[s]
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		args = append(args, "-"+s+"-addr", addr)
	}
	if catalogTarget != "" {
		args = append(args, "-catalog-target", catalogTarget)
	}
	p := startProc(t, "storefront("+strings.Join(services, ",")+")", binaries(t).storefront, args,
		[]string{"STOREFRONT_IDENTITY_SECRET=" + identitySecret})
	sf := &storefront{proc: p, addrs: make(map[string]string)}
	for _, s := range services {
		sf.addrs[s] = p.listenAddr(t, "service", s)
	}
	return sf
}

// identitySecret is shared by every storefront and gateway the tests start, so that the
// backends accept the gateway's calls (and no one else's). It is made anew for each run.
var identitySecret = rand.Text() + rand.Text()

// dialBackend connects to a storefront service directly, signing the identity of a test
// operator, an administrator with every scope, onto every call as the gateway would.
func dialBackend(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	signer, err := identity.NewSigner(identitySecret)
	if err != nil {
		t.Fatal(err)
	}
	operator := func(context.Context) (identity.Identity, bool) {
		return identity.Identity{Subject: "integration-test", ClientID: "integration-test", Kind: "api_key",
			Scopes: []string{"users.read", "users.write", "users.admin", "orders.write", "orders.admin", "catalog.write"}}, true
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(identity.UnaryClientInterceptor(signer, operator)),
		grpc.WithChainStreamInterceptor(identity.StreamClientInterceptor(signer, operator)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// backendServices maps a storefront service name to the gRPC service it serves.
var backendServices = map[string]string{
	"users":   "storefront.users.v1.UserService",
	"orders":  "storefront.orders.v1.OrderService",
	"catalog": "storefront.catalog.v1.CatalogService",
}

// testAPIKey is the API key that send adds to every request, unless its header sets X-Api-Key
// to an empty list. Its client, "tester", holds every scope of the storefront APIs, the admin
// scopes included; gatewayConfig configures it by its SHA-256, testAPIKeyHash, along with the
// keys of ordinary users (userKeys).
const (
	testAPIKey     = "test-key"
	testAPIKeyHash = "62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef"
)

// userKeys are API keys of ordinary users, whose subject (the key's client id) names their user:
// ada-lovelace with the scopes of a customer, grace-hopper with none.
var userKeys = map[string]struct {
	key, subject string
	scopes       []string
}{
	"ada":   {"ada-key", "ada-lovelace", []string{"users.read", "users.write", "orders.write"}},
	"grace": {"grace-key", "grace-hopper", nil},
}

// gatewayConfig renders an archway.yaml for backends at addrs (storefront service name →
// address), with loopback listeners on free ports, JSON logs and short timeouts.
func gatewayConfig(addrs map[string]string) string {
	var b strings.Builder
	if set := storefrontSet(); set != "" {
		fmt.Fprintf(&b, "apis:\n  - descriptor_set: %q\n", set)
	}
	b.WriteString(`listen: {address: "127.0.0.1:0"}
admin: {enabled: true, address: "127.0.0.1:0"}
log: {format: json, level: info, access_log: true}
api: {max_request_body_bytes: ` + fmt.Sprint(maxBodyBytes) + `}
readiness: {check_timeout: 500ms}
shutdown: {drain_timeout: 5s}
authn:
  api_keys:
    - client_id: tester
      sha256: ` + testAPIKeyHash + `
      scopes: [users.read, users.write, users.admin, orders.write, orders.admin, catalog.write]
`)
	for _, k := range userKeys {
		sum := sha256.Sum256([]byte(k.key))
		fmt.Fprintf(&b, "    - {client_id: %s, sha256: %x, scopes: [%s]}\n", k.subject, sum, strings.Join(k.scopes, ", "))
	}
	b.WriteString("backends:\n")
	for _, name := range []string{"users", "orders", "catalog"} {
		fmt.Fprintf(&b, "  - name: %s\n    address: %q\n    services: [%s]\n    max_reconnect_backoff: 1s\n",
			name, addrs[name], backendServices[name])
	}
	return b.String()
}

// storefrontSet returns the descriptor set of the storefront that gateways load, or "" when
// they serve it through the handlers linked into the binary (see bins.storefrontSet).
func storefrontSet() string {
	b, err := build()
	if err != nil {
		return ""
	}
	return b.storefrontSet
}

// gateway is a running archway process and its listeners.
type gateway struct {
	*proc
	api   string // base URL of the API listener, "http://127.0.0.1:NNNN"
	admin string // base URL of the admin listener
}

// startGateway runs "archway serve" in front of the backends at addrs and waits until it
// listens. It does not wait for readiness.
func startGateway(t *testing.T, addrs map[string]string) *gateway {
	t.Helper()
	return startGatewayConfig(t, gatewayConfig(addrs))
}

// startGatewayConfig runs "archway serve" with the configuration yaml and waits until it
// listens.
func startGatewayConfig(t *testing.T, yaml string) *gateway {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "archway.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "archway", binaries(t).archway, []string{"serve", "-config", cfg},
		[]string{"ARCHWAY_AUTHN_IDENTITY_SECRET=" + identitySecret})
	if set := storefrontSet(); set != "" && strings.Contains(yaml, set) {
		p.waitRecord(t, startTimeout, "of a service served from "+set, func(r record) bool {
			return r.str("msg") == "service served from its descriptor set" && r.str("descriptor_set") == set
		})
	}
	return &gateway{
		proc:  p,
		api:   "http://" + p.listenAddr(t, "listener", "api"),
		admin: "http://" + p.listenAddr(t, "listener", "admin"),
	}
}

// waitReady waits up to timeout for the gateway's public /readyz to answer 200.
func (g *gateway) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	var last string
	ok := poll(timeout, func() bool {
		resp, err := send(http.MethodGet, g.api+"/readyz", nil, nil)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%d %s", resp.code, resp.body)
		return resp.code == http.StatusOK
	})
	if !ok {
		t.Fatalf("GET /readyz did not answer 200 within %v; last answer: %s", timeout, last)
	}
}

// stack is one storefront process serving every service and a gateway in front of it.
type stack struct {
	sf *storefront
	gw *gateway
}

// startStack starts a storefront with all three services and a gateway in front of it, and waits
// until the gateway is ready.
func startStack(t *testing.T) *stack {
	t.Helper()
	sf := startStorefront(t, []string{"users", "orders", "catalog"}, nil, "")
	gw := startGateway(t, sf.addrs)
	gw.waitReady(t, startTimeout)
	return &stack{sf: sf, gw: gw}
}

// client is the HTTP client of unary requests; streams use their own contexts. Every response
// to an API request must match the published OpenAPI documents (see internal/apitest), or the
// request fails.
var client = &http.Client{Timeout: requestTimeout, Transport: apitest.Transport(nil)}

// response is a complete HTTP response.
type response struct {
	method, url string
	code        int
	header      http.Header
	body        []byte
}

// String describes the response for failure messages.
func (r *response) String() string {
	return fmt.Sprintf("%s %s → %d %s", r.method, r.url, r.code, r.body)
}

// send makes one request with body (none when nil) and reads the whole response. A body that is
// a *strings.Reader is sent with a Content-Length; other readers are sent chunked.
func send(method, url string, body io.Reader, header http.Header) (*response, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Api-Key", testAPIKey)
	for k, vs := range header {
		if len(vs) == 0 {
			req.Header.Del(k)
			continue
		}
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{method: method, url: url, code: resp.StatusCode, header: resp.Header, body: data}, nil
}

// request sends a request to the gateway's API listener (path includes the query) and checks
// what every response must carry: an X-Request-Id header.
func (g *gateway) request(t *testing.T, method, path string, body io.Reader, header http.Header) *response {
	t.Helper()
	resp, err := send(method, g.api+path, body, header)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.header.Get("X-Request-Id") == "" {
		t.Errorf("%s: no X-Request-Id header", resp)
	}
	return resp
}

// do is request with a JSON body given as a string; an empty body sends none.
func (g *gateway) do(t *testing.T, method, path, body string) *response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	return g.request(t, method, path, rd, nil)
}

// expectOK fails the test unless the response has HTTP status want, and returns the body
// decoded as a JSON object.
func expectOK(t *testing.T, resp *response, want int) map[string]any {
	t.Helper()
	if resp.code != want {
		t.Fatalf("%s: want HTTP %d", resp, want)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.body, &m); err != nil {
		t.Fatalf("%s: body is not a JSON object: %v", resp, err)
	}
	return m
}

// mustOK fails the test unless resp is a 200.
func mustOK(t *testing.T, resp *response) *response {
	t.Helper()
	if resp.code != http.StatusOK {
		t.Fatalf("%s: want HTTP 200", resp)
	}
	return resp
}

// decodeUser fails the test unless resp has HTTP status want, and returns the User in its body.
func decodeUser(t *testing.T, resp *response, want int) *usersv1.User {
	t.Helper()
	if resp.code != want {
		t.Fatalf("%s: want HTTP %d", resp, want)
	}
	u := new(usersv1.User)
	decodeProto(t, resp, u)
	return u
}

// decodeProto decodes a proto3 JSON response body into msg, rejecting unknown fields, so that a
// body of the wrong shape fails the test.
func decodeProto(t *testing.T, resp *response, msg proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal(resp.body, msg); err != nil {
		t.Fatalf("%s: decode as %T: %v", resp, msg, err)
	}
}

// expectStatus fails the test unless the response is an error with HTTP status httpCode whose
// body is a google.rpc.Status JSON with code grpcCode and a message; it returns the status.
func expectStatus(t *testing.T, resp *response, httpCode int, grpcCode int32) *spb.Status {
	t.Helper()
	if resp.code != httpCode {
		t.Fatalf("%s: want HTTP %d", resp, httpCode)
	}
	if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", resp, ct)
	}
	st := new(spb.Status)
	if err := protojson.Unmarshal(resp.body, st); err != nil {
		t.Fatalf("%s: body is not a google.rpc.Status: %v", resp, err)
	}
	if st.GetCode() != grpcCode {
		t.Errorf("%s: status code %d, want %d", resp, st.GetCode(), grpcCode)
	}
	if st.GetMessage() == "" {
		t.Errorf("%s: status has no message", resp)
	}
	return st
}

// badRequest returns the google.rpc.BadRequest detail of st, failing the test when it has none.
func badRequest(t *testing.T, st *spb.Status) *errdetails.BadRequest {
	t.Helper()
	for _, d := range st.GetDetails() {
		br := new(errdetails.BadRequest)
		if d.MessageIs(br) {
			if err := d.UnmarshalTo(br); err != nil {
				t.Fatalf("decode BadRequest detail: %v", err)
			}
			return br
		}
	}
	t.Fatalf("status %v has no google.rpc.BadRequest detail", st)
	return nil
}

// ndjsonStream reads a newline-delimited JSON response line by line in the background.
type ndjsonStream struct {
	resp   *http.Response
	lines  chan map[string]any
	err    error // why the stream ended, set before lines is closed; nil at a clean EOF
	cancel context.CancelFunc
}

// openStream sends GET url and returns the stream of its response lines. The request lives until
// the test ends or the server ends the response.
func openStream(t *testing.T, url string) *ndjsonStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testAPIKey)
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.DefaultTransport.RoundTrip(req) //nolint:bodyclose // the stream owns the body; t.Cleanup closes it
		got <- result{resp, err}
	}()
	var res result
	select {
	case res = <-got:
	case <-time.After(requestTimeout):
		cancel()
		t.Fatalf("GET %s: no response headers within %v", url, requestTimeout)
	}
	if res.err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, res.err)
	}
	s := &ndjsonStream{resp: res.resp, lines: make(chan map[string]any), cancel: cancel}
	t.Cleanup(func() {
		cancel()
		_ = res.resp.Body.Close()
	})
	go s.read()
	return s
}

// read sends every line of the response body to s.lines, then records why the body ended and
// closes s.lines.
func (s *ndjsonStream) read() {
	defer close(s.lines)
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			s.err = fmt.Errorf("line %q is not a JSON object: %w", sc.Bytes(), err)
			return
		}
		s.lines <- m
	}
	s.err = sc.Err()
}

// next returns the next line of the stream, waiting up to timeout. It fails the test when the
// stream ends or the time passes first.
func (s *ndjsonStream) next(t *testing.T, timeout time.Duration) map[string]any {
	t.Helper()
	select {
	case m, ok := <-s.lines:
		if !ok {
			t.Fatalf("stream ended early (err %v)", s.err)
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no stream line within %v", timeout)
		return nil
	}
}

// expectEnd waits up to timeout for the stream to end cleanly, failing the test on any further
// line, a read error or the time passing.
func (s *ndjsonStream) expectEnd(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case m, ok := <-s.lines:
		if ok {
			t.Fatalf("stream went on after the final event: %v", m)
		}
		if s.err != nil {
			t.Fatalf("stream ended with an error: %v", s.err)
		}
	case <-time.After(timeout):
		t.Fatalf("stream still open %v after the final event", timeout)
	}
}

// createOrder places an order for user ("users/ada-lovelace") through the gateway, with quantity
// units of each product, and returns it.
func createOrder(t *testing.T, g *gateway, user string, quantity map[string]int) *ordersv1.Order {
	t.Helper()
	type item struct {
		ProductID string `json:"productId"`
		Quantity  int    `json:"quantity"`
	}
	var body struct {
		Items []item `json:"items"`
	}
	for id, q := range quantity {
		body.Items = append(body.Items, item{id, q})
	}
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp := g.do(t, http.MethodPost, "/v1/"+user+"/orders", string(data))
	if resp.code != http.StatusCreated {
		t.Fatalf("%s: want HTTP 201", resp)
	}
	o := new(ordersv1.Order)
	decodeProto(t, resp, o)
	if loc := resp.header.Get("Location"); loc != "/v1/"+o.GetName() {
		t.Errorf("%s: Location %q, want %q", resp, loc, "/v1/"+o.GetName())
	}
	return o
}

// orderEvent decodes a WatchOrder stream line, failing the test when it is not a result.
func orderEvent(t *testing.T, line map[string]any) *ordersv1.OrderEvent {
	t.Helper()
	result, ok := line["result"]
	if !ok {
		t.Fatalf("stream line %v: want {\"result\": ...}", line)
	}
	data, err := json.Marshal(result)
	if err != nil {
		t.Fatal(err)
	}
	ev := new(ordersv1.OrderEvent)
	if err := protojson.Unmarshal(data, ev); err != nil {
		t.Fatalf("stream line %s: not an OrderEvent: %v", data, err)
	}
	return ev
}

// path returns the value at a dotted path ("price.amountMinor") of a decoded JSON object, or
// nil when there is none.
func path(m map[string]any, dotted string) any {
	var v any = m
	for _, k := range strings.Split(dotted, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[k]
	}
	return v
}
