package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper-cased: FROM, RUN, COPY, ...
	args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	from, name string
	body       []instruction
}

// parseDockerfile splits a Dockerfile into its stages. It knows the subset of the syntax the
// project's Dockerfiles use: comments, line continuations with a trailing backslash, and
// instructions; anything before the first FROM other than comments is an error.
func parseDockerfile(data string) ([]stage, error) {
	var stages []stage
	var cur *instruction
	var insts []instruction
	for i, line := range strings.Split(data, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == nil && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur == nil {
			cmd, args, _ := strings.Cut(trimmed, " ")
			cur = &instruction{line: i + 1, cmd: strings.ToUpper(cmd)}
			trimmed = args
		}
		if cont, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.args += cont
			continue
		}
		cur.args = strings.TrimSpace(cur.args + trimmed)
		insts = append(insts, *cur)
		cur = nil
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: the file ends in a continuation", cur.line)
	}
	for _, in := range insts {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			f = slices.DeleteFunc(f, func(s string) bool { return strings.HasPrefix(s, "--platform=") })
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			} else if len(f) != 1 {
				return nil, fmt.Errorf("line %d: FROM %s", in.line, in.args)
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			return nil, fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	return stages, nil
}

// shellWords splits a command line as /bin/sh would for the simple commands the Dockerfiles
// run: words separated by blanks, with single and double quotes, and $NAME or ${NAME}
// expanded from vars. Anything else a shell would interpret (operators, command substitution,
// globbing, escapes, an unknown variable) is an error, so the test never runs something
// other than what the build would.
func shellWords(s string, vars map[string]string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	for i := 0; i < len(s); i++ {
		c := rune(s[i])
		switch {
		case quote == '\'' && c == '\'':
			quote = 0
		case quote == '\'':
			word.WriteRune(c)
		case c == '$':
			name := ""
			if strings.HasPrefix(s[i+1:], "{") {
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return nil, fmt.Errorf("unterminated ${ in %q", s)
				}
				name, i = s[i+2:i+end], i+end
			} else {
				j := i + 1
				for j < len(s) && (s[j] == '_' || 'A' <= s[j] && s[j] <= 'Z' || 'a' <= s[j] && s[j] <= 'z' || '0' <= s[j] && s[j] <= '9') {
					j++
				}
				name, i = s[i+1:j], j-1
			}
			v, ok := vars[name]
			if !ok {
				return nil, fmt.Errorf("variable %q in %q is not one the test knows", name, s)
			}
			word.WriteString(v)
			inWord = true
		case quote == '"' && c == '"':
			quote = 0
		case quote == '"' && strings.ContainsRune("`\\", c):
			return nil, fmt.Errorf("%q in double quotes in %q", c, s)
		case quote == '"':
			word.WriteRune(c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case strings.ContainsRune("|&;<>()`\\*?[]{}~#", c):
			return nil, fmt.Errorf("shell syntax %q in %q: the test runs simple commands only", c, s)
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

func TestShellWords(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"TARGETOS": "linux", "TARGETARCH": "arm64"}
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: `go build -o /out/x ./cmd/x`, want: []string{"go", "build", "-o", "/out/x", "./cmd/x"}},
		{in: `CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=${TARGETARCH} go build`, want: []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "go", "build"}},
		{in: `go build -ldflags="-s -w" '-tags=a b'`, want: []string{"go", "build", "-ldflags=-s -w", "-tags=a b"}},
		{in: `go build -ldflags='$NOT_EXPANDED'`, want: []string{"go", "build", "-ldflags=$NOT_EXPANDED"}},
		{in: `go build ""`, want: []string{"go", "build", ""}},
		{in: `go mod download && go build`, wantErr: true},
		{in: `go build; rm -rf /`, wantErr: true},
		{in: `go build -o $(pwd)/x`, wantErr: true},
		{in: `GOOS=$UNKNOWN go build`, wantErr: true},
		{in: `go build "-o`, wantErr: true},
		{in: `go build ./...`, want: []string{"go", "build", "./..."}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := shellWords(tc.in, vars)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Fatalf("shellWords = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// image is what a Dockerfile says about its binary.
type image struct {
	stages     []stage
	build      stage
	final      stage
	buildCmd   []string // the go build command, environment assignments first
	output     string   // go build's -o
	entrypoint []string
	cmd        []string
	exposed    []int
}

// readImage parses cmd/<binary>/Dockerfile and checks its shape: a build stage that copies the
// repository to its working directory and runs one go build, and a final stage from scratch
// that copies only the binary (and CA certificates), runs as a numeric non-root user and
// execs the binary directly (no shell).
func readImage(t *testing.T, binary string) *image {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "cmd", binary, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseDockerfile(string(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 {
		t.Fatalf("%d stages, want 2 (build and final)", len(stages))
	}
	im := &image{stages: stages, build: stages[0], final: stages[1]}
	if !strings.HasPrefix(im.build.from, "golang:") || im.build.name == "" {
		t.Errorf("build stage FROM %s AS %q, want a named golang image", im.build.from, im.build.name)
	}
	if im.final.from != "scratch" {
		t.Errorf("final stage FROM %s, want scratch: no shell, nothing but the binary", im.final.from)
	}

	vars := map[string]string{}
	var workdir string
	copiedRoot := false
	for _, in := range im.build.body {
		switch in.cmd {
		case "WORKDIR":
			workdir = in.args
		case "ARG":
			for _, name := range strings.Fields(in.args) {
				switch name {
				case "TARGETOS":
					vars[name] = runtime.GOOS
				case "TARGETARCH":
					vars[name] = runtime.GOARCH
				default:
					t.Errorf("line %d: ARG %s: the test does not know its value", in.line, name)
				}
			}
		case "COPY":
			copiedRoot = copiedRoot || in.args == ". ."
		case "RUN":
			args := in.args
			for strings.HasPrefix(args, "--") {
				_, args, _ = strings.Cut(args, " ")
				args = strings.TrimSpace(args)
			}
			words, err := shellWords(args, vars)
			if err != nil {
				t.Fatalf("line %d: %v", in.line, err)
			}
			cmd := slices.IndexFunc(words, func(w string) bool { return !strings.Contains(w, "=") })
			if cmd < 0 || len(words) < cmd+2 || words[cmd] != "go" {
				t.Fatalf("line %d: RUN %s: the build stage runs only go commands", in.line, in.args)
			}
			if words[cmd+1] == "build" {
				if im.buildCmd != nil {
					t.Fatalf("line %d: a second go build", in.line)
				}
				im.buildCmd = words
			}
		}
	}
	if workdir == "" || !copiedRoot {
		t.Fatalf("build stage: WORKDIR %q, COPY . . %v: want the repository copied to the working directory", workdir, copiedRoot)
	}
	if im.buildCmd == nil {
		t.Fatal("build stage runs no go build")
	}
	if i := slices.Index(im.buildCmd, "-o"); i >= 0 && i+1 < len(im.buildCmd) {
		im.output = im.buildCmd[i+1]
	} else {
		t.Fatalf("go build %q has no -o", im.buildCmd)
	}

	copied := map[string]bool{}
	user := ""
	for _, in := range im.final.body {
		switch in.cmd {
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) != 3 || f[0] != "--from="+im.build.name {
				t.Errorf("line %d: COPY %s: want --from=%s SRC DST", in.line, in.args, im.build.name)
				continue
			}
			if f[1] == im.output {
				copied[f[2]] = true
			} else if f[1] != "/etc/ssl/certs/ca-certificates.crt" || f[2] != f[1] {
				t.Errorf("line %d: COPY %s: only the binary and the CA certificates belong in the image", in.line, in.args)
			}
		case "USER":
			user = in.args
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				n, err := strconv.Atoi(p)
				if err != nil {
					t.Errorf("line %d: EXPOSE %s", in.line, p)
				}
				im.exposed = append(im.exposed, n)
			}
		case "ENTRYPOINT", "CMD":
			var exec []string
			if err := json.Unmarshal([]byte(in.args), &exec); err != nil {
				t.Errorf("line %d: %s %s: want the exec (JSON) form, as there is no shell: %v", in.line, in.cmd, in.args, err)
			}
			if in.cmd == "CMD" {
				im.cmd = exec
			} else {
				im.entrypoint = exec
			}
		default:
			t.Errorf("line %d: %s in the final stage", in.line, in.cmd)
		}
	}
	uid, gid, _ := strings.Cut(user, ":")
	u, uerr := strconv.Atoi(uid)
	g, gerr := strconv.Atoi(gid)
	if uerr != nil || gerr != nil || u == 0 || g == 0 {
		t.Errorf("USER %q: want numeric non-root uid:gid (scratch has no user database)", user)
	}
	if len(im.entrypoint) != 1 || !copied[im.entrypoint[0]] {
		t.Errorf("ENTRYPOINT %q: want exactly the binary copied from the build stage (%v)", im.entrypoint, copied)
	}
	return im
}

// buildImageBinary runs the Dockerfile's go build in the repository root, which is what
// WORKDIR holds after COPY . ., with -o pointing into a temporary folder.
func buildImageBinary(t *testing.T, im *image) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), path.Base(im.output))
	words := slices.Clone(im.buildCmd)
	words[slices.Index(words, "-o")+1] = out
	var env []string
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env, words = append(env, words[0]), words[1:]
	}
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("go build environment %q: want CGO_ENABLED=0", env)
	}
	if !slices.Contains(words, "-trimpath") {
		t.Errorf("go build %q: want -trimpath", words)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, words[0], words[1:]...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(im.buildCmd, " "), err, b)
	}
	return out
}

