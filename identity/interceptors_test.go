package identity_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/archway-gateway/archway/identity"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoCaller answers with the identity the server verified: subject, scopes and kind, separated
// by "|".
type echoCaller struct{}

func (echoCaller) Get(ctx context.Context) (*wrapperspb.StringValue, error) {
	id, ok := identity.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no identity in the context")
	}
	return wrapperspb.String(id.Subject + "|" + strings.Join(id.Scopes, " ") + "|" + id.Kind), nil
}

// askWhoAmI calls the WhoAmI service on conn and returns its answer.
func askWhoAmI(ctx context.Context, conn *grpc.ClientConn) (string, error) {
	var out wrapperspb.StringValue
	err := conn.Invoke(ctx, whoAmIMethod, &emptypb.Empty{}, &out)
	return out.GetValue(), err
}

// notHealth selects every call except health checks, as a backend's chain does.
var notHealth = selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service != healthpb.Health_ServiceDesc.ServiceName
})

// serve runs a gRPC server whose calls, except health checks, need an envelope signed by s,
// over bufconn until the test ends, and returns a connection to it with dialOpts.
func serve(t *testing.T, s *identity.Signer, dialOpts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(s.AuthFunc()), notHealth)),
		grpc.ChainStreamInterceptor(selector.StreamServerInterceptor(auth.StreamServerInterceptor(s.AuthFunc()), notHealth)),
	)
	srv.RegisterService(&whoAmIDesc, echoCaller{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	opts := append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, dialOpts...)
	conn, err := grpc.NewClient("passthrough:///bufconn", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-done
	})
	return conn
}

type sourceKey struct{}

// fromTest is a Source that reads the identity a test put in the context.
func fromTest(ctx context.Context) (identity.Identity, bool) {
	id, ok := ctx.Value(sourceKey{}).(identity.Identity)
	return id, ok
}

func withInterceptors(s *identity.Signer) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(identity.UnaryClientInterceptor(s, fromTest)),
		grpc.WithChainStreamInterceptor(identity.StreamClientInterceptor(s, fromTest)),
	}
}

func TestBackendAcceptsOnlyTheGatewaysCalls(t *testing.T) {
	t.Parallel()
	s := signer(t, secret, epoch)
	// The server's clock runs now: the client's signer must stamp envelopes with the real time.
	live, err := identity.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	plain := serve(t, live)
	signed := serve(t, live, withInterceptors(live)...)
	stale := serve(t, live, withInterceptors(s)...)
	wrongKey, err := identity.NewSigner(strings.Repeat("w", 32))
	if err != nil {
		t.Fatal(err)
	}
	forged := serve(t, live, withInterceptors(wrongKey)...)

	ada := identity.Identity{Subject: "ada", Scopes: []string{"users.read"}, Kind: "jwt"}
	for _, tc := range []struct {
		name     string
		conn     *grpc.ClientConn
		ctx      context.Context
		wantCode codes.Code
		// want is what the backend saw: subject|scopes|kind.
		want string
	}{
		{"no envelope", plain, t.Context(), codes.Unauthenticated, ""},
		{"signed identity", signed, context.WithValue(t.Context(), sourceKey{}, ada), codes.OK, "ada|users.read|jwt"},
		{"anonymous envelope", signed, t.Context(), codes.OK, "||"},
		{"expired envelope", stale, t.Context(), codes.Unauthenticated, ""},
		{"other secret", forged, t.Context(), codes.Unauthenticated, ""},
		{"client-sent envelope is replaced", signed, metadata.AppendToOutgoingContext(
			context.WithValue(t.Context(), sourceKey{}, ada),
			identity.MetadataKey, "v1.forged", identity.SignatureKey, "forged"), codes.OK, "ada|users.read|jwt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			who, err := askWhoAmI(tc.ctx, tc.conn)
			if code := status.Code(err); code != tc.wantCode {
				t.Fatalf("Get: %v, want code %v", err, tc.wantCode)
			}
			if err != nil {
				if msg := status.Convert(err).Message(); strings.Contains(msg, "identity:") {
					t.Errorf("message %q leaks the verifier's error", msg)
				}
				return
			}
			if who != tc.want {
				t.Errorf("backend saw %q, want %q (subject|scopes|kind)", who, tc.want)
			}
		})
	}
}

func TestHealthNeedsNoEnvelope(t *testing.T) {
	t.Parallel()
	live, err := identity.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := healthpb.NewHealthClient(serve(t, live)).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without an envelope: %v, %v; want SERVING", resp.GetStatus(), err)
	}
}

func TestStreamsCarryTheEnvelope(t *testing.T) {
	t.Parallel()
	live, err := identity.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	// Reflection is a bidirectional stream; this server, unlike the storefront's, guards it.
	for _, tc := range []struct {
		name string
		conn *grpc.ClientConn
		want codes.Code
	}{
		{"without interceptor", serve(t, live), codes.Unauthenticated},
		{"with interceptor", serve(t, live, withInterceptors(live)...), codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stream, err := reflectionpb.NewServerReflectionClient(tc.conn).ServerReflectionInfo(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&reflectionpb.ServerReflectionRequest{
				MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
			}); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err) // io.EOF means the server ended the stream: Recv tells why
			}
			_, err = stream.Recv()
			if code := status.Code(err); code != tc.want {
				t.Errorf("Recv: %v, want code %v", err, tc.want)
			}
			_ = stream.CloseSend()
		})
	}
}
