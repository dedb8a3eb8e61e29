package identity_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/archway-gateway/archway/identity"
)

// clock is a settable clock for a Signer.
type clock struct {
	mu sync.Mutex
	at time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.at = c.at.Add(d)
	c.mu.Unlock()
}

// clocked returns a Signer for secret on a clock that starts at epoch.
func clocked(t *testing.T, opts ...identity.Option) (*identity.Signer, *clock) {
	t.Helper()
	c := &clock{at: epoch}
	s, err := identity.NewSigner(secret, append([]identity.Option{identity.WithClock(c.now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func TestEachEnvelopeIsGoodForOneCall(t *testing.T) {
	t.Parallel()
	s, c := clocked(t)
	ada := identity.Identity{Subject: "ada", Kind: "jwt", Issuer: "https://login.example/", RequestID: "req-1"}
	env, sig := s.Sign(method, ada)
	if env2, _ := s.Sign(method, ada); env2 == env {
		t.Fatalf("two envelopes of the same identity and method are equal: %q", env)
	}
	got, err := s.Verify(method, env, sig)
	if err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	if got.Issuer != ada.Issuer || got.RequestID != ada.RequestID {
		t.Errorf("Verify = %+v, want issuer %q and request id %q", got, ada.Issuer, ada.RequestID)
	}
	if _, err := s.Verify(method, env, sig); !errors.Is(err, identity.ErrReplayed) {
		t.Errorf("replay with the same method: %v, want ErrReplayed", err)
	}
	if _, err := s.Verify("/storefront.users.v1.UserService/DeleteUser", env, sig); !errors.Is(err, identity.ErrBadSignature) {
		t.Errorf("replay with another method: %v, want ErrBadSignature", err)
	}

	// An envelope never used is refused once its lifetime, seconds by default, is over.
	env, sig = s.Sign(method, ada)
	c.advance(10 * time.Second)
	if _, err := s.Verify(method, env, sig); !errors.Is(err, identity.ErrExpired) {
		t.Errorf("after its lifetime: %v, want ErrExpired", err)
	}
}

func TestReplayCacheIsBounded(t *testing.T) {
	t.Parallel()
	const size = 100
	s, c := clocked(t, identity.WithReplayCacheSize(size))
	lifetime := identity.DefaultMaxAge + identity.DefaultClockSkew
	verify := func() error {
		env, sig := s.Sign(method, identity.Identity{Subject: "ada"})
		_, err := s.Verify(method, env, sig)
		return err
	}
	for i := range size {
		if err := verify(); err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
	}
	// Full of nonces still within their lifetime: refused, since a replay could not be told.
	if err := verify(); !errors.Is(err, identity.ErrReplayCacheFull) {
		t.Fatalf("envelope %d: %v, want ErrReplayCacheFull", size, err)
	}
	if n := s.ReplayCacheLen(); n != size {
		t.Errorf("the cache holds %d nonces, want %d", n, size)
	}
	// Once they expired, new envelopes are accepted again: expired nonces are dropped.
	c.advance(lifetime + time.Second)
	if err := verify(); err != nil {
		t.Fatalf("after the lifetime: %v", err)
	}

	// At a steady rate below the cap, the cache holds about a lifetime's worth of nonces,
	// however long the calls go on.
	const perSecond = 5
	for range 1000 {
		for range perSecond {
			if err := verify(); err != nil {
				t.Fatal(err)
			}
		}
		c.advance(time.Second)
	}
	if n, most := s.ReplayCacheLen(), perSecond*int(2*lifetime/time.Second+2); n > most {
		t.Errorf("after 5,000 calls the cache holds %d nonces, want at most %d", n, most)
	}
}

// flaky answers UNAVAILABLE the first time, after the identity was verified, and with the
// subject and request id of the identity, separated by "|", after that.
type flaky struct {
	mu    sync.Mutex
	calls int
}

func (f *flaky) Get(ctx context.Context) (*wrapperspb.StringValue, error) {
	f.mu.Lock()
	f.calls++
	first := f.calls == 1
	f.mu.Unlock()
	if first {
		return nil, status.Error(codes.Unavailable, "try again")
	}
	id, _ := identity.FromContext(ctx)
	return wrapperspb.String(id.Subject + "|" + id.RequestID), nil
}

// retryConfig retries WhoAmI on UNAVAILABLE, as the gateway retries idempotent methods.
const retryConfig = `{"methodConfig": [{"name": [{"service": "example.v1.WhoAmI", "method": "Get"}],
  "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.01s", "maxBackoff": "0.01s", "backoffMultiplier": 1,
  "retryableStatusCodes": ["UNAVAILABLE"]}}]}`

func TestRetriesAndCapturedEnvelopes(t *testing.T) {
	t.Parallel()
	live, err := identity.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	// captured records the metadata of every call the server gets, before it is verified.
	var (
		mu       sync.Mutex
		captured []metadata.MD
	)
	capture := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		captured = append(captured, md)
		mu.Unlock()
		return handler(ctx, req)
	}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(capture, auth.UnaryServerInterceptor(live.AuthFunc())))
	srv.RegisterService(&whoAmIDesc, &flaky{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	dial := func(opts ...grpc.DialOption) *grpc.ClientConn {
		conn, err := grpc.NewClient("passthrough:///bufconn", append([]grpc.DialOption{
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
		}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	gateway := dial(append(withInterceptors(live), grpc.WithDefaultServiceConfig(retryConfig))...)
	attacker := dial()

	// The first attempt fails after its envelope was accepted; the retry must carry its own.
	ctx := context.WithValue(t.Context(), sourceKey{}, identity.Identity{Subject: "ada", Kind: "jwt", RequestID: "req-1"})
	who, err := askWhoAmI(ctx, gateway)
	if err != nil {
		t.Fatalf("Get with a retry: %v", err)
	}
	if who != "ada|req-1" {
		t.Errorf("backend saw %q, want ada|req-1 (subject|request id)", who)
	}
	mu.Lock()
	attempts := captured
	mu.Unlock()
	if len(attempts) != 2 {
		t.Fatalf("the backend got %d attempts, want 2", len(attempts))
	}
	if a, b := attempts[0].Get(identity.MetadataKey), attempts[1].Get(identity.MetadataKey); len(a) != 1 || len(b) != 1 || a[0] == b[0] {
		t.Errorf("the attempts carried envelopes %q and %q, want one each, different", a, b)
	}
	if rid := attempts[1].Get(identity.RequestIDKey); len(rid) != 1 || rid[0] != "req-1" {
		t.Errorf("x-request-id = %q, want the identity's request id", rid)
	}

	// Whoever captured an envelope cannot use it again, nor for another request id.
	env, sig := attempts[1].Get(identity.MetadataKey)[0], attempts[1].Get(identity.SignatureKey)[0]
	for _, tc := range []struct {
		name string
		md   metadata.MD
	}{
		{"replayed", metadata.Pairs(identity.MetadataKey, env, identity.SignatureKey, sig, identity.RequestIDKey, "req-1")},
		{"replayed without the request id", metadata.Pairs(identity.MetadataKey, env, identity.SignatureKey, sig)},
		{"replayed with two request ids", metadata.Pairs(identity.MetadataKey, env, identity.SignatureKey, sig,
			identity.RequestIDKey, "req-1", identity.RequestIDKey, "req-2")},
	} {
		_, err := askWhoAmI(metadata.NewOutgoingContext(t.Context(), tc.md), attacker)
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v, want UNAUTHENTICATED", tc.name, err)
		}
	}
	fresh, freshSig := live.Sign(whoAmIMethod, identity.Identity{Subject: "ada", RequestID: "req-1"})
	_, err = askWhoAmI(metadata.NewOutgoingContext(t.Context(), metadata.Pairs(
		identity.MetadataKey, fresh, identity.SignatureKey, freshSig, identity.RequestIDKey, "req-2")), attacker)
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("an unused envelope for request req-1 on request req-2: %v, want UNAUTHENTICATED", err)
	}
}
