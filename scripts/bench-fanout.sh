#!/usr/bin/env bash
# Fan-out benchmark, run by `make bench` after scripts/bench.sh (and after `make build`). Writes the
# section between <!-- BEGIN fanout --> and <!-- END fanout --> of docs/benchmarks.md.
#
# One publisher (a pre-encoded 720p30 VP8 clip of ~2 Mb/s, looped) → N viewers, every peer a full
# pion PeerConnection in one load-generator process (bin/fanout). For Miksilo (bin/miksilo, Kurento
# Protocol) and the baseline (bin/forwarder, a minimal pion SFU) in the same run, N is ramped
# (doubling, then bisecting) until a step fails: < 1 % loss and ≥ 95 % of the bitrate delivered.
# Each step runs against a freshly started server. The server is pinned to one CPU and held to a
# fixed share of it (cgroup CPU quota); the load generator is pinned to another CPU. Everything runs
# in a fresh network namespace that holds only lo.
#
# Environment (all optional):
#   BENCH_FANOUT_TARGETS   servers to measure (default "miksilo forwarder")
#   BENCH_FANOUT_STEPS     ramp (default "5 10 20 40 80 160 320 640"); stops at the first failure
#   BENCH_FANOUT_BISECT    bisection steps after the first failure (default 3). A step that passes
#                          with the server at ≥ 80 % of its share is run again and must pass twice.
#   BENCH_FANOUT_DURATION  measurement window (default: one loop of the clip, 10s)
#   BENCH_FANOUT_WARMUP    warm-up after the last viewer receives (default 2s)
#   BENCH_FANOUT_SHARE     the server's CPU share, percent of its one CPU (default 50; 100 = no quota).
#                          Half a CPU, because the load generator receiving N streams costs about as
#                          much CPU as the server sending them and has only one CPU itself.
#   BENCH_DOC              document to update (default docs/benchmarks.md)
#   BENCH_SERVER_CPU / BENCH_LOADER_CPU   CPUs for taskset (default 0 / 1)
#   BENCH_MAX_OTHER        a step during which other processes used more than this % of a CPU is
#                          retried (default 15)
#   BENCH_RETRIES          retries of such a step (default 1; the quietest attempt is kept)
#   BENCH_FANOUT_BUDGET    seconds after which disturbed steps are no longer retried (default 480)
set -euo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."

secs() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && echo "${1}s" || echo "$1"; }
TARGETS=${BENCH_FANOUT_TARGETS:-"miksilo forwarder"}
STEPS=${BENCH_FANOUT_STEPS:-"5 10 20 40 80 160 320 640"}
BISECT=${BENCH_FANOUT_BISECT:-3}
DURATION=$(secs "${BENCH_FANOUT_DURATION:-10s}")
WARMUP=$(secs "${BENCH_FANOUT_WARMUP:-2s}")
SHARE=${BENCH_FANOUT_SHARE:-50}
DOC=${BENCH_DOC:-docs/benchmarks.md}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOADER_CPU=${BENCH_LOADER_CPU:-1}
MAX_OTHER=${BENCH_MAX_OTHER:-15}
RETRIES=${BENCH_RETRIES:-1}
BUDGET=${BENCH_FANOUT_BUDGET:-480}
OUT=bin/bench
CLIP=$OUT/fanout-720p30-vp8.ivf
RESULTS=$OUT/fanout.jsonl          # the kept run of each step: input of the document
ATTEMPTS=$OUT/fanout-attempts.jsonl # every run, retries included

log() { echo "bench-fanout: $(date -u +%T) $*" >&2; }
# shellcheck source=scripts/lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"
export BENCH_FANOUT_START=${BENCH_FANOUT_START:-$(date +%s)}

