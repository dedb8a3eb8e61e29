package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Insecure holds one switch per unsafe setting that [Config.CheckSafety] refuses. Each switch
// lets the gateway start with its setting, and the start-up logs a warning naming both.
type Insecure struct {
	// NoIdentitySecret lets the gateway start without authn.identity_secret. Backend calls
	// then carry no signed identity, so a backend cannot tell the gateway's calls from anyone
	// else's who reaches it. By default false.
	NoIdentitySecret bool `yaml:"no_identity_secret"`

	// AdminOffLoopback lets admin.address listen on a host that is not a loopback address
	// (every interface, or a pod's or host's address). /statusz, the detailed /readyz,
	// /metrics and, when on, pprof are then served to whoever reaches that address, so guard
	// it with a firewall or NetworkPolicy. By default false.
	AdminOffLoopback bool `yaml:"admin_off_loopback"`

	// BroadTrustedProxies lets listen.trusted_proxies hold a range broader than
	// [MinTrustedProxyBitsIPv4] or [MinTrustedProxyBitsIPv6], such as 0.0.0.0/0. Every
	// client in that range chooses its own address through X-Forwarded-For, and so escapes
	// IP filters and per-address rate limits. By default false.
	BroadTrustedProxies bool `yaml:"broad_trusted_proxies"`
}

const (
	// MinTrustedProxyBitsIPv4 is the shortest IPv4 prefix in listen.trusted_proxies that
	// [Config.CheckSafety] accepts without insecure.broad_trusted_proxies: a /8 is the
	// largest private network (10.0.0.0/8); anything broader takes in public addresses.
	MinTrustedProxyBitsIPv4 = 8

	// MinTrustedProxyBitsIPv6 is the shortest IPv6 prefix in listen.trusted_proxies that
	// [Config.CheckSafety] accepts without insecure.broad_trusted_proxies: a /32 is a
	// provider's whole allocation; a load balancer sends from far fewer addresses.
	MinTrustedProxyBitsIPv6 = 32

	// TrustedProxiesPlaceholder is the value of listen.trusted_proxies in the shipped
	// deployment manifests. It stands for the load balancer's range, which only the operator
	// knows, and validation refuses it with a message that says what to put instead.
	TrustedProxiesPlaceholder = "REPLACE-WITH-LOAD-BALANCER-CIDR"
)

// trustedProxies checks listen.trusted_proxies: CIDRs or addresses, and not the placeholder
// of the shipped manifests.
func (ch *checker) trustedProxies(list []string) {
	for i, s := range list {
		if s == TrustedProxiesPlaceholder {
			ch.failf(fmt.Sprintf("listen.trusted_proxies[%d]", i),
				"%q is a placeholder: replace it with the CIDRs your load balancer or ingress controller sends from (see docs/deployment.md)", s)
			return
		}
	}
	ch.prefixes("listen.trusted_proxies", list)
}

// Unsafe is a setting that [Config.CheckSafety] found unsafe.
type Unsafe struct {
	// Key is the setting, such as "admin.address" or "listen.trusted_proxies[0]".
	Key string
	// Switch is the insecure switch that allows it, such as "insecure.admin_off_loopback".
	Switch string
	// Problem says what the setting exposes.
	Problem string
	// Fix says how to make it safe.
	Fix string
}

// Error describes the setting, its risk, how to fix it and the switch that allows it.
func (u Unsafe) Error() string {
	env := "ARCHWAY_" + strings.ToUpper(strings.ReplaceAll(u.Switch, ".", "_"))
	return fmt.Sprintf("%s: %s: %s, or set %s: true (%s=true) to start anyway", u.Key, u.Problem, u.Fix, u.Switch, env)
}

// CheckSafety looks for the settings that let anyone who reaches the gateway or its backends
// act as someone else or read its internals: no authn.identity_secret, an admin.address (with
// admin.enabled) whose host is not a loopback address, and a listen.trusted_proxies range
// broader than /8 (IPv4) or /32 (IPv6). It returns those that their insecure switch allows,
// for the caller to log as warnings, and an error naming every other one with its switch.
//
// `archway serve` and `archway demo` call it before they start; [Parse] and [Config.Validate]
// do not, so that tests and programs that embed the gateway on loopback need no switch. Call
// it on a validated Config.
func (c *Config) CheckSafety() (allowed []Unsafe, err error) {
	var refused []error
	add := func(u Unsafe, on bool) {
		if on {
			allowed = append(allowed, u)
		} else {
			refused = append(refused, u)
		}
	}
	if c.Authn.IdentitySecret == "" {
		add(Unsafe{
			Key:     "authn.identity_secret",
			Switch:  "insecure.no_identity_secret",
			Problem: "not set, so backend calls carry no signed identity and backends cannot tell the gateway's calls from anyone else's",
			Fix:     fmt.Sprintf("set it to a random secret of at least %d bytes, shared with the backends (ARCHWAY_AUTHN_IDENTITY_SECRET)", MinIdentitySecretLen),
		}, c.Insecure.NoIdentitySecret)
	}
	if c.Admin.Enabled && !loopbackAddress(c.Admin.Address) {
		add(Unsafe{
			Key:     "admin.address",
			Switch:  "insecure.admin_off_loopback",
			Problem: fmt.Sprintf("%q is not a loopback address, so /statusz, /metrics and the detailed /readyz are served to whoever reaches it", c.Admin.Address),
			Fix:     "listen on 127.0.0.1 or [::1]",
		}, c.Insecure.AdminOffLoopback)
	}
	for i, s := range c.Listen.TrustedProxies {
		p, perr := ParsePrefix(s)
		if perr != nil {
			continue
		}
		minBits := MinTrustedProxyBitsIPv6
		if p.Addr().Is4() {
			minBits = MinTrustedProxyBitsIPv4
		}
		if p.Bits() >= minBits {
			continue
		}
		add(Unsafe{
			Key:     fmt.Sprintf("listen.trusted_proxies[%d]", i),
			Switch:  "insecure.broad_trusted_proxies",
			Problem: fmt.Sprintf("%q is broader than /%d, so every client in it chooses its own address through X-Forwarded-For and escapes IP filters and per-address rate limits", s, minBits),
			Fix:     "list only the addresses your load balancer or ingress controller sends from",
		}, c.Insecure.BroadTrustedProxies)
	}
	if err := joinProblems(refused); err != nil {
		return allowed, fmt.Errorf("config.CheckSafety: %w", err)
	}
	return allowed, nil
}

// loopbackAddress reports whether the host of addr, a valid host:port, is "localhost" or a
// loopback IP address.
func loopbackAddress(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
