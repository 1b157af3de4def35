#!/usr/bin/env bash
# List throughput of GET /v2/rooms on each store, in one run: for each of
# STORES it starts roomsd on 127.0.0.1 (SQLite: a new file; PostgreSQL: a
# new schema on PG_URL, dropped at the end), creates ROOMS rooms through
# the API (roomsd-load -seed), and runs roomsd-load with its fixed-page
# baseline, so that each store's figures come with a ceiling measured
# beside them.
#
#   scripts/storeload.sh
#   ROOMS=20000 DURATION=5s STORES="sqlite postgres" scripts/storeload.sh
#
# Variables: STORES, ROOMS, DURATION, ROUNDS, SCENARIOS, CACHE (the
# SQLite list cache: on or off), PG_URL (default the local server's test
# database), WORK.
set -euo pipefail

STORES=${STORES:-"sqlite postgres"}
ROOMS=${ROOMS:-10000}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-2}
SCENARIOS=${SCENARIOS:-list,date,deep,include_sessions}
CACHE=${CACHE:-on}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
KEY=storeload-key

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
# The server is measured, not its limits against abuse: every client of
# this test comes from 127.0.0.1 with one key.
export ROOMSD_LIMIT_TOKENS=off ROOMSD_LIMIT_WRITES=off ROOMSD_LIMIT_CONNECTS=off ROOMSD_MAX_PARTICIPANTS=0
work=${WORK:-$(mktemp -d -t roomsd-storeload.XXXXXX)}
mkdir -p "$work"
pid="" schema=""
cleanup() {
	[[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	[[ -n $schema ]] && psql "$PG_URL" -qAtc "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true
	[[ -n ${WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
echo "# $(go version | cut -d' ' -f3-); $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)); $(uname -sr); $(psql --version)"
go build -o "$work/roomsd" ./cmd/roomsd
go build -o "$work/roomsd-load" ./cmd/roomsd-load

for s in $STORES; do
	db="$work/$s.db"
	if [[ $s == postgres ]]; then
		schema="storeload_$$"
		psql "$PG_URL" -qAtc "CREATE SCHEMA $schema" >/dev/null
		db="$PG_URL&search_path=$schema"
	fi
	log="$work/$s.log"
	ROOMSD_ADDR=127.0.0.1:0 ROOMSD_DB="$db" ROOMSD_DATA_DIR="$work/$s-data" ROOMSD_API_KEYS="$KEY" ROOMSD_LIST_CACHE="$CACHE" \
		ROOMSD_RTC_LOOPBACK=on ROOMSD_RTC_UDP_PORT=0 "$work/roomsd" serve >"$log" 2>&1 &
	pid=$!
	wait_listening "$log" "$pid"
	echo
	echo "## $s ($ROOMS rooms created through the API; list cache $CACHE)"
	"$work/roomsd-load" -url "$url" -key "$KEY" -seed "$ROOMS" -baseline -scenarios "$SCENARIOS" -duration "$DURATION" -rounds "$ROUNDS"
	kill -TERM "$pid"
	wait "$pid" || true
	pid=""
	if [[ -n $schema ]]; then
		psql "$PG_URL" -qAtc "DROP SCHEMA $schema CASCADE" >/dev/null
		schema=""
	fi
done
