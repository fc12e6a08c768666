#!/usr/bin/env bash
# Runs the browser end-to-end suite (test/browser: Chromium + kurento-utils + kurento-client against
# bin/miksilo's WebRtcEndpoint) inside a fresh network namespace that has only `lo`, so neither
# Chromium nor the server can use, or send ICE checks from, any other address. The server, the static
# page server and Chromium all run inside the namespace.
# Assumes `make build` produced the binary and `scripts/install-deps.sh --test` installed chromium and
# test/browser/node_modules. Needs root (or CAP_SYS_ADMIN) for `unshare -n`.
# Environment: MIKSILO_BIN (server binary, default bin/miksilo), BROWSER_TESTS (test files relative to
# test/browser, default test/), CHROMIUM_BIN (default /usr/bin/chromium).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
suite="$root/test/browser"
export MIKSILO_BIN="${MIKSILO_BIN:-$root/bin/miksilo}"
export CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"

die() {
	echo "test-browser: $*" >&2
	exit 1
}

[[ -x "$MIKSILO_BIN" ]] || die "$MIKSILO_BIN not found or not executable; run 'make build' first"
command -v node >/dev/null 2>&1 || die "node not found; run 'scripts/install-deps.sh --test' (or 'make test-deps')"
[[ -d "$suite/node_modules/playwright-core" ]] ||
	die "$suite/node_modules missing; run 'scripts/install-deps.sh --test' (or 'make test-deps')"
[[ -x "$CHROMIUM_BIN" ]] || die "$CHROMIUM_BIN not found; run 'scripts/install-deps.sh --test' (Debian package chromium)"
command -v unshare >/dev/null 2>&1 || die "unshare not found (package util-linux); the suite only runs in its own network namespace"
command -v ip >/dev/null 2>&1 || die "ip not found (package iproute2); it is needed to bring up lo in the test namespace"
# Never fall back to the host network: check that a network namespace can be created at all.
if ! err="$(unshare -n true 2>&1)"; then
	die "cannot create a network namespace ('unshare -n' failed: $err); run as root (or with CAP_SYS_ADMIN)"
fi

read -r -a tests <<<"${BROWSER_TESTS:-test/}"
flags=(--test --test-reporter=spec)
node_help="$(node --help)"
# One test file (one Chromium, one server) at a time: two cores, and readable output.
if grep -q -- '--test-concurrency' <<<"$node_help"; then flags+=(--test-concurrency=1); fi
# kurento-client and Chromium leave handles behind; do not wait for them after the last test.
if grep -q -- '--test-force-exit' <<<"$node_help"; then flags+=(--test-force-exit); fi

cd "$suite"
# Inside the namespace: bring up lo, check that nothing else is there, run the suite.
exec unshare -n -- sh -c '
	set -e
	ip link set lo up
	others="$(ip -o link show | awk -F": " "{print \$2}" | grep -v "^lo$" || true)"
	if [ -n "$others" ]; then
		echo "test-browser: the new network namespace has more than lo: $others" >&2
		exit 1
	fi
	exec node "$@"
' test-browser "${flags[@]}" "${tests[@]}"
