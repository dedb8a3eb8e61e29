package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/archway-gateway/archway/internal/redistest"
)

// The rate-limit class every gateway of TestRateLimitRedis shares: a bucket of rlBurst requests
// that refills at rlRequests per rlPer, so slowly that a burst meets a limit of about rlBurst.
const (
	rlRequests = 60
	rlPer      = 60 * time.Second
	rlBurst    = 100
	// rlPolicy is the RateLimit-Policy field the class gives.
	rlPolicy = "60;w=60;burst=100"
	// rlPath is a route of the class "default": GetProduct names no class of its own.
	rlPath = "/v1/products/sku-aeropress"
	// burstRequests and burstWorkers shape one burst: many more requests than the limit,
	// sent by concurrent clients round-robin over the gateways.
	burstRequests = 600
	burstWorkers  = 12
	// rlTolerance is how far, as a fraction of the limit, the admitted total may stray from it.
	rlTolerance = 0.05
	// storeTimeout bounds how long a gateway may take to notice Redis going away or coming back;
	// the Redis client probes a failed server about once a second.
	storeTimeout = 10 * time.Second
	// outageRequests is how many requests each gateway gets once it has noticed the outage.
	outageRequests = 5
)

// The messages the limiter logs when its store starts failing and when it recovers.
const (
	msgStoreFailed    = "rate-limit store failed"
	msgStoreRecovered = "rate-limit store recovered: limiting again"
)

// TestRateLimitRedis runs three gateway processes that share one Redis server and one rate-limit
// class, for each on_store_error mode: a burst spread over the three must be admitted about once
// per the class's limit, not once per gateway; stopping Redis must make them fail open or closed
// as configured; restarting it must make them limit again.
func TestRateLimitRedis(t *testing.T) {
	t.Parallel()
	sf := startStorefront(t, []string{"users", "orders", "catalog"}, nil, "")
	for _, mode := range []string{"fail_open", "fail_closed"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			testSharedLimit(t, sf.addrs, mode)
		})
	}
}

// testSharedLimit runs one Redis server and three gateways in front of the backends at addrs,
// with on_store_error set to mode, through a burst, a Redis outage and a Redis restart.
func testSharedLimit(t *testing.T, addrs map[string]string, mode string) {
	rd := redistest.Start(t)
	cfg := gatewayConfig(addrs) + fmt.Sprintf(`rate_limit:
  store: redis
  on_store_error: %s
  classes:
    default: {requests: %d, per: %s, burst: %d}
redis: {address: %q}
`, mode, rlRequests, rlPer, rlBurst, rd.Addr())
	gws := startGateways(t, 3, cfg)

	// One limit for the three: the burst is admitted about rlBurst times, not three times that.
	first := runBurst(gws)
	checkBurst(t, "first burst", first, expectedLimit(first.elapsed))
	var allowed, limited float64
	for _, g := range gws {
		allowed += metricValue(t, g, `archway_ratelimit_decisions_total{class="default",decision="allowed"}`)
		limited += metricValue(t, g, `archway_ratelimit_decisions_total{class="default",decision="limited"}`)
	}
	if int(allowed) != first.admitted || int(limited) != first.limited {
		t.Errorf("the gateways count %v allowed and %v limited decisions; their clients saw %d and %d",
			allowed, limited, first.admitted, first.limited)
	}

	// Redis goes away: every gateway answers as its mode says, logs that once, and counts it.
	rd.Stop()
	outage := outageCheck(mode)
	decision := strings.ReplaceAll(mode, "fail_", "failed_")
	for i, g := range gws {
		var last *response
		if !poll(storeTimeout, func() bool {
			last = mustSend(t, g, rlPath)
			return outage(last) == nil
		}) {
			t.Fatalf("gateway %d: no %s answer within %v of Redis stopping; last: %s", i, mode, storeTimeout, last)
		}
		for range outageRequests {
			if err := outage(mustSend(t, g, rlPath)); err != nil {
				t.Errorf("gateway %d, Redis stopped, %s: %v", i, mode, err)
			}
		}
		g.waitRecord(t, startTimeout, "about the failing store", func(r record) bool {
			return strings.HasPrefix(r.str("msg"), msgStoreFailed)
		})
		if n := countRecords(g, msgStoreFailed); n != 1 {
			t.Errorf("gateway %d: %d records %q, want 1 however many requests fail", i, n, msgStoreFailed)
		}
		errs := metricValue(t, g, "archway_ratelimit_store_errors_total")
		failed := metricValue(t, g, `archway_ratelimit_decisions_total{class="default",decision="`+decision+`"}`)
		if errs < outageRequests+1 || failed != errs {
			t.Errorf("gateway %d: archway_ratelimit_store_errors_total %v and %s decisions %v after at least %d failed requests; want them equal and at least that",
				i, errs, decision, failed, outageRequests+1)
		}
	}
	t.Logf("%s: Redis stopped: every gateway answered as %s", mode, mode)

	// Redis comes back, empty: limiting resumes from full buckets, once for the three.
	start := time.Now()
	rd.Restart()
	resumed := burstResult{}
	for i, g := range gws {
		var last *response
		if !poll(storeTimeout, func() bool {
			last = mustSend(t, g, rlPath)
			if last.code == http.StatusOK && last.header.Get("RateLimit-Limit") != "" {
				resumed.admitted++
				return true
			}
			return false
		}) {
			t.Fatalf("gateway %d: not limiting again within %v of Redis restarting; last: %s", i, storeTimeout, last)
		}
	}
	probes := resumed.admitted
	second := runBurst(gws)
	resumed.add(second)
	resumed.elapsed = time.Since(start)
	if second.limited == 0 {
		t.Errorf("second burst: no 429 among %d requests after Redis restarted", burstRequests)
	}
	checkBurst(t, fmt.Sprintf("after the restart (%d probes and a burst)", probes), resumed, expectedLimit(resumed.elapsed))
	for i, g := range gws {
		g.waitRecord(t, startTimeout, "about the store recovering", func(r record) bool {
			return r.str("msg") == msgStoreRecovered
		})
		if n := countRecords(g, msgStoreRecovered); n != 1 {
			t.Errorf("gateway %d: %d records %q, want 1", i, n, msgStoreRecovered)
		}
	}
}

