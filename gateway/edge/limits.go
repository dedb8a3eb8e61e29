package edge

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// LimitBody caps request bodies at maxBytes. A request whose Content-Length already exceeds the
// limit is answered 413 without reading the body; otherwise the body is read through a capped
// reader, and the [State] records when the cap was hit so the error handler can answer 413 too.
func LimitBody(next http.Handler, maxBytes int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBytes {
			WriteStatus(w, http.StatusRequestEntityTooLarge, BodyTooLargeStatus(maxBytes))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &limitedBody{
				rc:    http.MaxBytesReader(w, r.Body, maxBytes),
				state: StateFrom(r.Context()),
			}
		}
		next.ServeHTTP(w, r)
	})
}

// BodyTooLargeStatus is the status for a request body over the limit of maxBytes.
func BodyTooLargeStatus(maxBytes int64) *status.Status {
	return status.New(codes.InvalidArgument, fmt.Sprintf("request body is larger than the limit of %d bytes", maxBytes))
}

type limitedBody struct {
	rc    io.ReadCloser
	state *State
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	var tooLarge *http.MaxBytesError
	if err != nil && errors.As(err, &tooLarge) && b.state != nil {
		b.state.markBodyTooLarge()
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
