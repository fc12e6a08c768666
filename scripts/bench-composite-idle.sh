#!/usr/bin/env bash
# What an idle Composite costs, run by `make bench` (after `make build`): the server's CPU with one
# 1280×720@30 Composite and no input, with a sink on a port (the canvas is encoded: what every
# Composite cost before composite/idle.go) and without any (it stops encoding), in interleaved rounds
# on a fresh server each, the server pinned to one CPU. Prints a table; figures go to
# docs/benchmarks.md ("Idle Composite") by hand.
#
#   BENCH_IDLE_ROUNDS  rounds of each (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_IDLE_ROUNDS:-3}
PORT=18893
go build -o bin/compositeidle ./bench/compositeidle
[[ -x bin/miksilo ]] || { echo "bin/miksilo missing: make build" >&2; exit 1; }
PIN=()
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then PIN=(taskset -c 0); fi

round() { # $1: -sink=true|false
	"${PIN[@]}" bin/miksilo -log-level warn -webrtc-loopback-only -addr 127.0.0.1:$PORT >/dev/null 2>&1 &
	local pid=$!
	for _ in $(seq 50); do
		bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null && break
		sleep 0.1
	done
	bin/compositeidle -addr 127.0.0.1:$PORT -server-pid $pid "$1" || true
	kill $pid; wait $pid 2>/dev/null || true
}

echo "| round | with a sink (encoding) | without a sink (idle) | ratio |"
echo "|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
	if ((r % 2)); then a=$(round -sink=true); b=$(round -sink=false); else b=$(round -sink=false); a=$(round -sink=true); fi
	ca=$(sed -n 's/.*"cpu":\([0-9.e-]*\).*/\1/p' <<<"$a"); cb=$(sed -n 's/.*"cpu":\([0-9.e-]*\).*/\1/p' <<<"$b")
	awk -v r="$r" -v a="$ca" -v b="$cb" 'BEGIN { printf "| %d | %.1f %% | %.1f %% | %.3f |\n", r, 100*a, 100*b, (a > 0 ? b/a : 0) }'
done
