package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/archway-gateway/archway/internal/testenv"
	"github.com/archway-gateway/archway/internal/testkit"
)

// RequireEnv is the environment variable that, set to "1", turns a missing chromium from a
// skipped test into a failed one.
const RequireEnv = "ARCHWAY_TEST_REQUIRE_CHROMIUM"

// ArtifactsEnv is the environment variable that names the folder where the pages of failed
// tests save their screenshots. It is created when missing. Unset, each failure gets a new
// temporary folder, named in the test log.
const ArtifactsEnv = "ARCHWAY_TEST_ARTIFACTS"

const (
	// StartTimeout bounds how long Chromium may take to start, and a new tab to open: wide,
	// because a loaded test machine (make test runs packages in parallel) slows it down a lot.
	StartTimeout = 60 * time.Second
	// ActionTimeout bounds one [Page.Do] or [Run] call.
	ActionTimeout = 30 * time.Second
	// screenshotTimeout bounds taking the screenshot of a failed test's page.
	screenshotTimeout = 10 * time.Second
	// maxConsoleLines is how many console messages a page keeps for the log of a failed test;
	// later ones are counted, not kept.
	maxConsoleLines = 200
)

// Browser is a running headless Chromium. Its pages may be used from parallel tests.
type Browser struct {
	ctx   context.Context
	pages atomic.Int64
}

// Start runs chromium from PATH headless, with a profile of its own in the test's temporary
// directory, waits until it has opened its first tab, and stops it when the test ends.
func Start(tb testing.TB) *Browser {
	tb.Helper()
	bin := testenv.Program(tb, "browsertest", "chromium", RequireEnv)
	out := &testkit.LogBuffer{}
	opts := slices.Concat(chromedp.DefaultExecAllocatorOptions[:], []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(tb.TempDir()),
		// The current headless mode: the same browser as with a window, without one.
		chromedp.Flag("headless", "new"),
		// Test machines and containers often run as root, where the sandbox cannot start.
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		// Tests talk to loopback only: no proxy from the environment, no updates.
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(out),
	})
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	stop := func() {
		cancelBrowser()
		cancelAlloc()
	}
	tb.Cleanup(stop)
	began := time.Now()
	// The first Do starts the browser and ties its life to the context it is given: it gets
	// the browser's own context, and the bound cancels that one.
	if err := bounded(StartTimeout, stop, func() error { return chromedp.Do(ctx) }); err != nil {
		tb.Fatalf("browsertest: starting %s: %v; its output:\n%s", bin, err, out)
	}
	tb.Logf("browsertest: chromium started in %v", time.Since(began).Round(time.Millisecond))
	return &Browser{ctx: ctx}
}

// Page is a tab of a [Browser], opened for one test. Its methods stop the test on an error, so
// they must be called from the test's goroutine.
type Page struct {
	tb     testing.TB
	ctx    context.Context
	number int64

	mu      sync.Mutex
	console []string
	dropped int
}

// NewPage opens a new tab (about:blank) and closes it when the test ends. If the test has
// failed by then, the page first saves a screenshot into the artifact folder (see
// [ArtifactsEnv]) and logs its address and what it wrote to its console.
func (b *Browser) NewPage(tb testing.TB) *Page {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	tb.Cleanup(cancel)
	if err := bounded(StartTimeout, cancel, func() error { return chromedp.Do(ctx) }); err != nil {
		tb.Fatalf("browsertest: opening a tab: %v", err)
	}
	p := &Page{tb: tb, ctx: ctx, number: b.pages.Add(1)}
	messages := chromedp.Console(ctx)
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.record(fmt.Sprintf("%s %s:%d: %s", m.Type, m.URL, m.Line+1, m))
		}
	}()
	tb.Cleanup(func() {
		if tb.Failed() {
			p.report()
		}
		cancel()
		<-consoleDone
	})
	return p
}

// Do runs the steps in the page, within [ActionTimeout], and stops the test if one fails.
func (p *Page) Do(steps ...chromedp.Action[chromedp.Void]) {
	p.tb.Helper()
	Run(p, chromedp.Steps(steps...))
}

// Run runs the action in the page, within [ActionTimeout], and returns its result, such as the
// value of a [chromedp.Evaluate] or [chromedp.Poll]. It stops the test if the action fails.
func Run[T any](p *Page, action chromedp.Action[T]) T {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		p.tb.Fatalf("browsertest: in the page: %v", err)
	}
	return v
}

func (p *Page) record(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.console) == maxConsoleLines {
		p.dropped++
		return
	}
	p.console = append(p.console, line)
}

// report logs the page's address and console, and saves its screenshot.
func (p *Page) report() {
	ctx, cancel := context.WithTimeout(p.ctx, screenshotTimeout)
	defer cancel()
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		p.tb.Logf("browsertest: page %d was at %s", p.number, loc)
	}
	p.mu.Lock()
	console := strings.Join(p.console, "\n")
	if p.dropped > 0 {
		console += fmt.Sprintf("\n(%d more messages)", p.dropped)
	}
	p.mu.Unlock()
	p.tb.Logf("browsertest: page %d's console:\n%s", p.number, console)

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.tb.Logf("browsertest: no screenshot of page %d: %v", p.number, err)
		return
	}
	dir, err := artifactDir()
	if err != nil {
		p.tb.Logf("browsertest: no folder for the screenshot of page %d: %v", p.number, err)
		return
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-page%d.png", fileName(p.tb.Name()), p.number))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.tb.Logf("browsertest: saving the screenshot of page %d: %v", p.number, err)
		return
	}
	p.tb.Logf("browsertest: screenshot of page %d: %s", p.number, path)
}

// artifactDir returns the folder that [ArtifactsEnv] names, creating it, or a new temporary one.
func artifactDir() (string, error) {
	if dir := os.Getenv(ArtifactsEnv); dir != "" {
		return dir, os.MkdirAll(dir, 0o755)
	}
	return os.MkdirTemp("", "archway-browser-artifacts-")
}

// fileName turns a test name into a file name: every character other than a letter, a digit,
// '.', '-' or '_' becomes '_'.
func fileName(testName string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, testName)
}

// bounded runs f, and calls abort if f has not returned within d; abort must make f return.
func bounded(d time.Duration, abort func(), f func() error) error {
	var late atomic.Bool
	timer := time.AfterFunc(d, func() {
		late.Store(true)
		abort()
	})
	err := f()
	timer.Stop()
	if late.Load() {
		return fmt.Errorf("not done within %v: %w", d, err)
	}
	return err
}
