#!/usr/bin/env bash
# Fetches the third-party .proto files that proto/ imports into third_party/ and verifies each
# against tools/third_party.sha256. Sources are pinned: an npm package version and Go module
# versions (the latter also verified by the Go checksum database).
set -euo pipefail

GOOGLE_PROTO_FILES_VERSION=6.0.1
PROTOVALIDATE_VERSION=v1.2.2

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=third_party
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rm -rf "$out"
mkdir -p "$out/googleapis/google/api" "$out/grpc-gateway/protoc-gen-openapiv2/options" \
  "$out/protovalidate/buf/validate"

# google/api/*.proto from the npm package google-proto-files.
(cd "$tmp" && npm pack --silent "google-proto-files@${GOOGLE_PROTO_FILES_VERSION}" >/dev/null)
tar -xzf "$tmp/google-proto-files-${GOOGLE_PROTO_FILES_VERSION}.tgz" -C "$tmp"
for f in annotations http httpbody field_behavior; do
  cp "$tmp/package/google/api/$f.proto" "$out/googleapis/google/api/"
done

# OpenAPI v2 options from the grpc-gateway module that go.mod pins.
gw=$(go list -m -f '{{.Dir}}' github.com/grpc-ecosystem/grpc-gateway/v2)
cp "$gw"/protoc-gen-openapiv2/options/{annotations,openapiv2}.proto \
  "$out/grpc-gateway/protoc-gen-openapiv2/options/"

# buf/validate/validate.proto from the protovalidate repository's Go module.
pv=$(go mod download -json "github.com/bufbuild/protovalidate@${PROTOVALIDATE_VERSION}" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
cp "$pv/proto/protovalidate/buf/validate/validate.proto" "$out/protovalidate/buf/validate/"
chmod -R u+w "$out"

sha256sum --quiet -c tools/third_party.sha256
touch "$out/.fetched"
