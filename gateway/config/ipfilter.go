package config

// IPFilter configures client IP allow and deny lists.
type IPFilter struct {
	// Classes are the named filters that route policies refer to, applied
	// after the global one. By default empty.
	Classes map[string]IPFilterClass `yaml:"classes"`
}

// IPFilterClass is one named filter.
type IPFilterClass struct{}
