#!/usr/bin/env bash
# Media load test of roomsd's SFU over loopback, driven by `roomsd bot`
# (see docs/performance.md (Media performance) for figures and how to read them).
#
# It builds roomsd and, for each of these scenarios, starts a fresh roomsd
# with media on 127.0.0.1 (a free TCP port, a free UDP port, a new
# database):
#
#   join         one publisher bot; JOIN_RUNS single subscribers join one
#                after the other: token request to admitted, to media
#                connected, to first remote video packet and keyframe.
#   fanout-N     N/49 rooms, each one publisher (audio+video) and 49
#                subscribers (one bot process per room, --count 49
#                --publish none). A room holds at most 50 participants,
#                so 98 and 196 subscribers are 2 and 4 such rooms.
#   mesh-N       one room, N bots (at most 50) all publishing and all
#                subscribing to each other.
#
# In each scenario it waits until every bot has connected, lets WARMUP
# pass, then measures a window of WINDOW: the server's CPU time (utime +
# stime from /proc/PID/stat), the bots' CPU time, the UDP datagrams the
# kernel dropped on full receive buffers (/proc/net/snmp), and the packets
# the bots received, from two SIGUSR1 snapshots of every bot. CPU per forwarded packet is server CPU time over
# packets received by the bots in the window. Loss is from RTP sequence
# numbers (gaps), and the audio rate per stream is compared with the 50
# packets a second the publisher sends. Join times come from the bots'
# JSON reports (join_to_first_video_ms, join_to_first_keyframe_ms).
#
#   scripts/mediaload.sh                        # all scenarios, 10 s windows
#   SCENARIOS="join fanout-49" WINDOW=5 scripts/mediaload.sh
#
# Variables: SCENARIOS (join fanout-49 fanout-98 fanout-196 mesh-10
# mesh-25 mesh-50, and any of them with +rec: the same with recording on),
# WINDOW and WARMUP (seconds), JOIN_RUNS, VIDEO (what
# publishers send: the bot's --video-bitrate, 1.5M by default, pattern for
# the cheap test pattern the first figures used), SERVER_BIN (the roomsd
# binary to measure, e.g. one built from an older commit, so two versions
# can be compared in one session with the same bots; default: this
# checkout's), WORK (directory
# for the binary, databases, logs and bot reports; a temporary one, removed
# at the end, by default). Everything is on 127.0.0.1 and every step has a
# time limit; a whole run takes about two minutes.
set -euo pipefail