// burstResult tallies the answers to a burst.
type burstResult struct {
	admitted, limited int           // 200s with RateLimit fields; 429s
	problems          []string      // what was wrong with other answers, and with malformed ones
	elapsed           time.Duration // from the first request sent to the last answer read
}

// add adds the answers of o to r.
func (r *burstResult) add(o burstResult) {
	r.admitted += o.admitted
	r.limited += o.limited
	r.problems = append(r.problems, o.problems...)
}

// runBurst sends burstRequests requests for rlPath from burstWorkers concurrent clients,
// round-robin over gws, and checks every answer.
func runBurst(gws []*gateway) burstResult {
	var (
		next      atomic.Int64
		wg        sync.WaitGroup
		responses = make([]*response, burstRequests)
		errs      = make([]error, burstRequests)
	)
	start := time.Now()
	for range burstWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= burstRequests {
					return
				}
				responses[i], errs[i] = send(http.MethodGet, gws[i%len(gws)].api+rlPath, nil, nil)
			}
		})
	}
	wg.Wait()
	res := burstResult{elapsed: time.Since(start)}
	for i, resp := range responses {
		if errs[i] != nil {
			res.problems = append(res.problems, fmt.Sprintf("request %d: %v", i, errs[i]))
			continue
		}
		var err error
		switch resp.code {
		case http.StatusOK:
			res.admitted++
			err = checkAdmitted(resp)
		case http.StatusTooManyRequests:
			res.limited++
			err = checkLimited(resp)
		default:
			err = fmt.Errorf("%s: want 200 or 429", resp)
		}
		if err != nil {
			res.problems = append(res.problems, err.Error())
		}
	}
	return res
}

// expectedLimit is how many requests the class admits from full over elapsed: the burst, plus
// what refills meanwhile.
func expectedLimit(elapsed time.Duration) float64 {
	return rlBurst + float64(rlRequests)*elapsed.Seconds()/rlPer.Seconds()
}

// checkBurst fails the test unless every answer of res was well formed and the admitted total
// is within rlTolerance of limit.
func checkBurst(t *testing.T, what string, res burstResult, limit float64) {
	t.Helper()
	t.Logf("%s: %d admitted, %d limited in %v; limit %.1f (burst %d + refill)",
		what, res.admitted, res.limited, res.elapsed.Round(time.Millisecond), limit, rlBurst)
	const maxShown = 5
	for i, p := range res.problems {
		if i == maxShown {
			t.Errorf("%s: and %d more problems", what, len(res.problems)-maxShown)
			break
		}
		t.Errorf("%s: %s", what, p)
	}
	if math.Abs(float64(res.admitted)-limit) > rlTolerance*limit {
		t.Errorf("%s: %d requests admitted, want %.1f ± %.0f%%", what, res.admitted, limit, rlTolerance*100)
	}
}

// checkAdmitted checks that an admitted answer carries the class's RateLimit fields.
func checkAdmitted(resp *response) error {
	if err := checkRateLimitFields(resp); err != nil {
		return err
	}
	if rem, err := strconv.Atoi(resp.header.Get("RateLimit-Remaining")); err != nil || rem < 0 || rem >= rlBurst {
		return fmt.Errorf("%s: RateLimit-Remaining %q, want 0 to %d", resp, resp.header.Get("RateLimit-Remaining"), rlBurst-1)
	}
	return nil
}

