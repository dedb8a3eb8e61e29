package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/archway-gateway/archway/internal/redistest"
)

// The steady load of TestReplicas: idempotent GETs that miss the cache and are not rate limited
// (replicasConfig exempts them), one per backend that the test kills an instance of.
var replicaLoadPaths = []string{"/v1/users?page_size=2", "/v1/products/sku-aeropress/stock"}

// replicaLoadMethods are the gRPC methods of replicaLoadPaths, as the storefront logs them.
var replicaLoadMethods = []string{"ListUsers", "GetStock"}

const (
	// recoveryTimeout bounds how long the gateways may take to route around a killed instance
	// and to send traffic to a restarted one again: about max_reconnect_backoff (500ms in
	// replicasConfig) plus one health check, documented in docs/backends.md; the bound leaves
	// room for a busy machine.
	recoveryTimeout = 10 * time.Second
	// replicaCalls is how many calls of each load method an instance must serve to count as
	// receiving traffic.
	replicaCalls = 20
)

// replicasConfig renders the archway.yaml of TestReplicas: every backend at both storefronts'
// instances, Redis as the store of the rate limit (the rl* class on GetProduct only) and of the
// cache.
func replicasConfig(a, b map[string]string, redisAddr string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `listen: {address: "127.0.0.1:0"}
admin: {enabled: true, address: "127.0.0.1:0"}
log: {format: json, level: info, access_log: false}
readiness: {check_timeout: 500ms}
shutdown: {drain_timeout: 5s}
authn:
  api_keys:
    - client_id: tester
      sha256: %s
      scopes: [users.read, users.write, users.admin, orders.write, orders.admin, catalog.write]
rate_limit:
  store: redis
  classes:
    default: {requests: %d, per: %s, burst: %d}
cache: {store: redis, debug_header: true}
redis: {address: %q}
policy:
  routes:
    storefront.users.v1.UserService/GetUser: {rate_limit_class: none}
    storefront.users.v1.UserService/ListUsers: {rate_limit_class: none}
    storefront.catalog.v1.CatalogService/GetStock: {rate_limit_class: none}
backends:
`, testAPIKeyHash, rlRequests, rlPer, rlBurst, redisAddr)
	for _, name := range []string{"users", "orders", "catalog"} {
		fmt.Fprintf(&sb, "  - name: %s\n    addresses: [%q, %q]\n    services: [%s]\n    max_reconnect_backoff: 500ms\n",
			name, a[name], b[name], backendServices[name])
	}
	return sb.String()
}

// callCounter counts the calls a storefront logged as finished OK, by method, reading each log
// line once however often it is asked.
type callCounter struct {
	sf     *storefront
	read   int
	counts map[string]int
}

func newCallCounter(sf *storefront) *callCounter {
	return &callCounter{sf: sf, counts: map[string]int{}}
}

// calls returns how many calls of method the storefront has served so far.
func (c *callCounter) calls(method string) int {
	all := c.sf.logs.Lines()
	lines := all[c.read:]
	c.read = len(all)
	for _, l := range lines {
		if !strings.Contains(l, `"finished call"`) {
			continue
		}
		var r record
		if json.Unmarshal([]byte(l), &r) == nil && r.str("grpc.code") == "OK" {
			c.counts[r.str("grpc.method")]++
		}
	}
	return c.counts[method]
}

// servesAll reports whether the storefront has served more than n calls of every load method.
func (c *callCounter) servesAll(n map[string]int, more int) bool {
	for _, m := range replicaLoadMethods {
		if c.calls(m) <= n[m]+more {
			return false
		}
	}
	return true
}

// snapshot returns the current count of every load method.
func (c *callCounter) snapshot() map[string]int {
	out := map[string]int{}
	for _, m := range replicaLoadMethods {
		out[m] = c.calls(m)
	}
	return out
}

// lbTally is what the load balancer of TestReplicas saw.
type lbTally struct {
	sent    atomic.Int64 // requests answered 200 or failed for good
	retried atomic.Int64 // attempts repeated on the next gateway after a connection failed
	perGW   []atomic.Int64
	// cut, once set (Unix nanoseconds), splits the answers in time: afterCut counts, per
	// gateway, the answers to attempts sent after it. An answer received before the cut but
	// counted in perGW just after it (its goroutine was descheduled) is not among them.
	cut      atomic.Int64
	afterCut []atomic.Int64
	mu       sync.Mutex
	failures []string
}