# ---------------------------------------------------------------------------------------------
# 1. Outside the namespace (network needed): tools, binaries, the clip.
if [[ -z ${BENCH_FANOUT_IN_NETNS:-} ]]; then
	missing=()
	command -v vpxenc >/dev/null || missing+=(vpx-tools)
	command -v ip >/dev/null || missing+=(iproute2)
	command -v taskset >/dev/null || missing+=(util-linux)
	if ((${#missing[@]})); then
		SUDO=()
		[[ $(id -u) -eq 0 ]] || SUDO=(sudo)
		log "installing ${missing[*]} (apt)"
		export DEBIAN_FRONTEND=noninteractive
		"${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
			{ "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq &&
				"${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
	fi
	go build -o bin/fanout ./bench/fanout
	go build -o bin/forwarder ./bench/forwarder
	mkdir -p "$OUT"
	if [[ ! -s $CLIP ]]; then
		# 300 frames = 10 s. CBR at 2 Mb/s, a key frame every 60 frames, no frame dropping: the test
		# picture carries fresh noise in every frame, so the encoder spends its whole budget.
		log "encoding $CLIP (once; ~10 s)"
		bin/fanout -gen-y4m 300 | vpxenc --codec=vp8 --ivf --quiet -o "$CLIP.tmp" --width=1280 --height=720 \
			--fps=30/1 --end-usage=cbr --target-bitrate=2000 --kf-min-dist=60 --kf-max-dist=60 --drop-frame=0 \
			--lag-in-frames=0 --good --cpu-used=4 --threads=2 --buf-sz=1000 --buf-initial-sz=500 \
			--buf-optimal-sz=600 --undershoot-pct=50 --overshoot-pct=50 -
		mv "$CLIP.tmp" "$CLIP"
	fi
	bench_enter_netns BENCH_FANOUT_IN_NETNS "$@"
fi

# ---------------------------------------------------------------------------------------------
# 2. Inside the namespace.
NETNS=$(bench_netns_text "$BENCH_FANOUT_IN_NETNS")

case " $TARGETS " in *" miksilo "*) WANT_MIKSILO=1 ;; *) WANT_MIKSILO=0 ;; esac
MISSING=
if ((WANT_MIKSILO)); then
	if [[ ! -x bin/miksilo ]]; then
		MISSING="miksilo=bin/miksilo is missing (run make bench, which builds it)"
	elif ! bin/miksilo -help 2>&1 | grep -q -- '-webrtc-loopback-only'; then
		MISSING="miksilo=bin/miksilo has no WebRtcEndpoint yet: no -webrtc-loopback-only in its -help"
	fi
	[[ -z $MISSING ]] || log "skipping Miksilo: ${MISSING#miksilo=}"
fi

# Pinning, and the CPU share of the server through a cgroup CPU quota (v2 or v1).
SERVER_PIN=() LOADER_PIN=()
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]] &&
	taskset -c "$SERVER_CPU" true 2>/dev/null && taskset -c "$LOADER_CPU" true 2>/dev/null; then
	SERVER_PIN=(taskset -c "$SERVER_CPU") LOADER_PIN=(taskset -c "$LOADER_CPU")
	PINNING="server \`taskset -c $SERVER_CPU\`, load generator \`taskset -c $LOADER_CPU\` (so each Go process runs with GOMAXPROCS=1)"
else
	log "warning: cannot pin to CPUs $SERVER_CPU and $LOADER_CPU; running unpinned"
	PINNING="none (taskset unavailable or fewer than 2 CPUs): server and load generator share all CPUs"
