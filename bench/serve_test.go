package bench_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/archway-gateway/archway/bench"
	"github.com/archway-gateway/archway/gateway/cache"
	"github.com/archway-gateway/archway/gateway/config"
)

// The routes the workloads use, as policy.routes keys.
var workloadRoutes = []string{
	"storefront.catalog.v1.CatalogService/GetProduct",
	"storefront.catalog.v1.CatalogService/ListProducts",
	"storefront.users.v1.UserService/UpdateUser",
	"archway.edge.v1.CompositeService/GetUserOverview",
}

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, yaml)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v\n%s", err, yaml)
	}
	return cfg
}

func TestArchwayConfigs(t *testing.T) {
	t.Parallel()
	backends := func(t *testing.T, cfg *config.Config) {
		t.Helper()
		var got []string
		for _, b := range cfg.Backends {
			got = append(got, b.Name+"="+b.Address)
		}
		if want := []string{"catalog=127.0.0.1:1", "users=127.0.0.1:2", "orders=127.0.0.1:3"}; !slices.Equal(got, want) {
			t.Errorf("backends %v, want %v", got, want)
		}
	}

	t.Run("chain off", func(t *testing.T) {
		t.Parallel()
		cfg := parse(t, bench.ArchwayConfig("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"))
		backends(t, cfg)
		if cfg.Admin.Enabled || cfg.Log.AccessLog || cfg.Telemetry.Metrics.Enabled || cfg.Telemetry.Tracing.Enabled {
			t.Errorf("admin %v, access log %v, metrics %v, tracing %v: want all off",
				cfg.Admin.Enabled, cfg.Log.AccessLog, cfg.Telemetry.Metrics.Enabled, cfg.Telemetry.Tracing.Enabled)
		}
		if d := cfg.Policy.Defaults; d.Access != "public" || d.RateLimitClass != "none" {
			t.Errorf("policy defaults %+v, want access public, rate_limit_class none", d)
		}
		for _, r := range workloadRoutes {
			o, ok := cfg.Policy.Routes[r]
			if !ok || o.Access != "public" || o.Scopes == nil || len(o.Scopes) != 0 || o.RateLimitClass != "" {
				t.Errorf("policy.routes[%s] = %+v (present %v), want public with the scopes cleared", r, o, ok)
			}
		}
		if len(cfg.Authn.APIKeys) != 0 || cfg.Authn.IdentitySecret != "" {
			t.Errorf("authn %+v, want no keys and no identity secret", cfg.Authn)
		}
	})

	t.Run("cache on", func(t *testing.T) {
		t.Parallel()
		cfg := parse(t, bench.ArchwayCachedConfig("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"))
		backends(t, cfg)
		if c := cfg.Cache; !c.Enabled || c.Store != "memory" || !c.DebugHeader {
			t.Errorf("cache %+v, want on, in memory, with the debug header", c)
		}
		off := parse(t, bench.ArchwayConfig("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"))
		if off.Cache.Enabled {
			t.Error("the chain-off target's cache is on")
		}
		cfg.Cache = off.Cache
		if !reflect.DeepEqual(cfg, off) {
			t.Errorf("the cached target differs from the chain-off one beyond its cache section:\n%+v\n%+v", cfg, off)
		}
	})

	t.Run("production chain", func(t *testing.T) {
		t.Parallel()
		cfg := parse(t, bench.ArchwayProdConfig("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"))
		backends(t, cfg)
		if cfg.Admin.Enabled || cfg.Telemetry.Tracing.Enabled || !cfg.Telemetry.Metrics.Enabled {
			t.Errorf("admin %v, tracing %v, metrics %v: want admin and tracing off, metrics on",
				cfg.Admin.Enabled, cfg.Telemetry.Tracing.Enabled, cfg.Telemetry.Metrics.Enabled)
		}
		if l := cfg.Log; !l.AccessLog || l.AccessLogSampleRate != 1 || l.Format != "json" || l.Level != "info" {
			t.Errorf("log %+v, want the access log on for every request, JSON, at info", l)
		}
		sum := sha256.Sum256([]byte(bench.ProdAPIKey))
		keys := cfg.Authn.APIKeys
		if len(keys) != 1 || keys[0].SHA256 != hex.EncodeToString(sum[:]) || keys[0].ClientID != bench.ProdClientID ||
			!slices.Equal(keys[0].Scopes, []string{"users.write"}) {
			t.Errorf("authn.api_keys %+v, want one entry: SHA-256 of ProdAPIKey, client %s, scope users.write", keys, bench.ProdClientID)
		}
		if cfg.Authn.IdentitySecret != bench.ProdIdentitySecret {
			t.Errorf("authn.identity_secret %q, want ProdIdentitySecret", cfg.Authn.IdentitySecret)
		}
		rl := cfg.RateLimit
		if c := rl.Classes["default"]; rl.Store != "memory" || c.Requests != 10_000_000 || c.Per.D().Seconds() != 1 || c.Burst != 10_000_000 {
			t.Errorf("rate_limit %+v, want the default class at 10,000,000 per 1s, burst 10,000,000, in memory", rl)
		}
		if d := cfg.Policy.Defaults; d.Access != "authenticated" || d.RateLimitClass != "default" {
			t.Errorf("policy defaults %+v, want access authenticated, rate_limit_class default", d)
		}
		for _, r := range workloadRoutes {
			if o, ok := cfg.Policy.Routes[r]; !ok || o.Access != "authenticated" || o.RateLimitClass != "" {
				t.Errorf("policy.routes[%s] = %+v (present %v), want authenticated, in the default class", r, o, ok)
			}
		}
	})
}

