package identity_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/identity"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the generator")

const vectorsPath = "testdata/vectors.json"

// vectorFile is the schema of testdata/vectors.json, which docs/identity.md describes.
type vectorFile struct {
	Description      string   `json:"description"`
	Secret           string   `json:"secret"`
	MaxAgeSeconds    int      `json:"max_age_seconds"`
	ClockSkewSeconds int      `json:"clock_skew_seconds"`
	Vectors          []vector `json:"vectors"`
}

// vector is one call as a backend receives it, and what the backend must answer.
type vector struct {
	Name string `json:"name"`
	// Method is the gRPC method the call is made to, which the backend serves.
	Method string `json:"method"`
	// Metadata holds the values of the call's identity metadata keys, and of x-request-id.
	Metadata map[string][]string `json:"metadata"`
	// Payload is the JSON inside the envelope, for reading; "" when the call has no envelope
	// or it is not base64url.
	Payload string `json:"payload,omitempty"`
	// Now is the backend's clock when it verifies the call, in Unix seconds.
	Now int64 `json:"now"`
	// SeenBefore says that the backend accepted this very call once before: verify it twice,
	// the verdict is the second one's.
	SeenBefore bool   `json:"seen_before,omitempty"`
	Verdict    string `json:"verdict"`
	GRPCCode   string `json:"grpc_code"`
	// Caller is what the backend learns from an accepted call.
	Caller *vectorCaller `json:"caller,omitempty"`
}

// vectorCaller is the caller an accepted envelope carries, under the envelope's field names.
type vectorCaller struct {
	Subject   string   `json:"sub"`
	ClientID  string   `json:"cid"`
	Scopes    []string `json:"scp"`
	Kind      string   `json:"knd"`
	Issuer    string   `json:"iss"`
	RequestID string   `json:"rid"`
	IssuedAt  int64    `json:"iat"`
}

// The verdicts of the vectors. Every verdict but accepted answers UNAUTHENTICATED.
const (
	verdictAccepted  = "accepted"
	verdictMissing   = "missing"   // no envelope or no signature
	verdictAmbiguous = "ambiguous" // several envelopes, signatures or request ids
	verdictSignature = "bad_signature"
	verdictMalformed = "malformed"
	verdictExpired   = "expired" // too old, or from too far in the future
	verdictRequestID = "request_id_mismatch"
	verdictReplayed  = "replayed"
)

// The inputs of the vectors. The nonce prefix is base64url of "test-vectors".
const (
	vectorSecret      = "archway-identity-test-vectors-secret-0123"
	vectorOtherSecret = "not-the-gateway-secret-0123456789abcdef"
	vectorNonces      = "dGVzdC12ZWN0b3Jz"
	vectorMethod      = "/acme.inventory.v1.WarehouseService/GetWarehouse"
	vectorOtherMethod = "/acme.inventory.v1.WarehouseService/DeleteWarehouse"
)

// vectorIssued is when every vector's envelope was made: 2030-01-02T03:04:05Z.
var vectorIssued = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).Unix()

