package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"testing"

	"buf.build/go/protovalidate"
	"github.com/getkin/kin-openapi/openapi3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/archway-gateway/archway/gateway"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/openapi"
)

// The published documents give emails "format: email", which kin-openapi leaves unchecked
// unless told how: an address alone, without a display name, as buf.validate's email rule has it.
func init() {
	openapi3.DefineStringFormatValidator("email", openapi3.NewCallbackValidator(func(s string) error {
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
			return errors.New("not an email address")
		}
		return nil
	}))
}

// validating is a server interceptor that refuses requests that break their buf.validate
// rules with INVALID_ARGUMENT, as the storefront's backends do.
func validating(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		if err := protovalidate.Validate(m); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	return handler(ctx, req)
}

// TestDocumentedRulesMatchTheGateways400s sends valid and invalid users to CreateUser, through
// the gateway to a backend that enforces the buf.validate rules, and checks that the gateway
// answers 400 exactly for the bodies that the published v3 schema of the user rejects.
func TestDocumentedRulesMatchTheGateways400s(t *testing.T) {
	t.Parallel()
	b, err := fs.ReadFile(openapi.FS, "v3/storefront/users/v1/users.openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	schema := doc.Components.Schemas["storefront.users.v1.User"]
	if schema == nil {
		t.Fatal("the users' document has no storefront.users.v1.User schema")
	}

	l := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.UnaryInterceptor(validating))
	usersv1.RegisterUserServiceServer(srv, &fakeUsers{})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	dialer := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) })
	_, url := serveGateway(t, `
admin: {enabled: false}
log: {access_log: false}
backends:
  - name: users
    address: passthrough:///users
    services: [storefront.users.v1.UserService]
`+testAuthn, gateway.WithDialOptions(dialer))

	long := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name  string
		body  string
		valid bool
	}{
		{"valid", `{"displayName": "Grace", "email": "grace@example.com"}`, true},
		{"valid, every field", `{"displayName": "Grace", "email": "grace@example.com", "state": "USER_STATE_ACTIVE", "tags": ["vip"], "address": {"street": "1 Main St", "city": "Arlington", "postalCode": "22201", "countryCode": "US"}}`, true},
		{"longest name", `{"displayName": "` + long(100) + `", "email": "grace@example.com"}`, true},
		{"name too long", `{"displayName": "` + long(101) + `", "email": "grace@example.com"}`, false},
		{"empty name", `{"displayName": "", "email": "grace@example.com"}`, false},
		{"no name", `{"email": "grace@example.com"}`, false},
		{"not an email", `{"displayName": "Grace", "email": "grace"}`, false},
		{"no email", `{"displayName": "Grace"}`, false},
		{"empty tag", `{"displayName": "Grace", "email": "grace@example.com", "tags": [""]}`, false},
		{"tag too long", `{"displayName": "Grace", "email": "grace@example.com", "tags": ["` + long(33) + `"]}`, false},
		{"too many tags", `{"displayName": "Grace", "email": "grace@example.com", "tags": [` + strings.Repeat(`"t",`, 20) + `"t"]}`, false},
		{"twenty tags", `{"displayName": "Grace", "email": "grace@example.com", "tags": [` + strings.Repeat(`"t",`, 19) + `"t"]}`, true},
		{"country code in lower case", `{"displayName": "Grace", "email": "grace@example.com", "address": {"countryCode": "us"}}`, false},
		{"street too long", `{"displayName": "Grace", "email": "grace@example.com", "address": {"street": "` + long(201) + `"}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var value any
			if err := json.Unmarshal([]byte(tc.body), &value); err != nil {
				t.Fatal(err)
			}
			schemaErr := schema.Value.VisitJSON(value, openapi3.EnableJSONSchema2020(), openapi3.EnableFormatValidation())
			if documented := schemaErr == nil; documented != tc.valid {
				t.Errorf("the documented schema says valid = %v (%v), want %v", documented, schemaErr, tc.valid)
			}
			resp, body := do(t, http.MethodPost, url+"/v1/users", tc.body, nil)
			want := http.StatusCreated
			if !tc.valid {
				want = http.StatusBadRequest
			}
			if resp.StatusCode != want {
				t.Errorf("POST /v1/users %s = %d %s, want %d", tc.body, resp.StatusCode, body, want)
			}
		})
	}
}
