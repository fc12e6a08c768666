#!/usr/bin/env bash
# Send batching (internal/sendbatch), run by `make bench`: what a datagram of a burst costs the
# sending thread with one sendto(2) per datagram (the baseline) and with one sendmmsg(2) per burst,
# in interleaved runs of BenchmarkBurst (bursts of 7 and 32 datagrams of 1200 bytes over loopback;
# the sender on CPU 0, the receiver on CPU 1). Prints a table; figures go to docs/benchmarks.md
# ("Send batching") by hand.
#
#   BENCH_SENDBATCH_ROUNDS  runs of each (default 3)
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."
log() { echo "bench-sendbatch: $*" >&2; }
# shellcheck source=scripts/lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"
ROUNDS=${BENCH_SENDBATCH_ROUNDS:-3}
if [[ -z ${BENCH_SENDBATCH_IN_NETNS:-} ]]; then
	mkdir -p bin
	go test -c -o bin/sendbatch.test ./internal/sendbatch
	bench_enter_netns BENCH_SENDBATCH_IN_NETNS "$@"
fi

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
