package gateway_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestAmbiguousFramingIsRefused sends, over a raw connection to a real listener, requests whose
// length Content-Length and Transfer-Encoding both claim: the gateway must answer 400 with a
// google.rpc.Status and close the connection, as nginx does, instead of serving the request
// framed one way while an intermediary may have framed it the other. A chunked request alone is
// served on a connection that stays open.
func TestAmbiguousFramingIsRefused(t *testing.T) {
	t.Parallel()
	env := newEdgeEnv(t, "", &holdUsers{}, false)
	const body = "2\r\n{}\r\n0\r\n\r\n"
	tests := []struct {
		name, framing string
		refused       bool
	}{
		{"both", "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", true},
		{"both, other order and case", "transfer-encoding: chunked\r\ncontent-LENGTH: 11\r\n", true},
		{"both, bare line feeds", "Content-Length: 4\nTransfer-Encoding: chunked\n", true},
		{"chunked only", "Transfer-Encoding: chunked\r\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", env.addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			// A first, ordinary request on the same connection: the guard must tell requests
			// apart, not connections.
			req := "GET /v1/users/ada HTTP/1.1\r\nHost: x\r\nX-Api-Key: test-key\r\n\r\n" +
				"POST /v1/users/ada:undelete HTTP/1.1\r\nHost: x\r\nX-Api-Key: test-key\r\nContent-Type: application/json\r\n" +
				tc.framing + "\r\n" + body
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			first, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, first.Body)
			_ = first.Body.Close()
			if first.Close {
				t.Fatalf("the first, ordinary request closed the connection (status %d)", first.StatusCode)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			respBody, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if !tc.refused {
				if resp.StatusCode == http.StatusBadRequest || resp.Close {
					t.Fatalf("chunked request: %d (close %v) %s, want it served on an open connection", resp.StatusCode, resp.Close, respBody)
				}
				return
			}
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(respBody, &st) != nil || st.Code != 3 {
				t.Fatalf("status %d %s, want 400 with an INVALID_ARGUMENT google.rpc.Status", resp.StatusCode, respBody)
			}
			// ReadResponse turns "Connection: close" into Close.
			if !resp.Close {
				t.Errorf("the response does not say Connection: close")
			}
			if n, err := br.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("after the refusal the connection is still open: read %d bytes, %v", n, err)
			}
		})
	}
}