// generateVectors makes the vectors with the package's Signer, on a fixed clock and with fixed
// nonces, so that it makes the same bytes every time.
func generateVectors(t *testing.T) vectorFile {
	t.Helper()
	newSigner := func(secret string) *identity.Signer {
		s, err := identity.NewSigner(secret, identity.WithClock(func() time.Time { return time.Unix(vectorIssued, 0) }))
		if err != nil {
			t.Fatal(err)
		}
		identity.SetNonces(s, vectorNonces)
		return s
	}
	gateway, other := newSigner(vectorSecret), newSigner(vectorOtherSecret)
	ada := identity.Identity{
		Subject: "ada-lovelace", ClientID: "web", Scopes: []string{"warehouses.read", "warehouses.write"},
		Kind: "jwt", Issuer: "https://login.example.com/", RequestID: "req-1",
	}
	md := func(env, sig string, rids ...string) map[string][]string {
		m := map[string][]string{}
		if env != "" {
			m[identity.MetadataKey] = []string{env}
		}
		if sig != "" {
			m[identity.SignatureKey] = []string{sig}
		}
		if len(rids) > 0 {
			m[identity.RequestIDKey] = rids
		}
		return m
	}
	// call is a vector for a call that carries what s signs for method and id, at vectorIssued.
	call := func(name string, s *identity.Signer, method string, id identity.Identity) vector {
		env, sig := s.Sign(method, id)
		v := vector{Name: name, Method: method, Metadata: md(env, sig), Now: vectorIssued + 1}
		if id.RequestID != "" {
			v.Metadata[identity.RequestIDKey] = []string{id.RequestID}
		}
		return v
	}
	env := func(v vector) string { return v.Metadata[identity.MetadataKey][0] }
	sig := func(v vector) string { return v.Metadata[identity.SignatureKey][0] }
	// raw is a vector whose envelope is payload, signed as docs/identity.md says, whatever
	// Sign would write.
	raw := func(name, version, payload string) vector {
		env := version + base64.RawURLEncoding.EncodeToString([]byte(payload))
		return vector{Name: name, Method: vectorMethod, Metadata: md(env, macOf(vectorSecret, vectorMethod, env)), Now: vectorIssued + 1}
	}
	with := func(v vector, f func(*vector)) vector {
		v.Metadata = cloneMetadata(v.Metadata)
		f(&v)
		return v
	}

	valid := call("valid", gateway, vectorMethod, ada)
	anonymous := call("valid, anonymous caller", gateway, vectorMethod, identity.Identity{RequestID: "req-2"})
	apiKey := call("valid, API key without a request id", gateway, vectorMethod, identity.Identity{Subject: "reporting", ClientID: "reporting", Scopes: []string{"warehouses.read"}, Kind: "api_key"})
	escapes := call("valid, strings with JSON escapes", gateway, vectorMethod, identity.Identity{
		Subject: "usér \"quoted\" back\\slash\ttab\x01", Scopes: []string{"a\"b"}, Kind: "jwt", Issuer: "https://login.example.com/</script>&", RequestID: "req-3",
	})
	otherMethod := call("signed for another method", gateway, vectorOtherMethod, ada)
	otherMethod.Method = vectorMethod
	otherSecret := call("signed with another secret", other, vectorMethod, ada)
	fresh := func(name string) vector { return call(name, gateway, vectorMethod, ada) }

	tampered := fresh("envelope tampered with")
	payload, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(env(tampered), "v1."))
	forged := strings.Replace(string(payload), `"sub":"ada-lovelace"`, `"sub":"eve"`, 1)
	tampered.Metadata[identity.MetadataKey] = []string{"v1." + base64.RawURLEncoding.EncodeToString([]byte(forged))}

	badSig := fresh("signature tampered with")
	s := []byte(sig(badSig))
	s[10] ^= 'A' ^ 'B' // two letters apart in every spelling
	if s[10] == sig(badSig)[10] {
		t.Fatal("the signature did not change")
	}
	badSig.Metadata[identity.SignatureKey] = []string{string(s)}

	// The last character of 43 carries 6 bits of which the last 2 are unused: flipping one of
	// those spells the same bytes, which a verifier must refuse all the same.
	nonCanonical := fresh("signature with unused bits set")
	s = []byte(sig(nonCanonical))
	last := strings.IndexByte(alphabet, s[len(s)-1])
	s[len(s)-1] = alphabet[last|1]
	if s[len(s)-1] == sig(nonCanonical)[len(s)-1] {
		s[len(s)-1] = alphabet[last&^1|2]
	}
	nonCanonical.Metadata[identity.SignatureKey] = []string{string(s)}

	padded := fresh("signature with padding")
	padded.Metadata[identity.SignatureKey] = []string{sig(padded) + "="}

	iat := func(p string) string { return strings.ReplaceAll(p, "IAT", strconv.FormatInt(vectorIssued, 10)) }
	// is sets the verdict the vector must get.
	is := func(verdict string, v vector) vector {
		v.Verdict = verdict
		return v
	}
	vectors := []vector{
		is(verdictAccepted, valid),
		is(verdictAccepted, anonymous),
		is(verdictAccepted, apiKey),
		is(verdictAccepted, escapes),
		is(verdictAccepted, with(fresh("valid, at the end of its lifetime"), func(v *vector) { v.Now = vectorIssued + 7 })),
		is(verdictExpired, with(fresh("expired"), func(v *vector) { v.Now = vectorIssued + 8 })),
		is(verdictAccepted, with(fresh("valid, made within the clock skew ahead of the backend"), func(v *vector) { v.Now = vectorIssued - 2 })),
		is(verdictExpired, with(fresh("made too far ahead of the backend"), func(v *vector) { v.Now = vectorIssued - 3 })),
		is(verdictSignature, otherMethod),
		is(verdictSignature, otherSecret),
		is(verdictRequestID, with(fresh("another request id"), func(v *vector) { v.Metadata[identity.RequestIDKey] = []string{"req-9"} })),
		is(verdictRequestID, with(fresh("no request id"), func(v *vector) { delete(v.Metadata, identity.RequestIDKey) })),
		is(verdictRequestID, with(apiKey, func(v *vector) {
			v.Name = "a request id the envelope does not carry"
			v.Metadata[identity.RequestIDKey] = []string{"req-9"}
		})),
		is(verdictReplayed, with(valid, func(v *vector) { v.Name, v.SeenBefore = "replayed", true })),
		is(verdictSignature, tampered),
		is(verdictSignature, badSig),
		is(verdictSignature, nonCanonical),
		is(verdictSignature, padded),
		is(verdictMissing, with(fresh("no envelope"), func(v *vector) { delete(v.Metadata, identity.MetadataKey) })),
		is(verdictMissing, with(fresh("no signature"), func(v *vector) { delete(v.Metadata, identity.SignatureKey) })),
		is(verdictAmbiguous, with(fresh("two envelopes"), func(v *vector) {
			v.Metadata[identity.MetadataKey] = append(v.Metadata[identity.MetadataKey], env(anonymous))
		})),
		is(verdictAmbiguous, with(fresh("two request ids"), func(v *vector) {
			v.Metadata[identity.RequestIDKey] = append(v.Metadata[identity.RequestIDKey], "req-1")
		})),
		is(verdictMalformed, raw("signed, another version", "v2.", iat(`{"sub":"ada-lovelace","jti":"n-1","iat":IAT}`))),
		is(verdictMalformed, raw("signed, an unknown field", "v1.", iat(`{"sub":"ada-lovelace","adm":true,"jti":"n-2","iat":IAT}`))),
		is(verdictMalformed, raw("signed, no nonce", "v1.", iat(`{"sub":"ada-lovelace","iat":IAT}`))),
		is(verdictMalformed, raw("signed, no issue time", "v1.", `{"sub":"ada-lovelace","jti":"n-3"}`)),
		is(verdictMalformed, raw("signed, a fractional issue time", "v1.", iat(`{"sub":"ada-lovelace","jti":"n-4","iat":IAT.5}`))),
		is(verdictMalformed, raw("signed, a scope with a space", "v1.", iat(`{"sub":"ada-lovelace","scp":["warehouses.read warehouses.write"],"jti":"n-5","iat":IAT}`))),
		is(verdictMalformed, raw("signed, data after the object", "v1.", iat(`{"sub":"ada-lovelace","jti":"n-6","iat":IAT}{}`))),
		is(verdictAccepted, raw("valid, written by another signer", "v1.", iat(`{ "iat": IAT, "jti": "n-7", "sub": "ada-lovelace", "scp": [] }`))),
	}
	for i := range vectors {
		v := &vectors[i]
		if envs := v.Metadata[identity.MetadataKey]; len(envs) > 0 {
			if rest, ok := strings.CutPrefix(envs[0], "v"); ok && len(rest) > 2 {
				if p, err := base64.RawURLEncoding.DecodeString(rest[2:]); err == nil {
					v.Payload = string(p)
				}
			}
		}
	}
	return vectorFile{
		Description: "Test vectors of the Archway identity envelope: see docs/identity.md. " +
			"Generated by TestVectorsAreReproducible (go test ./identity -run TestVectors -update).",
		Secret:           vectorSecret,
		MaxAgeSeconds:    int(identity.DefaultMaxAge / time.Second),
		ClockSkewSeconds: int(identity.DefaultClockSkew / time.Second),
		Vectors:          judge(t, vectors),
	}
}