// lbLoad sends the replica load paths, in turn, from workers goroutines pausing pause between
// requests, round-robin over gws as a load balancer would: a request whose connection is
// refused or dropped before any answer (the gateway is gone) is tried on the next gateway, at
// most once per gateway. It runs until stop is called.
func lbLoad(gws []*gateway, workers int, pause time.Duration) (tally *lbTally, stop func()) {
	tally = &lbTally{perGW: make([]atomic.Int64, len(gws)), afterCut: make([]atomic.Int64, len(gws))}
	return tally, repeat(workers, pause, func(n int) {
		tally.one(gws, n, replicaLoadPaths[n%len(replicaLoadPaths)])
	})
}

// one sends one request, starting at gateway n and moving on while connections fail.
func (l *lbTally) one(gws []*gateway, n int, path string) {
	defer l.sent.Add(1)
	var lastErr error
	for try := range len(gws) {
		i := (n + try) % len(gws)
		sentAt := time.Now().UnixNano()
		resp, err := send(http.MethodGet, gws[i].api+path, nil, nil)
		if err == nil {
			if resp.code != http.StatusOK {
				l.fail(resp.String())
				return
			}
			l.perGW[i].Add(1)
			if cut := l.cut.Load(); cut != 0 && sentAt > cut {
				l.afterCut[i].Add(1)
			}
			return
		}
		lastErr = err
		if !gatewayGone(err) {
			break
		}
		l.retried.Add(1)
	}
	l.fail(fmt.Sprintf("GET %s: %v", path, lastErr))
}

func (l *lbTally) fail(what string) {
	l.mu.Lock()
	l.failures = append(l.failures, what)
	l.mu.Unlock()
}

// failed returns the failures so far.
func (l *lbTally) failed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.failures...)
}

