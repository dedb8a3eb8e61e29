package gateway_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// get fetches url without credentials: the documents and the page are public.
func get(t *testing.T, url string) (reply, []byte) {
	t.Helper()
	return do(t, http.MethodGet, url, "", map[string]string{"X-Api-Key": ""})
}

func TestDocsPageServesItsDocuments(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "docs: {path: /api-docs}\n", nil)

	resp, page := get(t, env.url+"/api-docs")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /api-docs: %d %s, want 200 HTML", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	spec := regexp.MustCompile(`"swaggerJsonUrl":"([^"]+)"`).FindSubmatch(page)
	if spec == nil {
		t.Fatalf("the page names no document:\n%s", page)
	}
	urls := []string{string(spec[1])}
	for _, m := range regexp.MustCompile(`"url":"(/openapi/[^"]+)"`).FindAllSubmatch(page, -1) {
		urls = append(urls, string(m[1]))
	}
	if len(urls) < 5 {
		t.Errorf("the page lists %v; want the v2 document and the four v3 documents", urls)
	}
	for _, u := range urls {
		resp, body := get(t, env.url+u)
		var doc struct {
			Swagger string `json:"swagger"`
			OpenAPI string `json:"openapi"`
		}
		if err := json.Unmarshal(body, &doc); resp.StatusCode != http.StatusOK || err != nil || doc.Swagger+doc.OpenAPI == "" {
			t.Errorf("GET %s: %d, %v; want an OpenAPI document", u, resp.StatusCode, err)
		}
	}
	for _, asset := range []string{"/api-docs/swagger-ui-bundle.js", "/api-docs/swagger-ui.css"} {
		if resp, _ := get(t, env.url+asset); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", asset, resp.StatusCode)
		}
	}
	if resp, _ := get(t, env.url+"/openapi/v3/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /openapi/v3/: %d, want 404 (no listings)", resp.StatusCode)
	}
}

func TestDocsCanBeSwitchedOff(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "docs: {enabled: false}\n", nil)
	for _, path := range []string{"/docs", "/openapi/v2/archway.swagger.json"} {
		if resp, _ := get(t, env.url+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}
