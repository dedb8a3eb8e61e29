package config

import "time"

// Streaming configures how streaming RPCs reach HTTP clients: server streams as
// newline-delimited JSON or Server-Sent Events, client and bidirectional streams
// over WebSocket.
type Streaming struct {
	// SSEHeartbeat is how long a Server-Sent Events stream may stay silent
	// before the gateway sends a comment line (": ping"), so that proxies and
	// browsers keep the connection open. By default 15s.
	SSEHeartbeat Duration `yaml:"sse_heartbeat"`

	// WriteIdleTimeout ends a stream (NDJSON, Server-Sent Events or
	// WebSocket) whose client has stopped reading: when one write of the
	// stream makes no progress for this long, the stream is closed and its
	// backend call cancelled. Zero means no limit. By default 30s.
	WriteIdleTimeout Duration `yaml:"write_idle_timeout"`

	// WebSocket configures the WebSocket bridge of client and bidirectional
	// streams.
	WebSocket WebSocket `yaml:"websocket"`
}

// WebSocket configures the WebSocket bridge. The origins a browser may open a
// WebSocket from are the page's own origin and cors.allowed_origins.
type WebSocket struct {
	// MaxMessageBytes caps the size of one message a client sends; a larger
	// one closes the connection with code 1009. By default 65536.
	MaxMessageBytes int64 `yaml:"max_message_bytes"`

	// IdleTimeout closes a connection on which no message went either way
	// for this long, with code 1001. By default 5m.
	IdleTimeout Duration `yaml:"idle_timeout"`
}

func defaultStreaming() Streaming {
	return Streaming{
		SSEHeartbeat:     Duration(15 * time.Second),
		WriteIdleTimeout: Duration(30 * time.Second),
		WebSocket: WebSocket{
			MaxMessageBytes: 64 << 10,
			IdleTimeout:     Duration(5 * time.Minute),
		},
	}
}

// check checks the streaming section.
func (s *Streaming) check(ch *checker) {
	ch.positive("streaming.sse_heartbeat", s.SSEHeartbeat)
	ch.nonNegative("streaming.write_idle_timeout", s.WriteIdleTimeout)
	if s.WebSocket.MaxMessageBytes <= 0 {
		ch.failf("streaming.websocket.max_message_bytes", "must be positive, got %d", s.WebSocket.MaxMessageBytes)
	}
	ch.positive("streaming.websocket.idle_timeout", s.WebSocket.IdleTimeout)
}