fi
CGROUP=
PERIOD_US=10000
QUOTA_US=$((PERIOD_US * SHARE / 100))
cleanup_cgroup() { [[ -z $CGROUP ]] || rmdir "$CGROUP" 2>/dev/null || true; }
# make_cgroup: a cgroup whose processes together get QUOTA_US of CPU time per PERIOD_US (v2 or v1).
make_cgroup() {
	local name=miksilo-bench-fanout-$$
	if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
		grep -qw cpu /sys/fs/cgroup/cgroup.controllers || return 1
		grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control || return 1
		mkdir "/sys/fs/cgroup/$name" || return 1
		CGROUP=/sys/fs/cgroup/$name
		[[ -f $CGROUP/cpu.max ]] && echo "$QUOTA_US $PERIOD_US" >"$CGROUP/cpu.max" || return 1
		CGKIND="cgroup v2 cpu.max $QUOTA_US/$PERIOD_US µs"
	elif [[ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
		mkdir "/sys/fs/cgroup/cpu/$name" || return 1
		CGROUP=/sys/fs/cgroup/cpu/$name
		echo "$PERIOD_US" >"$CGROUP/cpu.cfs_period_us" && echo "$QUOTA_US" >"$CGROUP/cpu.cfs_quota_us" || return 1
		CGKIND="cgroup v1 cpu.cfs_quota_us $QUOTA_US per cpu.cfs_period_us $PERIOD_US µs"
	else
		return 1
	fi
}
if ((SHARE < 100)); then
	if make_cgroup 2>/dev/null; then
		PINNING="$PINNING; the server is held to **$SHARE % of its CPU** ($CGKIND), because receiving N streams costs the load generator about as much CPU as sending them costs the server, and the generator has one CPU"
	else
		cleanup_cgroup
		CGROUP=
		log "warning: cannot create a cgroup with a CPU quota; the server gets its whole CPU"
		PINNING="$PINNING; no CPU quota (no writable cgroup cpu controller): the server had its whole CPU, and the load generator may saturate first"
		SHARE=100
	fi
fi

trap 'stop_server; cleanup_cgroup' EXIT

# start_server NAME CMD... : start CMD with -addr 127.0.0.1:PORT appended (pinned, in the cgroup),
# wait until PORT accepts.
start_server() {
	local name=$1
	shift
	PORT=$(bin/fanout -free-port)
	echo "=== $(date -u +%T) $*" >>"$OUT/fanout-$name.log"
	if [[ -n $CGROUP ]]; then
		# The shell joins the cgroup, then becomes the server: SERVER_PID is the server's pid.
		sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CGROUP" "${SERVER_PIN[@]}" "$@" -addr "127.0.0.1:$PORT" >>"$OUT/fanout-$name.log" 2>&1 &
	else
		"${SERVER_PIN[@]}" "$@" -addr "127.0.0.1:$PORT" >>"$OUT/fanout-$name.log" 2>&1 &
	fi
	SERVER_PID=$!
	for _ in $(seq 150); do
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			log "$name exited at start-up; $OUT/fanout-$name.log:"
			tail -n 20 "$OUT/fanout-$name.log" >&2
			SERVER_PID=
			return 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "$name did not listen on 127.0.0.1:$PORT within 15 s"
	return 1
}

# field NAME JSON : a numeric field of a result line (integer part).
field() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" <<<"$2"; }

# step TARGET N [ROLE] : one step against a fresh server, retried while another workload disturbs
# it; the quietest attempt's line is appended to $RESULTS; PASSED says whether it passed.
step() {
	local target=$1 n=$2 role=${3:-} try line other best='' kept=
	for ((try = 0; try <= RETRIES; try++)); do
		# Let the machine settle (and notice other workloads) before measuring.
		bin/fanout -wait-idle 15s -idle-below 10
		line=
		case $target in
		miksilo) start_server miksilo bin/miksilo -log-level warn -webrtc-loopback-only ;;
		forwarder) start_server forwarder bin/forwarder ;;
		esac || line="{\"target\":\"$target\",\"viewers\":$n,\"role\":\"$role\",\"pass\":false,\"fail\":\"error: the server did not start (see $OUT/fanout-$target.log)\"}"
		if [[ -z $line ]]; then
			line=$("${LOADER_PIN[@]}" bin/fanout -target "$target" -addr "127.0.0.1:$PORT" -viewers "$n" -ivf "$CLIP" \
				-warmup "$WARMUP" -duration "$DURATION" -server-pid "$SERVER_PID" -role "$role" 2>>"$OUT/fanout-loader.log") || true
		fi
		stop_server
		[[ -n $line ]] || line="{\"target\":\"$target\",\"viewers\":$n,\"role\":\"$role\",\"pass\":false,\"fail\":\"error: the load generator produced no result (see $OUT/fanout-loader.log)\"}"
		echo "$line" >>"$ATTEMPTS"
		other=$(field other_cpu_pct "$line")
		other=${other:-0}
		if [[ -z $best ]] || ((other < best)); then
			best=$other kept=$line
		fi
		((other > MAX_OTHER)) || break
		if (($(date +%s) - BENCH_FANOUT_START > BUDGET)); then
			log "other processes used $other% of a CPU during that step; over the time budget, not retrying"
			break
		fi
		((try == RETRIES)) || log "other processes used $other% of a CPU during that step; retrying"
	done
	echo "$kept" >>"$RESULTS"
	PASSED=0
	grep -q '"pass":true' <<<"$kept" && PASSED=1
	local verdict=pass
	((PASSED)) || verdict="fail: $(sed -n 's/.*"fail":"\([^"]*\)".*/\1/p' <<<"$kept")"
	log "$target, $n viewers${role:+ ($role)}: $verdict (server CPU $(field server_cpu_pct "$kept")%, loader $(field loader_cpu_pct "$kept")%)"
}

# The ramps of the targets run interleaved, one step of each in turn, so that a drift of the
# machine's speed during the run (a virtual machine's neighbours) does not favour either. Per target:
# double N until a step fails, then bisect between the last pass and that failure. Near saturation a
# step passes or fails by chance: one that passes with the server at ≥ 80 % of its share is run again
# and counts as passed only if the repeat passes too.
declare -A GOOD BAD IDX BIS PHASE REPEAT
read -r -a STEP_LIST <<<"$STEPS"

# next_step TARGET : NEXT_N and NEXT_ROLE of the target's next step; fails when its ramp is over.
next_step() {
	local t=$1 mid
	NEXT_ROLE=
	if [[ -n ${REPEAT[$t]} ]]; then
		NEXT_N=${REPEAT[$t]} NEXT_ROLE=repeat
		return 0
	fi
	case ${PHASE[$t]} in
	double)
		if ((IDX[$t] < ${#STEP_LIST[@]})); then
			NEXT_N=${STEP_LIST[${IDX[$t]}]}
			return 0
		fi
		;;
	bisect)
		mid=$(((GOOD[$t] + BAD[$t]) / 2))
		if ((BIS[$t] < BISECT && mid > GOOD[$t] && mid < BAD[$t])); then
			NEXT_N=$mid
			return 0
		fi
		;;
	esac
	PHASE[$t]=finished
	return 1
}

# record TARGET N ROLE : account for the step just run (PASSED, and the server's CPU in $RESULTS).
record() {
	local t=$1 n=$2 role=$3 cpu
	cpu=$(field server_cpu_pct "$(tail -n 1 "$RESULTS")")
	if [[ -z $role ]] && ((PASSED && ${cpu:-0} * 100 >= SHARE * 80)); then
		REPEAT[$t]=$n
		return 0
	fi
	REPEAT[$t]=
	case ${PHASE[$t]} in
	double)
		if ((PASSED)); then
			GOOD[$t]=$n IDX[$t]=$((IDX[$t] + 1))
		else
			BAD[$t]=$n PHASE[$t]=bisect
		fi
		;;
	bisect)
		BIS[$t]=$((BIS[$t] + 1))
		if ((PASSED)); then GOOD[$t]=$n; else BAD[$t]=$n; fi
		;;
	esac
}

: >"$RESULTS"
: >"$ATTEMPTS"
: >"$OUT/fanout-loader.log"
for t in $TARGETS; do : >"$OUT/fanout-$t.log"; done
log "network: $NETNS; server CPU share ${SHARE}%; window $DURATION after $WARMUP warm-up; ramp: $STEPS (+$BISECT bisections)"
RAMPS=()
for t in $TARGETS; do
	case $t in
	miksilo) [[ -n $MISSING ]] || RAMPS+=(miksilo) ;;
	forwarder) RAMPS+=(forwarder) ;;
	*) log "unknown target $t (want miksilo or forwarder)" && exit 2 ;;
	esac
