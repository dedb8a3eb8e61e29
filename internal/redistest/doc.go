// Package redistest runs a real redis-server for tests: on a free loopback port, without
// persistence, stopped when the test ends. Tests that need Redis call [Start]; where
// redis-server is not installed they are skipped, unless ARCHWAY_TEST_REQUIRE_REDIS=1 (as CI
// sets it) makes that a failure.
package redistest
