#!/usr/bin/env bash
# Composite soak, run by `make soak` (after `make build`): a fresh bin/miksilo, one Composite with a
# viewer that stays, hosts joining and leaving it for SOAK_DURATION (bench/soak), then checks that
# nothing leaked and that the output never froze. Writes bin/bench/soak.json and the section between
# <!-- BEGIN soak --> and <!-- END soak --> of docs/benchmarks.md; exits non-zero when the verdict
# fails. Runs in a fresh network namespace holding only lo; the server is pinned to one CPU and the
# load generator to another (as the benchmarks are), which is the harder case for output gaps.
#
# Environment (all optional):
#   SOAK_DURATION   length of the churn phase (default 10m)
#   SOAK_SLOTS      hosts in the Composite at once, at most (default 4)
#   SOAK_SEED       seed of the random choices (default 1)
#   SOAK_SERVER_CPU / SOAK_LOADER_CPU   CPUs for taskset (default 0 / 1; unpinned with one CPU)
#   BENCH_DOC       document to update (default docs/benchmarks.md)
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."

DURATION=${SOAK_DURATION:-10m}
SLOTS=${SOAK_SLOTS:-4}
SEED=${SOAK_SEED:-1}
DOC=${BENCH_DOC:-docs/benchmarks.md}
OUT=bin/bench
log() { echo "soak: $(date -u +%T) $*" >&2; }
# shellcheck source=scripts/lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

if [[ -z ${SOAK_IN_NETNS:-} ]]; then
	[[ -x bin/miksilo ]] || { log "bin/miksilo missing: make build"; exit 1; }
	go build -o bin/soak ./bench/soak
	mkdir -p "$OUT"
	bench_enter_netns SOAK_IN_NETNS "$@"
fi

SERVER_PIN=() LOADER_PIN=() PINNING="Server and load generator unpinned."
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
	SERVER_PIN=(taskset -c "${SOAK_SERVER_CPU:-0}")
	LOADER_PIN=(taskset -c "${SOAK_LOADER_CPU:-1}")
	PINNING="Server pinned to CPU ${SOAK_SERVER_CPU:-0} (\`taskset\`, so its Go runtime runs with GOMAXPROCS=1), load generator to CPU ${SOAK_LOADER_CPU:-1}."
fi
PORT=$(bin/soak -free-port)
trap stop_server EXIT
# Sessions whose socket is gone are collected after 5 s (default 240 s) so that the soak can check
# that the session's release leaves nothing behind within its wait.
"${SERVER_PIN[@]}" bin/miksilo -log-level warn -webrtc-loopback-only -gc-period 5s -addr "127.0.0.1:$PORT" >"$OUT/soak-miksilo.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
	bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null && break
	sleep 0.1
done
log "server pid $SERVER_PID on 127.0.0.1:$PORT; churning for $DURATION (log: $OUT/soak-miksilo.log)"
status=0
"${LOADER_PIN[@]}" bin/soak -addr "127.0.0.1:$PORT" -server-pid "$SERVER_PID" -duration "$DURATION" \
	-slots "$SLOTS" -seed "$SEED" >"$OUT/soak.json" || status=$?
stop_server
if [[ ! -s $OUT/soak.json ]]; then
	log "no result (exit $status); see the messages above and $OUT/soak-miksilo.log"
	exit 1
fi
bin/soak -render "$OUT/soak.json" -doc "$DOC" -command "make soak" \
	-rev "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	-network "$(bench_netns_text "${SOAK_IN_NETNS:-}")" -pinning "$PINNING"
log "wrote $DOC (soak section) from $OUT/soak.json"
exit "$status"