// checkLimited checks that a 429 carries the RateLimit fields, a Retry-After of at least one
// second and a RESOURCE_EXHAUSTED google.rpc.Status with a RetryInfo detail that agrees with it.
func checkLimited(resp *response) error {
	if err := checkRateLimitFields(resp); err != nil {
		return err
	}
	if rem := resp.header.Get("RateLimit-Remaining"); rem != "0" {
		return fmt.Errorf("%s: RateLimit-Remaining %q, want 0", resp, rem)
	}
	retry, err := strconv.Atoi(resp.header.Get("Retry-After"))
	if err != nil || retry < 1 {
		return fmt.Errorf("%s: Retry-After %q, want whole seconds, at least 1", resp, resp.header.Get("Retry-After"))
	}
	st, err := decodeStatus(resp, 8)
	if err != nil {
		return err
	}
	if !strings.Contains(st.GetMessage(), `"default"`) {
		return fmt.Errorf("%s: the message does not name the class", resp)
	}
	for _, d := range st.GetDetails() {
		ri := new(errdetails.RetryInfo)
		if d.MessageIs(ri) {
			if err := d.UnmarshalTo(ri); err != nil {
				return fmt.Errorf("%s: RetryInfo: %w", resp, err)
			}
			if got := ri.GetRetryDelay().AsDuration(); got != time.Duration(retry)*time.Second {
				return fmt.Errorf("%s: RetryInfo delay %v, Retry-After %d", resp, got, retry)
			}
			return nil
		}
	}
	return fmt.Errorf("%s: no google.rpc.RetryInfo detail", resp)
}

// checkRateLimitFields checks the RateLimit fields that every answer of a working limiter
// carries.
func checkRateLimitFields(resp *response) error {
	h := resp.header
	if got := h.Get("RateLimit-Limit"); got != strconv.Itoa(rlBurst) {
		return fmt.Errorf("%s: RateLimit-Limit %q, want %d", resp, got, rlBurst)
	}
	if got := h.Get("RateLimit-Policy"); got != rlPolicy {
		return fmt.Errorf("%s: RateLimit-Policy %q, want %q", resp, got, rlPolicy)
	}
	if reset, err := strconv.Atoi(h.Get("RateLimit-Reset")); err != nil || reset < 0 || reset > int(rlPer/time.Second)*rlBurst/rlRequests {
		return fmt.Errorf("%s: RateLimit-Reset %q, want whole seconds up to a full refill", resp, h.Get("RateLimit-Reset"))
	}
	return nil
}

// noRateLimitFields checks that resp carries none of the RateLimit fields.
func noRateLimitFields(resp *response) error {
	for _, k := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"} {
		if v := resp.header.Get(k); v != "" {
			return fmt.Errorf("%s: %s %q while the store is down", resp, k, v)
		}
	}
	return nil
}

// decodeStatus decodes resp's google.rpc.Status body and checks its code and message.
func decodeStatus(resp *response, code int32) (*spb.Status, error) {
	if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil, fmt.Errorf("%s: Content-Type %q, want application/json", resp, ct)
	}
	st := new(spb.Status)
	if err := protojson.Unmarshal(resp.body, st); err != nil {
		return nil, fmt.Errorf("%s: body is not a google.rpc.Status: %w", resp, err)
	}
	if st.GetCode() != code || st.GetMessage() == "" {
		return nil, fmt.Errorf("%s: want status code %d with a message", resp, code)
	}
	return st, nil
}

// outageCheck returns the check of an answer while the store is down, in mode: fail_open lets
// the request through, unlimited; fail_closed refuses it with 503 UNAVAILABLE and Retry-After 1.
func outageCheck(mode string) func(*response) error {
	if mode == "fail_open" {
		return func(resp *response) error {
			if resp.code != http.StatusOK {
				return fmt.Errorf("%s: want 200, let through", resp)
			}
			return noRateLimitFields(resp)
		}
	}
	return func(resp *response) error {
		if resp.code != http.StatusServiceUnavailable {
			return fmt.Errorf("%s: want 503", resp)
		}
		if ra := resp.header.Get("Retry-After"); ra != "1" {
			return fmt.Errorf("%s: Retry-After %q, want 1", resp, ra)
		}
		if _, err := decodeStatus(resp, 14); err != nil {
			return err
		}
		return noRateLimitFields(resp)
	}
}

// mustSend sends GET path to the gateway's API listener, failing the test when no answer comes.
func mustSend(t *testing.T, g *gateway, path string) *response {
	t.Helper()
	resp, err := send(http.MethodGet, g.api+path, nil, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp
}

// countRecords counts the gateway's log records whose message starts with msg.
func countRecords(g *gateway, msg string) int {
	n := 0
	for _, r := range g.records() {
		if strings.HasPrefix(r.str("msg"), msg) {
			n++
		}
	}
	return n
}

// metricValue reads the gateway's admin /metrics and returns the value of the sample series
// (the metric name with its labels, as the text format writes them), 0 when there is none.
func metricValue(t *testing.T, g *gateway, series string) float64 {
	t.Helper()
	resp, err := send(http.MethodGet, g.admin+"/metrics", nil, nil)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	if resp.code != http.StatusOK {
		t.Fatalf("%s: want HTTP 200", resp)
	}
	sc := bufio.NewScanner(bytes.NewReader(resp.body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || name != series {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("GET /metrics: %s: %v", sc.Text(), err)
		}
		return v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return 0
}
