package authn_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/archway-gateway/archway/gateway/authn"
)

func TestParseBearer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi"},
		{"bearer abc", "abc"},
		{"BEARER a-b_c~d+e/f==", "a-b_c~d+e/f=="},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Bearer  abc", ""},
		{"Bearer abc ", ""},
		{"Bearer a=b", ""},
		{"Bearer ==", ""},
		{"Basic abc", ""},
		{"Bearerabc", ""},
		{"Bearer ab\"c", ""},
		{"Bearer " + strings.Repeat("a", 16<<10+1), ""},
	} {
		t.Run(tc.in[:min(len(tc.in), 30)], func(t *testing.T) {
			t.Parallel()
			got, err := authn.ParseBearer(tc.in)
			if tc.want == "" {
				if !errors.Is(err, authn.ErrNotBearer) {
					t.Errorf("ParseBearer(%q) = %q, %v; want ErrNotBearer", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseBearer(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// FuzzParseBearer: the parser never panics, and what it accepts is a b64token that parses back
// to itself.
func FuzzParseBearer(f *testing.F) {
	for _, seed := range []string{"Bearer abc.def.ghi", "bearer x==", "Bearer ", "Basic a", "Bearer a b", "Bearer \x00", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		tok, err := authn.ParseBearer(value)
		if err != nil {
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n\"\\,") || len(tok) > 16<<10 {
			t.Fatalf("ParseBearer(%q) accepted %q", value, tok)
		}
		if again, err := authn.ParseBearer("Bearer " + tok); err != nil || again != tok {
			t.Fatalf("ParseBearer(Bearer %q) = %q, %v", tok, again, err)
		}
	})
}

func ExampleParseBearer() {
	tok, err := authn.ParseBearer("Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
	fmt.Println(tok, err)
	_, err = authn.ParseBearer("Basic YWRhOnB3")
	fmt.Println(err)
	// Output:
	// eyJhbGciOiJSUzI1NiJ9.e30.c2ln <nil>
	// authn: the Authorization header must be "Bearer <token>"
}
