package gateway_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"

	testapiv1 "github.com/archway-gateway/archway/internal/testapi/gen/archway/testapi/v1"
)

// fakeTally is the test API's TallyService: Sum answers the total of a client stream,
// RunningSum answers every number with the running total.
type fakeTally struct {
	testapiv1.UnimplementedTallyServiceServer
}

func (fakeTally) Sum(stream grpc.ClientStreamingServer[testapiv1.Number, testapiv1.Total]) error {
	total := &testapiv1.Total{}
	for {
		n, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(total)
		}
		if err != nil {
			return err
		}
		total.Sum += n.GetValue()
		total.Count++
	}
}

func (fakeTally) RunningSum(stream grpc.BidiStreamingServer[testapiv1.Number, testapiv1.Total]) error {
	total := &testapiv1.Total{}
	for {
		n, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		total.Sum += n.GetValue()
		total.Count++
		if err := stream.Send(total); err != nil {
			return err
		}
	}
}

// newTallyGateway serves the TallyService (public) behind a gateway; extra is added to the
// configuration, such as an api section.
func newTallyGateway(t *testing.T, extra string) *testAPIEnv {
	t.Helper()
	return newTestAPIEnv(t, testapiv1.TallyService_ServiceDesc.ServiceName,
		func(s *grpc.Server) { testapiv1.RegisterTallyServiceServer(s, fakeTally{}) }, testapiv1.RegisterTallyServiceHandler, extra)
}

