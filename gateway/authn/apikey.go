package authn

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
)

// maxAPIKeyLen bounds the API keys the gateway hashes.
const maxAPIKeyLen = 512

// apiKey is one accepted key, by its hash.
type apiKey struct {
	sum      [sha256.Size]byte
	clientID string
	scopes   []string
}

// newAPIKeys decodes the configured keys; cfg has been validated.
func newAPIKeys(cfg []config.APIKey) []apiKey {
	keys := make([]apiKey, 0, len(cfg))
	for _, k := range cfg {
		var ak apiKey
		// Validation checked that the hash is 64 hex digits.
		_, _ = hex.Decode(ak.sum[:], []byte(strings.ToLower(k.SHA256)))
		ak.clientID = k.ClientID
		ak.scopes = k.Scopes
		keys = append(keys, ak)
	}
	return keys
}

// verifyAPIKey returns the caller that holds key. It compares the key's hash with every
// configured hash in constant time, so the time taken does not tell which entry matched.
func (a *Authenticator) verifyAPIKey(key string) (edge.Identity, *failure) {
	if key == "" || len(key) > maxAPIKeyLen {
		return edge.Identity{}, errAPIKey
	}
	sum := sha256.Sum256([]byte(key))
	match := -1
	for i := range a.apiKeys {
		if subtle.ConstantTimeCompare(sum[:], a.apiKeys[i].sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return edge.Identity{}, errAPIKey
	}
	k := a.apiKeys[match]
	return edge.Identity{Subject: k.clientID, ClientID: k.clientID, Scopes: slices.Clone(k.scopes), Kind: KindAPIKey}, nil
}