SCENARIOS=${SCENARIOS:-"join fanout-49 fanout-98 fanout-196 mesh-10 mesh-25 mesh-50"}
WINDOW=${WINDOW:-10}
WARMUP=${WARMUP:-2}
JOIN_RUNS=${JOIN_RUNS:-5}
VIDEO=${VIDEO:-1.5M}
KEY=mediaload-key

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
# The server is measured, not its limits against abuse: every client of
# this test comes from 127.0.0.1 with one key.
export ROOMSD_LIMIT_TOKENS=off ROOMSD_LIMIT_WRITES=off ROOMSD_LIMIT_CONNECTS=off ROOMSD_MAX_PARTICIPANTS=0
work=${WORK:-$(mktemp -d -t roomsd-media.XXXXXX)}
mkdir -p "$work"
server_pid=""
bot_pids=()
cleanup() {
	for p in "${bot_pids[@]}" $server_pid; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${bot_pids[@]}" $server_pid; do
		wait "$p" 2>/dev/null || true
	done
	if [[ -z ${WORK:-} ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT

hz=$(getconf CLK_TCK)
# cpu_ticks PID: utime+stime of a process, in clock ticks (fields 14 and
# 15 of /proc/PID/stat, counted after the parenthesised command name).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

api() { # METHOD PATH [BODY]
	curl -fsS -X "$1" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
		${3:+-d "$3"} "$url$2"
}
new_room() { api POST /rooms "{\"max_participants\": 50, \"enable_recording\": $record}" | jq -r .data.id; }

# start_bot NAME ARGS...: runs roomsd bot in the background; its report
# goes to NAME.json, its stderr to NAME.log. Sets $last_pid.
start_bot() {
	local name=$1
	shift
	"$work/roomsd" bot --server "$url" --api-key "$KEY" --video-bitrate "$VIDEO" "$@" >"$work/$name.json" 2>"$work/$name.log" &
	last_pid=$!
	bot_pids+=("$last_pid")
}

# wait_connected NAME COUNT PID: until NAME's progress says every
# participant connected (or failed), or the bot exited; at most 60 s.
wait_connected() {
	local name=$1 n=$2 pid=$3
	for _ in $(seq 1 600); do
		local ready
		ready=$(grep ' progress ' "$work/$name.log" 2>/dev/null | tail -n 1 |
			sed -n 's/.* connected=\([0-9]*\)\/[0-9]* failed=\([0-9]*\) .*/\1 + \2/p' || true)
		if [[ -n $ready && $((ready)) -ge $n ]]; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "# $name: not all connected within 60 s" >&2
}

# snapshot_field NAME K FIELD: FIELD of the K-th snapshot line of NAME.
snapshot_field() {
	{ grep ' snapshot ' "$work/$1.log" || true; } | sed -n "${2}p" | tr ' ' '\n' | sed -n "s/^$3=//p" | tr -d s
}

pct() { jq -rn --argjson a "$1" --argjson b "$2" 'if $b == 0 then "n/a" else ($a * 100 / $b * 10 | round / 10 | tostring) end'; }
# stats FILE...: p50/p95/max of a jq path over the bots' participants.
stats() {
	local path=$1
	shift
	jq -s -r "[.[].participants[] | $path | select(. != null)] | sort |
		if length == 0 then \"n/a\" else
		\"\(.[(length * 0.5 | floor)])/\(.[(length * 0.95 | floor)])/\(.[-1])\" end" "$@"
}

cd "$root"
echo "# $(go version | cut -d' ' -f3-); $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)); $(uname -sr)"
go build -o "$work/roomsd" ./cmd/roomsd

# start_server NAME: a fresh roomsd (and database) for one scenario, so
# that its CPU and memory figures are its own. Sets $url and $server_pid.
start_server() {
	local log="$work/$1-server.log"
	rm -rf "$work/$1-data"
	ROOMSD_ADDR=127.0.0.1:0 ROOMSD_DB="$work/$1.db" ROOMSD_DATA_DIR="$work/$1-data" ROOMSD_API_KEYS="$KEY" ROOMSD_RTC_LOOPBACK=on \
		ROOMSD_RTC_UDP_PORT=0 ROOMSD_EMPTY_TIMEOUT=1s "${SERVER_BIN:-$work/roomsd}" serve >"$log" 2>&1 &
	server_pid=$!
	wait_listening "$log" "$server_pid"
	media_udp=$(sed -n 's/.*media_udp=\([^ ]*\).*/\1/p' "$log" | head -n1)
}
stop_server() {
	kill -TERM "$server_pid"
	wait "$server_pid" || true
	server_pid=""
}
# udp_drops: datagrams the kernel dropped because a socket's receive
# buffer was full (RcvbufErrors in /proc/net/snmp), machine-wide.
udp_drops() { awk '/^Udp:/{if (!h) {for (i=1; i<=NF; i++) col[$i]=i; h=1} else print $col["RcvbufErrors"]}' /proc/net/snmp; }
# server_udp_drops: the same, for the server's media socket only (the
# last column of its line in /proc/net/udp; the socket is new each scenario).
server_udp_drops() {
	local port
	port=$(printf '%04X' "${media_udp##*:}")
	awk -v p=":$port" 'substr($2, length($2) - 4) == p {d += $NF} END {print d + 0}' /proc/net/udp
}

join_scenario() {
	local room pub
	room=$(new_room)
	start_bot join-pub --room "$room" --context publisher --duration 600s --progress 100ms
	pub=$last_pid
	wait_connected join-pub 1 "$pub"
	local files=()
	for i in $(seq 1 "$JOIN_RUNS"); do
		start_bot "join-$i" --room "$room" --context "joiner-$i" --publish none --duration 1s --progress 0
		wait "$last_pid" || echo "# joiner $i failed: $(tail -n 2 "$work/join-$i.log")"
		files+=("$work/join-$i.json")
	done
	kill -INT "$pub"
	wait "$pub" || true
	echo
	echo "## join: $JOIN_RUNS subscribers one after the other into a room with one publisher"
	echo "p50/p95/max over the runs, ms from the token request:"
	echo "- admitted (join_ms): $(stats .join_ms "${files[@]}")"
	echo "- media connected (connect_ms): $(stats .connect_ms "${files[@]}")"
	echo "- first remote video packet (join_to_first_video_ms): $(stats .join_to_first_video_ms "${files[@]}")"
	echo "- first remote keyframe (join_to_first_keyframe_ms): $(stats .join_to_first_keyframe_ms "${files[@]}")"
}

# load_scenario NAME ROOMS MODE N: MODE fanout (1 publisher + 49
# subscribers per room) or mesh (N publishers subscribing to all).
load_scenario() {
	local name=$1 rooms=$2 mode=$3 peers=${4:-0}
	local main=() mainpids=() pubpids=() counts=() streams=0 subs=0
	for r in $(seq 1 "$rooms"); do
		local room
		room=$(new_room)
		if [[ $mode == fanout ]]; then
			start_bot "$name-pub-$r" --room "$room" --context "publisher-$r" --duration 600s --progress 100ms
			pubpids+=("$last_pid")
			wait_connected "$name-pub-$r" 1 "$last_pid"
			start_bot "$name-$r" --room "$room" --context "sub-$r" --count 49 --publish none --duration 600s --progress 100ms
			counts+=(49)
			streams=$((streams + 49))
			subs=$((subs + 49))
		else
			start_bot "$name-$r" --room "$room" --context "peer-$r" --count "$peers" --duration 600s --progress 100ms
			counts+=("$peers")
			streams=$((streams + peers * (peers - 1)))
			subs=$((subs + peers))
		fi
		main+=("$name-$r")
		mainpids+=("$last_pid")
	done
	for i in "${!main[@]}"; do
		wait_connected "${main[$i]}" "${counts[$i]}" "${mainpids[$i]}"
	done
	sleep "$WARMUP"

	local all=("${mainpids[@]}" "${pubpids[@]}") c1 b1 d1 sd1 c2 b2 d2 sd2 rss
	c1=$(cpu_ticks "$server_pid")
	b1=0
	for p in "${all[@]}"; do b1=$((b1 + $(cpu_ticks "$p"))); done
	d1=$(udp_drops) sd1=$(server_udp_drops)
	kill -USR1 "${all[@]}" 2>/dev/null || true
	sleep "$WINDOW"
	c2=$(cpu_ticks "$server_pid")
	b2=0
	for p in "${all[@]}"; do b2=$((b2 + $(cpu_ticks "$p"))); done
	d2=$(udp_drops) sd2=$(server_udp_drops)
	kill -USR1 "${all[@]}" 2>/dev/null || true
	rss=$(awk '/^VmRSS/{print $2}' "/proc/$server_pid/status")
	# Every bot stays until the window ends, however long the other rooms
	# took to fill; on SIGINT a bot prints its report and exits.
	for p in "${mainpids[@]}" "${pubpids[@]}"; do kill -INT "$p" 2>/dev/null || true; wait "$p" || true; done
	bot_pids=()

	# Window totals over the main bots (the publishers receive nothing in
	# fanout): packets, audio packets, lost, and the window's length.
	local pk=0 au=0 lo=0 by=0 win=0 n=0 f
	for f in "${main[@]}"; do
		local p1 p2 a1 a2 l1 l2 t1 t2 y1 y2
		p1=$(snapshot_field "$f" 1 packets) p2=$(snapshot_field "$f" 2 packets)
		a1=$(snapshot_field "$f" 1 audio) a2=$(snapshot_field "$f" 2 audio)
		l1=$(snapshot_field "$f" 1 lost) l2=$(snapshot_field "$f" 2 lost)
		t1=$(snapshot_field "$f" 1 t) t2=$(snapshot_field "$f" 2 t)
		y1=$(snapshot_field "$f" 1 bytes) y2=$(snapshot_field "$f" 2 bytes)
		if [[ -z $p2 ]]; then
			echo "# $f: no snapshots (did it exit early?)" >&2
			continue
		fi
		pk=$((pk + p2 - p1)) au=$((au + a2 - a1)) lo=$((lo + l2 - l1)) by=$((by + y2 - y1))
		win=$(echo "$win + $t2 - $t1" | bc)
		n=$((n + 1))
	done
	[[ $n -gt 0 ]] || { echo "## $name: no measurement"; return; }
	win=$(echo "scale=3; $win / $n" | bc)
	local files=() failed
	for f in "${main[@]}"; do files+=("$work/$f.json"); done
	failed=$(jq -s '[.[].failed] | add' "${files[@]}")
	echo
	echo "## $name: $rooms room(s), $subs receiving participants, $streams audio+video stream pairs forwarded"
	jq -rn --argjson pk "$pk" --argjson au "$au" --argjson lo "$lo" --argjson win "$win" --argjson streams "$streams" \
		--argjson cs "$(((c2 - c1)))" --argjson bs "$((b2 - b1))" --argjson hz "$hz" --argjson drops "$((d2 - d1))" --argjson sdrops "$((sd2 - sd1))" \
		--argjson rss "$rss" --argjson by "$by" --argjson failed "$failed" '
		def r(n): (. * pow(10; n) | round) / pow(10; n);
		"- window \($win | r(2)) s: \($pk) packets forwarded (\($pk / $win | round)/s, \($by * 8 / $win / 1e6 | r(1)) Mbit/s of payload), \($au) of them audio; \($failed) participants failed",
		"- server CPU \($cs / $hz | r(2)) s = \($cs / $hz / $win * 100 | round)% of one core; \(if $pk > 0 then ($cs / $hz * 1e6 / $pk | r(1)) else "n/a" end) µs per forwarded packet; RSS \($rss / 1024 | round) MiB",
		"- bots CPU \($bs / $hz | r(2)) s = \($bs / $hz / $win * 100 | round)% of one core",
		"- loss (RTP sequence gaps) \(if $pk + $lo > 0 then ($lo * 100 / ($pk + $lo) | r(3)) else 0 end)% (\($lo) packets; the kernel dropped \($drops) UDP datagrams on full receive buffers, \($sdrops) of them at the server\u0027s media socket); audio \($au / $streams / $win | r(1)) packets/s per stream (the publisher sends 50), video \(($pk - $au) / $streams / $win | r(1)) packets/s per stream"'
	if [[ $record == true ]]; then
		local files_n bytes_n
		files_n=$(find "$work/$name-data/recordings" -type f 2>/dev/null | wc -l)
		bytes_n=$(du -sb "$work/$name-data/recordings" 2>/dev/null | cut -f1)
		echo "- recording on: $files_n recordings, $((${bytes_n:-0} / 1048576)) MiB written in all"
	fi
	echo "- join p50/p95/max ms, from the token request: admitted $(stats .join_ms "${files[@]}"), media connected $(stats .connect_ms "${files[@]}"), first video packet $(stats .join_to_first_video_ms "${files[@]}"), first keyframe $(stats .join_to_first_keyframe_ms "${files[@]}")"
}

for s in $SCENARIOS; do
	# A scenario named with +rec (mesh-8+rec) runs in rooms with
	# enable_recording on: every published track is also written to disk.
	record=false
	[[ $s == *+rec ]] && record=true
	start_server "$s"
	echo
	echo "# $s: roomsd at $url (media_udp=$media_udp), pid $server_pid"
	base=${s%+rec}
	case $base in
	join) join_scenario ;;
	fanout-[0-9]*) load_scenario "$s" $(((${base#fanout-} + 48) / 49)) fanout ;;
	mesh-[0-9]*) load_scenario "$s" 1 mesh "${base#mesh-}" ;;
	*) echo "unknown scenario $s" >&2; exit 2 ;;
	esac
	stop_server
done
