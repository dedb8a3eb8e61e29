package gateway

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// apiIndex is the index of the published API documents and of every API the gateway serves,
// answered at openAPIPrefix itself: a service loaded from a descriptor set has no document yet,
// and is listed all the same, with its routes and their access.
type apiIndex struct {
	// Documents are the URL paths of the published documents, sorted.
	Documents []string `json:"documents"`
	// APIs are the served services, by name.
	APIs []indexedAPI `json:"apis"`
}

type indexedAPI struct {
	// Service is the full name of the gRPC service.
	Service string `json:"service"`
	// Source is where the gateway learned the service: "descriptor_set" or "linked".
	Source string `json:"source"`
	// Document is the URL path of the OpenAPI 3 document that describes the service; empty when
	// none does.
	Document string `json:"document,omitempty"`
	// Routes are the service's HTTP bindings, by pattern then method.
	Routes []indexedRoute `json:"routes"`
}

type indexedRoute struct {
	Method        string   `json:"method"`
	Pattern       string   `json:"pattern"`
	RPC           string   `json:"rpc"`
	Authenticated bool     `json:"authenticated"`
	Scopes        []string `json:"scopes,omitempty"`
}

// newAPIIndex builds the index of docs (by URL path) and of the routes of the table, whose
// policies are attached. sources holds the descriptor set of each service loaded from one.
func newAPIIndex(docs map[string]document, routes routeTable, sources map[string]string) ([]byte, error) {
	idx := apiIndex{Documents: make([]string, 0, len(docs)), APIs: []indexedAPI{}}
	for path := range docs {
		idx.Documents = append(idx.Documents, path)
	}
	slices.Sort(idx.Documents)
	byService := make(map[string]*indexedAPI)
	for _, r := range routes {
		svc := string(r.method.Parent().FullName())
		api, ok := byService[svc]
		if !ok {
			api = &indexedAPI{Service: svc, Source: "linked", Routes: []indexedRoute{}}
			if _, described := sources[svc]; described {
				api.Source = "descriptor_set"
			} else if doc := openAPIPrefix + "v3/" + strings.TrimSuffix(r.method.ParentFile().Path(), ".proto") + ".openapi.json"; docs[doc].body != nil {
				api.Document = doc
			}
			byService[svc] = api
		}
		api.Routes = append(api.Routes, indexedRoute{
			Method: r.httpMethod, Pattern: r.pattern, RPC: r.policy.Method,
			Authenticated: r.policy.Authenticated, Scopes: r.policy.Scopes,
		})
	}
	for _, api := range byService {
		slices.SortFunc(api.Routes, func(a, b indexedRoute) int {
			return cmp.Or(cmp.Compare(a.Pattern, b.Pattern), cmp.Compare(a.Method, b.Method))
		})
		idx.APIs = append(idx.APIs, *api)
	}
	slices.SortFunc(idx.APIs, func(a, b indexedAPI) int { return cmp.Compare(a.Service, b.Service) })
	body, err := json.Marshal(idx)
	if err != nil {
		return nil, fmt.Errorf("api index: %w", err)
	}
	return body, nil
}

// withIndex answers openAPIPrefix itself with the index, and every other path with next.
func withIndex(index []byte, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != openAPIPrefix {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Length", fmt.Sprint(len(index)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(index)
		}
	})
}