// checkStatic checks the binary is an ELF executable that needs no dynamic loader or shared
// library, and holds no path of the build machine (-trimpath).
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: it is dynamically linked", bin, p.Type)
		}
	}
	if f.Section(".dynamic") != nil || f.Section(".interp") != nil {
		t.Errorf("%s has a .dynamic or .interp section", bin)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("..")
	if bytes.Contains(data, []byte(root)) {
		t.Errorf("%s holds the build machine's path %s: build with -trimpath", bin, root)
	}
}

// logRecord is the part of a JSON log record the start-up checks read.
type logRecord struct {
	Msg, Listener, Service, Addr string
}

// startBinary starts bin with args and env (nothing inherited), and returns the "listening"
// records of its JSON log on standard error as they come (the channel closes when the process
// closes standard error, typically by exiting), and a function that stops it with
// SIGTERM and returns its exit error.
func startBinary(t *testing.T, bin string, args, env []string) (<-chan logRecord, func() error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	records := make(chan logRecord, 16)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		defer close(records)
		sc := bufio.NewScanner(io.TeeReader(stderr, &logs))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r logRecord
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.Msg == "listening" {
				select {
				case records <- r:
				default:
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-scanned
		exited <- cmd.Wait()
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return fmt.Errorf("did not stop within 30s of SIGTERM, killed: %w", <-exited)
		}
	}
	t.Cleanup(func() {
		if err := stop(); err != nil || t.Failed() {
			t.Logf("%s: %v; its log:\n%s", filepath.Base(bin), err, logs.String())
		}
	})
	return records, stop
}

