package openapidoc_test

import (
	"strings"
	"testing"

	"github.com/archway-gateway/archway/internal/openapidoc"
)

func TestDescribe(t *testing.T) {
	t.Parallel()
	d := openapidoc.Description{
		Title: "Team API", Description: "What the team serves.", Version: "2.0.0",
		LicenseName: "Apache-2.0", ContactEmail: "api@example.com",
		Servers: []openapidoc.Server{{URL: "/"}, {URL: "https://api.example.com", Description: "production"}},
	}
	v3 := `{"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": {}, "tags": [{"name": "A"}, {"name": "B"}]}`
	got, err := openapidoc.Describe([]byte(v3), d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"info":{"title":"TeamAPI:A,B","description":"Whattheteamserves.","version":"2.0.0","contact":{"email":"api@example.com"},"license":{"name":"Apache-2.0"}},"servers":[{"url":"/"},{"url":"https://api.example.com","description":"production"}],"paths"`,
	} {
		if !strings.Contains(squeeze(string(got)), want) {
			t.Errorf("described v3 document lacks %s:\n%s", want, got)
		}
	}
	v2 := `{"swagger": "2.0", "info": {"title": "x", "version": "1", "contact": {"name": "old"}}, "host": "old.example.com", "paths": {}}`
	got, err = openapidoc.Describe([]byte(v2), d)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"license":{"name":"Apache-2.0"}},"host":"api.example.com","basePath":"/","schemes":["https"],"paths"`; !strings.Contains(squeeze(string(got)), want) {
		t.Errorf("described v2 document lacks %s:\n%s", want, got)
	}
	if strings.Contains(string(got), "servers") || strings.Contains(string(got), "old") {
		t.Errorf("described v2 document has servers or the old info:\n%s", got)
	}
	again, err := openapidoc.Describe(got, d)
	if err != nil || string(again) != string(got) {
		t.Errorf("describing twice changed the document (err %v):\n%s", err, again)
	}
	d.Servers = []openapidoc.Server{{URL: "/"}}
	got, err = openapidoc.Describe([]byte(v2), d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(got), "host") {
		t.Errorf("a v2 document whose servers are all paths keeps a host:\n%s", got)
	}
}
