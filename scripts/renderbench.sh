#!/usr/bin/env bash
# Render speed of compositions, over loopback: for each participant count
# in COUNTS it starts a fresh roomsd (one compose worker), has `roomsd bot`
# participants publish camera-like video (VIDEO, 1280x720 at 1.5 Mbit/s by
# default) and audio for SECONDS into a recorded room, lets the session end,
# asks for a grid composition of all videos at RESOLUTION, and reports
# how long the render took (from the server's "composition completed" log
# line) against the composition's length: "x real time" above 1 means
# faster than the media plays.
#
#   scripts/renderbench.sh                      # 2 and 4 participants, 20 s
#   COUNTS="2" SECONDS_=10 scripts/renderbench.sh
#
# Variables: COUNTS (participant counts), SECONDS_ (meeting length),
# VIDEO (the bot's --video-bitrate), RESOLUTION (the composition's),
# WORK (directory for the binary, databases and logs; a temporary one,
# removed at the end, by default). Everything stays on 127.0.0.1; every
# wait has a limit.
set -euo pipefail

COUNTS=${COUNTS:-"2 4"}
SECONDS_=${SECONDS_:-20}
VIDEO=${VIDEO:-1.5M}
RESOLUTION=${RESOLUTION:-1280x720}
KEY=renderbench-key

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
# The server is measured, not its limits against abuse: every client of
# this test comes from 127.0.0.1 with one key.
export ROOMSD_LIMIT_TOKENS=off ROOMSD_LIMIT_WRITES=off ROOMSD_LIMIT_CONNECTS=off ROOMSD_MAX_PARTICIPANTS=0
work=${WORK:-$(mktemp -d -t roomsd-render.XXXXXX)}
mkdir -p "$work"
server_pid=""
cleanup() {
	[[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
	[[ -n ${WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
echo "# $(go version | cut -d' ' -f3-); $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)); $(uname -sr); $(ffmpeg -version | head -n1 | cut -d' ' -f1-3)"
go build -o "$work/roomsd" ./cmd/roomsd

api() { # METHOD PATH [BODY]
	curl -fsS -g -X "$1" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' ${3:+-d "$3"} "$url$2"
}

for n in $COUNTS; do
	log="$work/render-$n.log"
	ROOMSD_ADDR=127.0.0.1:0 ROOMSD_DB="$work/render-$n.db" ROOMSD_DATA_DIR="$work/render-$n-data" ROOMSD_API_KEYS="$KEY" \
		ROOMSD_RTC_LOOPBACK=on ROOMSD_RTC_UDP_PORT=0 ROOMSD_EMPTY_TIMEOUT=1s ROOMSD_COMPOSE_WORKERS=1 \
		"$work/roomsd" serve >"$log" 2>&1 &
	server_pid=$!
	wait_listening "$log" "$server_pid"
	room=$(api POST /rooms '{"enable_recording": true, "max_participants": 50}' | jq -r .data.id)
	"$work/roomsd" bot --server "$url" --api-key "$KEY" --room "$room" --count "$n" --duration "${SECONDS_}s" \
		--video-bitrate "$VIDEO" --progress 0 >"$work/bot-$n.json" 2>"$work/bot-$n.log"
	# The session ends a second after the last one leaves; its recordings
	# complete as their tracks end.
	session=""
	for _ in $(seq 1 300); do
		session=$(api GET "/room_sessions?filter[room_id]=$room&filter[active]=false" | jq -r '.data[0].id // empty')
		done_n=$(api GET "/room_recordings?filter[room_id]=$room&filter[status]=completed" | jq '.data | length')
		[[ -n $session && $done_n -eq $((2 * n)) ]] && break
		sleep 0.1
	done
	[[ -n $session ]] || { echo "session did not end" >&2; exit 1; }
	comp=$(api POST /room_compositions "{\"session_id\": \"$session\", \"resolution\": \"$RESOLUTION\",
		\"video_layout\": {\"grid\": {\"video_sources\": [\"*\"], \"max_columns\": 2, \"max_rows\": 2}}}" | jq -r .data.id)
	status=""
	for _ in $(seq 1 6000); do
		status=$(api GET "/room_compositions/$comp" | jq -r .data.status)
		[[ $status == completed || $status == failed ]] && break
		sleep 0.1
	done
	[[ $status == completed ]] || { echo "composition $status: $(api GET "/room_compositions/$comp" | jq -r .data.failure_reason)" >&2; exit 1; }
	line=$(grep 'msg="composition completed"' "$log" | tail -n1)
	took=$(sed -n 's/.* took=\([0-9.]*\)\(m\?s\).*/\1 \2/p' <<<"$line")
	length=$(sed -n 's/.* length=\([0-9.]*\)\(m\?s\).*/\1 \2/p' <<<"$line")
	secs() { awk '{ print ($2 == "ms") ? $1 / 1000 : $1 }' <<<"$1"; }
	t=$(secs "$took") l=$(secs "$length")
	size=$(api GET "/room_compositions/$comp" | jq -r .data.size_mb)
	echo "- $n participants, ${RESOLUTION} grid, ${l} s of media: rendered in ${t} s = $(awk -v l="$l" -v t="$t" 'BEGIN { printf "%.1f", l / t }')x real time; ${size} MB"
	kill -TERM "$server_pid"
	wait "$server_pid" || true
	server_pid=""
done
