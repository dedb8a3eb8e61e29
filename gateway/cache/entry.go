package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Entry is one cached response. Once saved in a [Store] it is shared by every request that reads
// it and must not be modified.
type Entry struct {
	// Status is the HTTP status: 200, or 404 for a cached NOT_FOUND.
	Status int
	// Header holds the response header fields the backend call produced.
	Header http.Header
	// Body is the response body.
	Body []byte
	// ETag is the strong entity tag of Body, quoted; "" for a NOT_FOUND.
	ETag string
	// Stored is when the response was produced.
	Stored time.Time
	// TTL is how long after Stored the response is fresh.
	TTL time.Duration
	// Stale is how long after it stops being fresh the response may still be served while it
	// is refreshed.
	Stale time.Duration
	// Generations are the generations of the resource tags the response depends on, as they
	// were before the backend was called; the response is current while they still are.
	Generations []uint64
}

// keep is how long the entry is worth keeping after it was stored.
func (e *Entry) keep() time.Duration { return e.TTL + e.Stale }

// size estimates the bytes the entry holds in memory.
func (e *Entry) size() int {
	const overhead = 160 // the struct, slice and map headers
	n := overhead + len(e.Body) + len(e.ETag) + 8*len(e.Generations)
	for k, vs := range e.Header {
		n += len(k) + 16
		for _, v := range vs {
			n += len(v) + 16
		}
	}
	return n
}

// entryFormat is the first byte of an encoded entry; a different one is rejected, so that
// entries written by a gateway with another format are misses rather than garbage.
const entryFormat = 1

// MarshalBinary encodes the entry, for stores that keep bytes.
func (e *Entry) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 64+e.size())
	b = append(b, entryFormat)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = binary.AppendVarint(b, e.Stored.UnixNano())
	b = binary.AppendVarint(b, int64(e.TTL))
	b = binary.AppendVarint(b, int64(e.Stale))
	b = appendString(b, e.ETag)
	b = binary.AppendUvarint(b, uint64(len(e.Generations)))
	for _, g := range e.Generations {
		b = binary.AppendUvarint(b, g)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Header)))
	for k, vs := range e.Header {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	b = appendString(b, string(e.Body))
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errCorrupt = errors.New("cache: corrupt entry")

// UnmarshalBinary decodes an entry that MarshalBinary encoded. It fails, without panicking, on
// any other input.
func (e *Entry) UnmarshalBinary(data []byte) error {
	if len(data) == 0 || data[0] != entryFormat {
		return fmt.Errorf("%w: unknown format", errCorrupt)
	}
	d := decoder{b: data[1:]}
	status := d.uvarint()
	stored := d.varint()
	ttl := d.varint()
	stale := d.varint()
	etag := d.string()
	var gens []uint64
	if n := d.count(1); n > 0 {
		gens = make([]uint64, n)
		for i := range gens {
			gens[i] = d.uvarint()
		}
	}
	var header http.Header
	if n := d.count(2); n > 0 {
		header = make(http.Header, n)
		for range n {
			k := d.string()
			vs := make([]string, d.count(1))
			for i := range vs {
				vs[i] = d.string()
			}
			header[k] = vs
		}
	}
	body := []byte(d.string())
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	if status < 100 || status > 599 || ttl < 0 || stale < 0 {
		return fmt.Errorf("%w: status %d, ttl %d, stale %d", errCorrupt, status, ttl, stale)
	}
	*e = Entry{
		Status: int(status), Header: header, Body: body, ETag: etag,
		Stored: time.Unix(0, stored), TTL: time.Duration(ttl), Stale: time.Duration(stale),
		Generations: gens,
	}
	return nil
}

// decoder reads the fields of an encoded entry, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad number", errCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad number", errCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number of items that take at least minBytes each, and fails when fewer bytes
// are left than they would take.
func (d *decoder) count(minBytes int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/minBytes) {
		d.err = fmt.Errorf("%w: %d items in %d bytes", errCorrupt, n, len(d.b))
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.count(1)
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
