#!/usr/bin/env bash
# Control-plane benchmark, run by `make bench` (after `make build`). Writes the section between
# <!-- BEGIN controlplane --> and <!-- END controlplane --> of docs/benchmarks.md.
#
# For Miksilo (bin/miksilo) and then the baseline (bin/echoserver, same WebSocket + JSON-RPC stack
# answering canned results), for each connection count: a closed-loop run (max ops/s), then an
# open-loop run at 50 % of Miksilo's max for that count (latency). Server pinned to one CPU, load
# generator to another. Everything on 127.0.0.1.
#
# Environment (all optional):
#   BENCH_DURATION   measured time per run (default 10s; a bare number means seconds)
#   BENCH_WARMUP     warm-up per run (default 2s)
#   BENCH_CONNS      connection counts (default "1 8 64")
#   BENCH_DOC        document to update (default docs/benchmarks.md)
#   BENCH_SERVER_CPU / BENCH_LOADER_CPU   CPUs for taskset (default 0 / 1)
#   BENCH_MAX_OTHER  a run during which other processes used more than this % of a CPU is retried
#                    (default 10; see the "other" CPU column of the document)
#   BENCH_RETRIES    retries of such a run (default 3; the quietest attempt is kept)
#   BENCH_SUBJECT    "echo" runs the echo server in Miksilo's place: only to test this script
set -euo pipefail
cd "$(dirname "$0")/.."

secs() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && echo "${1}s" || echo "$1"; }
DURATION=$(secs "${BENCH_DURATION:-10s}")
WARMUP=$(secs "${BENCH_WARMUP:-2s}")
CONNS=${BENCH_CONNS:-"1 8 64"}
DOC=${BENCH_DOC:-docs/benchmarks.md}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOADER_CPU=${BENCH_LOADER_CPU:-1}
SUBJECT=${BENCH_SUBJECT:-miksilo}
MAX_OTHER=${BENCH_MAX_OTHER:-10}
RETRIES=${BENCH_RETRIES:-3}
OUT=bin/bench
RESULTS=$OUT/controlplane.jsonl # the kept run of each kind: input of the document
ATTEMPTS=$OUT/attempts.jsonl    # every run, retries included

log() { echo "bench: $*" >&2; }
# shellcheck source=scripts/lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

go build -o bin/cpload ./bench/cpload
go build -o bin/echoserver ./bench/echoserver
case $SUBJECT in
miksilo) [[ -x bin/miksilo ]] || { log "bin/miksilo missing: run 'make bench' (it builds first)"; exit 1; } ;;
echo) log "BENCH_SUBJECT=echo: the echo server stands in for Miksilo (script test only)" ;;
*) log "BENCH_SUBJECT must be miksilo or echo"; exit 2 ;;
esac
mkdir -p "$OUT"
: >"$RESULTS"
: >"$ATTEMPTS"

# Pinning: server and load generator on different CPUs, so neither steals the other's core.
SERVER_PIN=() LOADER_PIN=()
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]] &&
	taskset -c "$SERVER_CPU" true 2>/dev/null && taskset -c "$LOADER_CPU" true 2>/dev/null; then
	SERVER_PIN=(taskset -c "$SERVER_CPU") LOADER_PIN=(taskset -c "$LOADER_CPU")
	PINNING="server \`taskset -c $SERVER_CPU\`, load generator \`taskset -c $LOADER_CPU\`; each Go process therefore runs with GOMAXPROCS=1 (the runtime sizes it from the affinity mask)"
else
	log "warning: cannot pin to CPUs $SERVER_CPU and $LOADER_CPU (taskset missing, fewer than 2 CPUs or not permitted); running unpinned"
	PINNING="none (taskset unavailable or fewer than 2 CPUs): server and load generator share all CPUs"
fi

trap stop_server EXIT

