package authn

import (
	"errors"
	"strings"
)

// maxTokenLen bounds the bearer tokens the gateway reads.
const maxTokenLen = 16 << 10

// ErrNotBearer is returned by [ParseBearer] for an Authorization value that is not a bearer
// token.
var ErrNotBearer = errors.New(`authn: the Authorization header must be "Bearer <token>"`)

// ParseBearer returns the token of an Authorization header value of the form
// "Bearer <token>" (RFC 6750): the scheme in any case, one space, and a token of the b64token
// characters (letters, digits, "-._~+/", then any "="), at most 16 KiB long. Anything else is
// [ErrNotBearer].
func ParseBearer(value string) (string, error) {
	scheme, token, ok := strings.Cut(value, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxTokenLen {
		return "", ErrNotBearer
	}
	i := 0
	for i < len(token) && isTokenChar(token[i]) {
		i++
	}
	if i == 0 {
		return "", ErrNotBearer
	}
	for i < len(token) && token[i] == '=' {
		i++
	}
	if i != len(token) {
		return "", ErrNotBearer
	}
	return token, nil
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}
