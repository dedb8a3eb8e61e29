package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/archway-gateway/archway/identity"
	"github.com/archway-gateway/archway/server"
)

// shutdownTimeout bounds the graceful stop; calls still running then are cut off.
const shutdownTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Environ(), os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "storefront:", err)
		os.Exit(1)
	}
}

// envIdentitySecret names the environment variable holding the secret shared with the gateway.
// It is not a flag, since flags show in ps.
const envIdentitySecret = "STOREFRONT_IDENTITY_SECRET"

// run parses args, reads the identity secret from environ ("KEY=value" strings, as os.Environ
// returns), serves the chosen services until ctx ends, then shuts them down. It logs to stderr.
func run(ctx context.Context, args, environ []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("storefront", flag.ContinueOnError)
	fs.SetOutput(stderr)
	services := fs.String("services", "users,orders,catalog", "comma-separated services to run")
	usersAddr := fs.String("users-addr", "127.0.0.1:9101", "listen address of users")
	ordersAddr := fs.String("orders-addr", "127.0.0.1:9102", "listen address of orders")
	catalogAddr := fs.String("catalog-addr", "127.0.0.1:9103", "listen address of catalog")
	catalogTarget := fs.String("catalog-target", "", "gRPC target of a remote catalog, required when orders runs without catalog")
	logFormat := fs.String("log-format", "text", "log format: json or text")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	testFaults := fs.String("test-faults", "", "for tests only: inject delays and failures, as in \"users=delay:50ms;catalog=fail:unavailable;orders=hang\"")
	maxConnAge := fs.Duration("max-connection-age", 5*time.Minute, "close client connections after about this long (GOAWAY), so clients re-resolve and reach new instances; 0 keeps them open")
	maxConnAgeGrace := fs.Duration("max-connection-age-grace", 30*time.Second, "time the calls of a connection past its maximum age get to finish before it is closed; 0 waits for them without limit")
	insecureNoIdentity := fs.Bool("insecure-no-identity", false, "accept calls without the gateway's signed identity, when "+envIdentitySecret+" is not set: from anyone who can reach the listeners, each served as an administrator's, on every user's records")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *maxConnAge < 0 || *maxConnAgeGrace < 0 {
		return errors.New("-max-connection-age and -max-connection-age-grace must not be negative")
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	secret := lookupEnv(environ, envIdentitySecret)
	switch {
	case secret != "" && *insecureNoIdentity:
		return errors.New("-insecure-no-identity contradicts " + envIdentitySecret + ": unset one of them")
	case secret == "" && !*insecureNoIdentity:
		return fmt.Errorf("%s is not set: set it to the gateway's authn.identity_secret (at least %d bytes), or pass -insecure-no-identity to accept calls from anyone", envIdentitySecret, identity.MinSecretLen)
	case secret != "" && len(secret) < identity.MinSecretLen:
		return fmt.Errorf("%s must be at least %d bytes long, got %d", envIdentitySecret, identity.MinSecretLen, len(secret))
	case secret == "":
		logger.Warn("accepting every call as an administrator's: the gateway's identity is not checked (-insecure-no-identity)")
	}

	var names []string
	for name := range strings.SplitSeq(*services, ",") {
		if name = strings.TrimSpace(name); name != "" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return errors.New("-services: no service named")
	}
	faults, err := server.ParseFaults(*testFaults)
	if err != nil {
		return fmt.Errorf("-test-faults: %w", err)
	}
	if slices.Contains(names, server.Orders) && !slices.Contains(names, server.Catalog) && *catalogTarget == "" {
		return errors.New("-catalog-target is required when orders runs without catalog")
	}
	sf, err := server.Start(ctx, server.Options{
		Services: names,
		Addrs: map[string]string{
			server.Users:   *usersAddr,
			server.Orders:  *ordersAddr,
			server.Catalog: *catalogAddr,
		},
		CatalogTarget:         *catalogTarget,
		Logger:                logger,
		Faults:                faults,
		IdentitySecret:        secret,
		MaxConnectionAge:      *maxConnAge,
		MaxConnectionAgeGrace: *maxConnAgeGrace,
	})
	if err != nil {
		return err
	}

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case serveErr = <-sf.Err():
		logger.Error("service failed; shutting down", slog.Any("error", serveErr))
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	return errors.Join(serveErr, sf.Shutdown(shutdownCtx))
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

// newLogger returns the slog logger for the -log-format and -log-level flags.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("-log-format: %q is neither json nor text", format)
	}
}
