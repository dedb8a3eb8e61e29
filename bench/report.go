package bench

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of Run.
type Report struct {
	Started, Finished time.Time
	// Mode, Cores, CPU, GoVersion and Pinning describe the run and the machine.
	Mode      string
	Cores     int
	CPU       string
	GoVersion string
	Pinning   string
	// Options are the settings the run used.
	Options Options
	// Targets are all targets in report order; skipped ones carry Skip, failed ones Failure.
	Targets []TargetReport
	// Workloads are all workloads in report order.
	Workloads []*WorkloadReport
}

// TargetReport is a target and what became of it.
type TargetReport struct {
	Target
	// Failure is why the target failed during the run; empty when it answered throughout.
	Failure string
}

// WorkloadReport holds one workload's results, keyed by target name.
type WorkloadReport struct {
	Workload Workload
	// ResponseBytes is the size of the JSON response.
	ResponseBytes int
	// MaxRounds holds every round's closed-loop (maximum throughput) result, by target, and
	// Max the median round's.
	MaxRounds map[string][]*Result
	Max       map[string]*Result
	// Rate is the fixed rate of the latency runs, and RateFrom the target whose maximum set it.
	Rate     float64
	RateFrom string
	// LatencyRounds holds every round's open-loop result at Rate, by target, and Latency the
	// round with the median p99.
	LatencyRounds map[string][]*Result
	Latency       map[string]*Result
	// SubCallRounds and SubCalls hold, for a composite, the open-loop results at Rate of each
	// of its backend calls made alone over gRPC, keyed by sub-call name: every round's, and
	// the round with the median p99.
	SubCallRounds map[string][]*Result
	SubCalls      map[string]*Result
}

// settleMax picks each target's median round by throughput.
func (w *WorkloadReport) settleMax(targets []TargetReport) {
	for _, t := range targets {
		if rounds := w.MaxRounds[t.Name]; len(rounds) > 0 {
			w.Max[t.Name] = medianBy(rounds, (*Result).Throughput)
		}
	}
}

// settleLatency picks each target's, and each sub-call's, median round by p99.
func (w *WorkloadReport) settleLatency(targets []TargetReport) {
	p99 := func(r *Result) float64 { return float64(r.Percentile(99)) }
	for _, t := range targets {
		if rounds := w.LatencyRounds[t.Name]; len(rounds) > 0 {
			w.Latency[t.Name] = medianBy(rounds, p99)
		}
	}
	for name, rounds := range w.SubCallRounds {
		w.SubCalls[name] = medianBy(rounds, p99)
	}
}

