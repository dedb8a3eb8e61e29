package config

// Policy supplies the route policy that the archway.policy.v1.route method
// option leaves unset, and overrides it per method (see docs/route-policy.md).
type Policy struct {
	// Defaults apply to every method whose annotation leaves a field unset.
	Defaults PolicyDefaults `yaml:"defaults"`

	// Routes overrides the annotated policy of single methods, keyed by
	// "package.Service/Method", such as
	// "storefront.catalog.v1.CatalogService/GetProduct". A key that names no
	// method the gateway serves stops it from starting. By default empty.
	Routes map[string]RouteOverride `yaml:"routes"`
}

// PolicyDefaults are the values a method gets when neither its annotation
// nor an override sets them.
type PolicyDefaults struct {
	// Access is "authenticated" (callers must present a bearer token or an
	// API key) or "public". By default "authenticated".
	Access string `yaml:"access"`

	// RateLimitClass is the rate_limit.classes entry a method counts
	// against, or "none". By default "default".
	RateLimitClass string `yaml:"rate_limit_class"`

	// Timeout is the deadline of a unary backend call; server streams get a
	// deadline only from their annotation or an override. Zero means no
	// deadline. By default 30s.
	Timeout Duration `yaml:"timeout"`
}

// RouteOverride replaces parts of one method's policy. An empty field keeps
// the annotated value.
type RouteOverride struct {
	// Access is "authenticated" or "public".
	Access string `yaml:"access"`

	// Scopes replaces the scopes the caller must hold.
	Scopes []string `yaml:"scopes"`

	// RateLimitClass is a rate_limit.classes entry, or "none".
	RateLimitClass string `yaml:"rate_limit_class"`

	// IPFilterClass is an ip_filter.classes entry.
	IPFilterClass string `yaml:"ip_filter_class"`

	// Timeout is the deadline of the backend call.
	Timeout Duration `yaml:"timeout"`

	// Idempotent says whether the method may be retried.
	Idempotent *bool `yaml:"idempotent"`
}
