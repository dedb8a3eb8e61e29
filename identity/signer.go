package identity

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The metadata keys of the envelope and of its signature.
const (
	MetadataKey  = "x-archway-identity"
	SignatureKey = "x-archway-identity-sig"
)

// MinSecretLen is the shortest secret [NewSigner] accepts, in bytes: as long as the HMAC-SHA256
// output, as RFC 2104 recommends.
const MinSecretLen = 32

// sigEncoding decodes signatures: unpadded base64url, whose unused bits must be zero, so that a
// signature has one spelling.
var sigEncoding = base64.RawURLEncoding.Strict()

// maxEnvelopeLen bounds the envelope Verify reads, before it computes anything.
const maxEnvelopeLen = 8 << 10

const (
	version     = "v1."
	sigContext  = "archway-identity\n"
	sigLen      = 43 // base64url, unpadded, of 32 bytes
	maxScopeLen = 256
)

// The errors Verify returns, wrapped. Their text is fit for logs, not for clients.
var (
	// ErrMissing: the call carries no envelope, or no signature.
	ErrMissing = errors.New("identity: no envelope in the call")
	// ErrBadSignature: the signature does not match the envelope, the method and the secret.
	ErrBadSignature = errors.New("identity: bad signature")
	// ErrMalformed: the envelope is signed but cannot be decoded.
	ErrMalformed = errors.New("identity: malformed")
	// ErrExpired: the envelope is older than the maximum age, or too far in the future.
	ErrExpired = errors.New("identity: expired")
	// ErrReplayed: an envelope with the same nonce was accepted before.
	ErrReplayed = errors.New("identity: replayed")
	// ErrReplayCacheFull: the envelope may be good, but the nonces of as many envelopes as the
	// replay cache holds are still within their lifetime, so it cannot be checked for a replay.
	ErrReplayCacheFull = errors.New("identity: replay cache full")
)

// Identity is the caller of a call that came through the gateway.
type Identity struct {
	// Subject identifies the caller; "" for an anonymous caller.
	Subject string
	// ClientID identifies the application calling on the subject's behalf.
	ClientID string
	// Scopes are the scopes the caller holds.
	Scopes []string
	// Kind is how the caller authenticated at the gateway: "jwt", "api_key", or "" when it
	// did not.
	Kind string
	// Issuer is the "iss" claim of the caller's token; "" for API keys and anonymous callers.
	// A subject is unique only within its issuer: key callers by both.
	Issuer string
	// RequestID is the id of the request the call is made for (the gateway's X-Request-Id),
	// or "". The envelope is bound to it: [Signer.AuthFunc] refuses a call whose
	// [RequestIDKey] metadata differs, and the client interceptors send it as that metadata.
	RequestID string
	// IssuedAt is when the envelope was made. [Signer.Verify] sets it; [Signer.Sign] ignores
	// it and uses the signer's clock.
	IssuedAt time.Time
}

// Anonymous reports whether the caller did not authenticate at the gateway.
func (id Identity) Anonymous() bool { return id.Subject == "" }