# start_server NAME CMD... : start CMD with -addr 127.0.0.1:PORT appended, wait until PORT accepts.
start_server() {
	local name=$1
	shift
	PORT=$(bin/cpload -free-port)
	"${SERVER_PIN[@]}" "$@" -addr "127.0.0.1:$PORT" >"$OUT/$name.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 150); do
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			log "$name exited at start-up; $OUT/$name.log:"
			cat "$OUT/$name.log" >&2
			SERVER_PID=
			exit 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
			log "$name listening on 127.0.0.1:$PORT (pid $SERVER_PID)"
			return 0
		fi
		sleep 0.1
	done
	log "$name did not listen on 127.0.0.1:$PORT within 15 s"
	exit 1
}

# field NAME JSON : a numeric field of a cpload result line (integer part).
field() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" <<<"$2"; }

# load LABEL MODE CONNS [RATE] : one cpload run, retried while another workload disturbs it; the
# quietest attempt's JSON line is appended to $RESULTS and kept in $LINE.
load() {
	local label=$1 mode=$2 conns=$3 rate=${4:-0} try line other best=
	LINE=
	for ((try = 0; try <= RETRIES; try++)); do
		# Let the machine settle (and notice other workloads) before measuring.
		bin/cpload -wait-idle 30s -idle-below 10
		line=$("${LOADER_PIN[@]}" bin/cpload -addr "127.0.0.1:$PORT" -label "$label" -mode "$mode" \
			-conns "$conns" -duration "$DURATION" -warmup "$WARMUP" -rate "$rate" -server-pid "$SERVER_PID")
		echo "$line" >>"$ATTEMPTS"
		other=$(field other_cpu_pct "$line")
		other=${other:-0}
		if [[ -z $best ]] || ((other < best)); then
			best=$other LINE=$line
		fi
		((other > MAX_OTHER)) || break
		((try == RETRIES)) || log "other processes used $other% of a CPU during that run; retrying"
	done
	echo "$LINE" >>"$RESULTS"
}

declare -A HALF
log "duration $DURATION, warm-up $WARMUP per run; connections: $CONNS"

# 1. Miksilo: max throughput, then latency at half of it.
if [[ $SUBJECT == miksilo ]]; then
	start_server miksilo bin/miksilo -log-level warn
	SUBJECT_MODE=kurento
else
	start_server miksilo bin/echoserver
	SUBJECT_MODE=echo
fi
for c in $CONNS; do
	load miksilo "$SUBJECT_MODE" "$c"
	max=$(field ops_per_sec "$LINE")
	HALF[$c]=$((${max:-0} / 2))
	if ((HALF[$c] < 1)); then
		log "no throughput with $c connections; skipping the half-load run"
		continue
	fi
	load miksilo "$SUBJECT_MODE" "$c" "${HALF[$c]}"
done
stop_server

# 2. Baseline: max throughput, then latency at the rate used for Miksilo.
start_server echo bin/echoserver
for c in $CONNS; do
	load echo echo "$c"
	((HALF[$c] < 1)) || load echo echo "$c" "${HALF[$c]}"
done
stop_server

# 3. Document.
rev=$(git rev-parse --short HEAD 2>/dev/null || echo "none (no commit yet)")
[[ -z $(git status --porcelain 2>/dev/null) ]] || rev="$rev, uncommitted changes"
cmd="make bench"
[[ -z ${BENCH_DURATION:-} ]] || cmd="BENCH_DURATION=$BENCH_DURATION $cmd"
[[ -z ${BENCH_WARMUP:-} ]] || cmd="BENCH_WARMUP=$BENCH_WARMUP $cmd"
[[ -z ${BENCH_CONNS:-} ]] || cmd="BENCH_CONNS='$BENCH_CONNS' $cmd"
note=
[[ $SUBJECT == miksilo ]] || note="TEST OF THE SCRIPT ONLY: the echo server stood in for Miksilo; these are not Miksilo figures."
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)
bin/cpload -render "$RESULTS" -doc "$DOC" -command "$cmd" -rev "$rev" -cpu "${cpu:-unknown CPU}" \
	-date "$(date -u '+%Y-%m-%d %H:%M UTC')" -pinning "$PINNING" -note "$note"
log "wrote $DOC (raw results: $RESULTS)"
