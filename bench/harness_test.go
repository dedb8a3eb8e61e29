package bench_test

import (
	"bytes"
	"os"
	"path/filepath"
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
	composite := rep.Workloads[3]
	if composite.Workload.Name != "composite" {
		t.Fatalf("fourth workload is %q, want composite", composite.Workload.Name)
	}
	for _, sc := range composite.Workload.SubCalls {
		if res := composite.SubCalls[sc.Name]; res == nil || res.Sent == 0 || res.Errors != 0 {
			t.Errorf("composite sub-call %s alone: %+v, want requests and no errors", sc.Name, res)
		}
	}
	if _, _, ok := composite.SlowestSubCall(); !ok {
		t.Error("composite: SlowestSubCall found none")
	}
	cached := rep.Workloads[4]
	if cached.Workload.Name != bench.CachedWorkload || cached.Workload.Skip != "" {
		t.Fatalf("fifth workload is %q (skip %q), want %s run", cached.Workload.Name, cached.Workload.Skip, bench.CachedWorkload)
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

func TestRunSelection(t *testing.T) {
	rep, err := bench.Run(t.Context(), bench.Options{
		Targets:         []string{bench.TargetArchway},
		Workloads:       []string{"small-get"},
		Workers:         2,
		Warmup:          10 * time.Millisecond,
		MaxDuration:     50 * time.Millisecond,
		LatencyDuration: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, target := range rep.Targets {
		ran := target.Skip == ""
		if ran != (target.Name == bench.TargetArchway) {
			t.Errorf("%s: skip %q", target.Name, target.Skip)
		}
	}
	for _, w := range rep.Workloads {
		if ran := len(w.Max) > 0; ran != (w.Workload.Name == "small-get") {
			t.Errorf("%s ran: %v", w.Workload.Name, ran)
		}
	}
	if _, err := bench.Run(t.Context(), bench.Options{Workloads: []string{"nope"}}); err == nil {
		t.Error("Run with no known workload: no error")
	}
}