done
for t in "${RAMPS[@]}"; do
	GOOD[$t]=0 BAD[$t]=0 IDX[$t]=0 BIS[$t]=0 PHASE[$t]=double REPEAT[$t]=
done
active=1
while ((active)); do
	active=0
	for t in "${RAMPS[@]}"; do
		next_step "$t" || continue
		active=1
		step "$t" "$NEXT_N" "$NEXT_ROLE"
		record "$t" "$NEXT_N" "$NEXT_ROLE"
	done
done

# 3. Document.
rev=$(git rev-parse --short HEAD 2>/dev/null || echo "none (no commit yet)")
[[ -z $(git status --porcelain 2>/dev/null) ]] || rev="$rev, uncommitted changes"
cmd="make bench"
for v in BENCH_FANOUT_TARGETS BENCH_FANOUT_STEPS BENCH_FANOUT_BISECT BENCH_FANOUT_DURATION BENCH_FANOUT_WARMUP BENCH_FANOUT_SHARE; do
	[[ -z ${!v:-} ]] || cmd="$v='${!v}' $cmd"
done
settings="fan-out part alone: \`scripts/bench-fanout.sh\` after \`make build\`; window $DURATION after $WARMUP of warm-up per step; ramp $STEPS, then $BISECT bisection steps; this run took $((($(date +%s) - BENCH_FANOUT_START + 30) / 60)) min"
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)
note=
[[ " $TARGETS " == *" forwarder "* ]] || note="The forwarder baseline was not measured in this run: no ratios."
bin/fanout -render "$RESULTS" -doc "$DOC" -command "$cmd" -rev "$rev" -cpu "${cpu:-unknown CPU}" \
	-date "$(date -u '+%Y-%m-%d %H:%M UTC')" -pinning "$PINNING" -note "$note" -missing "$MISSING" \
	-clip "$CLIP" -settings "$settings" -network "$NETNS" -max-other "$MAX_OTHER" -share "$SHARE"
log "wrote $DOC (raw results: $RESULTS)"
