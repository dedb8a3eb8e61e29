package edge

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// HTTPStatus maps a gRPC status code to the HTTP status the gateway answers with. The table is
// the one documented for google.rpc.Code; a code outside it maps to 500.
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return StatusClientClosedRequest
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// StatusClientClosedRequest is the non-standard HTTP status for a request that the client
// cancelled before the answer was ready.
const StatusClientClosedRequest = 499

// ContentTypeJSON is the media type of every error body.
const ContentTypeJSON = "application/json"

var statusMarshal = protojson.MarshalOptions{}

// StatusJSON renders st as the JSON of a google.rpc.Status. It always returns a body: a detail
// whose type is not linked into the binary cannot be rendered, and a message that quotes a
// client's bytes may not be valid UTF-8, which JSON cannot carry, so then it renders the code
// and the message with invalid bytes replaced, rather than nothing. The body is compact:
// protojson varies its white space from build to build, and the same error must read the same.
func StatusJSON(st *status.Status) []byte {
	body, err := statusMarshal.Marshal(st.Proto())
	if err != nil {
		msg := strings.ToValidUTF8(st.Message(), "\uFFFD")
		body, _ = statusMarshal.Marshal(status.New(st.Code(), msg).Proto())
	}
	var compact bytes.Buffer
	if json.Compact(&compact, body) != nil {
		return body
	}
	return compact.Bytes()
}

// WriteStatus writes st as a google.rpc.Status JSON body with the given HTTP status code. When
// httpStatus is 0 it is derived from st's code with [HTTPStatus]. The caller is responsible for
// st's message being fit for clients.
func WriteStatus(w http.ResponseWriter, httpStatus int, st *status.Status) {
	if httpStatus == 0 {
		httpStatus = HTTPStatus(st.Code())
	}
	body := StatusJSON(st)
	h := w.Header()
	h.Set("Content-Type", ContentTypeJSON)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Transfer-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}
