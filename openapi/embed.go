// Package openapi holds the generated OpenAPI documents of the storefront API, embedded so that
// the gateway can serve them without reading files: v2/archway.swagger.json (every service in
// one document) and v3/<proto path>.openapi.json (one OpenAPI 3.1 document per proto file).
// `make generate` writes them; never edit them by hand.
package openapi

import "embed"

// FS holds the documents under their paths in this folder, such as "v2/archway.swagger.json".
//
//go:embed v2/*.json v3
var FS embed.FS

// V2 is the path in FS of the merged OpenAPI v2 document.
const V2 = "v2/archway.swagger.json"
