package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/config"
)

// testSecret is an identity secret long enough for authn.identity_secret.
const testSecret = "ARCHWAY_AUTHN_IDENTITY_SECRET=0123456789abcdef0123456789abcdef"

// writeConfig writes yaml, followed by one backend on an unreachable loopback port, to a
// file and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "archway.yaml")
	yaml += "backends:\n  - name: users\n    address: \"127.0.0.1:1\"\n    services: [storefront.users.v1.UserService]\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeRefusesUnsafeSettings checks that serve and demo refuse each unsafe setting before
// they listen, naming the setting and the switch that would allow it.
func TestServeRefusesUnsafeSettings(t *testing.T) {
	t.Parallel()
	loopback := "listen: {address: \"127.0.0.1:0\"}\nadmin: {address: \"127.0.0.1:0\"}\n"
	tests := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"no identity secret", []string{"serve", "-config", writeConfig(t, loopback)}, nil,
			[]string{"authn.identity_secret: not set", "set insecure.no_identity_secret: true (ARCHWAY_INSECURE_NO_IDENTITY_SECRET=true)"}},
		{"admin on every interface", []string{"serve", "-config", writeConfig(t, loopback)}, []string{testSecret, "ARCHWAY_ADMIN_ADDRESS=0.0.0.0:0"},
			[]string{`admin.address: "0.0.0.0:0" is not a loopback address`, "set insecure.admin_off_loopback: true"}},
		{"admin on every interface, from the file", []string{"serve", "-config", writeConfig(t, "listen: {address: \"127.0.0.1:0\"}\nadmin: {address: \":0\"}\n")}, []string{testSecret},
			[]string{`admin.address: ":0" is not a loopback address`, "set insecure.admin_off_loopback: true"}},
		{"trust every address", []string{"serve", "-config", writeConfig(t, "listen: {address: \"127.0.0.1:0\", trusted_proxies: [10.0.0.0/8, 0.0.0.0/0]}\n")}, []string{testSecret},
			[]string{`listen.trusted_proxies[1]: "0.0.0.0/0" is broader than /8`, "set insecure.broad_trusted_proxies: true"}},
		{"trust every IPv6 address", []string{"serve", "-config", writeConfig(t, loopback)}, []string{testSecret, "ARCHWAY_LISTEN_TRUSTED_PROXIES=::/0"},
			[]string{`listen.trusted_proxies[0]: "::/0" is broader than /32`, "set insecure.broad_trusted_proxies: true"}},
		{"another switch does not help", []string{"serve", "-config", writeConfig(t, loopback)}, []string{"ARCHWAY_INSECURE_ADMIN_OFF_LOOPBACK=true"},
			[]string{"authn.identity_secret: not set", "insecure.no_identity_secret"}},
		{"demo with its admin listener on every interface", []string{"demo"}, []string{"ARCHWAY_LISTEN_ADDRESS=127.0.0.1:0", "ARCHWAY_ADMIN_ADDRESS=0.0.0.0:0"},
			[]string{"admin.address", "set insecure.admin_off_loopback: true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A gateway that wrongly starts stops after a while, so the test fails instead of hanging.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			var logs syncBuffer
			err := run(ctx, tc.args, append(tc.env, "ARCHWAY_LOG_FORMAT=json"), &logs)
			if err == nil {
				t.Fatalf("run(%v) = nil, want a refusal", tc.args)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("run(%v) = %q\nwant it to contain %q", tc.args, err, w)
				}
			}
			if strings.Contains(logs.String(), `"msg":"listening"`) && slices.Contains(tc.args, "serve") {
				t.Errorf("the gateway listened before refusing:\n%s", logs.String())
			}
		})
	}
}

// syncBuffer is a bytes.Buffer that the gateway's goroutines may write to at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeWarnsOfAllowedUnsafeSettings runs serve with two unsafe settings and their switches:
// it starts, serves, and has logged a warning for each.
func TestServeWarnsOfAllowedUnsafeSettings(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `listen: {address: "127.0.0.1:0", trusted_proxies: ["0.0.0.0/0"]}
admin: {address: "127.0.0.1:0"}
log: {format: json}
insecure: {no_identity_secret: true, broad_trusted_proxies: true}
`)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-config", path}, nil, pw)
		_ = pw.Close()
	}()
	type record struct{ Level, Msg, Key, Risk, Listener string }
	records := make(chan record, 64)
	go func() {
		defer close(records)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var r record
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				select {
				case records <- r:
				default:
				}
			}
		}
	}()
	warned := map[string]record{}
	deadline := time.After(20 * time.Second)
wait:
	for {
		select {
		case r, ok := <-records:
			if !ok {
				t.Fatalf("serve ended its log early: %v", <-done)
			}
			if strings.HasPrefix(r.Msg, "unsafe setting allowed by ") {
				warned[r.Key] = r
			}
			if r.Msg == "listening" && r.Listener == "api" {
				break wait
			}
		case <-deadline:
			t.Fatal("serve did not start listening")
		}
	}
	for key, sw := range map[string]string{"authn.identity_secret": "insecure.no_identity_secret", "listen.trusted_proxies[0]": "insecure.broad_trusted_proxies"} {
		r, ok := warned[key]
		switch {
		case !ok:
			t.Errorf("no warning for %s: %v", key, warned)
		case r.Level != "WARN" || r.Msg != "unsafe setting allowed by "+sw || r.Risk == "":
			t.Errorf("warning for %s: %+v, want level WARN, message naming %s, and the risk", key, r, sw)
		}
	}
	if len(warned) != 2 {
		t.Errorf("warnings for %v, want authn.identity_secret and listen.trusted_proxies[0]", warned)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestCheckSafetyWarnsOfEachSwitch checks the warning of every switch, without listening: the
// admin listener off loopback is not one a test may open.
func TestCheckSafetyWarnsOfEachSwitch(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`listen: {trusted_proxies: ["::/0"]}
admin: {address: "0.0.0.0:9901"}
insecure: {no_identity_secret: true, admin_off_loopback: true, broad_trusted_proxies: true}
backends:
  - {name: users, address: "127.0.0.1:1", services: [storefront.users.v1.UserService]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if err := checkSafety(cfg, slog.New(slog.NewJSONHandler(&logs, nil))); err != nil {
		t.Fatalf("checkSafety = %v, want nil: every setting has its switch", err)
	}
	want := map[string]string{
		"authn.identity_secret":     "insecure.no_identity_secret",
		"admin.address":             "insecure.admin_off_loopback",
		"listen.trusted_proxies[0]": "insecure.broad_trusted_proxies",
	}
	got := map[string]string{}
	for line := range strings.Lines(logs.String()) {
		var r struct{ Level, Msg, Key, Risk string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Level != "WARN" || r.Risk == "" {
			t.Errorf("record %s: want level WARN with the risk", line)
		}
		got[r.Key] = strings.TrimPrefix(r.Msg, "unsafe setting allowed by ")
	}
	if len(got) != len(want) {
		t.Errorf("warnings %v, want %v", got, want)
	}
	for key, sw := range want {
		if got[key] != sw {
			t.Errorf("warning for %s names %q, want %q", key, got[key], sw)
		}
	}
}
