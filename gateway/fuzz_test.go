package gateway

import (
	"errors"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// FuzzDecodeBody feeds untrusted bodies to the gateway's JSON decoder: it must never panic, and
// its errors must be worded for clients, without protojson's "proto:" prefix.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"displayName":"Ada"}`, `{"displayName":`, `[1,2]`, `{"nickname":1}`, `{"tags":"x"}`,
		`{"createTime":"yesterday"}`, `{"address":{"city":7}}`, "\x00\xff", `{"a":1}{"b":2}`, `null`,
	} {
		f.Add(seed)
	}
	m := newJSONMarshaler(true)
	f.Fuzz(func(t *testing.T, body string) {
		var u usersv1.User
		err := m.NewDecoder(strings.NewReader(body)).Decode(&u)
		if err == nil || errors.Is(err, io.EOF) {
			return
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "invalid JSON body: ") || strings.Contains(msg, "proto:") {
			t.Fatalf("decode(%q) error %q is not worded for clients", body, msg)
		}
	})
}

// FuzzCheckQuery feeds untrusted query strings to the query check of every route: it must never
// panic, and a rejection must name one of the parameters sent.
func FuzzCheckQuery(f *testing.F) {
	for _, seed := range []string{
		"page_size=1", "colour=red", "price.min_minor=1&price.x=2", "a[b]=c", "tags=a&tags=b",
		"read_mask=id,title", ".=1", "..=", "price..min=1", "%zz=1", "created_after.seconds=1",
	} {
		f.Add(seed)
	}
	routes, err := buildRoutes(slices.Sorted(maps.Keys(builtinServices)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, r := range routes {
			err := r.checkQuery(values)
			if err == nil {
				continue
			}
			named := false
			for key := range values {
				if strings.Contains(err.Error(), strconv.Quote(key)) {
					named = true
				}
			}
			if !named {
				t.Fatalf("%s %s: error %q names no parameter of %q", r.httpMethod, r.pattern, err, raw)
			}
		}
	})
}
