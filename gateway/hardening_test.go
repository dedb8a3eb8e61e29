package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/config"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/internal/certtest"
)

// holdUsers is a UserService that counts its calls, records the deadline budget of the last
// one, and, when hold is set, keeps GetUser waiting until hold closes (telling entered first).
type holdUsers struct {
	usersv1.UnimplementedUserServiceServer
	hold    chan struct{}
	entered chan struct{}
	calls   atomic.Int64
	budget  atomic.Int64
}

func (u *holdUsers) GetUser(ctx context.Context, req *usersv1.GetUserRequest) (*usersv1.User, error) {
	u.calls.Add(1)
	if d, ok := ctx.Deadline(); ok {
		u.budget.Store(int64(time.Until(d)))
	}
	if u.hold != nil {
		u.entered <- struct{}{}
		select {
		case <-u.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &usersv1.User{Name: req.GetName(), DisplayName: "Ada Lovelace"}, nil
}

func (u *holdUsers) CreateUser(_ context.Context, req *usersv1.CreateUserRequest) (*usersv1.User, error) {
	u.calls.Add(1)
	return req.GetUser(), nil
}

// edgeEnv is a gateway served by ServeListeners on a real loopback listener.
type edgeEnv struct {
	addr  string // host:port of the API listener
	url   string // its base URL, http:// or https://
	ca    *certtest.CA
	users *holdUsers
	// certFile and keyFile are the server certificate's files, when tls is on.
	certFile, keyFile string
}

// newEdgeEnv starts users on an in-memory listener and a gateway in front of it, configured by
// extra (YAML appended to the backend). With withTLS, the API listener serves HTTPS with a
// certificate for 127.0.0.1 from a throwaway CA.
func newEdgeEnv(t *testing.T, extra string, users *holdUsers, withTLS bool) *edgeEnv {
	t.Helper()
	env := &edgeEnv{users: users}
	bl := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	usersv1.RegisterUserServiceServer(srv, users)
	go func() { _ = srv.Serve(bl) }()
	t.Cleanup(srv.Stop)

	yaml := `
admin: {enabled: false}
log: {access_log: false}
shutdown: {drain_timeout: 1s}
backends:
  - name: users
    address: passthrough:///users
    services: [storefront.users.v1.UserService]
` + testAuthn + extra
	if withTLS {
		ca, err := certtest.NewCA("test CA", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := ca.Server("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		env.ca = ca
		if env.certFile, env.keyFile, err = kp.WriteFiles(t.TempDir(), "server"); err != nil {
			t.Fatal(err)
		}
	}
	environ := []string(nil)
	if withTLS {
		environ = []string{
			"ARCHWAY_LISTEN_TLS_CERT_FILE=" + env.certFile,
			"ARCHWAY_LISTEN_TLS_KEY_FILE=" + env.keyFile,
			"ARCHWAY_LISTEN_TLS_RELOAD_INTERVAL=1ms",
		}
	}
	cfg, err := config.Parse([]byte(yaml), environ)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	dialer := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return bl.DialContext(ctx) })
	gw, err := gateway.New(t.Context(), cfg,
		gateway.WithLogger(slog.New(slog.DiscardHandler)),
		gateway.WithDialOptions(dialer, grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	ln := listenLoopback(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.ServeListeners(ctx, gateway.Listeners{API: ln}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeListeners: %v", err)
		}
	})
	env.addr = ln.Addr().String()
	env.url = "http://" + env.addr
	if withTLS {
		env.url = "https://" + env.addr
	}
	return env
}

// client returns an HTTP client for the env: HTTP/2 over TLS when the env serves TLS.
func (env *edgeEnv) client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{ForceAttemptHTTP2: true, MaxConnsPerHost: 64}
	if env.ca != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: env.ca.Pool()}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// send sends one request with the test API key and returns the status, headers and body.
func (env *edgeEnv) send(t *testing.T, c *http.Client, method, path string, body io.Reader, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, env.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testAPIKey)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// heapAfterGC returns the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// peakHeap samples the live heap every millisecond until stop is called, which returns the
// highest value seen.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-quit:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(quit)
		<-done
		return peak.Load()
	}
}