// judge checks each vector's verdict with the package's own verifier, and fills in the code it
// answers and the caller it accepted.
func judge(t *testing.T, vs []vector) []vector {
	t.Helper()
	for i := range vs {
		code, id, err := verifyVector(vs[i])
		vs[i].GRPCCode = codeName(code)
		if got := verdictOf(t, vs[i], code, err); got != vs[i].Verdict {
			t.Errorf("%s: the package's verdict is %s (Verify: %v), want %s", vs[i].Name, got, err, vs[i].Verdict)
		}
		if code == codes.OK {
			scopes := id.Scopes
			if scopes == nil {
				scopes = []string{}
			}
			vs[i].Caller = &vectorCaller{
				Subject: id.Subject, ClientID: id.ClientID, Scopes: scopes, Kind: id.Kind,
				Issuer: id.Issuer, RequestID: id.RequestID, IssuedAt: id.IssuedAt.Unix(),
			}
		}
	}
	return vs
}

// verdictOf names the outcome of v: the code AuthFunc answered, with Verify's error.
func verdictOf(t *testing.T, v vector, code codes.Code, err error) string {
	t.Helper()
	switch {
	case code == codes.OK:
		return verdictAccepted
	case errors.Is(err, identity.ErrMissing):
		return verdictMissing
	case errors.Is(err, identity.ErrBadSignature):
		return verdictSignature
	case errors.Is(err, identity.ErrMalformed):
		return verdictMalformed
	case errors.Is(err, identity.ErrExpired):
		return verdictExpired
	case errors.Is(err, identity.ErrReplayed):
		return verdictReplayed
	case err != nil:
		t.Fatalf("%s: unexpected error %v", v.Name, err)
	case len(v.Metadata[identity.MetadataKey]) > 1 || len(v.Metadata[identity.SignatureKey]) > 1 || len(v.Metadata[identity.RequestIDKey]) > 1:
		return verdictAmbiguous
	}
	return verdictRequestID
}