// medianBy returns the element with the median key (the lower middle one of an even count).
func medianBy[T any](xs []T, key func(T) float64) T {
	sorted := slices.Clone(xs)
	slices.SortStableFunc(sorted, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return sorted[(len(sorted)-1)/2]
}

// ThroughputRatio returns target's maximum throughput over ref's: the median, lowest and
// highest of the ratios of the rounds both ran, round by round, so that a spell of other work
// on the machine, which slows the targets measured during it, moves one round's ratio and not
// the median. ok is false unless both ran and ref served some requests in every round.
func (w *WorkloadReport) ThroughputRatio(target, ref string) (median, lowest, highest float64, ok bool) {
	a, b := w.MaxRounds[target], w.MaxRounds[ref]
	n := min(len(a), len(b))
	if n == 0 {
		return 0, 0, 0, false
	}
	ratios := make([]float64, n)
	for i := range n {
		if b[i].Throughput() <= 0 {
			return 0, 0, 0, false
		}
		ratios[i] = a[i].Throughput() / b[i].Throughput()
	}
	slices.Sort(ratios)
	return ratios[(n-1)/2], ratios[0], ratios[n-1], true
}

// SlowestSubCall returns the sub-call with the highest p99 and its result; ok is false when
// no sub-call was measured.
func (w *WorkloadReport) SlowestSubCall() (name string, res *Result, ok bool) {
	for _, sc := range w.Workload.SubCalls {
		r, found := w.SubCalls[sc.Name]
		if found && (res == nil || r.Percentile(99) > res.Percentile(99)) {
			name, res = sc.Name, r
		}
	}
	return name, res, res != nil
}

func newReport(opts Options) *Report {
	cores, cpu := machine()
	rep := &Report{
		Started:   time.Now(),
		Mode:      opts.Mode,
		Cores:     cores,
		CPU:       cpu,
		GoVersion: runtime.Version(),
		Pinning:   opts.Launcher.Pinning(),
		Options:   opts,
	}
	for _, t := range Targets() {
		rep.Targets = append(rep.Targets, TargetReport{Target: t})
	}
	for _, w := range Workloads() {
		rep.Workloads = append(rep.Workloads, &WorkloadReport{
			Workload:  w,
			MaxRounds: map[string][]*Result{}, Max: map[string]*Result{},
			LatencyRounds: map[string][]*Result{}, Latency: map[string]*Result{},
			SubCallRounds: map[string][]*Result{}, SubCalls: map[string]*Result{},
		})
	}
	return rep
}

// ProdChainBudget is the share of the chain-off throughput that the production chain may cost,
// by the benchmark issue's target.
const ProdChainBudget = 0.15

// ProdChainKept returns archway-prod's maximum throughput over archway's (the chain off) in the
// same run, the median of the rounds' ratios; ok is false unless both ran and the chain off
// served some requests.
func (w *WorkloadReport) ProdChainKept() (kept float64, ok bool) {
	kept, _, _, ok = w.ThroughputRatio(TargetArchwayProd, TargetArchway)
	return kept, ok
}

// setRate picks the latency runs' rate: load times the lowest maximum throughput among the
// targets that ran.
func (w *WorkloadReport) setRate(targets []TargetReport, load float64) {
	lowest := math.Inf(1)
	for _, t := range targets {
		if r, ok := w.Max[t.Name]; ok && t.Failure == "" && r.Throughput() < lowest {
			lowest, w.RateFrom = r.Throughput(), t.Name
		}
	}
	if !math.IsInf(lowest, 1) {
		w.Rate = math.Floor(lowest * load)
	}
}

// Answered reports whether every target that was not skipped answered throughout the run.
func (r *Report) Answered() bool {
	for _, t := range r.Targets {
		if t.Skip == "" && t.Failure != "" {
			return false
		}
	}
	return true
}

// percentiles are the latency percentiles the report shows.
var percentiles = []struct {
	label string
	p     float64
}{{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}}

// WriteMarkdown writes the report as markdown; charts names the PNG chart of each workload
// (by workload name), linked when present.
func (r *Report) WriteMarkdown(out io.Writer, charts map[string]string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Archway benchmark, %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- Mode: %s (closed loop: %d workers, %v warm-up, %v per run; latency: open loop at %.0f%% of the slowest target's maximum, "+
		"%v per run, at most %d HTTP connections and requests in flight)\n",
		r.Mode, r.Options.Workers, r.Options.Warmup, r.Options.MaxDuration, r.Options.LatencyLoad*100, r.Options.LatencyDuration, r.Options.Connections)
	fmt.Fprintf(&b, "- Rounds: %d; %s\n", r.Options.Rounds, roundsNote(r.Options.Rounds))
	fmt.Fprintf(&b, "- Machine: %d cores (%s), %s, %s/%s\n", r.Cores, r.CPU, r.GoVersion, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "- CPU budget: %s\n", r.Pinning)
	fmt.Fprintf(&b, "- Duration: %v\n\n", r.Finished.Sub(r.Started).Round(time.Second))

	b.WriteString("## Targets\n\n| Target | What runs | Status |\n|---|---|---|\n")
	for _, t := range r.Targets {
		status := "ran"
		switch {
		case t.Skip != "":
			status = "skipped: " + t.Skip
		case t.Failure != "":
			status = "FAILED: " + oneLine(t.Failure)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Name, t.Description, status)
	}
	b.WriteString("\n## Workloads\n\n| Workload | Request | Response | Status |\n|---|---|---|---|\n")
	for _, w := range r.Workloads {
		if w.Workload.Skip != "" {
			fmt.Fprintf(&b, "| %s | | | skipped: %s |\n", w.Workload.Name, w.Workload.Skip)
			continue
		}
		fmt.Fprintf(&b, "| %s | `%s %s` — %s | %d B | ran |\n", w.Workload.Name, w.Workload.Method, w.Workload.Path, w.Workload.Description, w.ResponseBytes)
	}
	b.WriteString("\nRatios are to Archway in this run: throughput ×Archway above 1 is faster than Archway, " +
		"latency ×Archway below 1 is faster. json-direct and nginx serve canned JSON and do not call the backend, " +
		"so they are the reference for pure proxy overhead, not peers of the translating targets.\n")
	for _, w := range r.Workloads {
		if w.Workload.Skip != "" {
			continue
		}
		r.writeWorkload(&b, w, charts[w.Workload.Name])
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func (r *Report) writeWorkload(b *strings.Builder, w *WorkloadReport, chart string) {
	fmt.Fprintf(b, "\n## %s\n\n### Maximum throughput (closed loop, %d workers)\n\n", w.Workload.Name, r.Options.Workers)
	rounds := r.Options.Rounds > 1
	if rounds {
		b.WriteString("| Target | req/s | ×Archway | ×Archway, rounds' range | errors |\n|---|--:|--:|--:|--:|\n")
	} else {
		b.WriteString("| Target | req/s | ×Archway | errors |\n|---|--:|--:|--:|\n")
	}
	for _, t := range r.Targets {
		res, ok := w.Max[t.Name]
		if !ok {
			continue
		}
		ratio, spread := "—", "—"
		if median, lowest, highest, ok := w.ThroughputRatio(t.Name, TargetArchway); ok {
			ratio, spread = fmt.Sprintf("%.2f", median), fmt.Sprintf("%.2f–%.2f", lowest, highest)
		}
		if rounds {
			fmt.Fprintf(b, "| %s | %.0f | %s | %s | %d |\n", t.Name, res.Throughput(), ratio, spread, res.Errors)
		} else {
			fmt.Fprintf(b, "| %s | %.0f | %s | %d |\n", t.Name, res.Throughput(), ratio, res.Errors)
		}
	}
	if kept, ok := w.ProdChainKept(); ok {
		fmt.Fprintf(b, "\nThe production chain (archway-prod) keeps %.0f%% of Archway's throughput with the chain off: it costs %.0f%% (the target: at most %.0f%%).\n",
			kept*100, (1-kept)*100, ProdChainBudget*100)
	}
	for _, t := range r.Targets {
		if why := w.Workload.Unsupported[t.Name]; why != "" && t.Skip == "" {
			fmt.Fprintf(b, "\n%s: skipped for this workload: %s.\n", t.Name, why)
		}
	}
	if w.Rate <= 0 {
		return
	}
	fmt.Fprintf(b, "\n### Latency at %.0f req/s (open loop, %.0f%% of %s's maximum)\n\n", w.Rate, r.Options.LatencyLoad*100, w.RateFrom)
	b.WriteString("| Target | p50 | p90 | p99 | p99.9 | max | achieved req/s | errors | p50 ×Archway | p99 ×Archway | p99 over gRPC |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	ref := w.Latency[TargetArchway]
	floor := w.Latency[TargetGRPC]
	for _, t := range r.Targets {
		res, ok := w.Latency[t.Name]
		if !ok {
			continue
		}
		fmt.Fprintf(b, "| %s |", t.Name)
		for _, p := range percentiles {
			fmt.Fprintf(b, " %s |", ms(res.Percentile(p.p)))
		}
		fmt.Fprintf(b, " %s | %.0f | %d | %s | %s |", ms(res.Max()), res.Throughput(), res.Errors,
			latencyRatio(res, ref, 50), latencyRatio(res, ref, 99))
		if floor != nil && t.Translates {
			fmt.Fprintf(b, " %s |\n", ms(res.Percentile(99)-floor.Percentile(99)))
		} else {
			b.WriteString(" — |\n")
		}
		if res.FirstError != nil {
			fmt.Fprintf(b, "| | first error: %s |||||||||\n", oneLine(res.FirstError.Error()))
		}
	}
	r.writeSubCalls(b, w)
	if chart != "" {
		fmt.Fprintf(b, "\n![latency percentiles, %s](%s)\n", w.Workload.Name, chart)
	}
}

// writeSubCalls sets a composite's latency next to its backend calls' latency, each measured
// alone over gRPC at the same rate in the same run.
func (r *Report) writeSubCalls(b *strings.Builder, w *WorkloadReport) {
	slowest, worst, ok := w.SlowestSubCall()
	if !ok {
		return
	}
	fmt.Fprintf(b, "\n#### Sub-calls alone, direct gRPC at %.0f req/s\n\n", w.Rate)
	b.WriteString("| Sub-call | p50 | p90 | p99 | p99.9 | max | errors |\n|---|--:|--:|--:|--:|--:|--:|\n")
	for _, sc := range w.Workload.SubCalls {
		res, found := w.SubCalls[sc.Name]
		if !found {
			continue
		}
		fmt.Fprintf(b, "| %s |", sc.Name)
		for _, p := range percentiles {
			fmt.Fprintf(b, " %s |", ms(res.Percentile(p.p)))
		}
		fmt.Fprintf(b, " %s | %d |\n", ms(res.Max()), res.Errors)
	}
	if res, found := w.Latency[TargetArchway]; found {
		fmt.Fprintf(b, "\nArchway's composite p99 is %s; its slowest sub-call alone, %s, has p99 %s: %s over it.\n",
			ms(res.Percentile(99)), slowest, ms(worst.Percentile(99)), ms(res.Percentile(99)-worst.Percentile(99)))
	}
	if res, found := w.Latency[TargetArchwayProd]; found {
		fmt.Fprintf(b, "With the production chain, its p99 is %s: %s over the slowest sub-call.\n",
			ms(res.Percentile(99)), ms(res.Percentile(99)-worst.Percentile(99)))
	}
	if w.Workload.Rounds > 1 {
		fmt.Fprintf(b, "This composite makes its calls in %d rounds, one waiting for another's answer, so its p99 holds "+
			"%d sub-call latencies: its floor is the same calls made directly over gRPC, the grpc-direct row above "+
			"(the p99 over gRPC column), not the slowest sub-call alone.\n", w.Workload.Rounds, w.Workload.Rounds)
	}
}

// roundsNote says what the report's figures are, given the number of rounds.
func roundsNote(rounds int) string {
	if rounds <= 1 {
		return "every target measured once per workload and phase."
	}
	return "every target measured that many times per workload and phase, in turns with the others " +
		"(the order rotates each round). A target's req/s is its median round; ×Archway is the median of the " +
		"rounds' ratios, each from two runs minutes apart at most; latencies are from the round with the median p99."
}

func latencyRatio(res, ref *Result, p float64) string {
	if ref == nil || ref.Percentile(p) <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", float64(res.Percentile(p))/float64(ref.Percentile(p)))
}

// ms formats d in milliseconds with three decimals, the resolution the histogram keeps.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", "/")
}

// Summary is the report's figures in a form for scripts (results.json).
type Summary struct {
	Mode      string            `json:"mode"`
	Rounds    int               `json:"rounds"`
	Cores     int               `json:"cores"`
	CPU       string            `json:"cpu"`
	GoVersion string            `json:"go_version"`
	Pinning   string            `json:"pinning"`
	Answered  bool              `json:"all_targets_answered"`
	Targets   []TargetSummary   `json:"targets"`
	Workloads []WorkloadSummary `json:"workloads"`
}

// TargetSummary is one target's status.
type TargetSummary struct {
	Name    string `json:"name"`
	Skip    string `json:"skipped,omitempty"`
	Failure string `json:"failure,omitempty"`
}

// WorkloadSummary is one workload's figures by target.
type WorkloadSummary struct {
	Name          string                `json:"name"`
	Skip          string                `json:"skipped,omitempty"`
	ResponseBytes int                   `json:"response_bytes,omitempty"`
	Rate          float64               `json:"latency_rate,omitempty"`
	Results       map[string]RunSummary `json:"results,omitempty"`
	// Unsupported maps the targets that cannot serve the workload to the reason.
	Unsupported map[string]string `json:"unsupported,omitempty"`
	// SubCalls are a composite's backend calls measured alone over gRPC, by name.
	SubCalls map[string]RunSummary `json:"sub_calls,omitempty"`
	// ProdChainKept is archway-prod's maximum throughput over archway's, when both ran.
	ProdChainKept float64 `json:"prod_chain_throughput_kept,omitempty"`
}

// RunSummary is one target's figures under one workload; latencies are in milliseconds.
type RunSummary struct {
	MaxThroughput float64 `json:"max_rps"`
	// MaxRounds is every round's maximum throughput, in the order of the rounds.
	MaxRounds []float64 `json:"max_rps_rounds,omitempty"`
	// RatioToArchway is the median of the rounds' throughput ratios to archway.
	RatioToArchway float64            `json:"max_ratio_to_archway,omitempty"`
	MaxErrors      int64              `json:"max_errors"`
	Latency        map[string]float64 `json:"latency_ms,omitempty"`
	Achieved       float64            `json:"latency_achieved_rps,omitempty"`
	LatencyErrors  int64              `json:"latency_errors"`
}

// Summary returns the report's figures.
func (r *Report) Summary() Summary {
	s := Summary{Mode: r.Mode, Rounds: r.Options.Rounds, Cores: r.Cores, CPU: r.CPU, GoVersion: r.GoVersion, Pinning: r.Pinning, Answered: r.Answered()}
	for _, t := range r.Targets {
		s.Targets = append(s.Targets, TargetSummary{Name: t.Name, Skip: t.Skip, Failure: t.Failure})
	}
	for _, w := range r.Workloads {
		ws := WorkloadSummary{Name: w.Workload.Name, Skip: w.Workload.Skip, ResponseBytes: w.ResponseBytes, Rate: w.Rate,
			Unsupported: w.Workload.Unsupported}
		ws.ProdChainKept, _ = w.ProdChainKept()
		for name, l := range w.SubCalls {
			if ws.SubCalls == nil {
				ws.SubCalls = make(map[string]RunSummary)
			}
			ws.SubCalls[name] = RunSummary{Latency: latencySummary(l), Achieved: l.Throughput(), LatencyErrors: l.Errors}
		}
		for name, m := range w.Max {
			if ws.Results == nil {
				ws.Results = make(map[string]RunSummary)
			}
			rs := RunSummary{MaxThroughput: m.Throughput(), MaxErrors: m.Errors}
			for _, round := range w.MaxRounds[name] {
				rs.MaxRounds = append(rs.MaxRounds, round.Throughput())
			}
			rs.RatioToArchway, _, _, _ = w.ThroughputRatio(name, TargetArchway)
			if l, ok := w.Latency[name]; ok {
				rs.Latency = latencySummary(l)
				rs.Achieved, rs.LatencyErrors = l.Throughput(), l.Errors
			}
			ws.Results[name] = rs
		}
		s.Workloads = append(s.Workloads, ws)
	}
	return s
}

// latencySummary is a latency run's percentiles and maximum in milliseconds.
func latencySummary(l *Result) map[string]float64 {
	m := map[string]float64{"max": float64(l.Max()) / float64(time.Millisecond)}
	for _, p := range percentiles {
		m[p.label] = float64(l.Percentile(p.p)) / float64(time.Millisecond)
	}
	return m
}
