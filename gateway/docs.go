package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
	"github.com/archway-gateway/archway/internal/openapidoc"
	"github.com/archway-gateway/archway/openapi"
)

// openAPIPrefix is where the gateway serves the embedded OpenAPI documents.
const openAPIPrefix = "/openapi/"

// document is one embedded OpenAPI document, ready to serve.
type document struct {
	body []byte
	etag string
}

// openAPIDocuments reads every embedded document, by its URL path under openAPIPrefix, and
// fits it to this gateway: without the operations of the services it does not serve (a v3
// document left with none is not served), and with each operation's security and scopes, and
// the 201 of creates, from policies, the live route policy table, so that overrides in
// policy.routes show in the documents (see internal/openapidoc), and with the title,
// description, version, license, contact and servers of docs.openapi. Under the grpc-gateway
// profile creates are documented as it answers them: 200, without Location.
func openAPIDocuments(policies *policy.Table, about config.OpenAPI, grpcGateway bool) (map[string]document, error) {
	description := openapidoc.FromConfig(about)
	docs := make(map[string]document)
	add := func(name string, body []byte) error {
		if grpcGateway {
			var err error
			if body, err = openapidoc.CreatesAnswer200(body, policies); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		sum := sha256.Sum256(body)
		docs[openAPIPrefix+name] = document{body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	}
	v2, err := fs.ReadFile(openapi.FS, openapi.V2)
	if err != nil {
		return nil, fmt.Errorf("openapi documents: %w", err)
	}
	if v2, _, err = openapidoc.Restrict(v2, policies); err != nil {
		return nil, fmt.Errorf("openapi documents: %s: %w", openapi.V2, err)
	}
	if v2, err = openapidoc.PatchV2(v2, policies); err != nil {
		return nil, fmt.Errorf("openapi documents: %s: %w", openapi.V2, err)
	}
	if v2, err = openapidoc.Describe(v2, description); err != nil {
		return nil, fmt.Errorf("openapi documents: %s: %w", openapi.V2, err)
	}
	if err := add(openapi.V2, v2); err != nil {
		return nil, fmt.Errorf("openapi documents: %w", err)
	}
	err = fs.WalkDir(openapi.FS, "v3", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(openapi.FS, name)
		if err != nil {
			return err
		}
		body, empty, err := openapidoc.Restrict(body, policies)
		if err != nil || empty {
			return err
		}
		if body, err = openapidoc.PatchV3(body, v2, policies); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if body, err = openapidoc.Describe(body, description); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return add(name, body)
	})
	if err != nil {
		return nil, fmt.Errorf("openapi documents: %w", err)
	}
	return docs, nil
}

// serveDocuments serves the embedded OpenAPI documents under openAPIPrefix; anything else
// under it, folders included, is 404.
func serveDocuments(docs map[string]document) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, ok := docs[r.URL.Path]
		if !ok {
			edge.WriteStatus(w, http.StatusNotFound, status.New(codes.NotFound, "no OpenAPI document at "+r.URL.Path))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", doc.etag)
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, doc.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(doc.body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(doc.body)
		}
	})
}

// docsPage is the interactive docs page (Swagger UI from github.com/swaggest/swgui, which
// embeds its assets) at base, titled title, with a selector of every document: the merged v2
// document first.
func docsPage(base, title string, docs map[string]document) (http.Handler, error) {
	type specURL struct {
		URL  string `json:"url"`
		Name string `json:"name"`
	}
	urls := []specURL{{URL: openAPIPrefix + openapi.V2, Name: "OpenAPI 2.0: every service"}}
	var v3 []string
	for p := range docs {
		if strings.HasPrefix(p, openAPIPrefix+"v3/") {
			v3 = append(v3, p)
		}
	}
	for _, p := range slices.Sorted(slices.Values(v3)) {
		urls = append(urls, specURL{URL: p, Name: "OpenAPI 3.1: " + strings.TrimSuffix(path.Base(p), ".openapi.json")})
	}
	// The settings are JavaScript, written into the page's script as they are.
	list, err := json.Marshal(urls)
	if err != nil {
		return nil, fmt.Errorf("docs page: %w", err)
	}
	primary, err := json.Marshal(urls[0].Name)
	if err != nil {
		return nil, fmt.Errorf("docs page: %w", err)
	}
	return v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       title,
		SwaggerJSON: openAPIPrefix + openapi.V2,
		BasePath:    base,
		ShowTopBar:  true,
		SettingsUI: map[string]string{
			"urls":               string(list),
			`"urls.primaryName"`: string(primary),
		},
	}), nil
}
