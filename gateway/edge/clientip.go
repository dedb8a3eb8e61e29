package edge

import (
	"net/http"
	"net/netip"
	"strings"
)

// HeaderForwardedFor is the header in which proxies append the address of the peer they got a
// request from.
const HeaderForwardedFor = "X-Forwarded-For"

// ClientIP resolves the client's address through trusted proxies and records it in the
// request's [State] (see [State.SetClientIP]); it must run after [RequestID], which creates the
// State. The client is the connection's peer, unless the peer's address is in trusted: then
// X-Forwarded-For (every line of it, each a comma-separated list) is read from the right,
// skipping the addresses in trusted, and the first other address is the client. When every
// address is trusted the leftmost one is the client; an entry that is not an address ends the
// walk, and the last trusted hop is the client, since nothing left of a garbled entry can be
// believed. X-Forwarded-For from a peer that is not trusted is ignored. With no trusted
// prefixes, ClientIP returns next unchanged.
func ClientIP(next http.Handler, trusted []netip.Prefix) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := StateFrom(r.Context()); s != nil {
			peer := s.ClientIP()
			if ip := forwardedClient(peer, r.Header.Values(HeaderForwardedFor), trusted); ip != peer {
				s.SetClientIP(ip)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// forwardedClient walks the X-Forwarded-For lines from the right, starting at peer.
func forwardedClient(peer netip.Addr, lines []string, trusted []netip.Prefix) netip.Addr {
	client := peer
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for done := false; !done; {
			if !isTrusted(client, trusted) {
				return client
			}
			j := strings.LastIndexByte(line, ',')
			entry := line[j+1:]
			line, done = line[:max(j, 0)], j < 0
			ip, ok := parseForwardedAddr(entry)
			if !ok {
				return client
			}
			client = ip
		}
	}
	return client
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseForwardedAddr parses one X-Forwarded-For entry: an IPv4 or IPv6 address, optionally in
// brackets or with a port, as some proxies write it. IPv4-mapped IPv6 addresses are unmapped;
// addresses with a zone are refused.
func parseForwardedAddr(entry string) (netip.Addr, bool) {
	entry = strings.Trim(entry, " \t")
	ip, err := netip.ParseAddr(entry)
	if err != nil {
		if inner, ok := strings.CutPrefix(entry, "["); ok && strings.HasSuffix(inner, "]") {
			ip, err = netip.ParseAddr(strings.TrimSuffix(inner, "]"))
		} else {
			var ap netip.AddrPort
			ap, err = netip.ParseAddrPort(entry)
			ip = ap.Addr()
		}
	}
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}
