package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/config"
)

// demoKeyHash is the SHA-256 of "archway-demo-key", as printf %s archway-demo-key | sha256sum prints it.
const demoKeyHash = "0245cba37c19668e78a1d7029e9052e20d362e76b5aa975fe9f5f0a6b9850ed5"

// withAuthn returns a valid configuration with one JWT issuer and one API key.
func withAuthn() *config.Config {
	c := twoBackends()
	c.Authn.JWTIssuers = []config.JWTIssuer{{
		Issuer:    "https://login.example.com/",
		Audiences: []string{"archway"},
		JWKSURL:   "https://login.example.com/.well-known/jwks.json",
	}}
	c.Authn.APIKeys = []config.APIKey{{ClientID: "demo", SHA256: demoKeyHash, Scopes: []string{"orders.write"}}}
	return c
}

func TestValidateAuthn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		modify func(a *config.Authn)
		want   string // the whole problem, path first; "" when valid
	}{
		{"valid", func(*config.Authn) {}, ""},
		{"jwks file", func(a *config.Authn) {
			a.JWTIssuers[0].JWKSURL, a.JWTIssuers[0].JWKSFile = "", "/etc/archway/jwks.json"
		}, ""},
		{"loopback http", func(a *config.Authn) { a.JWTIssuers[0].JWKSURL = "http://127.0.0.1:8081/jwks" }, ""},
		{"every algorithm", func(a *config.Authn) { a.JWTIssuers[0].Algorithms = []string{"RS256", "ES256", "EdDSA", "HS256"} }, ""},
		{"secret of 32 bytes", func(a *config.Authn) { a.IdentitySecret = strings.Repeat("s", 32) }, ""},
		{"failed attempts off", func(a *config.Authn) { a.FailedAttempts = config.FailedAttempts{} }, ""},
		{"upper-case hash", func(a *config.Authn) { a.APIKeys[0].SHA256 = strings.ToUpper(demoKeyHash) }, ""},
		{"two keys of one client", func(a *config.Authn) {
			a.APIKeys = append(a.APIKeys, config.APIKey{ClientID: "demo", SHA256: strings.Repeat("ab", 32)})
		}, ""},
		{"empty issuer", func(a *config.Authn) { a.JWTIssuers[0].Issuer = "" }, "authn.jwt_issuers[0].issuer: must not be empty"},
		{"duplicate issuer", func(a *config.Authn) { a.JWTIssuers = append(a.JWTIssuers, a.JWTIssuers[0]) }, `authn.jwt_issuers[1].issuer: "https://login.example.com/" duplicates authn.jwt_issuers[0].issuer`},
		{"no audience", func(a *config.Authn) { a.JWTIssuers[0].Audiences = nil }, "authn.jwt_issuers[0].audiences: must list at least one audience"},
		{"empty audience", func(a *config.Authn) { a.JWTIssuers[0].Audiences = []string{"a", ""} }, "authn.jwt_issuers[0].audiences[1]: must not be empty"},
		{"no key source", func(a *config.Authn) { a.JWTIssuers[0].JWKSURL = "" }, "authn.jwt_issuers[0]: set jwks_file or jwks_url"},
		{"two key sources", func(a *config.Authn) { a.JWTIssuers[0].JWKSFile = "jwks.json" }, "authn.jwt_issuers[0]: set jwks_file or jwks_url, not both"},
		{"plain http", func(a *config.Authn) { a.JWTIssuers[0].JWKSURL = "http://login.example.com/jwks" }, `authn.jwt_issuers[0].jwks_url: "http://login.example.com/jwks" must use https`},
		{"relative URL", func(a *config.Authn) { a.JWTIssuers[0].JWKSURL = "/jwks" }, `authn.jwt_issuers[0].jwks_url: "/jwks" is not an absolute https URL`},
		{"URL with credentials", func(a *config.Authn) { a.JWTIssuers[0].JWKSURL = "https://u:p@login.example.com/jwks" }, `authn.jwt_issuers[0].jwks_url: "https://u:xxxxx@login.example.com/jwks" must not carry credentials`},
		{"short refresh", func(a *config.Authn) { a.JWTIssuers[0].RefreshInterval = config.Duration(time.Millisecond) }, "authn.jwt_issuers[0].refresh_interval: must be 0 (the default, 10m0s) or at least 1s, got 1ms"},
		{"alg none", func(a *config.Authn) { a.JWTIssuers[0].Algorithms = []string{"none"} }, `authn.jwt_issuers[0].algorithms[0]: unsigned tokens ("none") are never accepted`},
		{"unknown alg", func(a *config.Authn) { a.JWTIssuers[0].Algorithms = []string{"RS256", "PS512"} }, `authn.jwt_issuers[0].algorithms[1]: must be one of "RS256", "ES256", "EdDSA" or "HS256", got "PS512"`},
		{"duplicate alg", func(a *config.Authn) { a.JWTIssuers[0].Algorithms = []string{"RS256", "RS256"} }, `authn.jwt_issuers[0].algorithms[1]: "RS256" duplicates authn.jwt_issuers[0].algorithms[0]`},
		{"negative skew", func(a *config.Authn) { a.ClockSkew = config.Duration(-time.Second) }, "authn.clock_skew: must be from 0s to 5m0s, got -1s"},
		{"huge skew", func(a *config.Authn) { a.ClockSkew = config.Duration(time.Hour) }, "authn.clock_skew: must be from 0s to 5m0s, got 1h0m0s"},
		{"empty key header", func(a *config.Authn) { a.APIKeyHeader = "" }, "authn.api_key_header: must not be empty"},
		{"key header with space", func(a *config.Authn) { a.APIKeyHeader = "X Api Key" }, `authn.api_key_header: "X Api Key" is not a header name`},
		{"key header Authorization", func(a *config.Authn) { a.APIKeyHeader = "authorization" }, `authn.api_key_header: "authorization" is reserved for another use`},
		{"empty client id", func(a *config.Authn) { a.APIKeys[0].ClientID = " " }, "authn.api_keys[0].client_id: must not be empty"},
		{"short hash", func(a *config.Authn) { a.APIKeys[0].SHA256 = "abc" }, `authn.api_keys[0].sha256: must be the SHA-256 of the key as 64 hex digits (printf %s "$KEY" | sha256sum), got 3 characters`},
		{"plain key as hash", func(a *config.Authn) { a.APIKeys[0].SHA256 = strings.Repeat("k", 64) }, "authn.api_keys[0].sha256: must be the SHA-256 of the key as 64 hex digits"},
		{"duplicate hash", func(a *config.Authn) {
			a.APIKeys = append(a.APIKeys, config.APIKey{ClientID: "x", SHA256: demoKeyHash})
		}, "authn.api_keys[1].sha256: duplicates authn.api_keys[0].sha256"},
		{"scope with space", func(a *config.Authn) { a.APIKeys[0].Scopes = []string{"orders.write users.write"} }, `authn.api_keys[0].scopes[0]: "orders.write users.write" is not a scope`},
		{"short secret", func(a *config.Authn) { a.IdentitySecret = "hunter2" }, "authn.identity_secret: must be at least 32 bytes long when set, got 7"},
		{"negative failed attempts", func(a *config.Authn) { a.FailedAttempts.Requests = -1 }, "authn.failed_attempts.requests: must not be negative, got -1"},
		{"failed attempts per ms", func(a *config.Authn) { a.FailedAttempts.Per = config.Duration(time.Millisecond) }, "authn.failed_attempts.per: must be at least 1s, got 1ms"},
		{"failed attempts without burst", func(a *config.Authn) { a.FailedAttempts.Burst = 0 }, "authn.failed_attempts.burst: must be positive, got 0"},
		{"failed attempts without addresses", func(a *config.Authn) { a.FailedAttempts.MaxAddresses = 0 }, "authn.failed_attempts.max_addresses: must be positive, got 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := withAuthn()
			tc.modify(&c.Authn)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want == "":
			case err == nil:
				t.Fatalf("Validate() = nil, want %q", tc.want)
			default:
				if got := strings.TrimPrefix(err.Error(), "config.Validate: "); !strings.HasPrefix(got, tc.want) {
					t.Errorf("Validate() = %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func TestValidateRefusesForwardingTheIdentity(t *testing.T) {
	t.Parallel()
	c := withAuthn()
	c.API.ForwardHeaders = []string{"X-Tenant", "X-Archway-Identity-Sig"}
	err := c.Validate()
	want := `api.forward_headers[1]: "X-Archway-Identity-Sig" cannot be forwarded: the gateway sets it, signed, on every backend call`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
}

func TestParseAuthn(t *testing.T) {
	t.Parallel()
	yaml := `
authn:
  jwt_issuers:
    - issuer: https://login.example.com/
      audiences: [archway, shop]
      jwks_file: /etc/archway/jwks.json
      refresh_interval: 5m
      algorithms: [RS256, HS256]
  clock_skew: 10s
  api_key_header: X-Key
  api_keys:
    - client_id: demo
      sha256: ` + demoKeyHash + `
      scopes: [orders.write, users.write]
`
	secret := strings.Repeat("z", 40)
	c, err := config.Parse([]byte(yaml), []string{"ARCHWAY_AUTHN_IDENTITY_SECRET=" + secret, "ARCHWAY_AUTHN_CLOCK_SKEW=20s"})
	if err != nil {
		t.Fatal(err)
	}
	a := c.Authn
	if len(a.JWTIssuers) != 1 || a.JWTIssuers[0].RefreshInterval.D() != 5*time.Minute ||
		strings.Join(a.JWTIssuers[0].Algorithms, ",") != "RS256,HS256" || strings.Join(a.JWTIssuers[0].Audiences, ",") != "archway,shop" {
		t.Errorf("jwt_issuers = %+v", a.JWTIssuers)
	}
	if a.ClockSkew.D() != 20*time.Second || a.APIKeyHeader != "X-Key" || a.IdentitySecret != secret {
		t.Errorf("clock_skew %s, api_key_header %q, identity_secret %q; want the environment's 20s, X-Key and the secret", a.ClockSkew, a.APIKeyHeader, a.IdentitySecret)
	}
	if len(a.APIKeys) != 1 || a.APIKeys[0].ClientID != "demo" || len(a.APIKeys[0].Scopes) != 2 {
		t.Errorf("api_keys = %+v", a.APIKeys)
	}

	_, err = config.Parse(nil, []string{"ARCHWAY_AUTHN_IDENTITY_SECRET=short"})
	if err == nil || !strings.Contains(err.Error(), "authn.identity_secret: must be at least 32 bytes long when set, got 5 (set by ARCHWAY_AUTHN_IDENTITY_SECRET)") {
		t.Errorf("short secret from the environment: %v", err)
	}
}
