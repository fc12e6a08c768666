# shellcheck shell=bash
# Shared by scripts/bench*.sh (sourced; the caller defines log and, for bench_enter_netns, SELF).

# bench_enter_netns FLAGVAR ARGS... : re-executes $SELF with ARGS in a fresh network namespace
# holding only lo, with FLAGVAR=1 in its environment. Where unshare -n is not permitted (not root),
# it warns, exports FLAGVAR=none and returns: the benchmark runs in the current namespace.
bench_enter_netns() {
	local flag=$1
	shift
	if unshare -n true 2>/dev/null; then
		# shellcheck disable=SC2016 # $0 and $@ belong to the inner shell
		exec unshare -n env "$flag=1" bash -c 'ip link set lo up && exec "$0" "$@"' "$SELF" "$@"
	fi
	log "warning: cannot create a network namespace (unshare -n needs root); running in the current one"
	export "$flag=none"
}

# bench_netns_text FLAGVALUE : the document's description of the network the run used.
bench_netns_text() {
	if [[ $1 == none ]]; then
		echo "the machine's own network namespace (unshare -n was not permitted)"
	else
		echo "a fresh network namespace holding only \`lo\` (\`unshare -n\`)"
	fi
}

# stop_server : stops the server whose pid is in SERVER_PID (SIGTERM, then SIGKILL after 5 s).
SERVER_PID=
stop_server() {
	[[ -n $SERVER_PID ]] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}
