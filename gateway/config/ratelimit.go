package config

// RateLimit configures client rate limiting.
type RateLimit struct {
	// Classes are the named limits that route policies refer to. By default
	// one class, "default".
	Classes map[string]RateLimitClass `yaml:"classes"`
}

// RateLimitClass is one named limit.
type RateLimitClass struct{}
