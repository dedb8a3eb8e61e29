// Package integration holds Archway's end-to-end tests. They build the real storefront and
// archway binaries, run them as subprocesses on loopback listeners with ports chosen by the
// kernel, and drive the gateway's REST API over HTTP, exactly as a client would.
//
// Run them with
//
//	go test -race -count=1 ./integration/...
//
// The tests are skipped with -short. Every process a test starts is stopped in the test's
// cleanup: SIGTERM first, then SIGKILL when it does not exit in time.
package integration