// Both Archway roles, in front of a real backend: the production chain answers every
// workload's request with the API key and refuses it without, rate-limits it (the RateLimit
// header fields) and logs it as JSON; the chain off answers without credentials and does
// neither.
func TestArchwayRoles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	backend, err := bench.Serve(ctx, bench.RoleBackend, bench.ServeArgs{})
	if err != nil {
		t.Fatalf("Serve backend: %v", err)
	}
	t.Cleanup(func() { _ = backend.Close() })
	args := bench.ServeArgs{Catalog: backend.Addrs[0], Users: backend.Addrs[1], Orders: backend.Addrs[2]}
	prodArgs := args
	prodArgs.LogFile = filepath.Join(t.TempDir(), "archway-prod.log")

	serve := func(t *testing.T, role string, args bench.ServeArgs) string {
		t.Helper()
		s, err := bench.Serve(ctx, role, args)
		if err != nil {
			t.Fatalf("Serve %s: %v", role, err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close %s: %v", role, err)
			}
		})
		return "http://" + s.Addrs[0]
	}
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	// send returns the answer's status code and header fields, having read and closed its body.
	send := func(t *testing.T, base string, w bench.Workload, apiKey string) (int, http.Header) {
		t.Helper()
		var body io.Reader
		if w.Body != nil {
			body = strings.NewReader(string(w.Body))
		}
		req, err := http.NewRequestWithContext(ctx, w.Method, base+w.Path, body)
		if err != nil {
			t.Fatal(err)
		}
		if w.Body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if apiKey != "" {
			req.Header.Set("X-Api-Key", apiKey)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", w.Method, w.Path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	var workloads []bench.Workload
	for _, w := range bench.Workloads() {
		if w.Skip == "" {
			workloads = append(workloads, w)
		}
	}

	t.Run("chain off", func(t *testing.T) {
		base := serve(t, bench.RoleArchway, args)
		for _, w := range workloads {
			code, header := send(t, base, w, "")
			if code != http.StatusOK || header.Get("RateLimit-Policy") != "" || header.Get("ETag") != "" {
				t.Errorf("%s without credentials: HTTP %d, RateLimit-Policy %q, ETag %q; want 200, no rate limit and no cache",
					w.Name, code, header.Get("RateLimit-Policy"), header.Get("ETag"))
			}
		}
	})

	t.Run("cache on", func(t *testing.T) {
		base := serve(t, bench.RoleArchwayCached, args)
		var cached bench.Workload
		for _, w := range workloads {
			if w.Name == bench.CachedWorkload {
				cached = w
			}
		}
		for i, want := range []string{"MISS", "HIT", "HIT"} {
			code, header := send(t, base, cached, "")
			if how := header.Get(cache.HeaderDebug); code != http.StatusOK || how != want {
				t.Errorf("%s, request %d: HTTP %d, %s %q; want 200 and %s", cached.Name, i, code, cache.HeaderDebug, how, want)
			}
		}
	})

	t.Run("production chain", func(t *testing.T) {
		base := serve(t, bench.RoleArchwayProd, prodArgs)
		for _, w := range workloads {
			for _, c := range []struct {
				key  string
				want int
			}{{"", http.StatusUnauthorized}, {"not-" + bench.ProdAPIKey, http.StatusUnauthorized}, {bench.ProdAPIKey, http.StatusOK}} {
				if code, _ := send(t, base, w, c.key); code != c.want {
					t.Errorf("%s with key %q: HTTP %d, want %d", w.Name, c.key, code, c.want)
				}
			}
			_, header := send(t, base, w, bench.ProdAPIKey)
			if got, want := header.Get("RateLimit-Policy"), "10000000;w=1;burst=10000000"; got != want {
				t.Errorf("%s: RateLimit-Policy %q, want %q", w.Name, got, want)
			}
		}
	})

	// The production role's log file, closed with the gateway: one JSON access-log record per
	// request, with the caller's subject on the authenticated ones.
	f, err := os.Open(prodArgs.LogFile)
	if err != nil {
		t.Fatalf("the production chain's log: %v", err)
	}
	defer func() { _ = f.Close() }()
	var records, authenticated int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Msg     string `json:"msg"`
			Status  int    `json:"status"`
			Subject string `json:"subject"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		if rec.Msg != "request" {
			continue
		}
		records++
		if rec.Status == http.StatusOK && rec.Subject == bench.ProdClientID {
			authenticated++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if want := 4 * len(workloads); records != want || authenticated != 2*len(workloads) {
		t.Errorf("access log: %d records, %d answered 200 to %s; want %d and %d", records, authenticated, bench.ProdClientID, want, 2*len(workloads))
	}
}
