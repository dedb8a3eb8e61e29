// Package docsamples holds the test that keeps the Go samples of the README and docs/ true: each
// ```go block must be preceded by a marker naming the Go file it is taken from, and optionally
// the function,
//
//	<!-- go-sample: gateway/composite/example_test.go ExampleFanOut -->
//
// and every line of the block must appear, in order, in that file or function, which the
// module's build and tests compile (an Example function, typically, which `go test` also runs
// when it has an Output comment). A line that is only "..." or "// …" marks elided code.
package docsamples
