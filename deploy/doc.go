// Package deploy holds no code: it is where the tests of the deployment artefacts live, the
// Kubernetes manifests under deploy/kubernetes and the Dockerfiles of cmd/archway and
// cmd/storefront, so that `make test` checks them like the code they deploy. It is a Go module
// of its own, so that the Kubernetes API types stay out of the root module's requirements.
//
// The manifest test decodes every object strictly into the Kubernetes API types (an unknown or
// misspelt field is an error, as with `kubectl apply --validate=strict`), and checks them
// against the gateway's own configuration parser: the ports, the probes, the backends'
// headless Services, the placeholders an operator must replace, and the NetworkPolicies that
// guard the admin port and the backends. The Dockerfile test runs the exact go build command of each Dockerfile's
// build stage and checks that the binary is static and starts. See docs/deployment.md.
package deploy
