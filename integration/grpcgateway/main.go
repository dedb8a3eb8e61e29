// Command grpcgateway runs grpc-gateway's own example integration suite against Archway.
//
// The suite (examples/internal/integration of the grpc-gateway module that go.mod pins, about a
// hundred tests) is taken at run time from the Go module cache; nothing of it is kept in this
// repository. The command:
//
//  1. copies the suite, the example gRPC server, the example protos and their generated handlers
//     and clients into a temporary module, with the import paths rewritten from grpc-gateway's
//     module to the temporary one, so that Go's internal rule holds in the copy;
//  2. replaces the example gateway package (examples/internal/gateway) with testdata/shim, whose
//     Run serves an Archway gateway (gateway.New with gateway.WithService for every example
//     service) instead of a bare grpc-gateway mux, and adds the files of testdata/suite to the
//     suite: a transport that sends the tests' fixed ports to the gateways the shim started, and
//     Archway's own tests of what the suite cannot see (authentication on every binding,
//     response metadata on errors);
//  3. builds the test binary once and runs it once per configuration named with -config (a
//     file of testdata/configs, without its .yaml), the gRPC server on a Unix socket;
//  4. compares each configuration's failures with expected-failures.txt, where every failure
//     that Archway's design explains is listed with its reason, and prints them.
//
// A test whose gateway needs a grpc-gateway mux option that Archway does not offer cannot run;
// it is listed as such. The command exits non-zero when a test fails that the list does not
// explain, or when a listed test passes (the list must stay true).
//
// With -control it runs the unmodified suite against the bare grpc-gateway mux instead, as a
// control.
//
// The suite listens on fixed ports (9090, 8088, 8089…), some on every interface. Where the
// machine allows it (`unshare` and `ip`, as on CI), the test binary runs in a network namespace
// of its own with only a loopback interface, so the ports are private to the run.
//
// Run it from the repository root:
//
//	go run ./integration/grpcgateway -config defaults -config grpc-gateway
//	go run ./integration/grpcgateway -control
//
// `make test` runs it after the Go tests, and CI through it.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// suiteModule is the module the suite is taken from; tempModule is the path of its copy.
const (
	suiteModule = "github.com/grpc-ecosystem/grpc-gateway/v2"
	tempModule  = "archway.test/grpcgateway"
	harnessDir  = "integration/grpcgateway"
)

// isolated are the suite's tests that hang, rather than fail, when the gateway answers a request
// without calling the backend: they wait on a channel, with no timeout, for the example server
// to receive the call. Each runs alone, after the others, under isolatedTimeout.
var isolated = []string{"TestExcessBody"}

const isolatedTimeout = "30s"

// copied are the folders of the module that the suite needs, below examples/internal.
var copied = []string{"integration", "server", "proto", "clients", "gateway"}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "grpcgateway:", err)
		os.Exit(1)
	}
}

// listFlag collects the values of a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string, out io.Writer) error {
	fset := flag.NewFlagSet("grpcgateway", flag.ContinueOnError)
	var configs listFlag
	fset.Var(&configs, "config", "a configuration of testdata/configs to run the suite in (repeatable)")
	control := fset.Bool("control", false, "run the unmodified suite against the bare grpc-gateway mux")
	dir := fset.String("dir", "", "prepare the copy in this folder and keep it; a copy already there is refreshed and rebuilt (by default a temporary folder, removed at the end)")
	runRE := fset.String("run", "", "run only the tests that match this regular expression (-test.run)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if !*control && len(configs) == 0 {
		return errors.New("name at least one -config, or -control")
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	expected, err := readExpected(filepath.Join(root, harnessDir, "expected-failures.txt"))
	if err != nil {
		return err
	}
	tmp := *dir
	if tmp == "" {
		if tmp, err = os.MkdirTemp("", "archway-ggsuite-"); err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(tmp) }()
	} else if tmp, err = filepath.Abs(tmp); err != nil {
		return err
	}
	start := time.Now()
	bin, err := prepare(root, tmp, *control)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(out, "suite prepared and built in %s\n", time.Since(start).Round(time.Second))
	isolate(out)
	if *control {
		res, err := runSuite(bin, tmp, "", *runRE, nil)
		if err != nil {
			return err
		}
		_, _ = fmt.Fprintf(out, "control (bare grpc-gateway mux): %s\n", res.summary())
		for _, name := range res.failed() {
			_, _ = fmt.Fprintf(out, "  FAIL %s\n", name)
		}
		if len(res.failed()) > 0 {
			return errors.New("the control run failed")
		}
		return nil
	}
	bad := 0
	for _, name := range configs {
		cfgPath := filepath.Join(root, harnessDir, "testdata", "configs", name+".yaml")
		if _, err := os.Stat(cfgPath); err != nil {
			return err
		}
		sock := filepath.Join(tmp, name+".sock")
		res, err := runSuite(bin, tmp, sock, *runRE, []string{"GGSUITE_CONFIG=" + cfgPath})
		if err != nil {
			return err
		}
		bad += report(out, name, res, expected[name], *runRE != "")
	}
	if bad > 0 {
		return fmt.Errorf("%d results differ from expected-failures.txt", bad)
	}
	return nil
}