// verifyVector checks v as a backend does, with AuthFunc on a fresh Signer, and returns the
// code it answers, the identity it put in the context, and the error of Verify, called with
// the call's first envelope and signature on another fresh Signer (nil when it accepted them).
func verifyVector(v vector) (codes.Code, identity.Identity, error) {
	at := func() time.Time { return time.Unix(v.Now, 0) }
	backend, err := identity.NewSigner(vectorSecret, identity.WithClock(at))
	if err != nil {
		return codes.Unknown, identity.Identity{}, err
	}
	authFunc := backend.AuthFunc()
	md := metadata.MD{}
	for k, vals := range v.Metadata {
		md[k] = vals
	}
	ctx := grpc.NewContextWithServerTransportStream(
		metadata.NewIncomingContext(context.Background(), md), methodStream(v.Method))
	if v.SeenBefore {
		if _, err := authFunc(ctx); err != nil {
			return codes.Unknown, identity.Identity{}, err
		}
	}
	ctx, authErr := authFunc(ctx)
	var id identity.Identity
	if authErr == nil {
		id, _ = identity.FromContext(ctx)
	}

	verifier, err := identity.NewSigner(vectorSecret, identity.WithClock(at))
	if err != nil {
		return codes.Unknown, identity.Identity{}, err
	}
	first := func(k string) string {
		if vals := v.Metadata[k]; len(vals) > 0 {
			return vals[0]
		}
		return ""
	}
	env, sig := first(identity.MetadataKey), first(identity.SignatureKey)
	_, verr := verifier.Verify(v.Method, env, sig)
	if v.SeenBefore && verr == nil {
		_, verr = verifier.Verify(v.Method, env, sig)
	}
	return status.Code(authErr), id, verr
}

