#!/usr/bin/env bash
# Send batching (internal/sendbatch), run by `make bench` (after `make build`). Prints two tables;
# figures go to docs/benchmarks.md ("Send batching") by hand.
#
# 1. BenchmarkBurst: the sending thread's CPU per datagram for bursts of 7 and 32 datagrams of 1200
#    bytes over loopback (sender on CPU 0, receiver on CPU 1), one sendto(2) per datagram (the
#    baseline) against one sendmmsg(2) per burst, in the same run.
# 2. A Composite fanned out: bin/miksilo's Composite benchmark set-up (four 640×360 inputs, one
#    1280×720@30 2 Mb/s output, bench/composite) with the decoding viewer and EXTRA more viewers that
#    only receive, the server's CPU per output second with -webrtc-send-batching=false (the
#    baseline) and =true, the same binary, in interleaved rounds, each on a fresh server.
#
#   BENCH_SENDBATCH_ROUNDS  rounds of each table (default 3)
#   BENCH_SENDBATCH_EXTRA   extra viewers in table 2 (default 30)
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."
log() { echo "bench-sendbatch: $*" >&2; }
# shellcheck source=scripts/lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"
ROUNDS=${BENCH_SENDBATCH_ROUNDS:-3}
EXTRA=${BENCH_SENDBATCH_EXTRA:-30}
OUT=bin/bench
if [[ -z ${BENCH_SENDBATCH_IN_NETNS:-} ]]; then
	[[ -x bin/miksilo ]] || { log "bin/miksilo missing: make build"; exit 1; }
	mkdir -p "$OUT"
	go test -c -o bin/sendbatch.test ./internal/sendbatch
	go build -o bin/composite ./bench/composite
	bin/composite -make-clips -clip-dir "$OUT"
	bench_enter_netns BENCH_SENDBATCH_IN_NETNS "$@"
fi
SERVER_PIN=() LOADER_PIN=()
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then SERVER_PIN=(taskset -c 0) LOADER_PIN=(taskset -c 1); fi

echo "| round | burst | sendto, sender CPU per datagram | sendmmsg, sender CPU per datagram | ratio |"
echo "|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
	out=$(bin/sendbatch.test -test.run '^$' -test.bench BenchmarkBurst -test.benchtime 20000x 2>&1) || { echo "$out" >&2; exit 1; }
	for n in 7 32; do
		a=$(awk -v b="BenchmarkBurst/sendto/$n-" 'index($1, b) == 1 { print $5 }' <<<"$out")
		b=$(awk -v b="BenchmarkBurst/sendmmsg/$n-" 'index($1, b) == 1 { print $5 }' <<<"$out")
		awk -v r="$r" -v n="$n" -v a="$a" -v b="$b" 'BEGIN { printf "| %d | %d | %.2f µs | %.2f µs | %.2f |\n", r, n, a/1000, b/1000, (a > 0 ? b/a : 0) }'
	done
done

# fanned BATCHING : one Composite run with 1 + EXTRA viewers; prints "cpu_s_per_output_s server% other% least-served-kbps".
fanned() {
	local port pid line
	port=$(bin/composite -free-port)
	"${SERVER_PIN[@]}" bin/miksilo -log-level warn -webrtc-loopback-only -webrtc-send-batching="$1" -addr "127.0.0.1:$port" >>"$OUT/sendbatch-miksilo.log" 2>&1 &
	pid=$!
	for _ in $(seq 150); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	line=$("${LOADER_PIN[@]}" bin/composite -mode miksilo -addr "127.0.0.1:$port" -server-pid "$pid" -clip-dir "$OUT" \
		-extra-viewers "$EXTRA" -warmup 3s -duration 12s 2>>"$OUT/sendbatch-loader.log") || true
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if [[ $line != *'"cpu_s_per_output_s"'* || $line == *'"fail"'* ]]; then
		echo "- - - -"
		return
	fi
	sed -n 's/.*"server_cpu_pct":\([0-9.]*\).*"other_cpu_pct":\([0-9.]*\).*"cpu_s_per_output_s":\([0-9.]*\).*"extra_min_kbps":\([0-9.]*\).*/\3 \1 \2 \4/p' <<<"$line"
}

: >"$OUT/sendbatch-miksilo.log"
: >"$OUT/sendbatch-loader.log"
echo
echo "| round | batching off: CPU-s per output s (other %) | batching on: CPU-s per output s (other %) | ratio | least-served extra viewer, kb/s off / on |"
echo "|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
	if ((r % 2)); then off=$(fanned false); on=$(fanned true); else on=$(fanned true); off=$(fanned false); fi
	read -r c0 _ o0 k0 <<<"$off"
	read -r c1 _ o1 k1 <<<"$on"
	awk -v r="$r" -v c0="$c0" -v c1="$c1" -v o0="$o0" -v o1="$o1" -v k0="$k0" -v k1="$k1" 'BEGIN {
		if (c0 == "-" || c1 == "-") { printf "| %d | %s | %s | failed (see bin/bench/sendbatch-loader.log) | |\n", r, c0, c1; exit }
		printf "| %d | %.3f (%.0f) | %.3f (%.0f) | %.2f | %.0f / %.0f |\n", r, c0, o0, c1, o1, c1/c0, k0, k1 }'
done
