package logging_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/logging"
	"github.com/archway-gateway/archway/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func logConfig(format string, flush time.Duration) config.Log {
	c := config.Default().Log
	c.Format = format
	c.FlushInterval = config.Duration(flush)
	return c
}

func TestBufferedUntilFlushedOrClosed(t *testing.T) {
	t.Parallel()
	var out testkit.LogBuffer
	logger := logging.New(logConfig("json", time.Hour), &out)
	logger.Info("request", "path", "/v1/products")
	if got := out.String(); got != "" {
		t.Fatalf("an info record was written before any flush: %q", got)
	}
	logger.Warn("backend down", "backend", "catalog")
	got := out.String()
	if !strings.Contains(got, `"msg":"request"`) || !strings.Contains(got, `"msg":"backend down"`) {
		t.Fatalf("a warning must flush the records before it and itself; got %q", got)
	}
	logger.Debug("not logged at info")
	logger.Info("last")
	if err := logger.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], `"msg":"last"`) {
		t.Fatalf("Close must flush the buffer; got %q", lines)
	}
	logger.With("component", "late").Info("after close")
	if !strings.Contains(out.String(), "after close") {
		t.Fatal("after Close, records must be written through")
	}
	if err := logger.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestFlushedByTheTimer(t *testing.T) {
	t.Parallel()
	var out testkit.LogBuffer
	logger := logging.New(logConfig("text", 10*time.Millisecond), &out)
	t.Cleanup(func() { _ = logger.Close() })
	logger.Info("request", "status", 200)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "msg=request status=200") {
		if time.Now().After(deadline) {
			t.Fatalf("the record was not flushed by the timer within 5s; got %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestZeroIntervalWritesThrough(t *testing.T) {
	t.Parallel()
	var out testkit.LogBuffer
	logger := logging.New(logConfig("text", 0), &out)
	logger.WithGroup("http").Info("request", "status", 200)
	if !strings.Contains(out.String(), "http.status=200") {
		t.Fatalf("with flush_interval 0 the record must be written at once; got %q", out.String())
	}
	if err := logger.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentRecordsStayWhole checks that records written from many goroutines, across
// several buffer flushes, come out as whole JSON lines, none lost.
func TestConcurrentRecordsStayWhole(t *testing.T) {
	t.Parallel()
	var out testkit.LogBuffer
	logger := logging.New(logConfig("json", time.Millisecond), &out)
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				logger.Info("request", "writer", w, "i", i, "pad", strings.Repeat("x", 100))
			}
		})
	}
	wg.Wait()
	if err := logger.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != writers*each {
		t.Fatalf("got %d lines, want %d", len(lines), writers*each)
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line is not one whole JSON record: %q: %v", l, err)
		}
	}
}
