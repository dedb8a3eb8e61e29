package ipfilter_test

import (
	"fmt"
	"net/netip"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/ipfilter"
)

func ExampleFilter_Allowed() {
	f, err := ipfilter.New(config.IPFilter{
		Deny: []string{"203.0.113.0/24"},
		Classes: map[string]config.IPFilterClass{
			"office": {Allow: []string{"198.51.100.0/24", "2001:db8:1::/48"}},
		},
	})
	if err != nil {
		panic(err)
	}
	for _, c := range []struct{ class, ip string }{
		{"", "192.0.2.1"},
		{"", "203.0.113.9"},
		{"office", "198.51.100.7"},
		{"office", "::ffff:198.51.100.7"},
		{"office", "192.0.2.1"},
	} {
		fmt.Printf("%-6s %-19s %v\n", c.class, c.ip, f.Allowed(c.class, netip.MustParseAddr(c.ip)))
	}
	// Output:
	//        192.0.2.1           true
	//        203.0.113.9         false
	// office 198.51.100.7        true
	// office ::ffff:198.51.100.7 true
	// office 192.0.2.1           false
}
