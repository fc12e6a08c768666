#!/usr/bin/env bash
# Composite benchmark, run by `make bench` (after `make build`). Writes the section between
# <!-- BEGIN composite --> and <!-- END composite --> of docs/benchmarks.md.
#
# Four 640×360@30 VP8 inputs → one 1280×720@30 VP8 output (bitrate 2 Mb/s), measured for:
#   gst-launch  gst-launch-1.0 decoding the same pre-encoded inputs, compositing them on the same
#               2×2 grid and encoding with the Composite's own encoder fragment (the baseline);
#   miksilo     bin/miksilo's Composite over the Kurento Protocol: four pion publishers → four
#               WebRtcEndpoints → four HubPorts; a fifth HubPort → a viewer WebRtcEndpoint, whose
#               output the load generator decodes to read the frame numbers stamped in the inputs;
#   loopback    (a check of the load generator, no Composite) one publisher → WebRtcEndpoint →
#               viewer: the latency floor of the WebRTC path alone.
# Figures: CPU-seconds per second of output (ratio Miksilo ÷ gst-launch, target ≤ 1.10), added
# latency p50/p95 (target p95 ≤ 60 ms), output bitrate against its setting (target ±10 %). The
# measured process (Miksilo or gst-launch) is pinned to one CPU, the load generator to another.
# Everything runs in a fresh network namespace that holds only lo.
#
# Miksilo and gst-launch are measured in interleaved rounds (Miksilo, gst-launch | gst-launch, Miksilo | …;
# BENCH_COMPOSITE_ROUNDS, default 5), each round with a fresh process: a new bin/miksilo (a new
# Composite in it) or a new gst-launch-1.0. Restarting per round keeps the rounds independent and
# alike (the same start-up, idle cost and warm-up in each) at the price of ~4 s of set-up
# (negotiation, the 2.5 s idle-Composite sample) plus the warm-up per Miksilo round. The document reports each round and the medians; the CPU verdict uses the median
# of the per-round ratios (Miksilo round n ÷ gst-launch round n). Defaults: 5 rounds of 15 s
# windows after 5 s of warm-up, about 5 minutes in all (5 rather than 3 since 2026-11-21: the
# per-round ratios scatter by ±0.1 on this shared 2-CPU VM, as much as the gaps being measured).
#
# Environment (all optional):
#   BENCH_COMPOSITE_SUBJECTS  what to measure (default "gst-launch miksilo loopback")
#   BENCH_COMPOSITE_ROUNDS    interleaved rounds of Miksilo and gst-launch (default 5)
#   BENCH_COMPOSITE_DURATION  measurement window per subject and round (default 15s; 5s for a smoke run)
#   BENCH_COMPOSITE_WARMUP    warm-up after all inputs show in the output (default 5s)
#   BENCH_COMPOSITE_BITRATE   the Composite's bitrate setting, b/s (default 2000000)
#   BENCH_DOC                 document to update (default docs/benchmarks.md)
#   BENCH_SERVER_CPU / BENCH_LOADER_CPU   CPUs for taskset (default 0 / 1)
#   BENCH_MAX_OTHER           a run during which other processes used more than this % of a CPU is
#                             retried (default 15)
#   BENCH_MAX_STEAL           a run during which the hypervisor ran something else on the CPU the
#                             subject is pinned to (steal of that CPU, /proc/stat) for more than this
#                             % of it is retried (default 2: the subjects' CPU figures rise with it)
#   BENCH_RETRIES             retries of such a run, per subject and round (default 3; the least
#                             disturbed attempt, other + steal, is kept)
#   BENCH_MIKSILO             the server binary (default bin/miksilo, which make bench builds)
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."

secs() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && echo "${1}s" || echo "$1"; }
SUBJECTS=${BENCH_COMPOSITE_SUBJECTS:-"gst-launch miksilo loopback"}
ROUNDS=${BENCH_COMPOSITE_ROUNDS:-5}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench-composite: BENCH_COMPOSITE_ROUNDS=$ROUNDS: want a positive integer" >&2; exit 2; }
DURATION=$(secs "${BENCH_COMPOSITE_DURATION:-15s}")
WARMUP=$(secs "${BENCH_COMPOSITE_WARMUP:-5s}")
BITRATE=${BENCH_COMPOSITE_BITRATE:-2000000}
DOC=${BENCH_DOC:-docs/benchmarks.md}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOADER_CPU=${BENCH_LOADER_CPU:-1}
MAX_OTHER=${BENCH_MAX_OTHER:-15}
MAX_STEAL=${BENCH_MAX_STEAL:-2}
RETRIES=${BENCH_RETRIES:-3}
MIKSILO=${BENCH_MIKSILO:-bin/miksilo}
OUT=bin/bench
RESULTS=$OUT/composite.jsonl          # the kept run of each subject and round: input of the document
ATTEMPTS=$OUT/composite-attempts.jsonl # every run, retries included

