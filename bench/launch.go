package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Launcher starts the processes under test: the backend and the targets in front of it.
type Launcher interface {
	// Launch starts role (see Serve) and returns once it accepts connections.
	Launch(ctx context.Context, role string, args ServeArgs) (*Serving, error)
	// Pinning describes where launched processes run, for the report.
	Pinning() string
}

// InProcess launches roles in the harness's own process, with no CPU pinning. Tests use it.
type InProcess struct{}

// Launch implements Launcher.
func (InProcess) Launch(ctx context.Context, role string, args ServeArgs) (*Serving, error) {
	return Serve(ctx, role, args)
}

// Pinning implements Launcher.
func (InProcess) Pinning() string { return "in-process: targets share the load generator's CPUs" }

// Subprocess launches each role as a child process running Exe with the arguments
// "serve -role ROLE ...", which must call ServeMain. With CPUs set and taskset installed, the
// child is pinned to those CPUs; GOMAXPROCS is set to Procs.
type Subprocess struct {
	// Exe is the executable to run.
	Exe string
	// CPUs is a taskset CPU list such as "1" or "2-3"; empty runs the child unpinned.
	CPUs string
	// Procs is the child's GOMAXPROCS; zero leaves the Go default.
	Procs int
	// Dir holds the files passed to children.
	Dir string
	// ProfileDir, when set, receives a CPU profile of every target process (not the backend),
	// named ROLE-N.pprof, covering the process's whole life. By default, none is written.
	ProfileDir string
}

// profiles numbers the CPU profiles of one harness run.
var profiles atomic.Int64

// readyTimeout bounds a child's start-up.
const readyTimeout = 30 * time.Second

// stopTimeout bounds a child's shutdown after SIGTERM; then it is killed.
const stopTimeout = 5 * time.Second

// Pinning implements Launcher.
func (s Subprocess) Pinning() string {
	if s.CPUs == "" {
		return "targets run as separate processes, not pinned (taskset unavailable or pinning off)"
	}
	return fmt.Sprintf("targets and the backend run as separate processes pinned with taskset to CPU %s, GOMAXPROCS=%d", s.CPUs, s.Procs)
}

// Launch implements Launcher.
func (s Subprocess) Launch(ctx context.Context, role string, args ServeArgs) (*Serving, error) {
	argv := []string{"serve", "-role", role, "-catalog", args.Catalog, "-users", args.Users, "-orders", args.Orders}
	if args.Responses != nil {
		data, err := json.Marshal(args.Responses)
		if err != nil {
			return nil, fmt.Errorf("bench.Subprocess: %w", err)
		}
		path := filepath.Join(s.Dir, "responses.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("bench.Subprocess: %w", err)
		}
		argv = append(argv, "-responses", path)
	}
	if args.LogFile != "" {
		argv = append(argv, "-log", args.LogFile)
	}
	if s.ProfileDir != "" && role != RoleBackend {
		name := fmt.Sprintf("%s-%d.pprof", role, profiles.Add(1))
		argv = append(argv, "-cpuprofile", filepath.Join(s.ProfileDir, name))
	}
	cmd := s.command(s.Exe, argv...)
	return startChild(ctx, role, cmd, func(r io.Reader) ([]string, error) {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("no ready line: %w", err)
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "ready" {
			return nil, fmt.Errorf("unexpected first line %q", line)
		}
		return fields[1:], nil
	})
}

// command returns name with args, under taskset when s pins, with GOMAXPROCS set.
func (s Subprocess) command(name string, args ...string) *exec.Cmd {
	if s.CPUs != "" {
		args = append([]string{"-c", s.CPUs, name}, args...)
		name = "taskset"
	}
	cmd := exec.Command(name, args...)
	cmd.Env = os.Environ()
	if s.Procs > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(s.Procs))
	}
	cmd.Stderr = os.Stderr
	return cmd
}

// startChild starts cmd and waits, up to readyTimeout, for ready to read its addresses from
// its stdout. The returned Serving stops it with SIGTERM, then SIGKILL.
func startChild(ctx context.Context, role string, cmd *exec.Cmd, ready func(io.Reader) ([]string, error)) (*Serving, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", role, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", role, err)
	}
	exited := make(chan error, 1)
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		timer := time.NewTimer(stopTimeout)
		defer timer.Stop()
		select {
		case err := <-exited:
			return signalled(err)
		case <-timer.C:
			_ = cmd.Process.Kill()
			return fmt.Errorf("bench: %s did not stop within %v: %w", role, stopTimeout, <-exited)
		}
	}
	type readyResult struct {
		addrs []string
		err   error
	}
	readyc := make(chan readyResult, 1)
	go func() {
		addrs, err := ready(stdout)
		readyc <- readyResult{addrs, err}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case r := <-readyc:
		if r.err != nil {
			_ = stop()
			return nil, fmt.Errorf("bench: start %s: %w", role, r.err)
		}
		return &Serving{Addrs: r.addrs, close: stop}, nil
	case <-timer.C:
		_ = stop()
		return nil, fmt.Errorf("bench: start %s: not ready within %v", role, readyTimeout)
	case <-ctx.Done():
		_ = stop()
		return nil, fmt.Errorf("bench: start %s: %w", role, ctx.Err())
	}
}

// signalled treats an exit caused by our SIGTERM as a clean stop.
func signalled(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return err
}

// freePort returns a loopback port that was free a moment ago, for servers (nginx) that cannot
// listen on port 0 and report the port.
func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitListening polls addr until it accepts a connection, up to readyTimeout.
func waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(readyTimeout)
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not listening within %v: %w", addr, readyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
