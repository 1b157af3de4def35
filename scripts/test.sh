#!/usr/bin/env bash
# Runs every roomsd test: static checks, the Go suite with the race
# detector, and the end-to-end suite through the official telnyx npm SDK.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need besides Go and Node.js: the browser tests drive
# Debian's headless Chromium; the impaired-link tests (test/links) need ip,
# tc and iptables; the recording and composition tests read files with
# ffprobe and render with ffmpeg. Missing ones are installed with apt-get
# (as root, or through sudo); the e2e suite's npm packages come from its
# lockfile below.
command -v go >/dev/null || { echo "Go is required: https://go.dev/dl/"; exit 1; }
command -v npm >/dev/null || { echo "Node.js 20 or later with npm is required: apt-get install nodejs npm"; exit 1; }
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v ip >/dev/null && command -v tc >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "The tests need ${missing[*]} (Debian package names); install them, then run this again."
    exit 1
  fi
  echo "== installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "== gofmt / go vet"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...

echo "== go test -race ./..."
go test -race -count=1 $(go list ./... | grep -v /test/links)

# The HTTP, server and webhook tests again with the PostgreSQL store, when a
# server is given (.ci/run gives the machine's): each test in a schema of
# its own. The PostgreSQL store's own tests and the cluster tests ran above.
if [ -n "${ROOMSD_TEST_POSTGRES_URL:-}" ]; then
  echo "== go test -race on PostgreSQL (HTTP, server, webhooks)"
  ROOMSD_TEST_STORE=postgres go test -race -count=1 ./cmd/roomsd ./internal/api ./internal/app ./internal/cluster \
    ./internal/participants ./internal/webhook ./test/httpfuzz ./test/webhooks
fi

# The impaired-link tests time real media through shaped links: they run
# alone, so that other test packages do not load the machine meanwhile.
echo "== go test ./test/links (impaired links)"
go test -count=1 -v ./test/links

echo "== e2e (telnyx SDK)"
cd e2e
npm ci --no-audit --no-fund --loglevel=error
npm test

# The SDK suites again with the PostgreSQL store, when a server is given
# (.ci/run gives the machine's): each file in a schema of its own.
if [ -n "${ROOMSD_TEST_POSTGRES_URL:-}" ]; then
  echo "== e2e on PostgreSQL (telnyx SDK)"
  ROOMSD_E2E_POSTGRES_URL="$ROOMSD_TEST_POSTGRES_URL" node --test rooms.test.js sessions.test.js webhooks.test.js cluster.test.js
fi