log() { echo "bench-composite: $(date -u +%T) $*" >&2; }
# shellcheck source=scripts/lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

# ---------------------------------------------------------------------------------------------
# 1. Outside the namespace: tools, binaries, the input clips (encoded once, cached in bin/bench).
if [[ -z ${BENCH_COMPOSITE_IN_NETNS:-} ]]; then
	for tool in gst-launch-1.0 taskset ip; do
		command -v "$tool" >/dev/null || { log "$tool is missing (GStreamer tools: make deps; taskset: util-linux; ip: iproute2)"; exit 1; }
	done
	go build -o bin/composite ./bench/composite
	go build -o bin/wakecost ./bench/wakecost
	mkdir -p "$OUT"
	log "input clips (encoded once into $OUT/composite-v*-in*.ivf)"
	bin/composite -make-clips -clip-dir "$OUT"
	bench_enter_netns BENCH_COMPOSITE_IN_NETNS "$@"
fi

# ---------------------------------------------------------------------------------------------
# 2. Inside the namespace.
NETNS=$(bench_netns_text "$BENCH_COMPOSITE_IN_NETNS")

SERVER_PIN=() LOADER_PIN=() GST_PIN=
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]] &&
	taskset -c "$SERVER_CPU" true 2>/dev/null && taskset -c "$LOADER_CPU" true 2>/dev/null; then
	SERVER_PIN=(taskset -c "$SERVER_CPU") LOADER_PIN=(taskset -c "$LOADER_CPU") GST_PIN=$SERVER_CPU
	PINNING="Miksilo and gst-launch-1.0 each \`taskset -c $SERVER_CPU\` (one CPU; Miksilo's Go runtime therefore runs with GOMAXPROCS=1, GStreamer's threads share that CPU), load generator \`taskset -c $LOADER_CPU\`"
else
	log "warning: cannot pin to CPUs $SERVER_CPU and $LOADER_CPU; running unpinned"
	PINNING="none (taskset unavailable or fewer than 2 CPUs): the measured process and the load generator share all CPUs"
fi

MISSING=
case " $SUBJECTS " in *" miksilo "* | *" loopback "*)
	if [[ ! -x $MIKSILO ]]; then
		MISSING="$MIKSILO is missing (run make bench, which builds it)"
	elif ! "$MIKSILO" -help 2>&1 | grep -q -- '-webrtc-loopback-only'; then
		MISSING="$MIKSILO has no -webrtc-loopback-only flag"
	fi
	[[ -z $MISSING ]] || log "skipping Miksilo: $MISSING"
	;;
esac

trap stop_server EXIT

# What a wake-up costs on this machine (the unit of Miksilo's WebRTC overhead), in the same run.
WAKE_COST=
if [[ -n $GST_PIN ]]; then
	WAKE_COST=$(bin/wakecost -line -cpu "$SERVER_CPU" -cpu2 "$LOADER_CPU" 2>/dev/null) || WAKE_COST=
	log "${WAKE_COST:-bench/wakecost failed}"
fi

# start_server : bin/miksilo on a free port, pinned; waits until the port accepts.
start_server() {
	PORT=$(bin/composite -free-port)
	echo "=== $(date -u +%T)" >>"$OUT/composite-miksilo.log"
	"${SERVER_PIN[@]}" "$MIKSILO" -log-level warn -webrtc-loopback-only -addr "127.0.0.1:$PORT" >>"$OUT/composite-miksilo.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 150); do
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			log "miksilo exited at start-up; $OUT/composite-miksilo.log:"
			tail -n 20 "$OUT/composite-miksilo.log" >&2
			SERVER_PID=
			return 1
		fi
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
		sleep 0.1
	done
	log "miksilo did not listen on 127.0.0.1:$PORT within 15 s"
	return 1
}

# field NAME JSON : a numeric field of a result line (integer part).
field() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" <<<"$2"; }

