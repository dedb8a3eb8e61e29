package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/internal/redistest"
)

// statuszReply is what the tests read of /statusz.
type statuszReply struct {
	Backends []struct {
		Name      string   `json:"name"`
		Addresses []string `json:"addresses"`
		Services  []string `json:"services"`
		State     string   `json:"state"`
		Instances []struct {
			Addresses []string `json:"addresses"`
			State     string   `json:"state"`
		} `json:"instances"`
		HealthCheck bool   `json:"health_check"`
		Breaker     string `json:"breaker"`
		InFlight    int64  `json:"in_flight"`
		MaxInFlight int    `json:"max_in_flight"`
	} `json:"backends"`
	Stores struct {
		RateLimit    string `json:"rate_limit"`
		OnStoreError string `json:"rate_limit_on_store_error"`
		Cache        string `json:"cache"`
		Redis        *struct {
			Address   string `json:"address"`
			Reachable bool   `json:"reachable"`
			Error     string `json:"error"`
		} `json:"redis"`
	} `json:"stores"`
}

// instanceStates returns the state of each instance of the first backend, by address.
func (s statuszReply) instanceStates() map[string]string {
	out := map[string]string{}
	for _, in := range s.Backends[0].Instances {
		for _, a := range in.Addresses {
			out[a] = in.State
		}
	}
	return out
}

// startUsersInstance serves a fakeUsers with gRPC health (SERVING) on 127.0.0.1:0, and returns
// its address and server.
func startUsersInstance(t *testing.T, users *fakeUsers) (string, *grpc.Server) {
	t.Helper()
	ln := listenLoopback(t)
	srv := grpc.NewServer()
	usersv1.RegisterUserServiceServer(srv, users)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), srv
}

// statuszGateway starts a gateway with the given YAML and returns the URLs of its API and of
// its admin handler.
func statuszGateway(t *testing.T, yaml string) (apiURL, adminURL string) {
	t.Helper()
	gw := newGateway(t, "admin: {enabled: false}\nlog: {access_log: false}\n"+yaml+testAuthn)
	api := httptest.NewServer(gw.Handler())
	t.Cleanup(api.Close)
	admin := httptest.NewServer(gw.AdminHandler())
	t.Cleanup(admin.Close)
	return api.URL, admin.URL
}

func getStatusz(t *testing.T, adminURL string) statuszReply {
	t.Helper()
	resp, err := http.Get(adminURL + "/statusz")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/statusz: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var s statuszReply
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitStatusz polls /statusz until cond holds, for at most 10s.
func waitStatusz(t *testing.T, adminURL, what string, cond func(statuszReply) bool) statuszReply {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := getStatusz(t, adminURL)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("statusz never showed %s; last: %+v", what, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStatuszReportsInstancesAndBreaker(t *testing.T) {
	t.Parallel()
	users := &fakeUsers{}
	addrA, srvA := startUsersInstance(t, users)
	addrB, srvB := startUsersInstance(t, users)
	apiURL, adminURL := statuszGateway(t, fmt.Sprintf(`
backends:
  - name: users
    addresses: [%q, %q]
    services: [storefront.users.v1.UserService]
    max_reconnect_backoff: 200ms
    max_in_flight: 50
    circuit_breaker: {min_requests: 4, failure_ratio: 0.5, open_timeout: 1m}
cache: {enabled: false}
`, addrA, addrB))

	idle := getStatusz(t, adminURL)
	if len(idle.Backends) != 1 {
		t.Fatalf("backends = %+v, want users only", idle.Backends)
	}
	b := idle.Backends[0]
	if b.Name != "users" || len(b.Addresses) != 2 || b.State != "IDLE" || len(b.Instances) != 0 ||
		!b.HealthCheck || b.Breaker != "closed" || b.MaxInFlight != 50 {
		t.Errorf("before any call: %+v, want users, idle, no instances, health checked, breaker closed", b)
	}
	if st := idle.Stores; st.RateLimit != "memory" || st.OnStoreError != "fail_open" || st.Cache != "disabled" || st.Redis != nil {
		t.Errorf("stores = %+v, want memory, fail_open, disabled, no redis", st)
	}

	for range 4 {
		if resp, body := do(t, http.MethodGet, apiURL+"/v1/users/ada", "", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("GetUser: %d %s", resp.StatusCode, body)
		}
	}
	waitStatusz(t, adminURL, "both instances READY", func(s statuszReply) bool {
		st := s.instanceStates()
		return s.Backends[0].State == "READY" && st[addrA] == "READY" && st[addrB] == "READY" && len(st) == 2
	})

	srvB.Stop()
	s := waitStatusz(t, adminURL, "the stopped instance not READY", func(s statuszReply) bool {
		return s.instanceStates()[addrB] != "READY"
	})
	if st := s.instanceStates(); st[addrA] != "READY" || s.Backends[0].State != "READY" {
		t.Errorf("after stopping one instance: %v (backend %s), want the other READY", st, s.Backends[0].State)
	}

	// With both instances down, calls fail UNAVAILABLE and the breaker opens.
	srvA.Stop()
	for range 6 {
		do(t, http.MethodGet, apiURL+"/v1/users/ada", "", nil)
	}
	s = waitStatusz(t, adminURL, "the breaker open", func(s statuszReply) bool { return s.Backends[0].Breaker == "open" })
	if st := s.instanceStates(); st[addrA] == "READY" || st[addrB] == "READY" {
		t.Errorf("with both instances stopped: %v, want neither READY", st)
	}
	if s.Backends[0].InFlight != 0 {
		t.Errorf("in_flight = %d with no call running", s.Backends[0].InFlight)
	}
}

func TestStatuszReportsRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	down := listenLoopback(t)
	downAddr := down.Addr().String()
	_ = down.Close()
	for _, tc := range []struct {
		name, addr string
		reachable  bool
	}{
		{"reachable", srv.Addr(), true},
		{"unreachable", downAddr, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, adminURL := statuszGateway(t, fmt.Sprintf(`
backends:
  - name: users
    address: 127.0.0.1:1
    services: [storefront.users.v1.UserService]
rate_limit: {store: redis, on_store_error: fail_closed}
cache: {enabled: false}
redis: {address: %q, dial_timeout: 500ms}
readiness: {check_timeout: 2s}
`, tc.addr))
			s := getStatusz(t, adminURL)
			r := s.Stores.Redis
			if r == nil || r.Address != tc.addr || r.Reachable != tc.reachable || (r.Error == "") == !tc.reachable {
				t.Fatalf("redis = %+v, want address %s, reachable %v", r, tc.addr, tc.reachable)
			}
			if s.Stores.RateLimit != "redis" || s.Stores.OnStoreError != "fail_closed" || s.Stores.Cache != "disabled" {
				t.Errorf("stores = %+v", s.Stores)
			}
		})
	}
}