// prepare copies the suite into tmp as its own module, with the shim in place of the example
// gateway unless control is set, and builds the test binary. The copy's go.mod and go.sum are
// written once: a copy that has them is only refreshed.
func prepare(root, tmp string, control bool) (string, error) {
	dir, err := goOutput(root, nil, "list", "-m", "-f", "{{.Dir}}", suiteModule)
	if err != nil {
		return "", err
	}
	if dir == "" {
		return "", fmt.Errorf("%s is not in the module cache: run go mod download", suiteModule)
	}
	src := filepath.Join(dir, "examples", "internal")
	dst := filepath.Join(tmp, "examples", "internal")
	if err := os.RemoveAll(filepath.Join(tmp, "examples")); err != nil {
		return "", err
	}
	for _, d := range copied {
		if d == "gateway" && !control {
			continue
		}
		if err := copyTree(filepath.Join(src, d), filepath.Join(dst, d), d == "integration"); err != nil {
			return "", err
		}
	}
	if !control {
		if err := copyTree(filepath.Join(root, harnessDir, "testdata", "shim"), filepath.Join(dst, "gateway"), true); err != nil {
			return "", err
		}
		if err := copyTree(filepath.Join(root, harnessDir, "testdata", "suite"), filepath.Join(dst, "integration"), true); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "go.sum")); err == nil {
		// A copy prepared before: its module is tidy already.
		return build(tmp)
	}
	gomod := "module " + tempModule + "\n\ngo 1.26.0\n\nrequire (\n" +
		"\tgithub.com/archway-gateway/archway v0.0.0-00010101000000-000000000000\n" +
		"\t" + suiteModule + " " + filepath.Base(dir)[strings.LastIndex(filepath.Base(dir), "@")+1:] + "\n)\n\n" +
		"replace github.com/archway-gateway/archway => " + root + "\n"
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte(gomod), 0o644); err != nil {
		return "", err
	}
	// The go.sum files of Archway and of grpc-gateway hold nearly every checksum the copy
	// needs; go mod tidy adds the few others (the suite's own test dependencies).
	var sums []byte
	for _, f := range []string{filepath.Join(root, "go.sum"), filepath.Join(dir, "go.sum")} {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		sums = append(sums, b...)
	}
	if err := os.WriteFile(filepath.Join(tmp, "go.sum"), sums, 0o644); err != nil {
		return "", err
	}
	if _, err := goOutput(tmp, nil, "mod", "tidy"); err != nil {
		return "", err
	}
	return build(tmp)
}

// build builds the suite's test binary in the copy at tmp.
func build(tmp string) (string, error) {
	bin := filepath.Join(tmp, "suite.test")
	if _, err := goOutput(tmp, nil, "test", "-c", "-o", bin, "./examples/internal/integration"); err != nil {
		return "", err
	}
	return bin, nil
}

// copyTree copies the regular files of src to dst, rewriting the suite's import paths in Go
// files; with flat it copies src's own files only, not its sub-folders.
func copyTree(src, dst string, flat bool) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if flat && rel != "." {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".go") {
			b = rewriteImports(b)
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// rewriteImports moves the imports of the suite's example packages to the temporary module.
func rewriteImports(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte(`"`+suiteModule+`/examples/`), []byte(`"`+tempModule+`/examples/`))
}

// goOutput runs the go command in dir and returns its trimmed standard output; on failure the
// error carries its standard error.
func goOutput(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(b)), nil
}

// results are the outcomes of one run, by test name (subtests as "Parent/Sub").
type results struct {
	outcome map[string]string // "pass", "fail" or "skip"
	output  map[string]string
	parents map[string]bool
}

