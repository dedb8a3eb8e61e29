package gateway

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestRefusedParameterIsAlwaysTheSame: when several query parameters are refused, the answer
// names the first in byte order, not whichever the map yields first, so that one request always
// gets one answer (FuzzDescribedRequest found two gateways naming different ones).
func TestRefusedParameterIsAlwaysTheSame(t *testing.T) {
	t.Parallel()
	routes, err := buildRoutes(slices.Sorted(maps.Keys(builtinServices)))
	if err != nil {
		t.Fatal(err)
	}
	rt := routes["POST /v1/users"]
	values := url.Values{"zeta": {"1"}, "read_mask": {"x"}, "filter": {"\x00"}, "omega": {"2"}}
	for range 50 {
		if err := rt.checkQuery(values); err == nil || !strings.Contains(err.Error(), `"filter"`) {
			t.Fatalf("checkQuery = %v, want the refusal of \"filter\"", err)
		}
		key, ok := firstInvalidUTF8(url.Values{"b": {"\xff"}, "a": {"ok", "\xfe"}, "c\xff": {"x"}})
		if !ok || key != "a" {
			t.Fatalf("firstInvalidUTF8 = %q, %v, want \"a\"", key, ok)
		}
		name, ok := firstInvalidPathUTF8(map[string]string{"z": "\xff", "y": "\xfe", "x": "ok"})
		if !ok || name != "y" {
			t.Fatalf("firstInvalidPathUTF8 = %q, %v, want \"y\"", name, ok)
		}
	}
}
