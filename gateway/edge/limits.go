package edge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// LimitBody caps request bodies at maxBytes. A request whose Content-Length already exceeds the
// limit is answered 413 without reading the body; otherwise the body is read through a capped
// reader, and the [State] records when the cap was hit so the error handler can answer 413 too.
func LimitBody(next http.Handler, maxBytes int64) http.Handler {
	return LimitBodies(next, maxBytes, nil)
}

// LimitBodies is [LimitBody] with a budget for the bodies of all requests together: a body
// takes its size from budget while its request is served (see [BodyBudget]). A nil budget
// leaves the total unbounded.
func LimitBodies(next http.Handler, maxBytes int64, budget *BodyBudget) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBytes {
			WriteStatus(w, http.StatusRequestEntityTooLarge, BodyTooLargeStatus(maxBytes))
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body := &limitedBody{
			rc:       http.MaxBytesReader(w, r.Body, maxBytes),
			state:    StateFrom(r.Context()),
			declared: r.ContentLength,
		}
		if budget != nil {
			if body.declared > 0 && !budget.take(body.declared) {
				budget.refuse(w)
				return
			}
			body.budget = budget
			defer func() { budget.give(body.taken()) }()
		}
		r.Body = body
		next.ServeHTTP(w, r)
	})
}

// BodyTooLargeStatus is the status for a request body over the limit of maxBytes.
func BodyTooLargeStatus(maxBytes int64) *status.Status {
	return status.New(codes.InvalidArgument, fmt.Sprintf("request body is larger than the limit of %d bytes", maxBytes))
}

// BodySize returns the size that the request body r reads declared in its Content-Length, or
// -1 when it declared none or r is not a body that the chain limits. A decoder that reads the
// whole body can read it into one buffer of that size.
func BodySize(r io.Reader) int64 {
	switch b := r.(type) {
	case *depthBody:
		return BodySize(b.rc)
	case *limitedBody:
		return b.declared
	}
	return -1
}

type limitedBody struct {
	rc    io.ReadCloser
	state *State
	// declared is the Content-Length, -1 when unknown.
	declared int64
	// budget, when set, holds the body's size (declared), or, for a body of unknown size, the
	// bytes read so far (read).
	budget *BodyBudget
	read   atomic.Int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	var tooLarge *http.MaxBytesError
	if err != nil && errors.As(err, &tooLarge) && b.state != nil {
		b.state.markBodyTooLarge()
	}
	if b.budget != nil && b.declared < 0 && n > 0 {
		if !b.budget.take(int64(n)) {
			if b.state != nil {
				b.state.markBodyOverBudget()
			}
			return 0, errBodyOverBudget
		}
		b.read.Add(int64(n))
	}
	return n, err
}

// taken is what the body holds of its budget.
func (b *limitedBody) taken() int64 {
	if b.declared > 0 {
		return b.declared
	}
	return b.read.Load()
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// errBodyOverBudget fails the read of a body of unknown size that outgrew the [BodyBudget].
var errBodyOverBudget = errors.New("the gateway is reading too many request bodies")

// BodyBudget bounds the bytes of the request bodies that the gateway holds at once: a decoded
// request body lives in memory, in about its size, until the request's backend call is made,
// so without a bound a burst of large requests can exhaust the process's memory. A request whose
// Content-Length does not fit in what is left is answered at once with 503 UNAVAILABLE and
// Retry-After, before its body is read; a body of unknown size (chunked) takes its bytes as
// they arrive, and the request fails the same way when they no longer fit. A request gives its
// bytes back when it has been served. Create it with [NewBodyBudget]; it is safe for concurrent
// use.
type BodyBudget struct {
	limit int64
	used  atomic.Int64
}

// NewBodyBudget returns a budget of limit bytes, which must be positive.
func NewBodyBudget(limit int64) *BodyBudget {
	return &BodyBudget{limit: limit}
}

// overBudgetRetryAfter is the Retry-After of a request refused for the budget, in seconds: the
// bodies that hold it are being served and will give it back within moments.
const overBudgetRetryAfter = "1"

// InUse returns the bytes that the bodies being served hold.
func (b *BodyBudget) InUse() int64 { return b.used.Load() }

func (b *BodyBudget) take(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *BodyBudget) give(n int64) { b.used.Add(-n) }

// refuse answers a request whose body does not fit.
func (*BodyBudget) refuse(w http.ResponseWriter) {
	w.Header().Set("Retry-After", overBudgetRetryAfter)
	WriteStatus(w, http.StatusServiceUnavailable, BodyOverBudgetStatus())
}

// BodyOverBudgetStatus is the status of a request refused because the request bodies being
// served already hold the gateway's budget for them.
func BodyOverBudgetStatus() *status.Status {
	return status.New(codes.Unavailable, "the gateway is reading too many request bodies; retry after the delay in Retry-After")
}

// RefuseOverBudget answers, with 503 UNAVAILABLE and Retry-After, a request whose body of
// unknown size outgrew the [BodyBudget] while it was read, and reports whether it did: the
// error handler calls it first.
func RefuseOverBudget(w http.ResponseWriter, s *State) bool {
	if s == nil || !s.BodyOverBudget() {
		return false
	}
	w.Header().Set("Retry-After", overBudgetRetryAfter)
	WriteStatus(w, http.StatusServiceUnavailable, BodyOverBudgetStatus())
	return true
}
