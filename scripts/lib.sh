# Shell functions shared by the load test scripts (loadtest.sh,
# mediaload.sh), which source this file.

# wait_listening LOG PID: waits up to 30 s for the roomsd running as PID
# to log "roomsd listening" to LOG, and sets $url to the URL it reports.
# If roomsd exits first or does not report in time, it shows LOG and exits.
wait_listening() {
	local log=$1 pid=$2
	url=""
	for _ in $(seq 1 300); do
		url=$(sed -n 's/.*msg="roomsd listening" url=\(http:[^ ]*\).*/\1/p' "$log" | head -n1)
		[[ -n $url ]] && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "roomsd exited" >&2; exit 1; }
		sleep 0.1
	done
	cat "$log" >&2
	echo "roomsd did not report its address" >&2
	exit 1
}
