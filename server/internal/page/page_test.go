package page_test

import (
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/server/internal/page"
)

func TestSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want int32 }{{-1, 20}, {0, 20}, {1, 1}, {100, 100}, {101, 100}} {
		if got := page.Size(tt.in); got != int(tt.want) {
			t.Errorf("Size(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestKeysOrder(t *testing.T) {
	t.Parallel()
	nums := []int64{math.MinInt64, -5, -1, 0, 1, 42, math.MaxInt64}
	for i := 1; i < len(nums); i++ {
		a, b := nums[i-1], nums[i]
		if page.AscInt(a) >= page.AscInt(b) {
			t.Errorf("AscInt(%d) >= AscInt(%d)", a, b)
		}
		if page.DescInt(a) <= page.DescInt(b) {
			t.Errorf("DescInt(%d) <= DescInt(%d)", a, b)
		}
	}
	early, late := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 1, time.UTC)
	if page.DescTime(late) >= page.DescTime(early) {
		t.Error("DescTime does not put the later time first")
	}
}

func TestSlice(t *testing.T) {
	t.Parallel()
	items := []int{5, 3, 9, 1, 7}
	key := func(n int) string { return strconv.Itoa(n) }
	tests := []struct {
		name     string
		after    string
		size     int
		want     []int
		wantNext string
	}{
		{"first page", "", 2, []int{1, 3}, "3"},
		{"middle page", "3", 2, []int{5, 7}, "7"},
		{"last page", "7", 2, []int{9}, ""},
		{"exact end", "5", 2, []int{7, 9}, ""},
		{"cursor item gone", "4", 2, []int{5, 7}, "7"},
		{"past the end", "9", 2, []int{}, ""},
		{"all", "", 10, []int{1, 3, 5, 7, 9}, ""},
		{"size zero serves one", "", 0, []int{1}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, next := page.Slice(slices.Clone(items), key, tt.after, tt.size)
			if !slices.Equal(got, tt.want) || next != tt.wantNext {
				t.Errorf("Slice(after %q, %d) = %v, %q; want %v, %q", tt.after, tt.size, got, next, tt.want, tt.wantNext)
			}
		})
	}
}

func TestQueryTokens(t *testing.T) {
	t.Parallel()
	base := page.NewQuery(&usersv1.ListUsersRequest{Tags: []string{"vip"}, PageSize: 5})
	token := base.Token("cursor|users/ada")
	tests := []struct {
		name    string
		query   page.Query
		token   string
		want    string
		wantErr bool
	}{
		{"empty token", base, "", "", false},
		{"round trip", base, token, "cursor|users/ada", false},
		{"page size and token ignored", page.NewQuery(&usersv1.ListUsersRequest{Tags: []string{"vip"}, PageSize: 9, PageToken: "x"}), token, "cursor|users/ada", false},
		{"other filters", page.NewQuery(&usersv1.ListUsersRequest{Tags: []string{"new"}}), token, "", true},
		{"other list", page.NewQuery(&usersv1.ListUsersResponse{}), token, "", true},
		{"truncated", base, token[:len(token)-2], "", true},
		{"not base64", base, "!!!", "", true},
		{"too long", base, string(make([]byte, 2000)), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.query.After(tt.token)
			if tt.wantErr {
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("After = %q, %v; want INVALID_ARGUMENT", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("After = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// FuzzAfter feeds untrusted page tokens to the decoder: it must never panic, must accept only
// tokens it could have issued, and must round-trip every cursor up to MaxKeyBytes long.
func FuzzAfter(f *testing.F) {
	q := page.NewQuery(&usersv1.ListUsersRequest{CountryCode: "DE"})
	valid := q.Token("0123456789abcdef|users/konrad-zuse")
	for _, seed := range []struct{ token, cursor string }{
		{"", ""},
		{valid, "x"},
		{valid[:len(valid)-1], "users/a|b"},
		{"AQ", ""},
		{"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "\x00\xff"},
		{"====", "é"},
	} {
		f.Add(seed.token, seed.cursor)
	}
	f.Fuzz(func(t *testing.T, token, cursor string) {
		after, err := q.After(token)
		if err != nil && status.Code(err) != codes.InvalidArgument {
			t.Fatalf("After(%q): %v, want INVALID_ARGUMENT", token, err)
		}
		if err == nil && token != "" && q.Token(after) != token {
			t.Fatalf("After(%q) accepted a token it would not issue for %q", token, after)
		}
		got, err := q.After(q.Token(cursor))
		switch {
		case len(cursor) > page.MaxKeyBytes:
			if err == nil {
				t.Fatalf("After accepted a token with a %d-byte key", len(cursor))
			}
		case err != nil || got != cursor:
			t.Fatalf("round trip of %q = %q, %v", cursor, got, err)
		}
	})
}
