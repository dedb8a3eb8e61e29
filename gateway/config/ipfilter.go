package config

import (
	"fmt"
	"maps"
	"slices"
)

// IPFilter configures client IP allow and deny lists. Each list holds CIDRs
// or single addresses, IPv4 or IPv6; an IPv4-mapped IPv6 address
// (::ffff:10.0.0.1) is the IPv4 address it maps. A client whose address a
// deny list covers is refused; a non-empty allow list refuses every client it
// does not cover. Deny wins over allow. The client's address is the one
// resolved through listen.trusted_proxies.
type IPFilter struct {
	// Allow lists the only addresses that may call any route, when it is not
	// empty. By default empty: every address may.
	Allow []string `yaml:"allow"`

	// Deny lists the addresses that may call no route. By default empty.
	Deny []string `yaml:"deny"`

	// Classes are the named filters that route policies refer to, applied
	// after the global one. By default empty.
	Classes map[string]IPFilterClass `yaml:"classes"`
}

// IPFilterClass is one named filter, applied to the routes whose policy
// names it.
type IPFilterClass struct {
	// Allow lists the only addresses that may call the class's routes, when
	// it is not empty. By default empty.
	Allow []string `yaml:"allow"`

	// Deny lists the addresses that may not call the class's routes. By
	// default empty.
	Deny []string `yaml:"deny"`
}

// ipFilter checks every list of the ip_filter section.
func (ch *checker) ipFilter(f IPFilter) {
	ch.prefixes("ip_filter.allow", f.Allow)
	ch.prefixes("ip_filter.deny", f.Deny)
	for _, name := range slices.Sorted(maps.Keys(f.Classes)) {
		p := "ip_filter.classes." + name
		if name == "" {
			ch.failf(p, "a class needs a name")
		}
		class := f.Classes[name]
		ch.prefixes(p+".allow", class.Allow)
		ch.prefixes(p+".deny", class.Deny)
	}
}

// prefixes checks a list of CIDRs or single addresses.
func (ch *checker) prefixes(path string, list []string) {
	for i, s := range list {
		if _, err := ParsePrefix(s); err != nil {
			ch.failf(fmt.Sprintf("%s[%d]", path, i), "%v", err)
		}
	}
}
