// Command archway-bench runs Archway's load harness (package bench) and writes the report.
//
//	archway-bench -out results/DIR [-quick] [-rounds N] [-targets a,b] [-workloads x,y] [-pin auto|off]
//	archway-bench serve -role ROLE ...   (internal: one target process, started by the harness)
//
// With -pin auto (the default) on a machine with at least two CPUs and taskset installed, the
// load generator runs on the first half of the CPUs and the targets with their backend on the
// second half, each target process with GOMAXPROCS set to that half's size.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/archway-gateway/archway/bench"
)

// pinnedEnv carries the targets' CPU list to the load generator re-executed under taskset.
const pinnedEnv = "ARCHWAY_BENCH_TARGET_CPUS"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		err = serve(ctx, os.Args[2:], os.Stdout)
	} else {
		err = run(ctx, os.Args[1:], os.Stderr)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "archway-bench:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("archway-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "folder to write report.md, results.json and the charts into (required)")
	quick := fs.Bool("quick", false, "short runs for a smoke test (make bench-quick)")
	targets := fs.String("targets", "", "comma-separated targets to run; all by default")
	workloads := fs.String("workloads", "", "comma-separated workloads to run; all by default")
	pin := fs.String("pin", "auto", "auto: pin the load generator and the targets to separate CPUs with taskset; off: no pinning")
	workers := fs.Int("workers", 32, "concurrency of the maximum-throughput runs")
	rounds := fs.Int("rounds", 0, "times each target is measured under each workload, in turns with the others; by default 3, or 1 with -quick")
	profiles := fs.String("cpuprofile", "", "folder to write a CPU profile of each target process into (ROLE-N.pprof); none by default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-out is required and no arguments are taken")
	}
	if *pin != "auto" && *pin != "off" {
		return fmt.Errorf("-pin must be auto or off, not %q", *pin)
	}
	targetCPUs := os.Getenv(pinnedEnv)
	if *pin == "auto" && targetCPUs == "" {
		if err := reexecPinned(); err != nil {
			_, _ = fmt.Fprintln(stderr, "archway-bench: running unpinned:", err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "archway-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	procs := 0
	if targetCPUs != "" {
		procs = len(strings.Split(targetCPUs, ","))
	}
	if *profiles != "" {
		if *profiles, err = filepath.Abs(*profiles); err != nil {
			return err
		}
		if err := os.MkdirAll(*profiles, 0o755); err != nil {
			return err
		}
	}
	launcher := bench.Subprocess{Exe: exe, CPUs: targetCPUs, Procs: procs, Dir: tmp, ProfileDir: *profiles}
	opts := bench.Options{
		Launcher:  launcher,
		Nginx:     &launcher,
		Targets:   split(*targets),
		Workloads: split(*workloads),
		Workers:   *workers,
		Mode:      "full",
		// Three rounds of shorter runs rather than one long run per target: the report's
		// ratios are then medians of runs made close together.
		Rounds:          3,
		MaxDuration:     4 * time.Second,
		LatencyDuration: 6 * time.Second,
		Log: func(format string, args ...any) {
			_, _ = fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
		},
	}
	if *quick {
		opts.Mode = "quick"
		opts.Rounds, opts.Warmup, opts.MaxDuration, opts.LatencyDuration = 1, 300*time.Millisecond, 1500*time.Millisecond, 2*time.Second
	}
	if *rounds > 0 {
		opts.Rounds = *rounds
	}
	rep, runErr := bench.Run(ctx, opts)
	if rep == nil {
		return runErr
	}
	if err := write(rep, *out); err != nil {
		return errors.Join(runErr, err)
	}
	_, _ = fmt.Fprintf(stderr, "report: %s\n", filepath.Join(*out, "report.md"))
	return runErr
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// write saves report.md, the charts and results.json (the figures, for scripts) into dir.
func write(rep *bench.Report, dir string) error {
	charts, err := rep.WriteCharts(dir)
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "report.md"))
	if err != nil {
		return err
	}
	if err := rep.WriteMarkdown(f, charts); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rep.Summary(), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), data, 0o644)
}

// reexecPinned replaces the process with itself under taskset on the first half of the
// allowed CPUs, passing the second half to the targets in pinnedEnv. It returns only when it
// cannot pin.
func reexecPinned() error {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return errors.New("taskset is not installed")
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return fmt.Errorf("read CPU affinity: %w", err)
	}
	var cpus []string
	for i := range 1024 {
		if set.IsSet(i) {
			cpus = append(cpus, strconv.Itoa(i))
		}
	}
	if len(cpus) < 2 {
		return fmt.Errorf("only %d CPU available", len(cpus))
	}
	half := len(cpus) / 2
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	argv := append([]string{"taskset", "-c", strings.Join(cpus[:half], ","), exe}, os.Args[1:]...)
	env := append(os.Environ(), pinnedEnv+"="+strings.Join(cpus[half:], ","))
	return syscall.Exec(taskset, argv, env)
}

// serve runs one role until it is signalled, printing "ready ADDR..." on stdout once it
// accepts connections.
func serve(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("archway-bench serve", flag.ContinueOnError)
	role := fs.String("role", "", "backend, archway, archway-prod, archway-cached, grpc-gateway, vanguard or json")
	catalog := fs.String("catalog", "", "the backend's catalog address")
	users := fs.String("users", "", "the backend's users address")
	orders := fs.String("orders", "", "the backend's orders address")
	responses := fs.String("responses", "", "JSON file of the json role's canned responses")
	logFile := fs.String("log", "", "file the archway-prod role writes its logs (the access log among them) into")
	cpuProfile := fs.String("cpuprofile", "", "file to write a CPU profile of this process into, until it stops")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	sa := bench.ServeArgs{Catalog: *catalog, Users: *users, Orders: *orders, LogFile: *logFile}
	if *responses != "" {
		data, err := os.ReadFile(*responses)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &sa.Responses); err != nil {
			return fmt.Errorf("%s: %w", *responses, err)
		}
	}
	s, err := bench.Serve(ctx, *role, sa)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, "ready", strings.Join(s.Addrs, " ")); err != nil {
		return errors.Join(err, s.Close())
	}
	<-ctx.Done()
	return s.Close()
}
