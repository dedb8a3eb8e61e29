package bench_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/archway-gateway/archway/bench"
)

// A short run of every target that can run here, in-process, checks that each one answers every
// workload and that the report is rendered. It asserts nothing about speed.
func TestRunEndToEnd(t *testing.T) {
	rep, err := bench.Run(t.Context(), bench.Options{
		Workers:         4,
		Warmup:          20 * time.Millisecond,
		MaxDuration:     150 * time.Millisecond,
		LatencyDuration: 200 * time.Millisecond,
		Mode:            "test",
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !rep.Answered() {
		t.Fatal("Answered() = false with no error")
	}
	for _, w := range rep.Workloads {
		if w.Workload.Skip != "" {
			continue
		}
		if w.Rate <= 0 {
			t.Errorf("%s: no latency rate", w.Workload.Name)
		}
		for _, target := range rep.Targets {
			if target.Skip != "" {
				continue
			}
			if w.Workload.Unsupported[target.Name] != "" {
				if _, ran := w.Max[target.Name]; ran {
					t.Errorf("%s ran on %s, which cannot serve it", w.Workload.Name, target.Name)
				}
				continue
			}
			if m := w.Max[target.Name]; m == nil || m.Sent == 0 || m.Errors != 0 {
				t.Errorf("%s on %s: max-throughput run %+v, want requests and no errors", w.Workload.Name, target.Name, m)
			}
			if l := w.Latency[target.Name]; l == nil || l.Sent == 0 {
				t.Errorf("%s on %s: no latency run", w.Workload.Name, target.Name)
			}
		}
	}
	if got := rep.Workloads[2].ResponseBytes; got < 12<<10 || got > 20<<10 {
		t.Errorf("list-16k response is %d bytes, want about 16 KB", got)
	}
	for i, name := range []string{"composite", "composite-page"} {
		composite := rep.Workloads[3+i]
		if composite.Workload.Name != name {
			t.Fatalf("workload %d is %q, want %s", 3+i, composite.Workload.Name, name)
		}
		for _, sc := range composite.Workload.SubCalls {
			if res := composite.SubCalls[sc.Name]; res == nil || res.Sent == 0 || res.Errors != 0 {
				t.Errorf("%s sub-call %s alone: %+v, want requests and no errors", name, sc.Name, res)
			}
		}
		if _, _, ok := composite.SlowestSubCall(); !ok {
			t.Errorf("%s: SlowestSubCall found none", name)
		}
	}
	cached := rep.Workloads[5]
	if cached.Workload.Name != bench.CachedWorkload || cached.Workload.Skip != "" {
		t.Fatalf("sixth workload is %q (skip %q), want %s run", cached.Workload.Name, cached.Workload.Skip, bench.CachedWorkload)
	}
	for _, w := range rep.Workloads {
		_, ran := w.Max[bench.TargetArchwayCached]
		if want := w.Workload.Name == bench.CachedWorkload; ran != want {
			t.Errorf("archway-cached ran %s: %v, want %v", w.Workload.Name, ran, want)
		}
	}

	dir := t.TempDir()
	charts, err := rep.WriteCharts(dir)
	if err != nil {
		t.Fatalf("WriteCharts: %v", err)
	}
	for _, name := range charts {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.HasPrefix(data, []byte("\x89PNG")) {
			t.Errorf("chart %s is not a PNG (%v)", name, err)
		}
	}
	var md strings.Builder
	if err := rep.WriteMarkdown(&md, charts); err != nil {
		t.Fatalf("WriteMarkdown: %v", err)
	}
	for _, want := range []string{
		"cores", "go1.", "| archway | ", "| 1.00 |", "| archway-prod | ",
		"The production chain (archway-prod) keeps ", "With the production chain, its p99 is ",
		"archway-cached: skipped for this workload: it runs only cached-get", "## cached-get", "| archway-cached | ",
		"archway-prod: skipped for this workload: its response cache is off",
		"grpc-gateway: skipped for this workload: a composite is served by the gateway itself",
		"#### Sub-calls alone, direct gRPC at ", "| UserService.GetUser |", "Archway's composite p99 is ",
		"This composite makes its calls in 2 rounds", "| CatalogService.GetStock |",
		"### Latency at ", "![latency percentiles, small-get](latency-small-get.png)",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
	s := rep.Summary()
	if !s.Answered || len(s.Workloads) != len(rep.Workloads) {
		t.Errorf("Summary() = %+v", s)
	}
	for i, w := range rep.Workloads {
		kept, ok := w.ProdChainKept()
		if ran := w.Workload.Skip == "" && w.Workload.Unsupported[bench.TargetArchwayProd] == ""; ok != ran || s.Workloads[i].ProdChainKept != kept || (ran && kept <= 0) {
			t.Errorf("%s: ProdChainKept() = %v, %v; summary %v", w.Workload.Name, kept, ok, s.Workloads[i].ProdChainKept)
		}
	}
}

// A run of two selected targets in three rounds measures each of them three times per phase,
// and reports the median round and the rounds' ratios.
func TestRunSelectionInRounds(t *testing.T) {
	selected := []string{bench.TargetArchway, bench.TargetGRPCGateway}
	rep, err := bench.Run(t.Context(), bench.Options{
		Targets:         selected,
		Workloads:       []string{"small-get"},
		Workers:         2,
		Warmup:          10 * time.Millisecond,
		MaxDuration:     50 * time.Millisecond,
		LatencyDuration: 50 * time.Millisecond,
		Rounds:          3,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, target := range rep.Targets {
		ran := target.Skip == ""
		if ran != slices.Contains(selected, target.Name) {
			t.Errorf("%s: skip %q", target.Name, target.Skip)
		}
	}
	for _, w := range rep.Workloads {
		if ran := len(w.Max) > 0; ran != (w.Workload.Name == "small-get") {
			t.Errorf("%s ran: %v", w.Workload.Name, ran)
		}
	}
	w := rep.Workloads[0]
	for _, name := range selected {
		if n, m := len(w.MaxRounds[name]), len(w.LatencyRounds[name]); n != 3 || m != 3 {
			t.Errorf("%s: %d throughput and %d latency rounds, want 3 each", name, n, m)
		}
		if !slices.Contains(w.MaxRounds[name], w.Max[name]) || !slices.Contains(w.LatencyRounds[name], w.Latency[name]) {
			t.Errorf("%s: the reported results are not among its rounds", name)
		}
	}
	median, lowest, highest, ok := w.ThroughputRatio(bench.TargetGRPCGateway, bench.TargetArchway)
	if !ok || median <= 0 || lowest > median || median > highest {
		t.Errorf("ThroughputRatio = %v, %v, %v, %v", median, lowest, highest, ok)
	}
	if median, lowest, highest, ok := w.ThroughputRatio(bench.TargetArchway, bench.TargetArchway); !ok || median != 1 || lowest != 1 || highest != 1 {
		t.Errorf("archway over itself = %v, %v, %v, %v, want 1", median, lowest, highest, ok)
	}
	var md strings.Builder
	if err := rep.WriteMarkdown(&md, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "- Rounds: 3;") || !strings.Contains(md.String(), "×Archway, rounds' range") {
		t.Errorf("report does not show the rounds:\n%s", md.String())
	}
	if got := rep.Summary().Workloads[0].Results[bench.TargetGRPCGateway]; len(got.MaxRounds) != 3 || got.RatioToArchway != median {
		t.Errorf("summary of grpc-gateway: %+v", got)
	}
	if _, err := bench.Run(t.Context(), bench.Options{Workloads: []string{"nope"}}); err == nil {
		t.Error("Run with no known workload: no error")
	}
}