// gatewayGone reports whether err says the gateway's process is gone: the connection was
// refused, reset, or closed before an answer. A load balancer retries these on another replica.
func gatewayGone(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// instancesReady returns, from the gateway's /statusz, the state of every instance of every
// backend, by address.
func instancesReady(t *testing.T, g *gateway) map[string]string {
	t.Helper()
	resp, err := send(http.MethodGet, g.admin+"/statusz", nil, nil)
	if err != nil || resp.code != http.StatusOK {
		t.Fatalf("GET /statusz: %v %v", resp, err)
	}
	var st struct {
		Backends []struct {
			Instances []struct {
				Addresses []string `json:"addresses"`
				State     string   `json:"state"`
			} `json:"instances"`
		} `json:"backends"`
	}
	if err := json.Unmarshal(resp.body, &st); err != nil {
		t.Fatalf("GET /statusz: %v", err)
	}
	out := map[string]string{}
	for _, b := range st.Backends {
		for _, in := range b.Instances {
			for _, a := range in.Addresses {
				out[a] = in.State
			}
		}
	}
	return out
}

// TestReplicas runs what issue 9 calls beyond one machine, on loopback: three gateway processes
// sharing one Redis, in front of two instances of every storefront backend (two storefront
// processes), under a steady load spread over the gateways by a client that retries on another
// gateway when one is gone, as a load balancer does. The shared rate limit holds once for the
// three; a response cached through one gateway is served by the others; a killed backend
// instance costs no idempotent request and its traffic moves to the survivor; restarted, it
// gets traffic again; a killed gateway leaves the other two serving.
func TestReplicas(t *testing.T) {
	t.Parallel()
	began := time.Now()
	rd := redistest.Start(t)
	all := []string{"users", "orders", "catalog"}
	sfA := startStorefront(t, all, nil, "")
	sfB := startStorefront(t, all, nil, "")
	cfg := replicasConfig(sfA.addrs, sfB.addrs, rd.Addr())
	gws := startGateways(t, 3, cfg)
	t.Logf("started Redis, 2 storefronts and 3 gateways in %v", time.Since(began).Round(time.Millisecond))

	// A response cached through one gateway is a hit on the others.
	const user = "/v1/users/ada-lovelace"
	first := mustOK(t, gws[0].do(t, http.MethodGet, user, ""))
	if got := first.header.Get("X-Archway-Cache"); got != "MISS" {
		t.Errorf("gateway 0, first read: X-Archway-Cache %q, want MISS", got)
	}
	for i, g := range gws[1:] {
		resp := mustOK(t, g.do(t, http.MethodGet, user, ""))
		if got := resp.header.Get("X-Archway-Cache"); got != "HIT" || string(resp.body) != string(first.body) {
			t.Errorf("gateway %d: X-Archway-Cache %q, body %s; want gateway 0's entry", i+1, got, resp.body)
		}
	}

	// The rate limit holds once for the three gateways.
	burst := runBurst(gws)
	limit := expectedLimit(burst.elapsed)
	checkBurst(t, "rate-limit burst over 3 gateways", burst, limit)

	// Steady load over the three gateways, reaching both instances of each loaded backend.
	a, b := newCallCounter(sfA), newCallCounter(sfB)
	tally, stopLoad := lbLoad(gws, 4, 10*time.Millisecond)
	loadStopped := false
	defer func() {
		if !loadStopped {
			stopLoad()
		}
	}()
	zero := map[string]int{}
	if !poll(startTimeout, func() bool { return a.servesAll(zero, replicaCalls) && b.servesAll(zero, replicaCalls) }) {
		t.Fatalf("the load did not reach both instances: a %v, b %v", a.snapshot(), b.snapshot())
	}

	// Storefront A is killed: every gateway routes around it, B takes the traffic.
	if err := sfA.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, ok := sfA.wait(stopTimeout); !ok {
		t.Fatal("the killed storefront did not exit")
	}
	killedAt := time.Now()
	failedBefore := len(tally.failed())
	bBefore := b.snapshot()
	if !poll(recoveryTimeout, func() bool {
		for _, g := range gws {
			st := instancesReady(t, g)
			for _, s := range all {
				if st[sfA.addrs[s]] == "READY" {
					return false
				}
			}
		}
		return true
	}) {
		t.Fatalf("a gateway still shows the killed instances READY after %v", recoveryTimeout)
	}
	detected := time.Since(killedAt)
	if !poll(recoveryTimeout, func() bool { return b.servesAll(bBefore, 100) }) {
		t.Fatalf("b served %v after a was killed (before: %v), want 100 more of each", b.snapshot(), bBefore)
	}
	failedDuringKill := len(tally.failed()) - failedBefore

	// Storefront A comes back on the same addresses: it gets traffic again.
	restartedAt := time.Now()
	sfA2 := startStorefront(t, all, sfA.addrs, "")
	a2 := newCallCounter(sfA2)
	if !poll(recoveryTimeout, func() bool { return a2.servesAll(zero, replicaCalls) }) {
		t.Fatalf("the restarted storefront served %v within %v, want more than %d of each", a2.snapshot(), recoveryTimeout, replicaCalls)
	}
	backIn := time.Since(restartedAt)

	// A gateway is killed: the other two keep serving.
	perGW := func() []int64 {
		out := make([]int64, len(gws))
		for i := range out {
			out[i] = tally.perGW[i].Load()
		}
		return out
	}
	if err := gws[2].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, ok := gws[2].wait(stopTimeout); !ok {
		t.Fatal("the killed gateway did not exit")
	}
	tally.cut.Store(time.Now().UnixNano())
	servedBefore := perGW()
	sentBefore := tally.sent.Load()
	if !poll(recoveryTimeout, func() bool {
		now := perGW()
		return now[0] > servedBefore[0]+100 && now[1] > servedBefore[1]+100
	}) {
		t.Fatalf("after gateway 2 was killed, gateways 0 and 1 served %v (before %v), want 100 more each", perGW(), servedBefore)
	}
	afterGWKill := tally.sent.Load() - sentBefore
	if late := tally.afterCut[2].Load(); late != 0 {
		t.Errorf("the killed gateway answered %d requests sent after it exited", late)
	}

	stopLoad()
	loadStopped = true
	failures := tally.failed()
	t.Logf("steady load: %d requests over 3 gateways (per gateway %v), %d failed, %d attempts retried on another gateway",
		tally.sent.Load(), perGW(), len(failures), tally.retried.Load())
	t.Logf("rate limit: %d admitted of %d sent, limit %.1f (%+.1f%%)",
		burst.admitted, burstRequests, limit, 100*(float64(burst.admitted)-limit)/limit)
	t.Logf("storefront a killed: every gateway showed its instances not READY after %v; b took the load (%v calls, %v before the kill); %d requests failed",
		detected.Round(time.Millisecond), b.snapshot(), bBefore, failedDuringKill)
	t.Logf("storefront a restarted: served %d+ calls of each load method after %v", replicaCalls, backIn.Round(time.Millisecond))
	t.Logf("gateway 2 killed: %d requests served by the other two since", afterGWKill)
	t.Logf("total wall time %v", time.Since(began).Round(time.Millisecond))
	const maxShown = 5
	for i, f := range failures {
		if i == maxShown {
			t.Errorf("and %d more failures", len(failures)-maxShown)
			break
		}
		t.Errorf("request failed: %s", f)
	}
}