// postStream posts body to url+path; chunked sends it without a Content-Length. It returns
// the status, the Content-Type and the body.
func postStream(t *testing.T, env *testAPIEnv, h2 bool, path, body string, chunked bool, header http.Header) (int, string, string) {
	t.Helper()
	var r io.Reader = strings.NewReader(body)
	if chunked {
		r = io.MultiReader(r)
	}
	url, client := env.url, http.DefaultClient
	if h2 {
		url, client = env.h2url, env.h2
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// wantStatus checks that the answer is a google.rpc.Status with the HTTP status and gRPC code,
// whose message contains msg.
func wantStatus(t *testing.T, code int, ctype, body string, wantCode, grpcCode int, msg string) {
	t.Helper()
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if code != wantCode || !strings.HasPrefix(ctype, "application/json") || json.Unmarshal([]byte(body), &st) != nil ||
		st.Code != grpcCode || !strings.Contains(st.Message, msg) {
		t.Fatalf("answer %d %q %s, want %d and a Status with code %d mentioning %q", code, ctype, body, wantCode, grpcCode, msg)
	}
}

const threeNumbers = "{\"value\": 1}\n{\"value\": 2}\n\n{\"value\": 3}\n"

// TestRequestStreamPOSTClientStream: a client-streaming method bound to POST reads its request
// messages from the body, one JSON message per line, and answers the one response.
func TestRequestStreamPOSTClientStream(t *testing.T) {
	t.Parallel()
	env := newTallyGateway(t, "")
	for _, chunked := range []bool{false, true} {
		code, _, body := postStream(t, env, false, "/v1/tally:sum", threeNumbers, chunked, nil)
		var total struct {
			Sum   string `json:"sum"`
			Count int    `json:"count"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &total) != nil || total.Sum != "6" || total.Count != 3 {
			t.Fatalf("chunked %v: answer %d %s, want 200 with sum 6 of 3 numbers", chunked, code, body)
		}
	}
}

// TestRequestStreamPOSTBidi: a bidirectional method bound to POST reads its request messages
// from the body and writes its response messages as NDJSON, over HTTP/1.1 and HTTP/2.
func TestRequestStreamPOSTBidi(t *testing.T) {
	t.Parallel()
	env := newTallyGateway(t, "")
	for _, h2 := range []bool{false, true} {
		code, ctype, body := postStream(t, env, h2, "/v1/tally:running", threeNumbers, true, nil)
		if code != http.StatusOK || ctype != "application/x-ndjson" {
			t.Fatalf("HTTP/2 %v: answer %d %q %s, want 200 NDJSON", h2, code, ctype, body)
		}
		var sums []string
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			var line struct {
				Result struct {
					Sum string `json:"sum"`
				} `json:"result"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			sums = append(sums, line.Result.Sum)
		}
		if strings.Join(sums, ",") != "1,3,6" {
			t.Fatalf("HTTP/2 %v: running sums %v (body %s), want 1,3,6", h2, sums, body)
		}
	}
}

// TestRequestStreamPOSTMalformedLine: a line that is not a request message is a 400 Status
// naming the line, for a client stream and for a bidirectional stream that has not answered.
func TestRequestStreamPOSTMalformedLine(t *testing.T) {
	t.Parallel()
	env := newTallyGateway(t, "")
	code, ctype, body := postStream(t, env, false, "/v1/tally:sum", "{\"value\": 1}\n{\"value\": \n", false, nil)
	wantStatus(t, code, ctype, body, http.StatusBadRequest, 3, "line 2")
	code, ctype, body = postStream(t, env, false, "/v1/tally:running", "{\"nope\": 1}\n{\"value\": 2}\n", true, nil)
	wantStatus(t, code, ctype, body, http.StatusBadRequest, 3, "line 1")
}

// TestRequestStreamPOSTBodyLimit: a request stream whose body grows past the body limit while
// it is read (sent without a Content-Length) is a 413 Status.
func TestRequestStreamPOSTBodyLimit(t *testing.T) {
	t.Parallel()
	env := newTallyGateway(t, "api: {max_request_body_bytes: 64}\n")
	long := strings.Repeat("{\"value\": 1}\n", 20)
	for _, path := range []string{"/v1/tally:sum", "/v1/tally:running"} {
		code, ctype, body := postStream(t, env, false, path, long, true, nil)
		wantStatus(t, code, ctype, body, http.StatusRequestEntityTooLarge, 3, "larger than the limit")
	}
	// Over HTTP/2 a bidirectional stream answers while it reads; the fake answers every number,
	// so the limit ends the stream with its last line.
	code, _, body := postStream(t, env, true, "/v1/tally:running", long, true, nil)
	if code != http.StatusRequestEntityTooLarge && (code != http.StatusOK || !strings.Contains(body, `{"error":{"code":3,"message":"request body is larger than the limit`)) {
		t.Fatalf("HTTP/2: answer %d %s, want 413 or a stream that ends with the limit's error", code, body)
	}
}

// TestRequestStreamPOSTUpgradeRefused: a WebSocket upgrade attempt on a POST route, which
// cannot be upgraded, is answered with a Status, not the WebSocket library's plain text.
func TestRequestStreamPOSTUpgradeRefused(t *testing.T) {
	t.Parallel()
	env := newTallyGateway(t, "")
	upgrade := http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
	}
	code, ctype, body := postStream(t, env, false, "/v1/tally:running", threeNumbers, false, upgrade)
	wantStatus(t, code, ctype, body, http.StatusBadRequest, 3, "GET only")
}

// TestRequestStreamPOSTCountsAsStream: a bidirectional stream on POST (over HTTP/2, where it
// answers while its client sends) is held open while its client sends, and counts against rate_limit.max_streams_per_client like any other stream.
func TestRequestStreamPOSTCountsAsStream(t *testing.T) {
	t.Parallel()
	env := newTallyGateway(t, "rate_limit: {max_streams_per_client: 1}\n")
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, env.h2url+"/v1/tally:running", pr)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = pw.Write([]byte("{\"value\": 5}\n")) }()
	resp, err := env.h2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"sum":"5"`) {
		t.Fatalf("first response line %q (%v), want the running sum 5 while the request streams on", line, err)
	}
	code, ctype, body := postStream(t, env, false, "/v1/tally:running", threeNumbers, true, nil)
	wantStatus(t, code, ctype, body, http.StatusTooManyRequests, 8, "")
	_ = pw.Close()
}

// TestRequestStreamPOSTBidiFailsInStream: over HTTP/2, a malformed line after a bidirectional
// stream has answered ends it with an {"error": Status} line.
func TestRequestStreamPOSTBidiFailsInStream(t *testing.T) {
	t.Parallel()
	env := newTallyGateway(t, "")
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, env.h2url+"/v1/tally:running", pr)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = pw.Write([]byte("{\"value\": 5}\n")) }()
	resp, err := env.h2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	rd := bufio.NewReader(resp.Body)
	if line, err := rd.ReadString('\n'); err != nil || !strings.Contains(line, `"sum":"5"`) {
		t.Fatalf("first response line %q (%v), want the running sum 5", line, err)
	}
	_, _ = pw.Write([]byte("{\"value\": \"five\"}\n"))
	_ = pw.Close()
	rest, _ := io.ReadAll(rd)
	var last struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(rest, &last) != nil || last.Error.Code != 3 || !strings.Contains(last.Error.Message, "line 2") {
		t.Fatalf("rest of the stream %q, want an INVALID_ARGUMENT error line naming line 2", rest)
	}
}
