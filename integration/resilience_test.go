package integration

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// usersGateway renders an archway.yaml whose only backend is users, at instances (a static
// list), with extra appended to the backend's entry and top (whole sections) appended to the
// file. The rate limit is out of reach and the response cache off (GetUser is cached by its
// annotation), so that load tests measure the backends only.
func usersGateway(instances []string, extra, top string) string {
	quoted := make([]string, len(instances))
	for i, a := range instances {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	return `listen: {address: "127.0.0.1:0"}
admin: {enabled: true, address: "127.0.0.1:0"}
log: {format: json, level: info, access_log: false}
readiness: {check_timeout: 500ms}
shutdown: {drain_timeout: 5s}
rate_limit:
  classes:
    default: {requests: 1000000, per: 1s, burst: 1000000}
cache: {enabled: false}
authn:
  api_keys:
    - client_id: tester
      sha256: ` + testAPIKeyHash + `
      scopes: [users.read, users.write, users.admin]
backends:
  - name: users
    addresses: [` + strings.Join(quoted, ", ") + `]
    services: [storefront.users.v1.UserService]
    max_reconnect_backoff: 500ms
` + extra + top
}

// finishedCalls counts the GetUser calls a storefront has logged as finished OK.
func finishedCalls(sf *storefront) int {
	n := 0
	for _, r := range sf.records() {
		if r.str("msg") == "finished call" && r.str("grpc.method") == "GetUser" && r.str("grpc.code") == "OK" {
			n++
		}
	}
	return n
}

// load sends GET requests to url from workers goroutines, each pausing pause between requests,
// until stop is called; stop returns how many were sent and the ones that did not answer 200.
func load(url string, workers int, pause time.Duration) (stop func() (sent int64, failures []string)) {
	var (
		sent     atomic.Int64
		mu       sync.Mutex
		failures []string
	)
	stopWorkers := repeat(workers, pause, func(int) {
		sent.Add(1)
		resp, err := send(http.MethodGet, url, nil, nil)
		if err != nil || resp.code != http.StatusOK {
			mu.Lock()
			if err != nil {
				failures = append(failures, err.Error())
			} else {
				failures = append(failures, resp.String())
			}
			mu.Unlock()
		}
	})
	return func() (int64, []string) {
		stopWorkers()
		return sent.Load(), failures
	}
}

// TestKillingAnInstanceLosesNoIdempotentRequest runs two instances of the users backend under
// steady load, kills one (SIGKILL: no goodbye), then starts it again on the same address. Every
// request is idempotent (GET), so none may fail: calls caught on the dying instance are retried
// on the other, health checks and round robin route around it, and the restarted instance gets
// traffic again.
func TestKillingAnInstanceLosesNoIdempotentRequest(t *testing.T) {
	a := startStorefront(t, []string{"users"}, nil, "")
	b := startStorefront(t, []string{"users"}, nil, "")
	addrA := a.addrs["users"]
	gw := startGatewayConfig(t, usersGateway([]string{addrA, b.addrs["users"]}, "", ""))
	gw.waitReady(t, startTimeout)

	stop := load(gw.api+"/v1/users/ada-lovelace", 4, 5*time.Millisecond)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	if !poll(startTimeout, func() bool { return finishedCalls(a) > 10 && finishedCalls(b) > 10 }) {
		t.Fatalf("load did not reach both instances: a %d, b %d calls", finishedCalls(a), finishedCalls(b))
	}

	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.wait(stopTimeout); !ok {
		t.Fatal("the killed instance did not exit")
	}
	killedAt := time.Now()
	servedByB := finishedCalls(b)
	if !poll(startTimeout, func() bool { return finishedCalls(b) > servedByB+200 }) {
		t.Fatalf("b served %d calls after a was killed, want more than 200", finishedCalls(b)-servedByB)
	}
	aloneFor := time.Since(killedAt)

	restartedAt := time.Now()
	a2 := startStorefront(t, []string{"users"}, map[string]string{"users": addrA}, "")
	if !poll(startTimeout, func() bool { return finishedCalls(a2) > 10 }) {
		t.Fatalf("the restarted instance served %d calls within %v, want more than 10", finishedCalls(a2), startTimeout)
	}
	backIn := time.Since(restartedAt)

	sent, failures := stop()
	stopped = true
	t.Logf("requests sent: %d; failed: %d; b alone for %v (served %d); restarted a served again after %v",
		sent, len(failures), aloneFor.Round(time.Millisecond), finishedCalls(b)-servedByB, backIn.Round(time.Millisecond))
	if len(failures) > 0 {
		t.Errorf("%d of %d idempotent requests failed; first: %s", len(failures), sent, failures[0])
	}
}

// TestHangingBackendFailsAtTheDeadline checks that a route whose backend never answers fails at
// the route's deadline (504), not later, retries included.
func TestHangingBackendFailsAtTheDeadline(t *testing.T) {
	sf := startStorefrontArgs(t, []string{"users"}, nil, "", "-test-faults", "users=hang")
	const timeout = 700 * time.Millisecond
	gw := startGatewayConfig(t, usersGateway([]string{sf.addrs["users"]}, "", `policy:
  routes:
    storefront.users.v1.UserService/GetUser: {timeout: 700ms}
`))
	gw.waitReady(t, startTimeout)
	for i := range 3 {
		start := time.Now()
		resp := gw.do(t, http.MethodGet, "/v1/users/ada-lovelace", "")
		elapsed := time.Since(start)
		expectStatus(t, resp, http.StatusGatewayTimeout, 4)
		t.Logf("request %d: 504 after %v (route timeout %v)", i, elapsed.Round(time.Millisecond), timeout)
		// Wide margins for a busy machine: not before the deadline, and well before a second
		// attempt's deadline would have passed.
		if elapsed < timeout || elapsed > timeout+time.Second {
			t.Errorf("request %d answered after %v, want about %v", i, elapsed, timeout)
		}
	}
}

// injectedFaults counts the calls a storefront failed on purpose.
func injectedFaults(sf *storefront) int {
	n := 0
	for _, r := range sf.records() {
		if r.str("msg") == "injected fault" {
			n++
		}
	}
	return n
}

// TestBreakerOpensFailsFastAndRecovers checks the circuit breaker over real processes: a
// backend failing every call UNAVAILABLE opens it, after which calls fail fast with 503 and
// Retry-After without reaching the backend; once the backend is healthy again, a half-open
// probe closes it.
func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	sf := startStorefrontArgs(t, []string{"users"}, nil, "", "-test-faults", "users=fail:unavailable")
	addr := sf.addrs["users"]
	gw := startGatewayConfig(t, usersGateway([]string{addr},
		"    circuit_breaker: {min_requests: 5, failure_ratio: 0.5, open_timeout: 2s, half_open_requests: 1}\n", ""))
	gw.waitReady(t, startTimeout)

	var opened *response
	tries := 0
	for tries = 1; tries <= 20 && opened == nil; tries++ {
		resp := gw.do(t, http.MethodGet, "/v1/users/ada-lovelace", "")
		expectStatus(t, resp, http.StatusServiceUnavailable, 14)
		if resp.header.Get("Retry-After") != "" {
			opened = resp
		}
	}
	if opened == nil {
		t.Fatal("20 failing requests did not open the breaker")
	}
	if got := opened.header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q, want 2 (the open timeout)", got)
	}
	gw.waitRecord(t, startTimeout, "breaker opened", func(r record) bool {
		return r.str("msg") == "circuit breaker state changed" && r.str("backend") == "users" && r.str("to") == "open"
	})

	faults := injectedFaults(sf)
	start := time.Now()
	const fast = 10
	for range fast {
		resp := gw.do(t, http.MethodGet, "/v1/users/ada-lovelace", "")
		expectStatus(t, resp, http.StatusServiceUnavailable, 14)
		if resp.header.Get("Retry-After") == "" {
			t.Fatalf("%s: no Retry-After while the breaker is open", resp)
		}
	}
	failFast := time.Since(start) / fast
	if got := injectedFaults(sf); got != faults {
		t.Errorf("the backend saw %d calls while the breaker was open, want none", got-faults)
	}
	if failFast > 500*time.Millisecond {
		t.Errorf("refused requests took %v each on average; the open breaker must fail fast", failFast)
	}

	sf.stop(t)
	healed := startStorefront(t, []string{"users"}, map[string]string{"users": addr}, "")
	restarted := time.Now()
	var last *response
	if !poll(startTimeout, func() bool {
		last = gw.do(t, http.MethodGet, "/v1/users/ada-lovelace", "")
		return last.code == http.StatusOK
	}) {
		t.Fatalf("no request succeeded within %v of the backend healing; last: %s", startTimeout, last)
	}
	recovered := time.Since(restarted)
	gw.waitRecord(t, startTimeout, "breaker closed", func(r record) bool {
		return r.str("msg") == "circuit breaker state changed" && r.str("from") == "half-open" && r.str("to") == "closed"
	})
	resp, err := send(http.MethodGet, gw.admin+"/metrics", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if body := string(resp.body); !strings.Contains(body, `archway_backend_breaker_state{backend="users"} 0`) ||
		!strings.Contains(body, `archway_backend_breaker_transitions_total{backend="users",from="closed",to="open"} 1`) {
		t.Errorf("admin /metrics lacks the breaker's state and transitions:\n%s", grepLines(body, "archway_backend_"))
	}
	t.Logf("request %d was the first the open breaker refused; refused requests took %v each; recovered %v after the backend healed (served %d)",
		tries-1, failFast.Round(time.Microsecond), recovered.Round(time.Millisecond), finishedCalls(healed))
}

// grepLines returns the lines of s that contain substr.
func grepLines(s, substr string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
