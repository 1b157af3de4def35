#!/usr/bin/env bash
# Runs every roomsd test: static checks, the Go suite with the race
# detector, and the end-to-end suite through the official telnyx npm SDK.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt / go vet"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...

echo "== go test -race ./..."
go test -race -count=1 ./...

echo "== e2e (telnyx SDK)"
cd e2e
npm ci --no-audit --no-fund --loglevel=error
npm test
