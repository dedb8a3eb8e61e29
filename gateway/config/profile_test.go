package config_test

import (
	"testing"

	"github.com/archway-gateway/archway/gateway/config"
)

// TestProfileDecidesUnsetStrictness pins how api.profile, the two strictness settings and
// api.path_unescaping combine: the profile decides what is left unset, and a setting given in the file or the
// environment wins over it.
func TestProfileDecidesUnsetStrictness(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                string
		yaml                string
		env                 []string
		grpcGateway         bool
		rejectQuery, reject bool
		unescaping          string
	}{
		{name: "defaults", rejectQuery: true, reject: true, unescaping: "all_except_slash"},
		{name: "archway", yaml: "api: {profile: archway}", rejectQuery: true, reject: true, unescaping: "all_except_slash"},
		{name: "grpc-gateway", yaml: "api: {profile: grpc-gateway}", grpcGateway: true, unescaping: "legacy"},
		{name: "grpc-gateway from the environment", env: []string{"ARCHWAY_API_PROFILE=grpc-gateway"}, grpcGateway: true, unescaping: "legacy"},
		{
			name: "grpc-gateway, explicit reject wins", yaml: "api: {profile: grpc-gateway, unknown_fields: reject}",
			grpcGateway: true, reject: true, unescaping: "legacy",
		},
		{
			name: "grpc-gateway, explicit reject from the environment wins", yaml: "api: {profile: grpc-gateway}",
			env: []string{"ARCHWAY_API_UNKNOWN_QUERY_PARAMETERS=reject"}, grpcGateway: true, rejectQuery: true, unescaping: "legacy",
		},
		{
			name: "grpc-gateway, explicit unescaping wins", yaml: "api: {profile: grpc-gateway, path_unescaping: all_except_slash}",
			grpcGateway: true, unescaping: "all_except_slash",
		},
		{name: "archway, explicit ignore wins", yaml: "api: {unknown_query_parameters: ignore}", reject: true, unescaping: "all_except_slash"},
		{name: "archway, explicit legacy wins", yaml: "api: {path_unescaping: legacy}", rejectQuery: true, reject: true, unescaping: "legacy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Parse([]byte(tc.yaml), tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.API.GRPCGateway(); got != tc.grpcGateway {
				t.Errorf("GRPCGateway() = %v, want %v", got, tc.grpcGateway)
			}
			if got := c.API.RejectsUnknownQueryParameters(); got != tc.rejectQuery {
				t.Errorf("RejectsUnknownQueryParameters() = %v, want %v", got, tc.rejectQuery)
			}
			if got := c.API.RejectsUnknownFields(); got != tc.reject {
				t.Errorf("RejectsUnknownFields() = %v, want %v", got, tc.reject)
			}
			if got := c.API.Unescaping(); got != tc.unescaping {
				t.Errorf("Unescaping() = %q, want %q", got, tc.unescaping)
			}
		})
	}
}

// TestProfileIsValidated checks that a profile Archway does not know is refused at load, with
// the field named, whether it came from the file or the environment.
func TestProfileIsValidated(t *testing.T) {
	t.Parallel()
	_, err := config.Parse([]byte("api: {profile: grpc_gateway}\n"), nil)
	assertError(t, err, `config.Parse: api.profile: must be "archway" or "grpc-gateway", got "grpc_gateway"`)
	_, err = config.Parse(nil, []string{"ARCHWAY_API_PROFILE=envoy"})
	assertError(t, err, `api.profile: must be "archway" or "grpc-gateway", got "envoy" (set by ARCHWAY_API_PROFILE)`)
}
