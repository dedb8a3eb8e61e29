package cache_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/cache"
)

func TestEntryRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    cache.Entry
	}{
		{"full", cache.Entry{
			Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}, "X-Many": {"a", "b"}},
			Body: []byte(`{"name":"users/ada"}`), ETag: `"abc"`, Stored: time.Unix(1700000000, 123),
			TTL: time.Minute, Stale: time.Second, Generations: []uint64{0, 7, 1 << 63},
		}},
		{"not found", cache.Entry{Status: http.StatusNotFound, Body: []byte{}, Stored: time.Unix(0, 0), TTL: time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data, err := tc.e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got cache.Entry
			if err := got.UnmarshalBinary(data); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.e) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.e)
			}
			for i := range len(data) {
				var short cache.Entry
				if err := short.UnmarshalBinary(data[:i]); err == nil {
					t.Fatalf("a %d-byte prefix of a %d-byte entry decoded", i, len(data))
				}
			}
		})
	}
}

func FuzzEntryUnmarshal(f *testing.F) {
	e := cache.Entry{Status: 200, Header: http.Header{"A": {"b"}}, Body: []byte("x"), ETag: `"t"`, Stored: time.Unix(1, 0), TTL: time.Second, Generations: []uint64{3}}
	data, err := e.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var e cache.Entry
		if e.UnmarshalBinary(data) != nil {
			return
		}
		again, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back cache.Entry
		if err := back.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
	})
}
