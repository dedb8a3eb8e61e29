package authn_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/authn"
)

// FuzzToken feeds the token verifier HS256 tokens of arbitrary headers and claims, signed with
// the issuer's key, so that the fuzzer reaches the claim checks behind the signature. Whatever
// the input, the answer is 200 or a 401; a token accepted names no critical extension and has
// numbers for exp, nbf and iat.
func FuzzToken(f *testing.F) {
	cfg := testConfig(f)
	cfg.FailedAttempts.Requests = 0 // every input may fail: none is refused for failing often
	a, _ := newAuthenticator(f, cfg, authn.WithClock(func() time.Time { return now }))
	header := `{"alg":"HS256","kid":"hs-1"}`
	claims := func(extra string) string {
		return fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"ada","exp":%d%s}`, testIssuer, testAudience, now.Add(time.Hour).Unix(), extra)
	}
	for _, seed := range [][2]string{
		{header, claims("")},
		{header, claims(`,"nbf":1,"iat":1.5`)},
		{header, claims(`,"iat":"1"`)},
		{header, claims(`,"nbf":null`)},
		{`{"alg":"HS256","kid":"hs-1","crit":["x"],"x":1}`, claims("")},
		{`{"alg":"HS256","kid":"hs-1","crit":[]}`, claims("")},
		{header, `{"iss":"` + testIssuer + `","aud":"archway","sub":"ada","exp":"2099-01-01T00:00:00Z"}`},
		{header, `[]`},
		{`{"alg":"none"}`, claims("")},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, header, payload string) {
		input := b64([]byte(header)) + "." + b64([]byte(payload))
		mac := hmac.New(sha256.New, hmacKey)
		mac.Write([]byte(input))
		res := serve(t, a, authenticated, bearer(input+"."+b64(mac.Sum(nil))))
		switch res.code {
		case 200:
		case 401:
			checkStatusBody(t, res, 401, "")
			return
		default:
			t.Fatalf("status %d for header %q, claims %q; body %s", res.code, header, payload, res.body)
		}
		var h, c map[string]json.RawMessage
		if json.Unmarshal([]byte(header), &h) != nil || json.Unmarshal([]byte(payload), &c) != nil {
			t.Fatalf("accepted a token whose header or claims are not JSON objects: %q, %q", header, payload)
		}
		if _, ok := h["crit"]; ok {
			t.Fatalf("accepted a token with crit: %q", header)
		}
		for _, name := range []string{"exp", "nbf", "iat"} {
			if v, ok := c[name]; ok {
				var n float64
				if json.Unmarshal(v, &n) != nil {
					t.Fatalf("accepted a token whose %s is %s", name, v)
				}
			}
		}
	})
}