// patternReader yields n bytes of a JSON string's content ("aaaa...") without holding them.
type patternReader struct{ n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n)]
	for i := range p {
		p[i] = 'a'
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// TestOversizedBodyIs413WithBoundedHeap streams a body 16 times the limit, without a
// Content-Length, and watches the heap while the gateway serves it. Not parallel: it measures
// the process's heap.
func TestOversizedBodyIs413WithBoundedHeap(t *testing.T) {
	const limit = 1 << 20
	env := newEdgeEnv(t, fmt.Sprintf("api: {max_request_body_bytes: %d}\n", limit), &holdUsers{}, false)
	c := env.client(t)
	// Warm up the connection and the pools.
	if code, _, _ := env.send(t, c, "POST", "/v1/users", strings.NewReader(`{"displayName":"x"}`), nil); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("warm-up: %d", code)
	}
	for _, tc := range []struct {
		name          string
		contentLength bool
	}{
		{"chunked", false},
		{"with Content-Length", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const size = 16 * limit
			body := io.MultiReader(strings.NewReader(`{"displayName":"`), &patternReader{n: size}, strings.NewReader(`"}`))
			req, err := http.NewRequestWithContext(t.Context(), "POST", env.url+"/v1/users", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Api-Key", testAPIKey)
			if tc.contentLength {
				req.ContentLength = size + int64(len(`{"displayName":""}`))
			}
			before := heapAfterGC()
			var ms0 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			stop := peakHeap()
			start := time.Now()
			resp, err := c.Do(req)
			var code int
			if err == nil {
				code = resp.StatusCode
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
			elapsed := time.Since(start)
			peak := stop()
			var ms1 runtime.MemStats
			runtime.ReadMemStats(&ms1)
			if err != nil && !tc.contentLength {
				// The server may answer and close before the client has sent everything.
				t.Logf("client: %v", err)
			} else if err != nil {
				t.Fatal(err)
			}
			if err == nil && code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413", code)
			}
			growth := int64(peak) - int64(before)
			allocated := ms1.TotalAlloc - ms0.TotalAlloc
			t.Logf("body %d MiB, limit %d MiB: answered in %v; peak heap growth %.2f MiB; allocated %.2f MiB (client included)",
				size>>20, limit>>20, elapsed.Round(time.Millisecond), float64(growth)/(1<<20), float64(allocated)/(1<<20))
			if growth > 2*limit+limit/2 {
				t.Errorf("heap grew by %d bytes while serving the body, want at most about twice the limit (%d)", growth, 2*limit)
			}
		})
	}
	if n := env.users.calls.Load(); n != 1 {
		t.Errorf("backend calls %d, want only the warm-up", n)
	}
}

func TestHugeHeadersAre431(t *testing.T) {
	t.Parallel()
	env := newEdgeEnv(t, "listen: {max_header_bytes: 8192}\n", &holdUsers{}, false)
	h := http.Header{"X-Padding": {strings.Repeat("p", 64<<10)}}
	code, _, _ := env.send(t, env.client(t), "GET", "/v1/users/ada", nil, h)
	if code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", code)
	}
	if n := env.users.calls.Load(); n != 0 {
		t.Errorf("backend calls %d, want 0", n)
	}
}

// TestDeepJSONIs400Quickly sends bodies nested 1,000 and 500,000 deep (3 MB, under the body
// limit); the gateway stops reading at the depth limit.
func TestDeepJSONIs400Quickly(t *testing.T) {
	t.Parallel()
	env := newEdgeEnv(t, "", &holdUsers{}, false)
	c := env.client(t)
	for _, depth := range []int{1000, 500_000} {
		t.Run(fmt.Sprint(depth), func(t *testing.T) {
			body := `{"displayName":"Ada","address":` + strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth+1)
			start := time.Now()
			code, _, b := env.send(t, c, "POST", "/v1/users", strings.NewReader(body), nil)
			elapsed := time.Since(start)
			t.Logf("%d-deep body (%d bytes): %d in %v", depth, len(body), code, elapsed.Round(time.Microsecond))
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", code, b)
			}
			if !bytes.Contains(b, []byte("deeper than the limit of 100 levels")) {
				t.Errorf("body %s does not explain the limit", b)
			}
			if elapsed > 2*time.Second {
				t.Errorf("took %v; want a quick answer", elapsed)
			}
		})
	}
	if n := env.users.calls.Load(); n != 0 {
		t.Errorf("backend calls %d, want 0", n)
	}
}

