package page

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/server/internal/rpcerr"
)

const (
	// DefaultSize is the page size used when a request asks for 0.
	DefaultSize = 20
	// MaxSize is the largest page size served; larger requests are capped to it.
	MaxSize = 100
)

// MaxKeyBytes is the longest key a page token can carry. Keys built with Key from a fixed-width
// part and a resource name or id are far shorter.
const MaxKeyBytes = 512

const (
	tokenVersion = 1
	digestLen    = 16
	checksumLen  = 8
	tokenField   = "page_token"
)

// maxTokenBytes is the length of a token that carries a key of MaxKeyBytes; After rejects longer
// input before decoding it.
var maxTokenBytes = base64.RawURLEncoding.EncodedLen(1 + digestLen + MaxKeyBytes + checksumLen)

// Size returns the page size to serve for a request's page_size: DefaultSize for 0 or less,
// at most MaxSize.
func Size(requested int32) int {
	switch {
	case requested <= 0:
		return DefaultSize
	case requested > MaxSize:
		return MaxSize
	default:
		return int(requested)
	}
}

// Query identifies one list request's filters, so that its page tokens are valid for it alone.
type Query struct {
	digest [digestLen]byte
}

// NewQuery returns the Query of a list request. The request's page_size and page_token fields,
// and any fields named in ignore (such as "read_mask"), do not take part: they may change from
// one page to the next. Every other field does, together with the request's message type.
func NewQuery(req proto.Message, ignore ...protoreflect.Name) Query {
	msg := proto.Clone(req).ProtoReflect()
	fields := msg.Descriptor().Fields()
	for _, name := range append([]protoreflect.Name{"page_size", "page_token"}, ignore...) {
		if fd := fields.ByName(name); fd != nil {
			msg.Clear(fd)
		}
	}
	// Deterministic marshalling of a message built by this binary is stable within the binary,
	// which is as long as a token needs to live (the stores are in memory).
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg.Interface())
	if err != nil {
		// A message that was just unmarshalled from the wire always marshals again; keep a
		// digest that is still specific to the message type.
		b = nil
	}
	h := sha256.New()
	h.Write([]byte(msg.Descriptor().FullName()))
	h.Write([]byte{0})
	h.Write(b)
	var q Query
	copy(q.digest[:], h.Sum(nil))
	return q
}

// Token returns the page token that resumes the list after the item whose key is after, which
// must be at most MaxKeyBytes long: After rejects tokens with longer keys.
func (q Query) Token(after string) string {
	b := make([]byte, 0, 1+digestLen+len(after)+checksumLen)
	b = append(b, tokenVersion)
	b = append(b, q.digest[:]...)
	b = append(b, after...)
	sum := sha256.Sum256(b)
	b = append(b, sum[:checksumLen]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// After returns the key that token resumes after, or "" for an empty token (the first page).
// A token that is malformed, altered, or was issued for another list or other filters is an
// INVALID_ARGUMENT status error with a BadRequest violation on page_token.
func (q Query) After(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	after, err := q.decode(token)
	if err != nil {
		return "", rpcerr.InvalidArgument("invalid page token", rpcerr.Violation(tokenField, err.Error()))
	}
	return after, nil
}

func (q Query) decode(token string) (string, error) {
	if len(token) > maxTokenBytes {
		return "", fmt.Errorf("token is longer than %d bytes", maxTokenBytes)
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 1+digestLen+checksumLen {
		return "", fmt.Errorf("token is malformed")
	}
	body, sum := b[:len(b)-checksumLen], b[len(b)-checksumLen:]
	want := sha256.Sum256(body)
	if !bytes.Equal(sum, want[:checksumLen]) || body[0] != tokenVersion {
		return "", fmt.Errorf("token is malformed")
	}
	if !bytes.Equal(body[1:1+digestLen], q.digest[:]) {
		return "", fmt.Errorf("token belongs to a different list or different filters")
	}
	return string(body[1+digestLen:]), nil
}

// Slice sorts items by key, ascending, and returns at most size of them that come after the key
// after ("" means from the start), plus the key to resume after, which is "" when nothing follows
// the page. Keys must be unique; a size below 1 serves pages of 1.
func Slice[T any](items []T, key func(T) string, after string, size int) (page []T, next string) {
	size = max(size, 1)
	keyed := make([]keyedItem[T], len(items))
	for i, it := range items {
		keyed[i] = keyedItem[T]{key: key(it), item: it}
	}
	slices.SortFunc(keyed, func(a, b keyedItem[T]) int { return strings.Compare(a.key, b.key) })
	start := 0
	if after != "" {
		start, _ = slices.BinarySearchFunc(keyed, after, func(k keyedItem[T], after string) int {
			if k.key <= after {
				return -1
			}
			return 1
		})
	}
	end := min(start+size, len(keyed))
	page = make([]T, 0, end-start)
	for _, k := range keyed[start:end] {
		page = append(page, k.item)
	}
	if end < len(keyed) {
		next = keyed[end-1].key
	}
	return page, next
}

type keyedItem[T any] struct {
	key  string
	item T
}

// AscInt returns a fixed-width key whose string order is the numeric order of n.
func AscInt(n int64) string {
	return fmt.Sprintf("%016x", uint64(n)^(1<<63))
}

// DescInt returns a fixed-width key whose string order is the reverse numeric order of n.
func DescInt(n int64) string {
	return fmt.Sprintf("%016x", ^(uint64(n) ^ (1 << 63)))
}

// DescTime returns a fixed-width key whose string order is newest first.
func DescTime(t time.Time) string {
	return DescInt(t.UnixNano())
}

// Key joins key parts, each but the last of fixed width, into one key.
func Key(parts ...string) string {
	return strings.Join(parts, "|")
}
