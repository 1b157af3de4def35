#!/usr/bin/env bash
# The seed's own loop at scale: the telnyx SDK's auto-pager over every
# room, `for await (const room of client.rooms.list())`, timed per block
# of 20,000 rooms, and one cold request for page 5,000 (no page before it
# served). For each room count in COUNTS it seeds a database through SQL
# (roomsd-load -seed-db), then, for this checkout's roomsd and, when BASE
# is set, for roomsd built at that commit (the same database copied, so
# both list the same rooms), starts the server on 127.0.0.1 and runs
# e2e/pagingbench.js against it. One JSON line per run.
#
#   scripts/pagingbench.sh                            # 100000 rooms, this checkout
#   COUNTS="100000 1000000" BASE=5e0c7a1 scripts/pagingbench.sh
#
# With PG set to a PostgreSQL URL it runs this checkout's roomsd on that
# server instead, in a schema of its own (dropped at the end), the rooms
# inserted by one SQL statement (created_at spread over three years, as
# the SQLite seed does):
#
#   COUNTS="100000 1000000" PG="postgres://postgres@127.0.0.1:5432/test?sslmode=disable" scripts/pagingbench.sh
#
# Variables: COUNTS, BASE (a commit to compare with), PG, WORK (directory
# for binaries and databases; a temporary one, removed at the end, by
# default). Needs Node.js with e2e's packages (npm ci in e2e).
set -euo pipefail

COUNTS=${COUNTS:-100000}
BASE=${BASE:-}
PG=${PG:-}
KEY=pagingbench-key
schema=

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
# The server is measured, not its limits against abuse: every client of
# this test comes from 127.0.0.1 with one key.
export ROOMSD_LIMIT_TOKENS=off ROOMSD_LIMIT_WRITES=off ROOMSD_LIMIT_CONNECTS=off ROOMSD_MAX_PARTICIPANTS=0
work=${WORK:-$(mktemp -d -t roomsd-paging.XXXXXX)}
mkdir -p "$work"
server_pid=""
cleanup() {
	[[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
	[[ -n $BASE ]] && git -C "$root" worktree remove --force "$work/base-src" 2>/dev/null || true
	[[ -n $schema ]] && psql "$PG" -qAtc "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true
	[[ -n ${WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
echo "# $(go version | cut -d' ' -f3-); $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)); $(uname -sr); node $(node --version)"
go build -o "$work/roomsd" ./cmd/roomsd
go build -o "$work/roomsd-load" ./cmd/roomsd-load
bins=("this:$work/roomsd")
if [[ -n $BASE ]]; then
	git worktree add --detach "$work/base-src" "$BASE" >/dev/null 2>&1
	(cd "$work/base-src" && go build -o "$work/roomsd-base" ./cmd/roomsd)
	bins+=("$BASE:$work/roomsd-base")
fi

if [[ -n $PG ]]; then
	for n in $COUNTS; do
		schema="pagingbench_$$_$n"
		psql "$PG" -qAtc "CREATE SCHEMA $schema" >/dev/null
		log="$work/pg-$n.log"
		ROOMSD_ADDR=127.0.0.1:0 ROOMSD_DB="$PG&search_path=$schema" ROOMSD_DATA_DIR="$work/pg-data" ROOMSD_API_KEYS="$KEY" \
			ROOMSD_RTC_LOOPBACK=on ROOMSD_RTC_UDP_PORT=0 "$work/roomsd" serve >"$log" 2>&1 &
		server_pid=$!
		wait_listening "$log" "$server_pid"
		# 2023-01-01 plus i steps of three years over n, in microseconds.
		psql "$PG" -qAtc "SET search_path = $schema;
			INSERT INTO rooms (id, max_participants, created_at, updated_at)
			SELECT gen_random_uuid()::text, 10, 1672531200000000 + g * (94608000000000 / $n), 1672531200000000 + g * (94608000000000 / $n)
			FROM generate_series(0, $n - 1) AS g; ANALYZE rooms;" >&2
		result=$(cd "$root/e2e" && timeout 3600 node pagingbench.js "$url" "$KEY" 5000)
		echo "{\"server\": \"postgres\", \"seeded\": $n, \"result\": $result}"
		kill -TERM "$server_pid"
		wait "$server_pid" || true
		server_pid=""
		psql "$PG" -qAtc "DROP SCHEMA $schema CASCADE" >/dev/null
		schema=""
	done
	exit 0
fi

for n in $COUNTS; do
	db="$work/rooms-$n.db"
	"$work/roomsd-load" -seed-db "$db" -seed-rooms "$n" >&2
	for entry in "${bins[@]}"; do
		name=${entry%%:*} bin=${entry#*:}
		run="$work/run-$n-$name"
		mkdir -p "$run"
		cp "$db" "$run/roomsd.db"
		log="$run/server.log"
		ROOMSD_ADDR=127.0.0.1:0 ROOMSD_DB="$run/roomsd.db" ROOMSD_API_KEYS="$KEY" ROOMSD_RTC_LOOPBACK=on \
			ROOMSD_RTC_UDP_PORT=0 "$bin" serve >"$log" 2>&1 &
		server_pid=$!
		wait_listening "$log" "$server_pid"
		result=$(cd "$root/e2e" && timeout 3600 node pagingbench.js "$url" "$KEY" 5000)
		echo "{\"server\": \"$name\", \"seeded\": $n, \"result\": $result}"
		kill -TERM "$server_pid"
		wait "$server_pid" || true
		server_pid=""
	done
done