// codeName is the name of c in google/rpc/code.proto, such as UNAUTHENTICATED: the upper-case
// form of its Go name, for the one-word codes that verifying answers.
func codeName(c codes.Code) string { return strings.ToUpper(c.String()) }

// methodStream is the server transport stream of a call to a method, which is all AuthFunc
// asks of it.
type methodStream string

func (m methodStream) Method() string             { return string(m) }
func (methodStream) SetHeader(metadata.MD) error  { return nil }
func (methodStream) SendHeader(metadata.MD) error { return nil }
func (methodStream) SetTrailer(metadata.MD) error { return nil }

// cloneMetadata is a deep copy of m.
func cloneMetadata(m map[string][]string) map[string][]string {
	c := make(map[string][]string, len(m))
	for k, v := range m {
		c[k] = slices.Clone(v)
	}
	return c
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// macOf is the signature of envelope for method, as docs/identity.md says to compute it.
func macOf(secret, method, envelope string) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte("archway-identity\n" + method + "\n" + envelope))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// encodeVectors is the checked-in form of f.
func encodeVectors(f vectorFile) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// TestVectorsAreReproducible regenerates the vectors with a fixed clock and fixed nonces and
// requires the checked-in file byte for byte: what Sign writes, and the verdicts, cannot drift
// from what docs/identity.md shows.
func TestVectorsAreReproducible(t *testing.T) {
	t.Parallel()
	got, err := encodeVectors(generateVectors(t))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(vectorsPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("regenerated vectors differ from %s; if the change is meant, run go test ./identity -run TestVectors -update and update docs/identity.md", vectorsPath)
	}
}

// TestVectors checks every checked-in vector with the package, as a backend in another language
// would check it with its own verifier.
func TestVectors(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	if f.Secret != vectorSecret || time.Duration(f.MaxAgeSeconds)*time.Second != identity.DefaultMaxAge ||
		time.Duration(f.ClockSkewSeconds)*time.Second != identity.DefaultClockSkew {
		t.Fatalf("the file's secret, maximum age or clock skew differ from the package's defaults")
	}
	seen := map[string]bool{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			code, id, err := verifyVector(v)
			if codeName(code) != v.GRPCCode {
				t.Errorf("AuthFunc answered %v, want %s", code, v.GRPCCode)
			}
			if got := verdictOf(t, v, code, err); got != v.Verdict {
				t.Errorf("verdict %s (Verify: %v), want %s", got, err, v.Verdict)
			}
			seen[v.Verdict] = true
			if v.Verdict != verdictAccepted {
				if v.GRPCCode != codeName(codes.Unauthenticated) || v.Caller != nil {
					t.Errorf("refused with %s and caller %+v, want UNAUTHENTICATED and none", v.GRPCCode, v.Caller)
				}
				return
			}
			c := v.Caller
			if c == nil || id.Subject != c.Subject || id.ClientID != c.ClientID || !slices.Equal(id.Scopes, c.Scopes) ||
				id.Kind != c.Kind || id.Issuer != c.Issuer || id.RequestID != c.RequestID || id.IssuedAt.Unix() != c.IssuedAt {
				t.Errorf("caller %+v, want %+v", id, c)
			}
		})
	}
	for _, verdict := range []string{verdictAccepted, verdictMissing, verdictAmbiguous, verdictSignature,
		verdictMalformed, verdictExpired, verdictRequestID, verdictReplayed} {
		if !seen[verdict] {
			t.Errorf("no vector has the verdict %s", verdict)
		}
	}
}
