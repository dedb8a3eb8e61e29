package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/archway-gateway/archway/gateway/cache"
)

// Options configures Run.
type Options struct {
	// Launcher starts the backend and the targets. By default, InProcess.
	Launcher Launcher
	// Nginx launches nginx, pinned like Launcher's children; its Dir must be set. By default,
	// nginx runs unpinned with its files in a temporary folder.
	Nginx *Subprocess
	// Targets and Workloads select by name; by default, all of them.
	Targets, Workloads []string
	// Workers is the concurrency of the maximum-throughput runs. By default, 32.
	Workers int
	// Connections caps the HTTP connections to a target, and so the requests in flight in the
	// latency runs (a request that finds all of them busy waits, and the wait counts in its
	// latency), as wrk2 does. By default, 64; at least Workers.
	Connections int
	// Warmup precedes every measured run. By default, 1s.
	Warmup time.Duration
	// MaxDuration is the length of each maximum-throughput run. By default, 10s.
	MaxDuration time.Duration
	// LatencyDuration is the length of each fixed-rate latency run. By default, 15s.
	LatencyDuration time.Duration
	// LatencyLoad is the fraction of the slowest target's maximum throughput at which
	// latency is measured. By default, 0.5.
	LatencyLoad float64
	// Rounds is how many times each target is measured under each workload, in turns with the
	// other targets; the report gives the median round. By default, 1.
	Rounds int
	// Mode names the run in the report, such as "full" or "quick".
	Mode string
	// Log receives progress lines. By default, discarded.
	Log func(format string, args ...any)
}

