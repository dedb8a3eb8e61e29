package config

// Profile names whose observable behaviour the REST API follows where Archway deliberately
// differs from grpc-gateway (api.profile). docs/compatibility.md lists every difference a
// profile switches, and what no profile switches.
type Profile string

const (
	// ProfileArchway is Archway's own behaviour: strict input, 201 Created with Location on
	// creates, 405 with Allow on a wrong method, canonical JSON without default-valued fields,
	// response metadata allowlisted under its own names, no method override.
	ProfileArchway Profile = "archway"

	// ProfileGRPCGateway is grpc-gateway v2.33.0's observable behaviour, for teams that put
	// Archway in its place: unknown input ignored, 200 on creates, 501 on a wrong method,
	// default-valued fields emitted, every response metadata key as Grpc-Metadata-<key> and
	// Grpc-Trailer-<key>, trailing data after a JSON body ignored, X-HTTP-Method-Override and
	// the form POST to GET fallback honoured, the whole path decoded before routing. Security
	// properties (authentication, limits, fail-closed routes, Content-Length with
	// Transfer-Encoding refused) stay as they are.
	ProfileGRPCGateway Profile = "grpc-gateway"
)

// Strictness decides what happens to input that matches no field of the request message
// (api.unknown_fields, api.unknown_query_parameters). The empty value leaves it to the profile.
type Strictness string

const (
	// Reject answers such input with 400 INVALID_ARGUMENT naming it.
	Reject Strictness = "reject"
	// Ignore drops such input.
	Ignore Strictness = "ignore"
)

// Unescaping returns how the URL path is decoded: api.path_unescaping when it is set, else the
// profile's choice ("all_except_slash" under "archway", grpc-gateway's "legacy" under
// "grpc-gateway").
func (a *API) Unescaping() string {
	switch {
	case a.PathUnescaping != "":
		return a.PathUnescaping
	case a.GRPCGateway():
		return "legacy"
	}
	return "all_except_slash"
}

// GRPCGateway reports whether the API follows grpc-gateway's behaviour (api.profile
// "grpc-gateway").
func (a *API) GRPCGateway() bool { return a.Profile == ProfileGRPCGateway }

// RejectsUnknownQueryParameters reports whether a query parameter that matches no field of the
// request message is refused: api.unknown_query_parameters when it is set, else the profile's
// choice (reject under "archway", ignore under "grpc-gateway").
func (a *API) RejectsUnknownQueryParameters() bool {
	return a.rejects(a.UnknownQueryParameters)
}

// RejectsUnknownFields reports whether a JSON body field that matches no field of the request
// message is refused: api.unknown_fields when it is set, else the profile's choice (reject
// under "archway", ignore under "grpc-gateway").
func (a *API) RejectsUnknownFields() bool {
	return a.rejects(a.UnknownFields)
}

func (a *API) rejects(s Strictness) bool {
	if s == "" {
		return !a.GRPCGateway()
	}
	return s == Reject
}
