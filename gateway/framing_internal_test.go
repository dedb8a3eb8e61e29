package gateway

import "testing"

// FuzzFramingScan feeds untrusted connection bytes to the request smuggling guard's scanner, cut
// into two reads at any point: it must never panic, and where the bytes are cut must not change
// what it finds.
func FuzzFramingScan(f *testing.F) {
	for _, seed := range []string{
		"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\nTRANSFER-ENCODING: chunked\ncontent-length: 1\n\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"\r\n\r\n\n\n", "Content-Length", "Transfer-Encoding:\r", "",
	} {
		f.Add(seed, uint16(len(seed)/2))
	}
	f.Fuzz(func(t *testing.T, data string, cut uint16) {
		whole := &framingConn{}
		whole.scan([]byte(data))
		at := int(cut) % (len(data) + 1)
		split := &framingConn{}
		split.scan([]byte(data[:at]))
		split.scan([]byte(data[at:]))
		if whole.ambiguous.Load() != split.ambiguous.Load() || whole.off != split.off {
			t.Fatalf("%q cut at %d: found %d (off %v), in one read %d (off %v)",
				data, at, split.ambiguous.Load(), split.off, whole.ambiguous.Load(), whole.off)
		}
	})
}

// TestFramingScan counts the header blocks that hold both framing headers.
func TestFramingScan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data string
		want int32
	}{
		{"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 1},
		{"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
		{"POST / HTTP/1.1\r\nX-Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
	}
	for _, tc := range tests {
		c := &framingConn{}
		c.scan([]byte(tc.data))
		if got := c.ambiguous.Load(); got != tc.want {
			t.Errorf("%q: %d blocks with both headers, want %d", tc.data, got, tc.want)
		}
	}
}
