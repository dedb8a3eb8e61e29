package gateway

import (
	"encoding/json"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/status"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/archway-gateway/archway/gateway/edge"
)

// streamWriter makes a server stream that fails before its first message answer like any other
// failed request: a plain google.rpc.Status body with the mapped HTTP status. grpc-gateway would
// send its in-stream form, {"error": Status}, even when nothing has been streamed yet.
//
// grpc-gateway reports such a failure as WriteHeader(error status) followed by one Write of the
// error object and one of the delimiter; streamWriter holds the header back, rewrites that
// object, and drops the delimiter. Once the stream has started it passes everything through.
type streamWriter struct {
	http.ResponseWriter
	pending int
	done    bool
}

func (w *streamWriter) WriteHeader(code int) {
	if code >= http.StatusBadRequest && w.pending == 0 && !w.done {
		w.pending = code
		return
	}
	w.done = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *streamWriter) Write(p []byte) (int, error) {
	switch {
	case w.pending != 0 && !w.done:
		w.done = true
		st, ok := errorFromChunk(p)
		if !ok {
			// Already a plain Status, written by the error handler before the stream began.
			w.ResponseWriter.WriteHeader(w.pending)
			return w.ResponseWriter.Write(p)
		}
		edge.WriteStatus(w.ResponseWriter, w.pending, st)
		return len(p), nil
	case w.pending != 0:
		// The delimiter after the rewritten error object.
		return len(p), nil
	default:
		w.done = true
		return w.ResponseWriter.Write(p)
	}
}

// Flush passes through, so streamed messages reach the client as they are sent.
func (w *streamWriter) Flush() {
	if w.pending == 0 {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errorFromChunk reads the status out of grpc-gateway's {"error": Status} object; ok is false
// when p is not such an object.
func errorFromChunk(p []byte) (st *grpcstatus.Status, ok bool) {
	var chunk struct {
		Error json.RawMessage `json:"error"`
	}
	var pb status.Status
	if json.Unmarshal(p, &chunk) != nil || len(chunk.Error) == 0 || protojson.Unmarshal(chunk.Error, &pb) != nil {
		return nil, false
	}
	return grpcstatus.FromProto(&pb), true
}
