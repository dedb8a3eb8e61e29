package identity_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/archway-gateway/archway/identity"
)

const (
	secret = "0123456789abcdef0123456789abcdef-test"
	method = "/storefront.users.v1.UserService/GetUser"
)

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// signer returns a Signer for secret whose clock reads at.
func signer(t testing.TB, key string, at time.Time) *identity.Signer {
	t.Helper()
	s, err := identity.NewSigner(key, identity.WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewSignerRejectsShortSecrets(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, identity.MinSecretLen - 1} {
		if _, err := identity.NewSigner(strings.Repeat("k", n)); err == nil {
			t.Errorf("NewSigner(%d bytes) succeeded, want an error", n)
		}
	}
	if _, err := identity.NewSigner(strings.Repeat("k", identity.MinSecretLen)); err != nil {
		t.Errorf("NewSigner(%d bytes) = %v", identity.MinSecretLen, err)
	}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		id   identity.Identity
	}{
		{"anonymous", identity.Identity{}},
		{"jwt", identity.Identity{Subject: "ada", ClientID: "web", Scopes: []string{"users.read", "orders.write"}, Kind: "jwt"}},
		{"issuer and request id", identity.Identity{Subject: "ada", Kind: "jwt", Issuer: "https://login.example/\"x\"", RequestID: "req-1"}},
		{"api key", identity.Identity{Subject: "demo", ClientID: "demo", Scopes: []string{"orders.write"}, Kind: "api_key"}},
		{"unicode subject", identity.Identity{Subject: "usér\n\"quoted\"", Kind: "jwt"}},
		{"escapes", identity.Identity{Subject: "back\\slash\ttab\x00nul\x1f</script>&", ClientID: "c\u2028", Scopes: []string{"a\"b", "users.read"}, Kind: "jwt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := signer(t, secret, epoch)
			env, sig := s.Sign(method, tc.id)
			if !strings.HasPrefix(env, "v1.") || strings.ContainsAny(env+sig, " \n=") {
				t.Fatalf("Sign = %q, %q: want a v1. envelope in unpadded base64url", env, sig)
			}
			got, err := s.Verify(method, env, sig)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := tc.id
			want.IssuedAt = epoch
			if !got.IssuedAt.Equal(epoch) {
				t.Errorf("IssuedAt = %v, want %v", got.IssuedAt, epoch)
			}
			got.IssuedAt = epoch
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Verify = %+v, want %+v", got, want)
			}
			if got.Anonymous() != (tc.id.Subject == "") {
				t.Errorf("Anonymous() = %v for subject %q", got.Anonymous(), tc.id.Subject)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	s := signer(t, secret, epoch)
	env, sig := s.Sign(method, identity.Identity{Subject: "ada", Scopes: []string{"users.read"}, Kind: "jwt"})
	// flip changes one character of s in the middle.
	flip := func(s string) string {
		b := []byte(s)
		i := len(b) / 2
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name     string
		verifier *identity.Signer
		method   string
		env, sig string
		want     error
	}{
		{"no envelope", s, method, "", sig, identity.ErrMissing},
		{"no signature", s, method, env, "", identity.ErrMissing},
		{"tampered envelope", s, method, flip(env), sig, identity.ErrBadSignature},
		{"tampered signature", s, method, env, flip(sig), identity.ErrBadSignature},
		{"signature too long", s, method, env, sig + "A", identity.ErrBadSignature},
		{"signature with unused bits set", s, method, env, spareBits(sig), identity.ErrBadSignature},
		{"other method", s, "/storefront.users.v1.UserService/DeleteUser", env, sig, identity.ErrBadSignature},
		{"other secret", signer(t, strings.Repeat("x", 32), epoch), method, env, sig, identity.ErrBadSignature},
		{"expired", signer(t, secret, epoch.Add(identity.DefaultMaxAge+identity.DefaultClockSkew+time.Second)), method, env, sig, identity.ErrExpired},
		{"from the future", signer(t, secret, epoch.Add(-identity.DefaultClockSkew-time.Second)), method, env, sig, identity.ErrExpired},
		{"huge envelope", s, method, "v1." + strings.Repeat("A", 9000), sig, identity.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := tc.verifier.Verify(tc.method, tc.env, tc.sig)
			if !errors.Is(err, tc.want) {
				t.Errorf("Verify = %+v, %v; want %v", id, err, tc.want)
			}
		})
	}
}

// spareBits spells sig, 43 characters of unpadded base64url, with one of the two unused bits
// of its last character flipped: the same 32 bytes to a lenient decoder.
func spareBits(sig string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, sig[len(sig)-1])
	return sig[:len(sig)-1] + string(alphabet[i^1])
}

func TestVerifyAcceptsWithinLimits(t *testing.T) {
	t.Parallel()
	env, sig := signer(t, secret, epoch).Sign(method, identity.Identity{Subject: "ada"})
	for _, at := range []time.Time{
		epoch.Add(identity.DefaultMaxAge + identity.DefaultClockSkew),
		epoch.Add(-identity.DefaultClockSkew),
	} {
		if _, err := signer(t, secret, at).Verify(method, env, sig); err != nil {
			t.Errorf("Verify at %v: %v", at.Sub(epoch), err)
		}
	}
	short, err := identity.NewSigner(secret, identity.WithMaxAge(time.Second), identity.WithClockSkew(time.Second),
		identity.WithClock(func() time.Time { return epoch.Add(3 * time.Second) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := short.Verify(method, env, sig); !errors.Is(err, identity.ErrExpired) {
		t.Errorf("WithMaxAge(1s) and WithClockSkew(1s) after 3s: %v, want ErrExpired", err)
	}
}

// signRaw signs an arbitrary envelope as the wire format in the package doc says, so that the
// decoder can be reached with bytes Sign would never produce.
func signRaw(key, method, envelope string) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte("archway-identity\n" + method + "\n" + envelope))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func TestSignatureFollowsTheDocumentedFormat(t *testing.T) {
	t.Parallel()
	env, sig := signer(t, secret, epoch).Sign(method, identity.Identity{Subject: "ada"})
	if want := signRaw(secret, method, env); sig != want {
		t.Errorf("signature = %q, want HMAC-SHA256 as documented: %q", sig, want)
	}
}

func TestVerifyRejectsMalformedSignedEnvelopes(t *testing.T) {
	t.Parallel()
	s := signer(t, secret, epoch)
	b64 := func(s string) string { return "v1." + base64.RawURLEncoding.EncodeToString([]byte(s)) }
	stamp := func(body string) string {
		return strings.ReplaceAll(body, "IAT", strconv.FormatInt(epoch.Unix(), 10))
	}
	for _, tc := range []struct{ name, env string }{
		{"other version", "v2." + base64.RawURLEncoding.EncodeToString([]byte(stamp(`{"sub":"a","jti":"n","iat":IAT}`)))},
		{"not base64", "v1.***"},
		{"not JSON", b64("nope")},
		{"unknown field", b64(stamp(`{"sub":"a","jti":"n","iat":IAT,"admin":true}`))},
		{"trailing data", b64(stamp(`{"sub":"a","jti":"n","iat":IAT}{}`))},
		{"no issue time", b64(`{"sub":"a","jti":"n"}`)},
		{"no nonce", b64(stamp(`{"sub":"a","iat":IAT}`))},
		{"empty nonce", b64(stamp(`{"sub":"a","jti":"","iat":IAT}`))},
		{"nonce too long", b64(stamp(`{"sub":"a","jti":"` + strings.Repeat("n", 65) + `","iat":IAT}`))},
		{"empty scope", b64(stamp(`{"sub":"a","scp":[""],"jti":"n","iat":IAT}`))},
		{"scope with a space", b64(stamp(`{"sub":"a","scp":["a b"],"jti":"n","iat":IAT}`))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := s.Verify(method, tc.env, signRaw(secret, method, tc.env)); !errors.Is(err, identity.ErrMalformed) {
				t.Errorf("Verify(%q) = %v, want ErrMalformed", tc.env, err)
			}
		})
	}
	ok := b64(stamp(`{"sub":"a","iss":"https://i.example/","rid":"r-1","jti":"n","iat":IAT}`))
	if _, err := s.Verify(method, ok, signRaw(secret, method, ok)); err != nil {
		t.Errorf("control envelope %q: %v", ok, err)
	}
}

// FuzzVerify feeds the decoder arbitrary envelopes, signed and unsigned: it must never panic,
// and whatever it accepts must survive a round trip through Sign.
func FuzzVerify(f *testing.F) {
	env, _ := signer(f, secret, epoch).Sign(method, identity.Identity{Subject: "ada", Scopes: []string{"a", "b"}, Kind: "jwt", Issuer: "https://i.example/", RequestID: "r"})
	for _, seed := range []string{env, "", "v1.", "v1.e30", "v1.eyJzdWIiOiJhIiwiaWF0IjoxODkzNTUzNDQ1fQ",
		"v1.eyJzdWIiOiJhIiwianRpIjoibiIsImlhdCI6MTg5MzU1MzQ0NX0", "v2.x", strings.Repeat("v1.", 100)} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, envelope string, signed bool) {
		// A Signer per input: one that remembered every nonce accepted would fill up.
		s := signer(t, secret, epoch)
		sig := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		if signed {
			sig = signRaw(secret, method, envelope)
		}
		id, err := s.Verify(method, envelope, sig)
		if err != nil {
			return
		}
		if !signed {
			t.Fatalf("Verify accepted %q with a made-up signature", envelope)
		}
		env2, sig2 := s.Sign(method, id)
		id2, err := s.Verify(method, env2, sig2)
		if err != nil {
			t.Fatalf("re-signed %+v does not verify: %v", id, err)
		}
		id.IssuedAt, id2.IssuedAt = time.Time{}, time.Time{} // Sign stamps its own time
		if !reflect.DeepEqual(id, id2) {
			t.Fatalf("round trip changed %+v into %+v", id, id2)
		}
	})
}
