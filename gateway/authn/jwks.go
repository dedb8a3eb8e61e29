package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

const (
	// maxJWKSBytes bounds a key set document.
	maxJWKSBytes = 1 << 20
	// minRSABits is the smallest RSA modulus accepted.
	minRSABits = 2048
	// minHMACBytes is the shortest HS256 secret accepted (the size of the hash).
	minHMACBytes = 32
)

// boundKey is a verification key and the one algorithm it may verify.
type boundKey struct {
	kid string
	alg jwa.SignatureAlgorithm
	key any // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte
}

// keySet is an issuer's keys, by key id. It is never modified once built.
type keySet struct {
	byKID map[string]boundKey
	all   []boundKey
}

// lookup returns the key for a token's kid and alg. A token without a kid matches the only key
// bound to alg, when there is exactly one.
func (s *keySet) lookup(kid string, alg jwa.SignatureAlgorithm) (boundKey, bool) {
	if s == nil {
		return boundKey{}, false
	}
	if kid != "" {
		k, ok := s.byKID[kid]
		return k, ok
	}
	var found []boundKey
	for _, k := range s.all {
		if k.alg == alg {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		return boundKey{}, false
	}
	return found[0], true
}

// parseKeySet reads a JWKS document, keeping the signature keys whose algorithm is allowed. It
// fails on a document that does not parse, and on a key that is broken (too small, an "alg" of
// ours that does not fit its type, a kid used twice). Keys for encryption, and keys whose type
// or algorithm Archway does not verify (RS512, ES384, …), are left out: identity providers
// publish those alongside the ones in use.
func parseKeySet(data []byte, allowed []jwa.SignatureAlgorithm) (*keySet, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	ks := &keySet{byKID: make(map[string]boundKey)}
	for i := range set.Len() {
		key, _ := set.Key(i)
		if use, ok := key.KeyUsage(); ok && use != "sig" {
			continue
		}
		bk, err := bindKey(key)
		if errors.Is(err, errSkipKey) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if !containsAlg(allowed, bk.alg) {
			continue
		}
		if _, dup := ks.byKID[bk.kid]; dup && bk.kid != "" {
			return nil, fmt.Errorf("key %d: kid %q is used twice", i, bk.kid)
		}
		if bk.kid != "" {
			ks.byKID[bk.kid] = bk
		}
		ks.all = append(ks.all, bk)
	}
	return ks, nil
}

// errSkipKey marks a key of a type or algorithm that Archway does not verify.
var errSkipKey = errors.New("key not used")

// supported are the algorithms Archway verifies; a key may declare only these, or be skipped.
var supported = []jwa.SignatureAlgorithm{jwa.RS256(), jwa.ES256(), jwa.EdDSA(), jwa.HS256()}

// bindKey exports key's public (or, for HS256, secret) material and binds it to the one
// algorithm its type verifies.
func bindKey(key jwk.Key) (boundKey, error) {
	kid, _ := key.KeyID()
	var raw any
	if key.KeyType() == jwa.OctetSeq() {
		var secret []byte
		if err := jwk.Export(key, &secret); err != nil {
			return boundKey{}, fmt.Errorf("export: %w", err)
		}
		raw = secret
	} else {
		pub, err := key.PublicKey()
		if err != nil {
			return boundKey{}, fmt.Errorf("public key: %w", err)
		}
		if err := jwk.Export(pub, &raw); err != nil {
			return boundKey{}, fmt.Errorf("export: %w", err)
		}
	}
	alg, err := algorithmOf(raw)
	if err != nil {
		return boundKey{}, err
	}
	if declared, ok := key.Algorithm(); ok && declared.String() != alg.String() {
		if !slices.ContainsFunc(supported, func(a jwa.SignatureAlgorithm) bool { return a.String() == declared.String() }) {
			return boundKey{}, errSkipKey
		}
		return boundKey{}, fmt.Errorf("its alg %q does not fit its key type, which signs %s", declared, alg)
	}
	return boundKey{kid: kid, alg: alg, key: raw}, nil
}

// algorithmOf returns the one algorithm a key of this type verifies, or errSkipKey.
func algorithmOf(raw any) (jwa.SignatureAlgorithm, error) {
	switch k := raw.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return jwa.SignatureAlgorithm{}, fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return jwa.RS256(), nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return jwa.SignatureAlgorithm{}, errSkipKey
		}
		return jwa.ES256(), nil
	case ed25519.PublicKey:
		return jwa.EdDSA(), nil
	case []byte:
		if len(k) < minHMACBytes {
			return jwa.SignatureAlgorithm{}, fmt.Errorf("HS256 secret of %d bytes, want at least %d", len(k), minHMACBytes)
		}
		return jwa.HS256(), nil
	default:
		return jwa.SignatureAlgorithm{}, errSkipKey
	}
}

func containsAlg(algs []jwa.SignatureAlgorithm, alg jwa.SignatureAlgorithm) bool {
	for _, a := range algs {
		if a.String() == alg.String() {
			return true
		}
	}
	return false
}

// keySource holds an issuer's current keys and fetches them again: on a timer, and on demand
// when a token names an unknown key, at most once per minRefetch.
type keySource struct {
	issuer     string
	file, url  string
	allowed    []jwa.SignatureAlgorithm
	client     *http.Client
	logger     *slog.Logger
	now        func() time.Time
	minRefetch time.Duration
	onFailure  func() // counts a failed fetch

	keys atomic.Pointer[keySet]

	mu        sync.Mutex // serialises fetches
	lastFetch time.Time  // start of the last fetch, failed or not
}

// location names where the keys come from, for logs.
func (s *keySource) location() string {
	if s.file != "" {
		return s.file
	}
	return s.url
}

// fetch reads and parses the key set and, when that succeeds, replaces the current keys. The
// caller holds s.mu.
func (s *keySource) fetch(ctx context.Context) error {
	s.lastFetch = s.now()
	data, err := s.read(ctx)
	if err == nil {
		var ks *keySet
		if ks, err = parseKeySet(data, s.allowed); err == nil {
			s.keys.Store(ks)
			return nil
		}
	}
	s.onFailure()
	s.logger.ErrorContext(ctx, "authn: cannot load the JWT issuer's keys; keeping the previous ones",
		slog.String("issuer", s.issuer), slog.String("jwks", s.location()), slog.Any("error", err))
	return err
}

// read returns the key set document.
func (s *keySource) read(ctx context.Context) ([]byte, error) {
	if s.file != "" {
		return os.ReadFile(s.file)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", s.url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("GET %s: key set larger than %d bytes", s.url, maxJWKSBytes)
	}
	return data, nil
}

// refresh fetches the keys again, whatever the time of the last fetch.
func (s *keySource) refresh(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.fetch(ctx)
}

// refetch fetches the keys again unless the last fetch started less than minRefetch ago. A
// caller that waited for another's fetch sees its result and does not fetch again.
func (s *keySource) refetch(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lastFetch.IsZero() && s.now().Sub(s.lastFetch) < s.minRefetch {
		return
	}
	_ = s.fetch(ctx)
}

// run refreshes the keys every interval until ctx ends.
func (s *keySource) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refresh(ctx)
		}
	}
}
