package edge

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// HeaderGRPCTimeout is the header in which a client asks for a deadline, as gRPC clients do.
const HeaderGRPCTimeout = "Grpc-Timeout"

// maxTimeoutDigits is the longest value the gRPC protocol allows: "TimeoutValue → {positive
// integer as ASCII string of at most 8 digits}".
const maxTimeoutDigits = 8

// timeoutUnits are the gRPC timeout units, finest first.
var timeoutUnits = [...]struct {
	unit byte
	d    time.Duration
}{
	{'n', time.Nanosecond}, {'u', time.Microsecond}, {'m', time.Millisecond},
	{'S', time.Second}, {'M', time.Minute}, {'H', time.Hour},
}

var errBadTimeout = errors.New("want 1 to 8 digits, not all zero, followed by a unit: H, M, S, m, u or n, as in \"500m\" or \"10S\"")

var errTimeoutRange = fmt.Errorf("out of range: the longest timeout is %dH", math.MaxInt64/int64(time.Hour))

// ParseGRPCTimeout parses a Grpc-Timeout value as the gRPC protocol defines it: 1 to 8 ASCII
// digits, not all zero, followed by one of the units H, M, S, m, u, n. A value too long for a
// time.Duration (over about 292 years, which only the units M and H can reach) overflows and
// is an error, as is anything malformed; the error is worded for clients.
func ParseGRPCTimeout(v string) (time.Duration, error) {
	if len(v) < 2 || len(v) > maxTimeoutDigits+1 {
		return 0, errBadTimeout
	}
	var n int64
	for i := 0; i < len(v)-1; i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, errBadTimeout
		}
		n = n*10 + int64(c-'0')
	}
	if n == 0 {
		return 0, errBadTimeout
	}
	for _, u := range timeoutUnits {
		if u.unit == v[len(v)-1] {
			if n > math.MaxInt64/int64(u.d) {
				return 0, errTimeoutRange
			}
			return time.Duration(n) * u.d, nil
		}
	}
	return 0, errBadTimeout
}

// FormatGRPCTimeout writes d, which must be positive, as a Grpc-Timeout value: in the finest
// unit that fits 8 digits, rounded down to it (and to at least 1 of it).
func FormatGRPCTimeout(d time.Duration) string {
	const maxValue = 99_999_999
	for _, u := range timeoutUnits {
		if n := d / u.d; n <= maxValue {
			return fmt.Sprintf("%d%c", max(n, 1), u.unit)
		}
	}
	last := timeoutUnits[len(timeoutUnits)-1]
	return fmt.Sprintf("%d%c", min(d/last.d, maxValue), last.unit)
}

// LimitGRPCTimeout checks the client's Grpc-Timeout header before anything else reads it: a
// malformed, overflowing or repeated value is answered with 400 INVALID_ARGUMENT, and a value over maxTimeout
// is lowered to maxTimeout, so no client holds a backend call open longer than the gateway
// allows. Lowering rather than refusing keeps clients that send a generous default timeout
// working: a deadline is the longest a client will wait, and a server may always end a call
// sooner.
func LimitGRPCTimeout(next http.Handler, maxTimeout time.Duration) http.Handler {
	capped := FormatGRPCTimeout(maxTimeout)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values := r.Header.Values(HeaderGRPCTimeout)
		switch len(values) {
		case 0:
		case 1:
			d, err := ParseGRPCTimeout(values[0])
			if err != nil {
				WriteStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument,
					fmt.Sprintf("invalid Grpc-Timeout header %q: %v", truncate(values[0], 32), err)))
				return
			}
			if d > maxTimeout {
				r.Header.Set(HeaderGRPCTimeout, capped)
			}
		default:
			WriteStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument, "the Grpc-Timeout header must be sent at most once"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// truncate shortens s to at most n bytes, for quoting client input in an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