// leaves returns the names of the tests that have no subtests, sorted.
func (r *results) leaves() []string {
	var names []string
	for name := range r.outcome {
		if !r.parents[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func (r *results) failed() []string {
	var names []string
	for _, name := range r.leaves() {
		if r.outcome[name] == "fail" {
			names = append(names, name)
		}
	}
	return names
}

func (r *results) summary() string {
	n := map[string]int{}
	for _, name := range r.leaves() {
		n[r.outcome[name]]++
	}
	return fmt.Sprintf("%d tests, %d pass, %d fail, %d skipped", len(r.leaves()), n["pass"], n["fail"], n["skip"])
}

// event is one line of test2json's output.
type event struct {
	Action string
	Test   string
	Output string
}

// runSuite runs the test binary through test2json, with the gRPC server on the Unix socket sock
// (its default TCP port when sock is empty), and collects the outcomes: once for every test but
// the isolated ones, then once for each of these.
func runSuite(bin, tmp, sock, runRE string, env []string) (*results, error) {
	skip := "^(" + strings.Join(isolated, "|") + ")$"
	res, err := runBinary(bin, tmp, sock, []string{"-test.run=" + runRE, "-test.skip=" + skip, "-test.timeout=10m"}, env)
	if err != nil {
		return nil, err
	}
	for _, name := range isolated {
		if ok, err := regexp.MatchString(runRE, name); err != nil || !ok {
			continue
		}
		one, err := runBinary(bin, tmp, sock, []string{"-test.run=^" + name + "$", "-test.timeout=" + isolatedTimeout}, env)
		if err != nil {
			return nil, err
		}
		res.merge(one)
	}
	return res, nil
}

// merge adds the outcomes of another run.
func (r *results) merge(o *results) {
	for k, v := range o.outcome {
		r.outcome[k] = v
	}
	for k, v := range o.output {
		r.output[k] += v
	}
	for k := range o.parents {
		r.parents[k] = true
	}
}

// isolation is the command that runs the test binary in a network namespace of its own, with
// only a loopback interface, where the suite's fixed ports (9090, 8088, 8089…, some on every
// interface) are private to the run: nothing outside can reach them and two runs cannot
// collide. Empty where the machine does not allow unprivileged namespaces (see isolate).
var isolation []string

// isolate sets isolation when `unshare` can create a user and network namespace here and bring
// its loopback interface up, and says what it found.
func isolate(out io.Writer) {
	wrap := []string{"unshare", "--user", "--map-root-user", "--net", "sh", "-c", `ip link set lo up && exec "$@"`, "sh"}
	if err := exec.Command(wrap[0], append(wrap[1:], "true")...).Run(); err != nil {
		_, _ = fmt.Fprintf(out, "no network namespace (%v): the suite's fixed ports are opened on this host\n", err)
		return
	}
	isolation = wrap
	_, _ = fmt.Fprintln(out, "the suite runs in a network namespace of its own (loopback only)")
}

// runBinary runs the test binary once with the given test flags.
func runBinary(bin, tmp, sock string, flags, env []string) (*results, error) {
	if sock != "" {
		if err := os.Remove(sock); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	args := append([]string{"tool", "test2json", "-t", bin, "-test.v=test2json", "-test.count=1"}, flags...)
	if sock != "" {
		args = append(args, "-network=unix", "-endpoint="+sock)
	}
	argv := append(slices.Clone(isolation), append([]string{"go"}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = filepath.Join(tmp, "examples", "internal", "integration")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	res, perr := parseEvents(stdout)
	werr := cmd.Wait()
	if perr != nil {
		return nil, perr
	}
	var exit *exec.ExitError
	if werr != nil && !errors.As(werr, &exit) {
		return nil, werr
	}
	if len(res.outcome) == 0 {
		if werr == nil {
			werr = errors.New("the test binary exited 0")
		}
		return nil, fmt.Errorf("the suite ran no test: %w\n%s", werr, stderr.String())
	}
	return res, nil
}

// parseEvents reads test2json events.
func parseEvents(r io.Reader) (*results, error) {
	res := &results{outcome: map[string]string{}, output: map[string]string{}, parents: map[string]bool{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Test == "" {
			continue
		}
		switch ev.Action {
		case "run":
			res.outcome[ev.Test] = ""
			for p := ev.Test; strings.Contains(p, "/"); {
				p = p[:strings.LastIndex(p, "/")]
				res.parents[p] = true
			}
		case "output":
			res.output[ev.Test] += ev.Output
		case "pass", "fail", "skip":
			res.outcome[ev.Test] = ev.Action
		}
	}
	for name, outcome := range res.outcome {
		if outcome == "" {
			// Started but never ended: the binary was stopped by its timeout, or crashed.
			res.outcome[name] = "fail"
		}
	}
	return res, sc.Err()
}

// expectation is one line of expected-failures.txt: a test that fails (or cannot run) in a
// configuration, and why.
type expectation struct {
	cannotRun bool
	reason    string
}

// readExpected reads expected-failures.txt: lines "config test reason", where reason starts
// with "cannot run:" for a test whose gateway Archway cannot build; # starts a comment.
func readExpected(path string) (map[string]map[string]expectation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	exp := map[string]map[string]expectation{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, " ", 3)
		if len(fields) < 3 || strings.TrimSpace(fields[2]) == "" {
			return nil, fmt.Errorf("%s:%d: want \"config test reason\"", path, i+1)
		}
		cfg, test, reason := fields[0], fields[1], strings.TrimSpace(fields[2])
		if exp[cfg] == nil {
			exp[cfg] = map[string]expectation{}
		}
		if _, dup := exp[cfg][test]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice for %s", path, i+1, test, cfg)
		}
		exp[cfg][test] = expectation{cannotRun: strings.HasPrefix(reason, "cannot run:"), reason: reason}
	}
	return exp, nil
}

// ownPrefix starts the names of Archway's own tests (testdata/suite/archway_test.go).
const ownPrefix = "TestArchway"

// cannotRunMarker is what the shim's error says when a test asks for a mux option Archway does
// not offer (see testdata/shim).
const cannotRunMarker = "archway-ggsuite: cannot run: needs mux option"

// report prints a configuration's table and its failures with their reasons, and returns how
// many results differ from the expectations: unexplained failures, and listed tests that pass.
// With partial (a -run filter), listed tests that did not run are not counted.
func report(out io.Writer, cfg string, res *results, exp map[string]expectation, partial bool) int {
	leaves := res.leaves()
	own := 0
	for _, name := range leaves {
		if strings.HasPrefix(name, ownPrefix) {
			own++
		}
	}
	var pass, fail, cannot, skip int
	bad := 0
	var lines []string
	for _, name := range leaves {
		e, listed := exp[name]
		switch res.outcome[name] {
		case "pass":
			pass++
			if listed {
				bad++
				lines = append(lines, fmt.Sprintf("  UNEXPECTED PASS %s (listed: %s): remove it from expected-failures.txt", name, e.reason))
			}
		case "skip":
			skip++
		case "fail":
			isCannot := strings.Contains(res.output[name], cannotRunMarker) || strings.Contains(res.output[topLevel(name)], cannotRunMarker)
			if isCannot {
				cannot++
			} else {
				fail++
			}
			switch {
			case !listed:
				bad++
				lines = append(lines, fmt.Sprintf("  UNEXPLAINED FAIL %s\n%s", name, indent(res.output[name])))
			case isCannot != e.cannotRun:
				bad++
				lines = append(lines, fmt.Sprintf("  MISLISTED %s: listed as %q\n%s", name, e.reason, indent(res.output[name])))
			case isCannot:
				lines = append(lines, fmt.Sprintf("  cannot run %s: %s", name, strings.TrimPrefix(e.reason, "cannot run: ")))
			default:
				lines = append(lines, fmt.Sprintf("  expected fail %s: %s", name, e.reason))
			}
		}
	}
	if !partial {
		for name, e := range exp {
			if _, ran := res.outcome[name]; !ran {
				bad++
				lines = append(lines, fmt.Sprintf("  MISSING %s (listed: %s): no such test ran", name, e.reason))
			}
		}
	}
	_, _ = fmt.Fprintf(out, "Archway, configuration %s: %d tests (%d of grpc-gateway's suite, %d of Archway's own), %d pass, %d fail, %d cannot run, %d skipped\n",
		cfg, len(leaves), len(leaves)-own, own, pass, fail, cannot, skip)
	slices.Sort(lines)
	for _, l := range lines {
		_, _ = fmt.Fprintln(out, l)
	}
	return bad
}

func topLevel(name string) string {
	top, _, _ := strings.Cut(name, "/")
	return top
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "      " + strings.ReplaceAll(s, "\n", "\n      ")
}
