// Command archway is the Archway edge gateway.
//
//	archway                          run the gateway with the demo storefront backends (same as "archway demo")
//	archway serve -config FILE       run the gateway in front of the backends configured in FILE
//
// Settings come from the config file (see docs/configuration.md) and ARCHWAY_* environment
// variables. Both commands refuse to start with an unsafe setting (no identity secret, the
// admin listener off loopback, a trusted proxy range broader than /8 or /32) unless the
// insecure switch that names it is set, and then log a warning. The process stops gracefully
// on SIGINT or SIGTERM.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/logging"
	"github.com/archway-gateway/archway/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "archway:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage:
  archway [demo]               run the gateway with the demo storefront backends in-process
  archway serve -config FILE   run the gateway in front of the backends configured in FILE

Environment variables ARCHWAY_* override config values; see docs/configuration.md.
`

func run(ctx context.Context, args, environ []string, stderr io.Writer) error {
	cmd := "demo"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "demo":
		return runDemo(ctx, args, environ, stderr)
	case "serve":
		return runServe(ctx, args, environ, stderr)
	case "help":
		_, _ = fmt.Fprint(stderr, usage)
		return nil
	default:
		_, _ = fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func runServe(ctx context.Context, args, environ []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("archway serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defaultPath := "archway.yaml"
	if p := lookupEnv(environ, "ARCHWAY_CONFIG"); p != "" {
		defaultPath = p
	}
	path := fs.String("config", defaultPath, "path of the `archway.yaml` config file (default: $ARCHWAY_CONFIG, else archway.yaml)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	data, err := os.ReadFile(*path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	cfg, err := config.Parse(data, environ)
	if err != nil {
		return err
	}
	logger := logging.New(cfg.Log, stderr)
	defer func() { _ = logger.Close() }()
	return serve(ctx, cfg, logger.Logger)
}

// demoServices are the storefront services the demo runs, with the gRPC service each serves.
var demoServices = []struct{ name, service string }{
	{"users", "storefront.users.v1.UserService"},
	{"orders", "storefront.orders.v1.OrderService"},
	{"catalog", "storefront.catalog.v1.CatalogService"},
}

func runDemo(ctx context.Context, args, environ []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("archway demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected arguments %q", fs.Args())
	}
	// Settle the logging settings first (env overrides included), so the backends log alike.
	base, err := config.Parse([]byte(demoConfig(nil, "")), environ)
	if err != nil {
		return err
	}
	buffered := logging.New(base.Log, stderr)
	defer func() { _ = buffered.Close() }()
	logger := buffered.Logger
	names := make([]string, len(demoServices))
	for i, s := range demoServices {
		names[i] = s.name
	}
	// The backends accept only the gateway's signed identity: both sides get the same secret,
	// ARCHWAY_AUTHN_IDENTITY_SECRET when set, else a random one made for this run.
	secret := base.Authn.IdentitySecret
	if secret == "" {
		secret = hex.EncodeToString(randomBytes(32))
	}
	sf, err := server.Start(ctx, server.Options{
		Services:       names,
		Logger:         logger.With(slog.String("component", "storefront")),
		IdentitySecret: secret,
	})
	if err != nil {
		return fmt.Errorf("start demo backends: %w", err)
	}
	defer sf.Stop()
	addrs := make(map[string]string, len(demoServices))
	for _, s := range demoServices {
		addrs[s.name] = sf.Addr(s.name)
	}
	cfg, err := config.Parse([]byte(demoConfig(addrs, secret)), environ)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, logger)
}

// demoAPIKeyHash is the SHA-256 of the demo's API key, "archway-demo-key" (printf %s
// archway-demo-key | sha256sum), which the README's examples send as X-Api-Key.
const demoAPIKeyHash = "0245cba37c19668e78a1d7029e9052e20d362e76b5aa975fe9f5f0a6b9850ed5"

// demoConfig is the archway.yaml of the demo: one backend per storefront service, the demo API
// key (client "demo", holding every scope the demo APIs use, the admin scopes users.admin and
// orders.admin included, so that it acts on every user's records) and the identity secret shared with
// the backends. With nil addrs it holds placeholders, for reading the settings that do not
// depend on addresses; an empty secret is left out.
func demoConfig(addrs map[string]string, secret string) string {
	s := "authn:\n  api_keys:\n    - client_id: demo\n      sha256: " + demoAPIKeyHash + "\n      scopes: [users.read, users.write, users.admin, orders.write, orders.admin, catalog.write]\n"
	if secret != "" {
		s += fmt.Sprintf("  identity_secret: %q\n", secret)
	}
	s += "backends:\n"
	for _, d := range demoServices {
		addr := addrs[d.name]
		if addr == "" {
			addr = "127.0.0.1:1"
		}
		s += fmt.Sprintf("  - name: %s\n    address: %q\n    services: [%s]\n", d.name, addr, d.service)
	}
	return s
}

func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	if err := checkSafety(cfg, logger); err != nil {
		return err
	}
	gw, err := gateway.New(ctx, cfg, gateway.WithLogger(logger))
	if err != nil {
		return err
	}
	defer func() { _ = gw.Close() }()
	return gw.Run(ctx)
}

// checkSafety refuses the unsafe settings of cfg (see [config.Config.CheckSafety]) that no
// insecure switch allows, and logs a warning for each one that a switch allows. Both serve and
// demo make the check: the demo passes it with its own settings (a secret made for the run, the
// admin listener on loopback, no trusted proxies), and refuses what the environment makes
// unsafe, as serve would.
func checkSafety(cfg *config.Config, logger *slog.Logger) error {
	allowed, err := cfg.CheckSafety()
	if err != nil {
		return err
	}
	for _, u := range allowed {
		logger.Warn("unsafe setting allowed by "+u.Switch, slog.String("key", u.Key), slog.String("risk", u.Problem))
	}
	return nil
}

// randomBytes returns n bytes from the system's secure random source.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

// lookupEnv returns the value of the last assignment to key in environ, or "".
func lookupEnv(environ []string, key string) string {
	var v string
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
