package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

func TestRunRejectsBadInvocations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("backends:\n  - name: users\n    address: \"\"\n    services: [storefront.users.v1.UserService]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unknown command", []string{"launch"}, nil, `unknown command "launch"`},
		{"missing config file", []string{"serve", "-config", filepath.Join(dir, "none.yaml")}, nil, "read config"},
		{"invalid config", []string{"serve", "-config", bad}, nil, "backends[0].address"},
		{"bad environment override", []string{"demo"}, []string{"ARCHWAY_LOG_LEVEL=loud"}, "ARCHWAY_LOG_LEVEL"},
		{"config named by ARCHWAY_CONFIG", []string{"serve"}, []string{"ARCHWAY_CONFIG=" + bad}, "backends[0].address"},
		{"extra arguments", []string{"serve", "-config", bad, "extra"}, nil, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := run(t.Context(), tc.args, tc.env, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%v) = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}

// TestDemoServesAndStops runs the demo in-process: backends and gateway on loopback ports, one
// API call through all of it, then a clean stop when the context ends.
func TestDemoServesAndStops(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	env := []string{"ARCHWAY_LISTEN_ADDRESS=127.0.0.1:0", "ARCHWAY_ADMIN_ADDRESS=127.0.0.1:0", "ARCHWAY_LOG_FORMAT=json"}
	go func() {
		done <- run(ctx, nil, env, pw)
		_ = pw.Close()
	}()
	addr := make(chan string, 1)
	usersAddr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var rec struct{ Msg, Listener, Service, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				// Never block: the demo writes its logs through this pipe.
				switch {
				case rec.Listener == "api":
					select {
					case addr <- rec.Addr:
					default:
					}
				case rec.Service == "users":
					select {
					case usersAddr <- rec.Addr:
					default:
					}
				}
			}
		}
	}()
	var api string
	select {
	case api = <-addr:
	case err := <-done:
		t.Fatalf("demo stopped early: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not start listening")
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+api+"/v1/users/ada-lovelace", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", "archway-demo-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"displayName":"Ada Lovelace"`) {
		t.Fatalf("GET user = %d %s", resp.StatusCode, body)
	}
	// The demo's backends accept the gateway's signed calls only.
	conn, err := grpc.NewClient(<-usersAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = usersv1.NewUserServiceClient(conn).GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada-lovelace"})
	_ = conn.Close()
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("direct call to the demo's users backend: %v, want UNAUTHENTICATED", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop")
	}
}