// claims is the JSON form of an Identity.
type claims struct {
	Subject   string   `json:"sub"`
	ClientID  string   `json:"cid,omitempty"`
	Scopes    []string `json:"scp,omitempty"`
	Kind      string   `json:"knd,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	RequestID string   `json:"rid,omitempty"`
	Nonce     string   `json:"jti"`
	IssuedAt  int64    `json:"iat"`
}

// Signer signs and verifies envelopes with one secret. It is safe for concurrent use.
type Signer struct {
	secret []byte
	o      options
	// nonces make each envelope's nonce: noncePrefix, random for each Signer, then the count
	// of envelopes signed so far. Unique without a read of the system's random source per call.
	noncePrefix string
	nonces      atomic.Uint64
	// seen holds the nonces of the envelopes Verify accepted, until they expire.
	seen *replayCache
	// macs pools keyed HMAC states (*macState): keying one costs two hash blocks and some
	// allocations that every call would otherwise repeat.
	macs sync.Pool
}

// macState is a keyed HMAC and a scratch buffer for its input and output.
type macState struct {
	h       hash.Hash
	scratch []byte
}

// NewSigner returns a Signer for secret, which must be at least [MinSecretLen] bytes long.
func NewSigner(secret string, opts ...Option) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("identity.NewSigner: the secret must be at least %d bytes long, got %d", MinSecretLen, len(secret))
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	var prefix [nonceRandomBytes]byte
	_, _ = rand.Read(prefix[:]) // never fails: see crypto/rand.Read
	return &Signer{
		secret:      []byte(secret),
		o:           o,
		noncePrefix: base64.RawURLEncoding.EncodeToString(prefix[:]),
		seen:        newReplayCache(o.replayCacheSize),
	}, nil
}

// nonceRandomBytes is the length of a Signer's random nonce prefix: with 96 bits, the signers of
// every gateway replica and restart have distinct prefixes.
const nonceRandomBytes = 12

// maxNonceLen bounds the nonce Verify accepts.
const maxNonceLen = 64

// Sign returns the envelope for id on one call to method (the gRPC full method name, as in
// "/storefront.users.v1.UserService/GetUser") and its signature: the values of [MetadataKey]
// and [SignatureKey]. Each envelope has a nonce of its own, so it is good for one call: sign
// again for every call, and every attempt of a retried call (the client interceptors do).
func (s *Signer) Sign(method string, id Identity) (envelope, signature string) {
	var raw [320]byte
	body := appendClaims(raw[:0], id, s.noncePrefix, s.nonces.Add(1), s.o.now().Unix())
	env := make([]byte, len(version)+base64.RawURLEncoding.EncodedLen(len(body)))
	copy(env, version)
	base64.RawURLEncoding.Encode(env[len(version):], body)
	envelope = string(env)
	sum := s.mac(method, envelope)
	return envelope, base64.RawURLEncoding.EncodeToString(sum[:])
}

// appendClaims appends the JSON of id's claims, issued at iat, to b: the object that decode
// reads with encoding/json. The nonce is noncePrefix then count in base 36. Written by hand,
// because encoding/json's reflection was most of the cost of signing, which every backend call
// pays.
func appendClaims(b []byte, id Identity, noncePrefix string, count uint64, iat int64) []byte {
	b = append(b, `{"sub":`...)
	b = appendString(b, id.Subject)
	if id.ClientID != "" {
		b = append(b, `,"cid":`...)
		b = appendString(b, id.ClientID)
	}
	if len(id.Scopes) > 0 {
		b = append(b, `,"scp":[`...)
		for i, sc := range id.Scopes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, sc)
		}
		b = append(b, ']')
	}
	if id.Kind != "" {
		b = append(b, `,"knd":`...)
		b = appendString(b, id.Kind)
	}
	if id.Issuer != "" {
		b = append(b, `,"iss":`...)
		b = appendString(b, id.Issuer)
	}
	if id.RequestID != "" {
		b = append(b, `,"rid":`...)
		b = appendString(b, id.RequestID)
	}
	b = append(b, `,"jti":"`...)
	b = append(b, noncePrefix...) // base64url, then base-36 digits: nothing to escape
	b = strconv.AppendUint(b, count, 36)
	b = append(b, `","iat":`...)
	b = strconv.AppendInt(b, iat, 10)
	return append(b, '}')
}

// appendString appends s to b as a JSON string. Bytes from 0x80 up are copied as they are:
// encoding/json decodes valid UTF-8 to the same string, and invalid UTF-8 to U+FFFD, as it
// would have had it encoded the string itself.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= ' ' && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Verify checks that signature signs envelope for a call to method, that the envelope is fresh
// and that no envelope with its nonce was accepted before, and returns the identity it carries.
// An envelope is accepted once: Verify remembers its nonce until the envelope expires. The error
// wraps [ErrMissing], [ErrBadSignature], [ErrMalformed], [ErrExpired], [ErrReplayed] or
// [ErrReplayCacheFull].
func (s *Signer) Verify(method, envelope, signature string) (Identity, error) {
	if envelope == "" || signature == "" {
		return Identity{}, ErrMissing
	}
	if len(envelope) > maxEnvelopeLen || len(signature) != sigLen {
		return Identity{}, ErrBadSignature
	}
	got, err := sigEncoding.DecodeString(signature)
	want := s.mac(method, envelope)
	if err != nil || !hmac.Equal(got, want[:]) {
		return Identity{}, ErrBadSignature
	}
	id, nonce, err := decode(envelope)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	now := s.o.now()
	expires := id.IssuedAt.Add(s.o.maxAge + s.o.skew)
	switch {
	case now.After(expires):
		return Identity{}, fmt.Errorf("%w: made at %s, older than %s and the clock skew %s", ErrExpired, id.IssuedAt.UTC().Format(time.RFC3339), s.o.maxAge, s.o.skew)
	case id.IssuedAt.Sub(now) > s.o.skew:
		return Identity{}, fmt.Errorf("%w: made at %s, in the future", ErrExpired, id.IssuedAt.UTC().Format(time.RFC3339))
	}
	if err := s.seen.add(nonce, expires.UnixNano(), now.UnixNano()); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// mac is the HMAC of the envelope for method.
func (s *Signer) mac(method, envelope string) [sha256.Size]byte {
	m, _ := s.macs.Get().(*macState)
	if m == nil {
		m = &macState{h: hmac.New(sha256.New, s.secret)}
	} else {
		m.h.Reset()
	}
	m.scratch = append(append(append(append(m.scratch[:0], sigContext...), method...), '\n'), envelope...)
	m.h.Write(m.scratch)
	m.scratch = m.h.Sum(m.scratch[:0])
	var sum [sha256.Size]byte
	copy(sum[:], m.scratch)
	if cap(m.scratch) <= maxPooledScratch {
		s.macs.Put(m)
	}
	return sum
}

// maxPooledScratch bounds the scratch buffer a pooled HMAC state keeps.
const maxPooledScratch = 4 << 10

// decode parses an envelope whose signature has been checked, and returns its identity and
// nonce.
func decode(envelope string) (Identity, string, error) {
	rest, ok := strings.CutPrefix(envelope, version)
	if !ok {
		return Identity{}, "", errors.New("unknown version")
	}
	body, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return Identity{}, "", errors.New("not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var c claims
	if err := dec.Decode(&c); err != nil {
		return Identity{}, "", errors.New("not a JSON identity")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Identity{}, "", errors.New("data after the JSON identity")
	}
	if c.IssuedAt <= 0 {
		return Identity{}, "", errors.New("no issue time")
	}
	if c.Nonce == "" || len(c.Nonce) > maxNonceLen {
		return Identity{}, "", errors.New("no nonce, or one too long")
	}
	for _, sc := range c.Scopes {
		if sc == "" || len(sc) > maxScopeLen || strings.ContainsAny(sc, " \t\r\n") {
			return Identity{}, "", errors.New("invalid scope")
		}
	}
	if len(c.Scopes) == 0 {
		c.Scopes = nil
	}
	return Identity{
		Subject:   c.Subject,
		ClientID:  c.ClientID,
		Scopes:    c.Scopes,
		Kind:      c.Kind,
		Issuer:    c.Issuer,
		RequestID: c.RequestID,
		IssuedAt:  time.Unix(c.IssuedAt, 0),
	}, c.Nonce, nil
}
