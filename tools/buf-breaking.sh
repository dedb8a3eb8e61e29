#!/usr/bin/env bash
# Runs `buf breaking` for our protos (proto/) against a git ref (default: main). The ref's tree is checked
# out into a temporary worktree and given the same fetched third_party/, because the fetched
# protos are ignored by git and buf needs them to build the older image.
set -euo pipefail

ref=${1:-main}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! git rev-parse --verify --quiet "$ref^{commit}" >/dev/null; then
  if git rev-parse --verify --quiet "origin/$ref^{commit}" >/dev/null; then
    ref="origin/$ref"
  else
    echo "buf breaking: SKIPPED, no ref $ref (nor origin/$ref) to compare against"
    exit 0
  fi
fi
if ! git cat-file -e "$ref:proto" 2>/dev/null; then
  echo "buf breaking: $ref has no proto/ yet; skipped"
  exit 0
fi

tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/tree" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add --detach --quiet "$tmp/tree" "$ref"
cp -R third_party "$tmp/tree/third_party"
# Only the proto/ module is compared: the others are fetched third-party files and the test API in
# internal/testapi, which has no clients to break (and a ref may predate it).
go tool -modfile=tools/go.mod buf breaking proto --against "$tmp/tree/proto"
