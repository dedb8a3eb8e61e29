package browsertest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/archway-gateway/archway/internal/browsertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// page serves one HTML page on loopback and returns its URL.
func page(t *testing.T, html string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, html)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestBrowserPagesRunScripts(t *testing.T) {
	t.Parallel()
	b := browsertest.Start(t)
	url := page(t, `<!doctype html><title>two</title><script>window.later = new Promise(r => setTimeout(() => r(42), 50));</script>`)
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := b.NewPage(t)
			p.Do(chromedp.Navigate(url))
			if got := browsertest.Run(p, chromedp.Title()); got != "two" {
				t.Errorf("title %q, want %q", got, "two")
			}
			if got := browsertest.Run(p, chromedp.Evaluate[int](`window.later`, chromedp.EvalAwaitPromise)); got != 42 {
				t.Errorf("awaited %d, want 42", got)
			}
		})
	}
}

// failed stands in for a test that has failed: a page it opened must report.
type failed struct {
	testing.TB
	logs []string
}

func (f *failed) Failed() bool { return true }

func (f *failed) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func TestBrowserScreenshotOnFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "artifacts")
	t.Setenv(browsertest.ArtifactsEnv, dir)
	b := browsertest.Start(t)
	url := page(t, `<!doctype html><body style="background:#c00"><script>console.log("hello from", "the page")</script>`)
	f := &failed{}
	t.Run("page", func(t *testing.T) {
		f.TB = t
		p := b.NewPage(f)
		p.Do(chromedp.Navigate(url))
	})
	shots, err := filepath.Glob(filepath.Join(dir, "TestBrowserScreenshotOnFailure_page-page*.png"))
	if err != nil || len(shots) != 1 {
		t.Fatalf("screenshots in %s: %v (%v), want one; the page logged %q", dir, shots, err, f.logs)
	}
	png, err := os.ReadFile(shots[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("%s is not a PNG: starts with %q", shots[0], png[:min(len(png), 8)])
	}
	logs := strings.Join(f.logs, "\n")
	for _, want := range []string{"was at " + url, "hello from the page", "screenshot of page"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the failed page's log lacks %q:\n%s", want, logs)
		}
	}
}
