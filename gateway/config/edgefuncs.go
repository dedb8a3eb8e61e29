package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// edgeFunctions checks the settings of the edge functions that see every
// request before routing: trusted proxies, access log sampling, IP filtering
// and CORS.
func (ch *checker) edgeFunctions(c *Config) {
	ch.trustedProxies(c.Listen.TrustedProxies)
	if r := c.Log.AccessLogSampleRate; !(r >= 0 && r <= 1) {
		ch.failf("log.access_log_sample_rate", "must be from 0 to 1, got %v", r)
	}
	ch.nonNegative("log.access_log_slow_threshold", c.Log.AccessLogSlowThreshold)
	ch.nonNegative("log.flush_interval", c.Log.FlushInterval)
	ch.ipFilter(c.IPFilter)
	ch.cors(c.CORS)
}

// ParsePrefix parses a CIDR ("10.0.0.0/8", "2001:db8::/32") or a single
// address ("10.0.0.7", which is "10.0.0.7/32"), as listen.trusted_proxies
// and the ip_filter lists take them. An IPv4-mapped IPv6 prefix
// ("::ffff:10.0.0.0/104") is returned as the IPv4 prefix it maps
// ("10.0.0.0/8"). Zones, and bits set past the prefix length, are errors.
func ParsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		p, err = netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like \"10.0.0.0/8\" or \"2001:db8::/32\", nor an address", s)
		}
		if m := p.Masked(); m != p {
			return netip.Prefix{}, fmt.Errorf("%q has bits set past the prefix length: write %q", s, m.String())
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an address like \"10.0.0.7\" or \"2001:db8::7\", nor a CIDR", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		// A masked prefix keeps the ::ffff: of a mapped address only when it is /96 or longer.
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}

// TrustedProxyPrefixes returns listen.trusted_proxies parsed with
// [ParsePrefix]. Call it on a validated Config: an entry that does not parse
// is left out.
func (l Listen) TrustedProxyPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(l.TrustedProxies))
	for _, s := range l.TrustedProxies {
		if p, err := ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}
