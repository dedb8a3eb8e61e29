package gateway

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/archway-gateway/archway/gateway/config"
	testapiv1 "github.com/archway-gateway/archway/internal/testapi/gen/archway/testapi/v1"
)

// failClosedConfig serves the users API behind a lazy connection that the tests never use,
// with every method authenticated.
const failClosedConfig = `
admin: {enabled: false}
log: {access_log: false}
backends:
  - {name: users, address: "passthrough:///users", services: [storefront.users.v1.UserService]}
`

func parseConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestServiceBoundByAPIConfigurationIsRefused registers a service whose HTTP bindings come from
// a gRPC API configuration file (internal/testapi/notes_api.yaml), not from google.api.http
// options: the gateway cannot give its routes their policy, so New must fail and name the
// service and its methods, rather than serve them with no authentication at all.
func TestServiceBoundByAPIConfigurationIsRefused(t *testing.T) {
	t.Parallel()
	svc := testapiv1.NoteService_ServiceDesc.ServiceName
	cfg := parseConfig(t, failClosedConfig+`
  - {name: notes, address: "passthrough:///notes", services: [`+svc+`]}
`)
	g, err := New(t.Context(), cfg, WithLogger(slog.New(slog.DiscardHandler)),
		WithService(svc, testapiv1.RegisterNoteServiceHandler))
	if err == nil {
		_ = g.Close()
		t.Fatal("New served a service whose routes have no google.api.http options")
	}
	for _, want := range []string{svc, "GetNote", "CreateNote", "grpc_api_configuration"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New error %q does not name %s", err, want)
		}
	}
}

// TestHandlerWithoutRouteFailsClosed reaches, at request time, a handler that the route table
// does not know (registered on the mux behind register's back): it must not run, and the
// caller gets a google.rpc.Status, not an unauthenticated answer.
func TestHandlerWithoutRouteFailsClosed(t *testing.T) {
	t.Parallel()
	g, err := New(t.Context(), parseConfig(t, failClosedConfig), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	ran := false
	if err := g.mux.HandlePath(http.MethodGet, "/v1/undeclared", func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
		ran = true
		w.WriteHeader(http.StatusOK)
	}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	g.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/undeclared", nil))
	if ran {
		t.Fatal("a handler without a route ran, with no per-route chain")
	}
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"code":13`) {
		t.Errorf("answer %d %s, want 500 with an INTERNAL google.rpc.Status", rec.Code, rec.Body)
	}
}
