#!/usr/bin/env bash
# Load test of GET /v2/rooms over loopback HTTP against the roomsd binary,
# next to a fixed-page baseline measured in the same run (see
# docs/performance.md). For each size it seeds a fresh database with SQL;
# then, for each list-cache setting in CACHE, it starts roomsd on
# 127.0.0.1 with a free port and ROOMSD_LIST_CACHE set, runs
# cmd/roomsd-load (which measures its own baseline first) and stops the
# server. The list+writes scenario is the list scenario while one more
# connection PATCHes a room every WRITE_EVERY, emptying the cache each time.
# Scenarios and baselines take turns for ROUNDS rounds, so that a machine
# whose speed drifts during the run (shared hosts do) affects them alike.
#
#   scripts/loadtest.sh                     # 10k and 1M rooms, cache on and off, all scenarios, 3 rounds of 5 s
#   SIZES=10000 CACHE=off DURATION=3s ROUNDS=1 scripts/loadtest.sh
#
# Variables: SIZES (room counts), CACHE (list-cache settings, "on off"),
# ROOMSD_BIN (a roomsd binary to measure instead of building this tree's,
# e.g. an older commit's, for a before/after comparison), DURATION (per
# scenario and round), ROUNDS, CONCURRENCY, SCENARIOS, WRITE_EVERY, WORK (directory for
# binaries and databases; a temporary one by default).
set -euo pipefail

SIZES=${SIZES:-"10000 1000000"}
CACHE=${CACHE:-"on off"}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
WRITE_EVERY=${WRITE_EVERY:-10ms}
CONCURRENCY=${CONCURRENCY:-16}
SCENARIOS=${SCENARIOS:-list,list+writes,date,deep,unique_name,include_sessions,page250}
KEY=loadtest-key

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
# The server is measured, not its limits against abuse: every client of
# this test comes from 127.0.0.1 with one key.
export ROOMSD_LIMIT_TOKENS=off ROOMSD_LIMIT_WRITES=off ROOMSD_LIMIT_CONNECTS=off ROOMSD_MAX_PARTICIPANTS=0
work=${WORK:-$(mktemp -d -t roomsd-load.XXXXXX)}
mkdir -p "$work"
pid=""
cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [[ -z ${WORK:-} ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT

cd "$root"
echo "# $(go version); $(nproc) CPUs; $(uname -sr)"
if [[ -n ${ROOMSD_BIN:-} ]]; then
	cp "$ROOMSD_BIN" "$work/roomsd"
	echo "# measuring $ROOMSD_BIN ($("$work/roomsd" version 2>&1 | head -n1))"
else
	go build -o "$work/roomsd" ./cmd/roomsd
fi
go build -o "$work/roomsd-load" ./cmd/roomsd-load

for n in $SIZES; do
	db="$work/rooms-$n.db"
	rm -f "$db" "$db-wal" "$db-shm"
	"$work/roomsd-load" -seed-db "$db" -seed-rooms "$n"

	for cache in $CACHE; do
		log="$work/roomsd-$n-cache-$cache.log"
		ROOMSD_ADDR=127.0.0.1:0 ROOMSD_DB="$db" ROOMSD_API_KEYS="$KEY" ROOMSD_LIST_CACHE="$cache" \
			"$work/roomsd" serve >"$log" 2>&1 &
		pid=$!
		wait_listening "$log" "$pid"

		echo
		echo "## $n rooms, ROOMSD_LIST_CACHE=$cache: roomsd at $url"
		"$work/roomsd-load" -url "$url" -key "$KEY" -baseline -duration "$DURATION" -rounds "$ROUNDS" \
			-concurrency "$CONCURRENCY" -scenarios "$SCENARIOS" -write-every "$WRITE_EVERY"

		kill -TERM "$pid"
		wait "$pid" || true
		pid=""
	done
	rm -f "$db" "$db-wal" "$db-shm"
done