// TestSlowlorisIsDisconnected trickles a request's headers one byte at a time: the gateway closes
// the connection at listen.read_header_timeout, long before the headers would be complete.
func TestSlowlorisIsDisconnected(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	env := newEdgeEnv(t, "listen: {read_header_timeout: 300ms}\n", &holdUsers{}, false)
	conn, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	closed := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes the connection
		closed <- time.Since(start)
	}()
	header := "GET /v1/users/ada HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("z", 200)
	for i := 0; i < len(header); i++ {
		select {
		case d := <-closed:
			t.Logf("disconnected after %v, %d header bytes sent", d.Round(time.Millisecond), i)
			// The server's clock starts at accept, a little before this test's: allow 50ms.
			if d < timeout-50*time.Millisecond {
				t.Errorf("disconnected after %v, before the %v timeout", d, timeout)
			}
			return
		default:
		}
		if _, err := conn.Write([]byte{header[i]}); err != nil {
			t.Logf("write failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("still connected after trickling %d header bytes over %v", len(header), time.Since(start))
}

func TestGRPCTimeoutIsCheckedAndCapped(t *testing.T) {
	t.Parallel()
	// The cache off: every read must reach the backend, whose deadline is checked.
	env := newEdgeEnv(t, "api: {max_grpc_timeout: 2s}\npolicy: {defaults: {timeout: 30s}}\ncache: {enabled: false}\n", &holdUsers{}, false)
	c := env.client(t)
	for _, tc := range []struct {
		value  string
		status int
		// maxBudget bounds the deadline the backend sees; 0 when it must not be called.
		maxBudget time.Duration
	}{
		{"500m", http.StatusOK, 500 * time.Millisecond},
		{"10M", http.StatusOK, 2 * time.Second},
		{"2562047H", http.StatusOK, 2 * time.Second},
		{"99999999H", http.StatusBadRequest, 0},
		{"123456789S", http.StatusBadRequest, 0},
		{"18446744073709551616n", http.StatusBadRequest, 0},
		{"-1S", http.StatusBadRequest, 0},
		{"0S", http.StatusBadRequest, 0},
		{"1.5S", http.StatusBadRequest, 0},
		{"soon", http.StatusBadRequest, 0},
	} {
		t.Run(tc.value, func(t *testing.T) {
			before := env.users.calls.Load()
			code, _, b := env.send(t, c, "GET", "/v1/users/ada", nil, http.Header{"Grpc-Timeout": {tc.value}})
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, b)
			}
			called := env.users.calls.Load() != before
			if tc.maxBudget == 0 {
				if called {
					t.Error("the backend was called")
				}
				if !bytes.Contains(b, []byte("Grpc-Timeout")) {
					t.Errorf("body %s does not name the header", b)
				}
				return
			}
			if budget := time.Duration(env.users.budget.Load()); !called || budget <= 0 || budget > tc.maxBudget {
				t.Errorf("backend budget %v (called %v), want at most %v", budget, called, tc.maxBudget)
			}
		})
	}
}

