package testkit_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/archway-gateway/archway/internal/testkit"
)

// readEvents reads events from r until ReadSSEEvent fails, and returns them and the error.
func readEvents(t *testing.T, r io.Reader) ([]testkit.SSEEvent, error) {
	t.Helper()
	br := bufio.NewReader(r)
	var evs []testkit.SSEEvent
	for range 100 {
		ev, err := testkit.ReadSSEEvent(br)
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	t.Fatalf("more than 100 events: %+v", evs)
	return nil, nil
}

func TestReadSSEEvent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		stream string
		want   []testkit.SSEEvent
	}{
		{"empty stream", "", nil},
		{"event without a name", "data: {}\n\n", []testkit.SSEEvent{{Data: "{}"}}},
		{
			"named event with id", "id: 3\nevent: end\ndata: {\"a\":1}\n\n",
			[]testkit.SSEEvent{{ID: "3", Event: "end", Data: `{"a":1}`}},
		},
		{
			"multi-line data joined with newlines", "data: first\ndata:\ndata:  indented\ndata\n\n",
			[]testkit.SSEEvent{{Data: "first\n\n indented\n"}},
		},
		{"comment", ": ping\n\n", []testkit.SSEEvent{{Comment: "ping"}}},
		{
			"comment among an event's lines", "data: a\n: note\ndata: b\n\n",
			[]testkit.SSEEvent{{Data: "a\nb", Comment: "note"}},
		},
		{
			"events and comments in turn", "id: 1\ndata: one\n\n: ping\n\nid: 2\ndata: two\n\n",
			[]testkit.SSEEvent{{ID: "1", Data: "one"}, {Comment: "ping"}, {ID: "2", Data: "two"}},
		},
		{"no space after the colon", "event:error\ndata:x\n\n", []testkit.SSEEvent{{Event: "error", Data: "x"}}},
		{"CRLF line ends", "event: e\r\ndata: x\r\n\r\n", []testkit.SSEEvent{{Event: "e", Data: "x"}}},
		{"unknown fields ignored", "retry: 10\nfoo: bar\ndata: x\n\n", []testkit.SSEEvent{{Data: "x"}}},
		{
			"block without data or comment dropped", "id: 7\nevent: lost\n\n\n\ndata: x\n\n",
			[]testkit.SSEEvent{{Data: "x"}},
		},
		{"unfinished event at the end dropped", "data: a\n\ndata: b\n", []testkit.SSEEvent{{Data: "a"}}},
		{"last line without a newline dropped", "data: a\n\ndata: b", []testkit.SSEEvent{{Data: "a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := readEvents(t, strings.NewReader(tc.stream))
			if !errors.Is(err, io.EOF) {
				t.Errorf("error at the end = %v, want io.EOF", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("events = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadSSEEventReaderError(t *testing.T) {
	t.Parallel()
	broken := errors.New("connection reset")
	got, err := readEvents(t, io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(broken)))
	if !errors.Is(err, broken) {
		t.Errorf("error = %v, want the reader's %v", err, broken)
	}
	if want := []testkit.SSEEvent{{Data: "a"}}; !slices.Equal(got, want) {
		t.Errorf("events = %+v, want %+v", got, want)
	}
}

func TestReadSSEEventBoundsLines(t *testing.T) {
	t.Parallel()
	stream := strings.Repeat("data: x\n", 2000) + "\n"
	_, err := testkit.ReadSSEEvent(bufio.NewReader(strings.NewReader(stream)))
	if err == nil || errors.Is(err, io.EOF) {
		t.Errorf("error = %v for an event of 2000 lines, want one that is not io.EOF", err)
	}
}

func ExampleReadSSEEvent() {
	stream := "id: 1\ndata: {\"state\":\"PAID\"}\n\n: ping\n\nevent: end\ndata: {}\n\n"
	r := bufio.NewReader(strings.NewReader(stream))
	for range 10 {
		ev, err := testkit.ReadSSEEvent(r)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%+v\n", ev)
	}
	// Output:
	// {ID:1 Event: Data:{"state":"PAID"} Comment:}
	// {ID: Event: Data: Comment:ping}
	// {ID: Event:end Data:{} Comment:}
	// EOF
}
