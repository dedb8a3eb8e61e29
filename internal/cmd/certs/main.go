// Command certs writes a throwaway certificate authority, a server certificate and a client
// certificate, for trying the gateway's TLS and mutual TLS locally (`make certs`; see
// docs/tls.md). Nothing it writes is fit for production.
//
//	go run ./internal/cmd/certs [-out certs] [-hosts localhost,127.0.0.1,::1] [-client tester] [-days 30]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/archway-gateway/archway/internal/certtest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "certs:", err)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	out := fs.String("out", "certs", "`directory` to write ca.crt, server.crt/.key and client.crt/.key to")
	hosts := fs.String("hosts", "localhost,127.0.0.1,::1", "comma-separated host names and addresses of the server certificate")
	client := fs.String("client", "tester", "common name of the client certificate")
	days := fs.Int("days", 30, "validity of the certificates, in days")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *days <= 0 {
		return fmt.Errorf("-days must be positive, got %d", *days)
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	ca, err := certtest.NewCA("Archway throwaway CA", time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "ca.crt"), ca.CertPEM, 0o644); err != nil {
		return err
	}
	server, err := ca.Server(strings.Split(*hosts, ",")...)
	if err != nil {
		return err
	}
	if _, _, err := server.WriteFiles(*out, "server"); err != nil {
		return err
	}
	cl, err := ca.Client(*client)
	if err != nil {
		return err
	}
	if _, _, err := cl.WriteFiles(*out, "client"); err != nil {
		return err
	}
	fmt.Printf("wrote %s/{ca.crt,server.crt,server.key,client.crt,client.key}, valid for %d days\n", *out, *days)
	return nil
}