func (o *Options) defaults() {
	if o.Launcher == nil {
		o.Launcher = InProcess{}
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.Connections <= 0 {
		o.Connections = 64
	}
	o.Connections = max(o.Connections, o.Workers)
	if o.Warmup <= 0 {
		o.Warmup = time.Second
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = 10 * time.Second
	}
	if o.LatencyDuration <= 0 {
		o.LatencyDuration = 15 * time.Second
	}
	if o.LatencyLoad <= 0 {
		o.LatencyLoad = 0.5
	}
	if o.Rounds <= 0 {
		o.Rounds = 1
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
}

// Run measures every selected target under every selected workload: first each one's
// maximum throughput, then latency at a fixed rate, LatencyLoad times the slowest target's
// maximum for that workload. Each phase makes Rounds rounds, in which every target takes its
// turn under every workload. It returns the report, and an error naming every target that did
// not answer; the report is complete up to that point either way.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts.defaults()
	rep := newReport(opts)
	dir, err := os.MkdirTemp("", "archway-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench.Run: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	nginx := opts.Nginx
	if nginx == nil {
		nginx = &Subprocess{}
	}
	if nginx.Dir == "" {
		nginx.Dir = dir
	}

	for i := range rep.Targets {
		if t := &rep.Targets[i]; t.Skip == "" && len(opts.Targets) > 0 && !slices.Contains(opts.Targets, t.Name) {
			t.Skip = "not selected in this run"
		}
	}
	var active []*WorkloadReport
	for _, w := range rep.Workloads {
		if w.Workload.Skip == "" && len(opts.Workloads) > 0 && !slices.Contains(opts.Workloads, w.Workload.Name) {
			w.Workload.Skip = "not selected in this run"
		}
		if w.Workload.Skip == "" {
			active = append(active, w)
		}
	}
	if len(active) == 0 {
		return nil, errors.New("bench.Run: no workload selected")
	}

	responses, err := cannedResponses(ctx, opts.Launcher, active)
	if err != nil {
		return nil, fmt.Errorf("bench.Run: %w", err)
	}
	h := &harness{opts: opts, nginx: *nginx, responses: responses, dir: dir}
	for _, w := range active {
		h.workloads = append(h.workloads, w.Workload)
	}

	// Every target runs from start to end, each with a backend of its own, so that the runs
	// can take turns: round by round, each workload is measured on every target in a rotating
	// order, and a spell of other work on the machine falls on all of them alike.
	var live []*liveTarget
	defer func() {
		for _, t := range live {
			if err := t.stop(); err != nil {
				opts.Log("stop %s: %v", t.report.Name, err)
			}
		}
	}()
	var failed []string
	fail := func(t *TargetReport, err error) {
		t.Failure = err.Error()
		failed = append(failed, t.Name)
		opts.Log("%s failed: %v", t.Name, err)
	}
	for i := range rep.Targets {
		t := &rep.Targets[i]
		if t.Skip != "" {
			continue
		}
		opts.Log("start: %s", t.Name)
		lt, err := h.startTarget(ctx, t)
		if err != nil {
			fail(t, err)
			continue
		}
		live = append(live, lt)
	}
	// turns returns, for one round, the running targets that support w, in that round's order.
	turns := func(w *WorkloadReport, round int) []*liveTarget {
		var out []*liveTarget
		for i := range live {
			lt := live[(i+round)%len(live)]
			if lt.report.Failure == "" && w.Workload.Unsupported[lt.report.Name] == "" {
				out = append(out, lt)
			}
		}
		return out
	}

	// Phase 1: maximum throughput, closed loop.
	for round := range opts.Rounds {
		opts.Log("max throughput, round %d of %d", round+1, opts.Rounds)
		for _, w := range active {
			for _, lt := range turns(w, round) {
				res, err := ClosedLoop{Workers: opts.Workers, Duration: opts.MaxDuration, Warmup: opts.Warmup}.Run(ctx, lt.doers[w.Workload.Name])
				if err != nil {
					fail(lt.report, err)
					continue
				}
				w.MaxRounds[lt.report.Name] = append(w.MaxRounds[lt.report.Name], res)
				opts.Log("  %-14s %-14s %8.0f req/s, %d errors", w.Workload.Name, lt.report.Name, res.Throughput(), res.Errors)
			}
		}
	}
	for _, w := range active {
		w.settleMax(rep.Targets)
		w.setRate(rep.Targets, opts.LatencyLoad)
	}

	// Phase 2: latency at a fixed rate, open loop.
	for round := range opts.Rounds {
		opts.Log("latency, round %d of %d", round+1, opts.Rounds)
		for _, w := range active {
			if w.Rate <= 0 {
				continue
			}
			for _, lt := range turns(w, round) {
				name := lt.report.Name
				res, err := h.latency(ctx, w.Rate, lt.doers[w.Workload.Name])
				if err != nil {
					fail(lt.report, err)
					continue
				}
				w.LatencyRounds[name] = append(w.LatencyRounds[name], res)
				opts.Log("  %-14s %-14s at %.0f req/s: p50 %v p99 %v max %v, %d errors", w.Workload.Name, name, w.Rate,
					res.Percentile(50), res.Percentile(99), res.Max(), res.Errors)
				if name != TargetGRPC {
					continue
				}
				for _, sc := range w.Workload.SubCalls {
					res, err := h.latency(ctx, w.Rate, lt.doers[subCallKey(w.Workload.Name, sc.Name)])
					if err != nil {
						fail(lt.report, err)
						break
					}
					w.SubCallRounds[sc.Name] = append(w.SubCallRounds[sc.Name], res)
					opts.Log("    %s alone: p50 %v p99 %v", sc.Name, res.Percentile(50), res.Percentile(99))
				}
			}
		}
	}
	for _, w := range active {
		w.settleLatency(rep.Targets)
	}
	rep.Finished = time.Now()
	if len(failed) > 0 {
		return rep, fmt.Errorf("bench.Run: targets that did not answer: %s", strings.Join(failed, ", "))
	}
	return rep, nil
}

// latency warms the target up, then measures do at a fixed rate.
func (h *harness) latency(ctx context.Context, rate float64, do Doer) (*Result, error) {
	if _, err := (ClosedLoop{Workers: 4, Duration: h.opts.Warmup}).Run(ctx, do); err != nil {
		return nil, err
	}
	return OpenLoop{Rate: rate, Duration: h.opts.LatencyDuration, MaxInFlight: h.opts.Connections}.Run(ctx, do)
}

// subCallKey names a sub-call's Doer among the direct target's Doers.
func subCallKey(workload, subCall string) string { return workload + "/" + subCall }

type harness struct {
	opts      Options
	nginx     Subprocess
	workloads []Workload // the selected ones
	responses map[string][]byte
	// dir holds the run's files: the archway-prod target's log.
	dir string
}

// liveTarget is a running target: its Doers and what stops it and its backend.
type liveTarget struct {
	report *TargetReport
	// doers has one Doer per workload the target supports and, for the direct target, one per
	// composite sub-call (subCallKey).
	doers map[string]Doer
	stop  func() error
}

// startTarget starts a target (and the backend behind it) and checks that it answers every
// workload it supports with 200 OK. On error, whatever it started is stopped.
func (h *harness) startTarget(ctx context.Context, t *TargetReport) (lt *liveTarget, err error) {
	target := t.Name
	var stops []func() error
	stopAll := func() error {
		var err error
		for _, stop := range slices.Backward(stops) {
			err = errors.Join(err, stop())
		}
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, stopAll())
		}
	}()
	launch := func(role string, args ServeArgs) (*Serving, error) {
		s, err := h.opts.Launcher.Launch(ctx, role, args)
		if err != nil {
			return nil, err
		}
		stops = append(stops, s.Close)
		return s, nil
	}
	var base string
	doers := make(map[string]Doer)
	switch target {
	case TargetJSON, TargetNginx:
		js, err := launch(RoleJSON, ServeArgs{Responses: h.responses})
		if err != nil {
			return nil, err
		}
		base = js.Addrs[0]
		if target == TargetNginx {
			ng, err := startNginx(ctx, h.nginx, base)
			if err != nil {
				return nil, err
			}
			stops = append(stops, ng.Close)
			base = ng.Addrs[0]
		}
	default:
		backend, err := launch(RoleBackend, ServeArgs{})
		if err != nil {
			return nil, err
		}
		args := ServeArgs{Catalog: backend.Addrs[0], Users: backend.Addrs[1], Orders: backend.Addrs[2]}
		if target == TargetGRPC {
			clients, closeConns, err := dialClients(args)
			if err != nil {
				return nil, err
			}
			stops = append(stops, closeConns)
			for _, w := range h.workloads {
				doers[w.Name] = grpcDoer(clients, w)
				for _, sc := range w.SubCalls {
					doers[subCallKey(w.Name, sc.Name)] = func(ctx context.Context) error { return sc.Call(ctx, clients) }
				}
			}
			break
		}
		role := map[string]string{
			TargetArchway: RoleArchway, TargetArchwayProd: RoleArchwayProd, TargetArchwayCached: RoleArchwayCached,
			TargetGRPCGateway: RoleGRPCGateway, TargetVanguard: RoleVanguard,
		}[target]
		if role == "" {
			return nil, fmt.Errorf("unknown target %q", target)
		}
		if target == TargetArchwayProd {
			args.LogFile = filepath.Join(h.dir, "archway-prod.log")
		}
		proxy, err := launch(role, args)
		if err != nil {
			return nil, err
		}
		base = proxy.Addrs[0]
	}
	if base != "" {
		conns := h.opts.Connections
		transport := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
		stops = append(stops, func() error { transport.CloseIdleConnections(); return nil })
		client := &http.Client{Transport: transport}
		var header http.Header
		if target == TargetArchwayProd {
			header = http.Header{"X-Api-Key": {ProdAPIKey}}
		}
		for _, w := range h.workloads {
			if w.Unsupported[target] != "" {
				continue
			}
			doers[w.Name] = httpDoer(client, "http://"+base, w, header)
			if header != nil {
				// The production chain must be on: without the key, every route refuses.
				if err := probeRefused(ctx, httpDoer(client, "http://"+base, w, nil)); err != nil {
					return nil, fmt.Errorf("%s: %w", w.Name, err)
				}
			}
		}
	}
	for name, do := range doers {
		if err := probe(ctx, do); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if target == TargetArchwayCached {
		// The response cache must be on: after the probes, every read is a hit.
		for _, w := range h.workloads {
			if w.Unsupported[target] != "" {
				continue
			}
			if err := probeCacheHit(ctx, "http://"+base, w); err != nil {
				return nil, fmt.Errorf("%s: %w", w.Name, err)
			}
		}
	}
	return &liveTarget{report: t, doers: doers, stop: stopAll}, nil
}

// probe checks that a target answers, retrying briefly while connections come up.
func probe(ctx context.Context, do Doer) error {
	var err error
	for range 20 {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = do(pctx)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("target did not answer: %w", err)
}

// probeRefused checks that a target refuses a request sent without credentials with 401.
func probeRefused(ctx context.Context, do Doer) error {
	var err error
	for range 20 {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = do(pctx)
		cancel()
		var status *StatusError
		if errors.As(err, &status) {
			if status.Code == http.StatusUnauthorized {
				return nil
			}
			return fmt.Errorf("without credentials: %w, want HTTP 401", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("target did not answer without credentials: %w", err)
}

// probeCacheHit checks that a target answers w's request from its response cache: the cache's
// debug header (cache.HeaderDebug) says HIT.
func probeCacheHit(ctx context.Context, base string, w Workload) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, w.Method, base+w.Path, http.NoBody)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if how := resp.Header.Get(cache.HeaderDebug); resp.StatusCode != http.StatusOK || how != "HIT" {
		return fmt.Errorf("HTTP %d with %s %q, want 200 from the response cache (HIT)", resp.StatusCode, cache.HeaderDebug, how)
	}
	return nil
}

func dialClients(args ServeArgs) (Clients, func() error, error) {
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())
	catalogConn, err := grpc.NewClient(args.Catalog, creds)
	if err != nil {
		return Clients{}, nil, err
	}
	usersConn, err := grpc.NewClient(args.Users, creds)
	if err != nil {
		_ = catalogConn.Close()
		return Clients{}, nil, err
	}
	ordersConn, err := grpc.NewClient(args.Orders, creds)
	if err != nil {
		_ = errors.Join(catalogConn.Close(), usersConn.Close())
		return Clients{}, nil, err
	}
	closeConns := func() error { return errors.Join(catalogConn.Close(), usersConn.Close(), ordersConn.Close()) }
	return NewClients(catalogConn, usersConn, ordersConn), closeConns, nil
}

// cannedResponses asks a backend for every workload's response once and returns them as the
// JSON a gateway would send, keyed as the JSON server looks them up.
func cannedResponses(ctx context.Context, l Launcher, workloads []*WorkloadReport) (map[string][]byte, error) {
	backend, err := l.Launch(ctx, RoleBackend, ServeArgs{})
	if err != nil {
		return nil, err
	}
	defer func() { _ = backend.Close() }()
	clients, closeConns, err := dialClients(ServeArgs{Catalog: backend.Addrs[0], Users: backend.Addrs[1], Orders: backend.Addrs[2]})
	if err != nil {
		return nil, err
	}
	defer func() { _ = closeConns() }()
	out := make(map[string][]byte)
	for _, w := range workloads {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg, err := w.Workload.Call(cctx, clients)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("canned response for %s: %w", w.Workload.Name, err)
		}
		data, err := protojson.Marshal(msg)
		if err != nil {
			return nil, err
		}
		out[w.Workload.Method+" "+w.Workload.Path] = data
		w.ResponseBytes = len(data)
	}
	return out, nil
}

// machine describes the host for the report.
func machine() (cores int, cpu string) {
	// runtime.NumCPU counts the CPUs this process may use, which pinning narrows; the
	// machine's count is in /proc/cpuinfo.
	cores, cpu = runtime.NumCPU(), "unknown"
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return cores, cpu
	}
	processors := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		key, value, _ := strings.Cut(line, ":")
		switch strings.TrimSpace(key) {
		case "processor":
			processors++
		case "model name":
			cpu = strings.TrimSpace(value)
		}
	}
	return max(cores, processors), cpu
}
