package testkit_test

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/archway-gateway/archway/internal/testkit"
)

func TestLogBufferConcurrentWrites(t *testing.T) {
	t.Parallel()
	const writers, perWriter = 8, 200
	var buf testkit.LogBuffer
	var want []string
	var wg sync.WaitGroup
	for w := range writers {
		for i := range perWriter {
			want = append(want, fmt.Sprintf("writer %d line %d", w, i))
		}
		wg.Go(func() {
			for i := range perWriter {
				if _, err := fmt.Fprintf(&buf, "writer %d line %d\n", w, i); err != nil {
					t.Errorf("Write: %v", err)
				}
				// Reads while others write: the race detector sees any unguarded access.
				_ = buf.String()
				_ = buf.Lines()
			}
		})
	}
	wg.Wait()
	got := buf.Lines()
	if len(got) != writers*perWriter {
		t.Fatalf("%d lines, want %d", len(got), writers*perWriter)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("lines differ from those written; first: %q", got[0])
	}
	if n := strings.Count(buf.String(), "\n"); n != writers*perWriter {
		t.Errorf("String has %d newlines, want %d", n, writers*perWriter)
	}
}

func TestLogBufferLines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		writes []string
		lines  []string
	}{
		{"nothing written", nil, nil},
		{"one record", []string{"a=1\n"}, []string{"a=1"}},
		{"unfinished line left out", []string{"a=1\nb="}, []string{"a=1"}},
		{"line split across writes", []string{"a", "b\nc", "\n\nd"}, []string{"ab", "c", ""}},
		{"several lines in one write", []string{"x\ny\nz\n"}, []string{"x", "y", "z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf testkit.LogBuffer
			for _, w := range tc.writes {
				n, err := io.WriteString(&buf, w)
				if n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
			}
			if got, want := buf.String(), strings.Join(tc.writes, ""); got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
			if got := buf.Lines(); !slices.Equal(got, tc.lines) {
				t.Errorf("Lines() = %q, want %q", got, tc.lines)
			}
		})
	}
}

func TestLogBufferLinesIsACopy(t *testing.T) {
	t.Parallel()
	var buf testkit.LogBuffer
	_, _ = io.WriteString(&buf, "first\n")
	lines := buf.Lines()
	lines[0] = "changed"
	_, _ = io.WriteString(&buf, "second\n")
	if got, want := buf.Lines(), []string{"first", "second"}; !slices.Equal(got, want) {
		t.Errorf("Lines() = %q after changing an earlier result, want %q", got, want)
	}
}

func TestLogBufferAsSlogOutput(t *testing.T) {
	t.Parallel()
	var buf testkit.LogBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	logger.Info("started", "port", 8443)
	logger.Warn("slow")
	want := []string{"level=INFO msg=started port=8443", "level=WARN msg=slow"}
	if got := buf.Lines(); !slices.Equal(got, want) {
		t.Errorf("Lines() = %q, want %q", got, want)
	}
}