// TestHTTP2RapidReset opens and at once resets many streams on one HTTP/2 connection over TLS
// (CVE-2023-44487). The gateway must keep its goroutines bounded, by the stream limit, and
// recover them all, and keep serving. Not parallel: it counts the process's goroutines.
func TestHTTP2RapidReset(t *testing.T) {
	const streams = 50
	users := &holdUsers{}
	// No rate limit: the streams that reach the handler before their reset would use up the
	// client's budget, and the check after the attack would get 429.
	env := newEdgeEnv(t, fmt.Sprintf("listen: {http2_max_concurrent_streams: %d}\npolicy: {defaults: {rate_limit_class: none}}\n", streams), users, true)
	baseline := runtime.NumGoroutine()

	conn, err := tls.Dial("tcp", env.addr, &tls.Config{RootCAs: env.ca.Pool(), NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN protocol %q, want h2", p)
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	// The server's limit arrives in its first SETTINGS frame; a reader goroutine keeps
	// draining frames so the server never blocks on a full socket, and notes a GOAWAY.
	settings := make(chan uint32, 1)
	var goAway atomic.Bool
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok && !f.IsAck() {
					select {
					case settings <- v:
					default:
					}
				}
			case *http2.GoAwayFrame:
				goAway.Store(true)
			}
		}
	}()
	select {
	case v := <-settings:
		if v != streams {
			t.Errorf("server SETTINGS_MAX_CONCURRENT_STREAMS = %d, want %d", v, streams)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no SETTINGS from the server")
	}

	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	for _, f := range [][2]string{
		{":method", "GET"}, {":scheme", "https"}, {":authority", env.addr}, {":path", "/v1/users/ada"}, {"x-api-key", testAPIKey},
	} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	block := hbuf.Bytes()

	stop := peakGoroutines()
	const attempts = 20000
	sent := 0
	for id := uint32(1); sent < attempts && !goAway.Load(); id += 2 {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
			break
		}
		if err := fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			break
		}
		sent++
	}
	peak := stop()
	_ = conn.Close()
	<-readerDone
	settled := waitGoroutines(baseline+10, 5*time.Second)
	t.Logf("opened and reset %d streams (GOAWAY %v); goroutines: %d before, peak %d, %d after; backend calls %d",
		sent, goAway.Load(), baseline, peak, settled, users.calls.Load())
	if bound := baseline + 4*streams + 50; peak > bound {
		t.Errorf("goroutines peaked at %d, want at most %d (baseline %d + 4 × %d streams + slack)", peak, bound, baseline, streams)
	}
	if settled > baseline+10 {
		t.Errorf("%d goroutines after the connection closed, want about the baseline %d", settled, baseline)
	}
	if code, _, b := env.send(t, env.client(t), "GET", "/v1/users/ada", nil, nil); code != http.StatusOK {
		t.Errorf("after the attack: %d %s", code, b)
	}
}

