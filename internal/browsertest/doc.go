// Package browsertest runs a real headless Chromium for end-to-end tests, so that what a web
// page does with the gateway (CORS preflights, the docs page, EventSource, WebSocket) is
// checked by the browser that enforces it, not by a Go client that imitates one.
//
// [Start] runs Debian's chromium from PATH with a profile of its own in the test's temporary
// directory and stops it when the test ends; [Browser.NewPage] opens a tab, and [Page.Run]
// runs chromedp actions in it, each call bounded by [ActionTimeout]. When a test fails, every
// page it opened saves a screenshot into the artifact folder (ARCHWAY_TEST_ARTIFACTS, else a
// new temporary folder, named in the test log) and logs what the page wrote to its console.
//
// Where chromium is not installed, the tests that need it are skipped, unless
// ARCHWAY_TEST_REQUIRE_CHROMIUM=1 (as CI sets it) makes that a failure. The pages a test loads
// must be served on loopback: the browser uses no proxy and has no network of its own.
//
// The directory is a Go module of its own, so that chromedp stays out of the root module's
// requirements; it also holds the gateway's browser tests (CORS, the docs page, EventSource,
// WebSocket), which build their gateways through the exported API of package gateway.
package browsertest
