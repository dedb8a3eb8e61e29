// Package testkit holds the small helpers that tests across the repository share, so that each
// test package does not keep its own copy:
//
//   - [LogBuffer], a buffer that a logger and the test reading its output may use at once;
//   - [Clock], a clock that tests move by hand, for code that takes a func() time.Time;
//   - [ReadSSEEvent], which reads a text/event-stream response one event at a time.
//
// It imports only the standard library, so that the tests of any package, gateway packages
// included, may use it. Nothing here is meant for production code.
package testkit
