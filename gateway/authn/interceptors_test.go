package authn_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/archway-gateway/archway/gateway/authn"
	"github.com/archway-gateway/archway/gateway/edge"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/identity"
)

// echoIdentity answers GetUser with the forwarded identity it received.
type echoIdentity struct {
	usersv1.UnimplementedUserServiceServer
}

func (echoIdentity) GetUser(ctx context.Context, _ *usersv1.GetUserRequest) (*usersv1.User, error) {
	id, ok := identity.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no identity")
	}
	return &usersv1.User{Name: id.Issuer + " " + id.RequestID, DisplayName: id.Subject, Email: id.Kind, Tags: append([]string{id.ClientID}, id.Scopes...)}, nil
}

// backend runs a users backend that requires the envelope of s and returns a client whose
// connection carries the gateway's interceptors.
func backend(t *testing.T, s *identity.Signer) usersv1.UserServiceClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor(s.AuthFunc())))
	usersv1.RegisterUserServiceServer(srv, echoIdentity{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(authn.UnaryClientInterceptor(s)),
		grpc.WithChainStreamInterceptor(authn.StreamClientInterceptor(s)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-done
	})
	return usersv1.NewUserServiceClient(conn)
}

func TestClientInterceptorsForwardTheIdentity(t *testing.T) {
	t.Parallel()
	s, err := identity.NewSigner(strings.Repeat("s", 32))
	if err != nil {
		t.Fatal(err)
	}
	client := backend(t, s)
	// requestContext is the context of an HTTP request that went through the chain.
	requestContext := func(id *edge.Identity) context.Context {
		r, st := edge.WithState(httptest.NewRequest(http.MethodGet, "/", nil), "req-1")
		if id != nil {
			st.SetIdentity(*id)
		}
		return r.Context()
	}
	for _, tc := range []struct {
		name      string
		ctx       context.Context
		wantSub   string
		wantKind  string
		wantExtra string // client id and scopes, joined by spaces
		wantCall  string // issuer and request id, joined by a space
	}{
		{"authenticated", requestContext(&edge.Identity{Subject: "ada", ClientID: "web", Scopes: []string{"users.read"}, Kind: "jwt", Issuer: "https://a.example/"}),
			"ada", "jwt", "web users.read", "https://a.example/ req-1"},
		{"same subject, other issuer", requestContext(&edge.Identity{Subject: "ada", Kind: "jwt", Issuer: "https://b.example/"}), "ada", "jwt", "", "https://b.example/ req-1"},
		{"anonymous request", requestContext(nil), "", "", "", " req-1"},
		{"outside a request", context.Background(), "", "", "", " "},
		{"client-sent identity is replaced", metadata.NewOutgoingContext(
			requestContext(&edge.Identity{Subject: "demo", ClientID: "demo", Kind: "api_key"}),
			metadata.Pairs(identity.MetadataKey, "v1.forged", identity.SignatureKey, "forged")), "demo", "api_key", "demo", " req-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, err := client.GetUser(tc.ctx, &usersv1.GetUserRequest{Name: "users/x"})
			if err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			if u.GetDisplayName() != tc.wantSub || u.GetEmail() != tc.wantKind || strings.TrimSpace(strings.Join(u.GetTags(), " ")) != tc.wantExtra {
				t.Errorf("backend saw %q %q %q, want %q %q %q", u.GetDisplayName(), u.GetEmail(), u.GetTags(), tc.wantSub, tc.wantKind, tc.wantExtra)
			}
			if u.GetName() != tc.wantCall {
				t.Errorf("backend saw issuer and request id %q, want %q", u.GetName(), tc.wantCall)
			}
		})
	}
}
