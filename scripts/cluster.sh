#!/usr/bin/env bash
# Starts a two-node roomsd cluster on this machine's PostgreSQL, to try
# what docs/operations.md describes: node a on 127.0.0.1:8081 (media UDP
# 7891), node b on 127.0.0.1:8082 (media UDP 7892), one database, one
# shared data directory. Ctrl-C stops both.
#
#   scripts/cluster.sh [postgres://…]      (default: the local server's
#                                           database "roomsd", created if
#                                           missing and psql is at hand)
#
# Then, with the API key it prints: create a room on one node, join it
# through the other (the page at http://127.0.0.1:8082/ sends you to the
# node that holds the meeting), kill one node with kill -9 and watch the
# other take its rooms over after ROOMSD_NODE_LEASE.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
db=${1:-postgres://postgres@127.0.0.1:5432/roomsd?sslmode=disable}
if [[ $# -eq 0 ]] && command -v psql >/dev/null; then
	psql -q "${db/\/roomsd?/\/postgres?}" -tc "SELECT 1 FROM pg_database WHERE datname = 'roomsd'" | grep -q 1 ||
		psql -q "${db/\/roomsd?/\/postgres?}" -c "CREATE DATABASE roomsd"
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$work"' EXIT
echo "building roomsd…"
(cd "$root" && go build -o "$work/roomsd" ./cmd/roomsd)
key=${ROOMSD_API_KEYS:-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')}
mkdir -p "$work/data"
for n in a b; do
	port=$([[ $n == a ]] && echo 8081 || echo 8082)
	udp=$([[ $n == a ]] && echo 7891 || echo 7892)
	ROOMSD_DB=$db ROOMSD_API_KEYS=$key ROOMSD_NODE_ID=node-$n ROOMSD_ADDR=127.0.0.1:$port \
		ROOMSD_RTC_UDP_PORT=$udp ROOMSD_RTC_LOOPBACK=on ROOMSD_DATA_DIR="$work/data" \
		"$work/roomsd" serve >"$work/$n.log" 2>&1 &
	wait_listening "$work/$n.log" $!
	echo "node $n: $url (log: $work/$n.log)"
done
cat <<MSG

API key: $key
Try:
  curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{}' http://127.0.0.1:8081/v2/rooms
  go run ./cmd/roomsd bot --server http://127.0.0.1:8082 --api-key $key --room <id> --loopback
Ctrl-C stops both nodes.
MSG
wait
