package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/archway-gateway/archway/gateway/config"
)

// safeYAML is a configuration that CheckSafety accepts: a secret, the admin listener on
// loopback, no trusted proxies.
const safeYAML = "authn: {identity_secret: 0123456789abcdef0123456789abcdef}\n"

func TestCheckSafety(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		yaml string
		// refused lists the keys refused without the switches, each with its switch; empty
		// for a safe configuration.
		refused map[string]string
	}{
		{"safe", "", nil},
		{"admin on 127.0.0.1", "admin: {address: \"127.0.0.1:9901\"}", nil},
		{"admin on 127.0.0.2", "admin: {address: \"127.0.0.2:9901\"}", nil},
		{"admin on ::1", "admin: {address: \"[::1]:9901\"}", nil},
		{"admin on localhost", "admin: {address: \"localhost:9901\"}", nil},
		{"admin off on every interface", "admin: {enabled: false, address: \"0.0.0.0:9901\"}", nil},
		{"trusted proxies /8 and /32", "listen: {trusted_proxies: [10.0.0.0/8, \"2001:db8::/32\", 192.0.2.7]}", nil},
		{"no identity secret", "authn: {identity_secret: \"\"}",
			map[string]string{"authn.identity_secret": "insecure.no_identity_secret"}},
		{"admin on every interface", "admin: {address: \":9901\"}",
			map[string]string{"admin.address": "insecure.admin_off_loopback"}},
		{"admin on 0.0.0.0", "admin: {address: \"0.0.0.0:9901\"}",
			map[string]string{"admin.address": "insecure.admin_off_loopback"}},
		{"admin on ::", "admin: {address: \"[::]:9901\"}",
			map[string]string{"admin.address": "insecure.admin_off_loopback"}},
		{"admin on a pod address", "admin: {address: \"10.1.2.3:9901\"}",
			map[string]string{"admin.address": "insecure.admin_off_loopback"}},
		{"admin on a host name", "admin: {address: \"admin.internal:9901\"}",
			map[string]string{"admin.address": "insecure.admin_off_loopback"}},
		{"trust every IPv4 address", "listen: {trusted_proxies: [10.0.0.0/8, 0.0.0.0/0]}",
			map[string]string{"listen.trusted_proxies[1]": "insecure.broad_trusted_proxies"}},
		{"trust a /7", "listen: {trusted_proxies: [10.0.0.0/7]}",
			map[string]string{"listen.trusted_proxies[0]": "insecure.broad_trusted_proxies"}},
		{"trust every IPv6 address", "listen: {trusted_proxies: [\"::/0\"]}",
			map[string]string{"listen.trusted_proxies[0]": "insecure.broad_trusted_proxies"}},
		{"trust a /31 of IPv6", "listen: {trusted_proxies: [\"2001:db8::/31\"]}",
			map[string]string{"listen.trusted_proxies[0]": "insecure.broad_trusted_proxies"}},
		{"trust every IPv4 address, mapped", "listen: {trusted_proxies: [\"::ffff:0.0.0.0/96\"]}",
			map[string]string{"listen.trusted_proxies[0]": "insecure.broad_trusted_proxies"}},
		{"all three", "authn: {identity_secret: \"\"}\nadmin: {address: \":9901\"}\nlisten: {trusted_proxies: [0.0.0.0/0, \"::/0\"]}",
			map[string]string{
				"authn.identity_secret":     "insecure.no_identity_secret",
				"admin.address":             "insecure.admin_off_loopback",
				"listen.trusted_proxies[0]": "insecure.broad_trusted_proxies",
				"listen.trusted_proxies[1]": "insecure.broad_trusted_proxies",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := safeYAML
			if strings.Contains(tc.yaml, "authn:") {
				base = ""
			}
			cfg, err := config.Parse([]byte(base+tc.yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			allowed, err := cfg.CheckSafety()
			if len(allowed) > 0 {
				t.Errorf("without switches, CheckSafety allowed %v", allowed)
			}
			if len(tc.refused) == 0 {
				if err != nil {
					t.Fatalf("CheckSafety = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckSafety = nil, want %v refused", tc.refused)
			}
			var switches []string
			for key, sw := range tc.refused {
				env := "ARCHWAY_" + strings.ToUpper(strings.ReplaceAll(sw, ".", "_")) + "=true"
				assertError(t, err, key+": ", "set "+sw+": true", env)
				switches = append(switches, strings.TrimPrefix(sw, "insecure.")+": true")
			}
			if n := strings.Count(err.Error(), "to start anyway"); n != len(tc.refused) {
				t.Errorf("%d settings refused, want %d: %v", n, len(tc.refused), err)
			}

			// Each switch turns its refusal into an allowed setting, returned to be logged.
			slices.Sort(switches)
			switches = slices.Compact(switches)
			on := base + tc.yaml + "\ninsecure: {" + strings.Join(switches, ", ") + "}\n"
			cfg, err = config.Parse([]byte(on), nil)
			if err != nil {
				t.Fatal(err)
			}
			allowed, err = cfg.CheckSafety()
			if err != nil {
				t.Fatalf("with %v: CheckSafety = %v, want nil", switches, err)
			}
			got := map[string]string{}
			for _, u := range allowed {
				got[u.Key] = u.Switch
				if u.Problem == "" || u.Fix == "" {
					t.Errorf("allowed %+v: want its problem and fix, for the warning", u)
				}
			}
			if len(got) != len(tc.refused) || len(allowed) != len(tc.refused) {
				t.Fatalf("with %v: allowed %v, want %v", switches, got, tc.refused)
			}
			for key, sw := range tc.refused {
				if got[key] != sw {
					t.Errorf("with %v: %s allowed by %q, want %q", switches, key, got[key], sw)
				}
			}
		})
	}
}

// TestCheckSafetySwitchesAreSeparate checks that a switch allows only its own setting.
func TestCheckSafetySwitchesAreSeparate(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte("admin: {address: \":9901\"}\nlisten: {trusted_proxies: [0.0.0.0/0]}\n"+
		"insecure: {no_identity_secret: true}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	allowed, err := cfg.CheckSafety()
	if len(allowed) != 1 || allowed[0].Key != "authn.identity_secret" {
		t.Errorf("allowed %v, want only authn.identity_secret", allowed)
	}
	if err == nil {
		t.Fatal("CheckSafety = nil, want admin.address and listen.trusted_proxies[0] refused")
	}
	assertError(t, err, "config.CheckSafety: 2 problems", "admin.address: ", "listen.trusted_proxies[0]: ")
	if strings.Contains(err.Error(), "authn.identity_secret") {
		t.Errorf("error %q names the allowed authn.identity_secret", err)
	}
}

// TestDefaultsNeedOnlyASecret checks the defaults: every insecure switch and admin.pprof off,
// and nothing unsafe but the identity secret that only the operator can choose.
func TestDefaultsNeedOnlyASecret(t *testing.T) {
	t.Parallel()
	c := config.Default()
	if c.Insecure != (config.Insecure{}) || c.Admin.Pprof {
		t.Errorf("insecure %+v, admin.pprof %v: want all off by default", c.Insecure, c.Admin.Pprof)
	}
	_, err := c.CheckSafety()
	if err == nil || strings.Count(err.Error(), "to start anyway") != 1 {
		t.Fatalf("CheckSafety of the defaults = %v, want authn.identity_secret refused only", err)
	}
	assertError(t, err, "authn.identity_secret: not set", "ARCHWAY_AUTHN_IDENTITY_SECRET", "insecure.no_identity_secret")
}

func TestTrustedProxiesPlaceholderIsRefused(t *testing.T) {
	t.Parallel()
	_, err := config.Parse([]byte("listen: {trusted_proxies: [192.0.2.0/24, "+config.TrustedProxiesPlaceholder+"]}\n"), nil)
	if err == nil {
		t.Fatal("Parse accepted the placeholder")
	}
	assertError(t, err, `listen.trusted_proxies[1]: "REPLACE-WITH-LOAD-BALANCER-CIDR" is a placeholder: replace it with the CIDRs your load balancer`)
	// The same from the environment, which names the variable too.
	_, err = config.Parse(nil, []string{"ARCHWAY_LISTEN_TRUSTED_PROXIES=" + config.TrustedProxiesPlaceholder})
	if err == nil {
		t.Fatal("Parse accepted the placeholder from the environment")
	}
	assertError(t, err, "listen.trusted_proxies[0]: ", "is a placeholder", "(set by ARCHWAY_LISTEN_TRUSTED_PROXIES)")
}
