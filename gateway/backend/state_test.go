package backend_test

import (
	"log/slog"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/archway-gateway/archway/gateway/backend"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// instanceStates returns the state of each instance of the set's only backend, by address.
func instanceStates(set *backend.Set) map[string]string {
	out := map[string]string{}
	for _, in := range set.Status()[0].Instances {
		for _, a := range in.Addresses {
			out[a] = in.State
		}
	}
	return out
}

func TestStatusFollowsInstanceHealth(t *testing.T) {
	t.Parallel()
	a, b := startInstance(t, "a", nil), startInstance(t, "b", nil)
	spec := usersSpec(a.addr, b.addr)
	spec.HealthCheck = true
	spec.MaxInFlight = 7
	set, err := backend.Dial([]backend.Spec{spec}, backend.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })

	st := set.Status()
	if len(st) != 1 || st[0].Name != "users" || st[0].State != "IDLE" || len(st[0].Instances) != 0 ||
		st[0].Breaker != "disabled" || st[0].MaxInFlight != 7 || len(st[0].Addresses) != 2 {
		t.Fatalf("before any call: %+v, want users idle with no instances yet, no breaker", st)
	}

	b0, _ := set.ForService(usersService)
	client := usersv1.NewUserServiceClient(b0.Conn)
	if _, err := client.GetUser(t.Context(), &usersv1.GetUserRequest{Name: "users/ada"}); err != nil {
		t.Fatal(err)
	}
	both := func(want string) func() bool {
		return func() bool { s := instanceStates(set); return len(s) == 2 && s[a.addr] == want && s[b.addr] == want }
	}
	if !poll(both("READY")) {
		t.Fatalf("instances %v, want both READY", instanceStates(set))
	}

	b.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if !poll(func() bool { return instanceStates(set)[b.addr] == "TRANSIENT_FAILURE" }) {
		t.Fatalf("instances %v, want b TRANSIENT_FAILURE once NOT_SERVING", instanceStates(set))
	}
	if s := set.Status()[0]; s.State != "READY" || instanceStates(set)[a.addr] != "READY" {
		t.Errorf("backend %s, instances %v: want a still READY", s.State, instanceStates(set))
	}

	b.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if !poll(both("READY")) {
		t.Fatalf("instances %v, want b READY again", instanceStates(set))
	}
}