// peakGoroutines samples the number of goroutines until stop is called, which returns the
// highest value seen.
func peakGoroutines() (stop func() int) {
	var peak atomic.Int64
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if n := int64(runtime.NumGoroutine()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-quit:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	return func() int {
		close(quit)
		<-done
		return int(peak.Load())
	}
}

// waitGoroutines waits until at most n goroutines run, for at most d, and returns the count.
func waitGoroutines(n int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		got := runtime.NumGoroutine()
		if got <= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFloodIsShed fills the in-flight limit with requests the backend holds, then floods the
// gateway: every extra request is answered 503 with Retry-After at once, the heap stays
// bounded, and the held requests complete. Not parallel: it measures the process's heap.
func TestFloodIsShed(t *testing.T) {
	const limit = 8
	users := &holdUsers{hold: make(chan struct{}), entered: make(chan struct{}, limit)}
	// The cache off: it would coalesce the held reads into one backend call.
	env := newEdgeEnv(t, fmt.Sprintf("listen: {max_in_flight_requests: %d}\ncache: {enabled: false}\n", limit), users, false)
	c := env.client(t)
	var held sync.WaitGroup
	heldCodes := make(chan int, limit)
	for range limit {
		held.Go(func() {
			code, _, _ := env.send(t, c, "GET", "/v1/users/ada", nil, nil)
			heldCodes <- code
		})
	}
	for range limit {
		select {
		case <-users.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the held requests did not reach the backend")
		}
	}

	before := heapAfterGC()
	stop := peakHeap()
	const workers, perWorker = 32, 100
	var shed, other atomic.Int64
	var flood sync.WaitGroup
	start := time.Now()
	for range workers {
		flood.Go(func() {
			for range perWorker {
				code, h, b := env.send(t, c, "GET", "/v1/users/ada", nil, nil)
				if code == http.StatusServiceUnavailable && h.Get("Retry-After") == "1" && bytes.Contains(b, []byte(`"code":14`)) {
					shed.Add(1)
				} else {
					other.Add(1)
				}
			}
		})
	}
	flood.Wait()
	elapsed := time.Since(start)
	peak := stop()
	t.Logf("%d requests over the limit of %d: %d shed (503), %d other, in %v; peak heap growth %.2f MiB",
		workers*perWorker, limit, shed.Load(), other.Load(), elapsed.Round(time.Millisecond), float64(int64(peak)-int64(before))/(1<<20))
	if shed.Load() != workers*perWorker {
		t.Errorf("%d of %d flood requests shed, want all (the limit is full)", shed.Load(), workers*perWorker)
	}
	if growth := int64(peak) - int64(before); growth > 64<<20 {
		t.Errorf("heap grew by %d MiB during the flood", growth>>20)
	}
	close(users.hold)
	held.Wait()
	close(heldCodes)
	for code := range heldCodes {
		if code != http.StatusOK {
			t.Errorf("held request: %d, want 200", code)
		}
	}
	if code, _, _ := env.send(t, c, "GET", "/v1/users/ada", nil, nil); code != http.StatusOK {
		t.Errorf("after the flood: %d, want 200", code)
	}
}

// TestHTTPSListener serves the API over TLS: HTTP/2 through ALPN, TLS 1.1 refused, and a
// certificate rewritten on disk served to the next connection without a restart.
func TestHTTPSListener(t *testing.T) {
	t.Parallel()
	env := newEdgeEnv(t, "", &holdUsers{}, true)
	c := env.client(t)
	req, err := http.NewRequestWithContext(t.Context(), "GET", env.url+"/v1/users/ada", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testAPIKey)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("GET over TLS: %d %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	first := resp.TLS.PeerCertificates[0]

	if _, err := tls.Dial("tcp", env.addr, &tls.Config{RootCAs: env.ca.Pool(), MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}); err == nil {
		t.Error("a TLS 1.1 handshake succeeded")
	}

	kp, err := env.ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, _, err := kp.WriteFiles(dir, "server"); err != nil {
		t.Fatal(err)
	}
	// Replace both files by renames, as tools that rotate certificates do.
	for _, f := range [][2]string{{filepath.Join(dir, "server.key"), env.keyFile}, {filepath.Join(dir, "server.crt"), env.certFile}} {
		if err := os.Rename(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := tls.Dial("tcp", env.addr, &tls.Config{RootCAs: env.ca.Pool()})
		if err != nil {
			t.Fatal(err)
		}
		serial := conn.ConnectionState().PeerCertificates[0].SerialNumber
		_ = conn.Close()
		if serial.Cmp(kp.TLS.Leaf.SerialNumber) == 0 {
			break
		}
		if serial.Cmp(first.SerialNumber) != 0 {
			t.Fatalf("served certificate %v is neither the first nor the rotated one", serial)
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was not served within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRedirectListener runs the gateway with the plain-HTTP redirect listener.
func TestRedirectListener(t *testing.T) {
	t.Parallel()
	ca, err := certtest.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := kp.WriteFiles(t.TempDir(), "server")
	if err != nil {
		t.Fatal(err)
	}
	gw := newGateway(t, fmt.Sprintf(`
listen: {address: "127.0.0.1:0", redirect_address: "127.0.0.1:0", redirect_port: 8443, tls: {cert_file: %q, key_file: %q}}
admin: {enabled: false}
`, certFile, keyFile))
	api := listenLoopback(t)
	redirect := listenLoopback(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.ServeListeners(ctx, gateway.Listeners{API: api, Redirect: redirect}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeListeners: %v", err)
		}
	})

	conn, err := net.Dial("tcp", redirect.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := io.WriteString(conn, "POST /v1/users?x=1 HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 2\r\n\r\n{}"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusPermanentRedirect || loc != "https://api.example.com:8443/v1/users?x=1" {
		t.Errorf("redirect: %d to %q", resp.StatusCode, loc)
	}
}