// awaitListening returns the addresses of the next n "listening" records, keyed by listener
// (or service), failing the test when they do not come within a generous bound.
func awaitListening(t *testing.T, records <-chan logRecord, n int) map[string]string {
	t.Helper()
	addrs := map[string]string{}
	deadline := time.After(60 * time.Second)
	for len(addrs) < n {
		select {
		case r, ok := <-records:
			if !ok {
				t.Fatalf("the process ended its log after %d of %d listeners: %v", len(addrs), n, addrs)
			}
			addrs[r.Listener+r.Service] = r.Addr
		case <-deadline:
			t.Fatalf("only %d of %d listeners logged \"listening\" within 60s: %v", len(addrs), n, addrs)
		}
	}
	return addrs
}

func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestDockerfileBuildsStaticBinaryThatStarts is the closest this repository gets to building
// the images: each Dockerfile's own go build command, run here, must give a static binary that
// starts with the image's arguments and stops cleanly on SIGTERM.
func TestDockerfileBuildsStaticBinaryThatStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("checks ELF binaries; runs on Linux")
	}
	t.Parallel()
	t.Run("archway", func(t *testing.T) {
		t.Parallel()
		im := readImage(t, "archway")
		if !slices.Equal(im.exposed, []int{8080, 9901}) {
			t.Errorf("EXPOSE %v, want the default listen.address and admin.address ports [8080 9901]", im.exposed)
		}
		if !slices.Equal(im.cmd, []string{"serve", "-config", "/etc/archway/archway.yaml"}) {
			t.Errorf("CMD %q, want serve -config /etc/archway/archway.yaml (where deploy/kubernetes mounts it)", im.cmd)
		}
		bin := buildImageBinary(t, im)
		checkStatic(t, bin)
		// The demo needs no configuration file or backends: the binary starts its own.
		records, stop := startBinary(t, bin, []string{"demo"}, []string{
			"ARCHWAY_LISTEN_ADDRESS=127.0.0.1:0", "ARCHWAY_ADMIN_ADDRESS=127.0.0.1:0", "ARCHWAY_LOG_FORMAT=json",
		})
		addrs := awaitListening(t, records, 5) // api, admin, and the three storefront services
		for _, l := range []string{"api", "admin"} {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addrs[l]+"/healthz", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s listener: %v", l, err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /healthz on the %s listener = %d", l, resp.StatusCode)
			}
		}
		if err := stop(); err != nil {
			t.Errorf("archway after SIGTERM: %v, want exit 0", err)
		}
	})
	t.Run("storefront", func(t *testing.T) {
		t.Parallel()
		im := readImage(t, "storefront")
		bin := buildImageBinary(t, im)
		checkStatic(t, bin)
		// The image's own arguments, each listener moved to a free loopback port.
		var args []string
		var ports []int
		for _, a := range im.cmd {
			if name, addr, ok := strings.Cut(a, "="); ok && strings.HasSuffix(name, "-addr") {
				ports = append(ports, addrPort(t, name, addr))
				a = name + "=127.0.0.1:0"
			}
			args = append(args, a)
		}
		if !slices.Equal(im.exposed, ports) {
			t.Errorf("EXPOSE %v, CMD's listeners %v: want the same ports", im.exposed, ports)
		}
		records, stop := startBinary(t, bin, args, []string{"STOREFRONT_IDENTITY_SECRET=" + randomSecret(t)})
		addrs := awaitListening(t, records, 3)
		for _, s := range []string{"users", "orders", "catalog"} {
			if addrs[s] == "" {
				t.Errorf("service %s did not log listening: %v", s, addrs)
			}
		}
		if err := stop(); err != nil {
			t.Errorf("storefront after SIGTERM: %v, want exit 0", err)
		}
	})
}
