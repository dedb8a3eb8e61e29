package testkit

import (
	"bufio"
	"fmt"
	"strings"
)

// maxEventLines bounds how many lines ReadSSEEvent reads while looking for the end of one event.
const maxEventLines = 1000

// SSEEvent is one event of a Server-Sent Events stream, or a comment line (Comment set, with
// any data of the same block in Data).
type SSEEvent struct {
	// ID is the event's id field, "" without one.
	ID string
	// Event is the event's type, "" for a plain message.
	Event string
	// Data is the event's data lines, joined with newlines.
	Data string
	// Comment is the text of the block's last comment line (": ping" gives "ping").
	Comment string
}

// ReadSSEEvent reads the next event or comment from r, parsing lines as EventSource does: a
// blank line ends a block, which is returned when it had data or a comment and dropped
// otherwise; a space after the colon is not part of the value; unknown fields are ignored;
// lines end with "\n" or "\r\n". Reuse r for the next event.
//
// At the end of the stream it returns io.EOF, dropping an event that no blank line ended. It
// returns the reader's other errors as they are, and an error when no block ends within 1000
// lines.
func ReadSSEEvent(r *bufio.Reader) (SSEEvent, error) {
	var ev SSEEvent
	var data []string
	for range maxEventLines {
		line, err := r.ReadString('\n')
		if err != nil {
			return SSEEvent{}, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		switch {
		case line == "":
			if ev.Comment != "" || data != nil {
				ev.Data = strings.Join(data, "\n")
				return ev, nil
			}
			ev = SSEEvent{}
		case strings.HasPrefix(line, ":"):
			ev.Comment = strings.TrimSpace(line[1:])
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				data = append(data, value)
			}
		}
	}
	return SSEEvent{}, fmt.Errorf("testkit: no end of event within %d lines", maxEventLines)
}