# measure SUBJECT ROUND : one run, retried while another workload disturbs it; the quietest
# attempt's line is appended to $RESULTS. ROUND 0: not part of the interleaved rounds (loopback).
measure() {
	local subject=$1 round=$2 try line other steal disturbed best='' kept='' dur=$DURATION from what
	[[ $subject != loopback ]] || dur=5s # a check of the tool, not a figure of the issue
	what=$subject
	((round == 0)) || what="$subject round $round/$ROUNDS"
	for ((try = 0; try <= RETRIES; try++)); do
		log "$what: measuring (attempt $((try + 1)))"
		bin/composite -wait-idle 20s -idle-below 10
		line=
		from=$(wc -l <"$OUT/composite-loader.log")
		case $subject in
		gst-launch)
			line=$("${LOADER_PIN[@]}" bin/composite -mode baseline -round "$round" -taskset "$GST_PIN" -clip-dir "$OUT" \
				-bitrate "$BITRATE" -warmup "$WARMUP" -duration "$dur" 2>>"$OUT/composite-loader.log") || true
			;;
		miksilo | loopback)
			if start_server; then
				line=$("${LOADER_PIN[@]}" bin/composite -mode "$subject" -round "$round" -addr "127.0.0.1:$PORT" -server-pid "$SERVER_PID" \
					-clip-dir "$OUT" -fail-frame "$OUT/composite-fail-$subject-r$round-$try.png" -bitrate "$BITRATE" -warmup "$WARMUP" -duration "$dur" 2>>"$OUT/composite-loader.log") || true
				stop_server
			else
				line="{\"subject\":\"$subject\",\"round\":$round,\"fail\":\"error: the server did not start (see $OUT/composite-miksilo.log)\"}"
			fi
			;;
		esac
		[[ -n $line ]] || line="{\"subject\":\"$subject\",\"round\":$round,\"fail\":\"error: the load generator produced no result (see $OUT/composite-loader.log)\"}"
		echo "$line" >>"$ATTEMPTS"
		# The load generator's summary of this attempt (progress lines left out).
		tail -n +"$((from + 1))" "$OUT/composite-loader.log" | grep -v -e 'warming up' -e 'negotiated' -e 'started (pid' |
			sed 's/^composite-bench: //; s/^/bench-composite:   /' >&2 || true
		other=$(field other_cpu_pct "$line")
		# The steal of the subject's own CPU (the load generator's CPU has its own); the machine's
		# when the subject's CPUs are not known.
		steal=$(field server_steal_cpu_pct "$line")
		[[ -n $steal || $line == *'"server_cpus"'* ]] || steal=$(field steal_cpu_pct "$line")
		other=${other:-0} steal=${steal:-0}
		disturbed=$((other + steal))
		if [[ -z $best ]] || ((disturbed < best)); then
			best=$disturbed kept=$line
		fi
		((other > MAX_OTHER || steal > MAX_STEAL)) || break
		((try == RETRIES)) || log "other processes used ${other:-0}% of a CPU and the hypervisor ${steal:-0}% of the subject's CPU during that run ($what); retrying"
	done
	echo "$kept" >>"$RESULTS"
}

: >"$RESULTS"
: >"$ATTEMPTS"
: >"$OUT/composite-loader.log"
: >"$OUT/composite-miksilo.log"
for s in $SUBJECTS; do
	case $s in
	gst-launch | miksilo | loopback) ;;
	*) log "unknown subject $s (want gst-launch, miksilo or loopback)" && exit 2 ;;
	esac
done
want() { [[ " $SUBJECTS " == *" $1 "* ]]; }
log "network: $NETNS; $ROUNDS rounds, each a window of $DURATION after $WARMUP warm-up; subjects: $SUBJECTS"
# Interleaved rounds, the order alternating (Miksilo then gst-launch in odd rounds, gst-launch then
# Miksilo in even ones), so that a steady drift of the machine's speed favours neither subject;
# each round's ratio pairs the two windows measured back to back.
for ((round = 1; round <= ROUNDS; round++)); do
	if ((round % 2 == 0)) && want gst-launch; then measure gst-launch "$round"; fi
	if want miksilo && [[ -z $MISSING ]]; then measure miksilo "$round"; fi
	if ((round % 2 == 1)) && want gst-launch; then measure gst-launch "$round"; fi
done
if want loopback && [[ -z $MISSING ]]; then measure loopback 0; fi

# 3. Document.
rev=$(git rev-parse --short HEAD 2>/dev/null || echo "none (no commit yet)")
[[ -z $(git status --porcelain 2>/dev/null) ]] || rev="$rev, uncommitted changes"
cmd="make bench"
[[ -z ${BENCH_COMPOSITE_DURATION:-} ]] || cmd="BENCH_COMPOSITE_DURATION=$BENCH_COMPOSITE_DURATION $cmd"
[[ -z ${BENCH_COMPOSITE_ROUNDS:-} ]] || cmd="BENCH_COMPOSITE_ROUNDS=$BENCH_COMPOSITE_ROUNDS $cmd"
[[ -z ${BENCH_COMPOSITE_WARMUP:-} ]] || cmd="BENCH_COMPOSITE_WARMUP=$BENCH_COMPOSITE_WARMUP $cmd"
[[ -z ${BENCH_COMPOSITE_BITRATE:-} ]] || cmd="BENCH_COMPOSITE_BITRATE=$BENCH_COMPOSITE_BITRATE $cmd"
bin/composite -render "$RESULTS" -doc "$DOC" -command "$cmd" -rev "$rev" -date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
	-pinning "$PINNING" -network "$NETNS" -missing "$MISSING" -max-other "$MAX_OTHER" -max-steal "$MAX_STEAL" -wake-cost "$WAKE_COST"
log "wrote $DOC (raw results: $RESULTS)"
