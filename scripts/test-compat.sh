#!/usr/bin/env bash
# Runs the kurento-client compatibility suite (test/compat) against bin/miksilo.
# Assumes `make build` produced the binary and `scripts/install-deps.sh --test` installed node_modules.
# Environment: MIKSILO_BIN (server binary, default bin/miksilo), COMPAT_TESTS (test files/dirs
# relative to test/compat, default test/).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
compat="$root/test/compat"
export MIKSILO_BIN="${MIKSILO_BIN:-$root/bin/miksilo}"

if [[ ! -x "$MIKSILO_BIN" ]]; then
	echo "test-compat: $MIKSILO_BIN not found or not executable; run 'make build' first" >&2
	exit 1
fi
if ! command -v node >/dev/null 2>&1; then
	echo "test-compat: node not found; run 'scripts/install-deps.sh --test' (or 'make test-deps')" >&2
	exit 1
fi
if [[ ! -d "$compat/node_modules/kurento-client" ]]; then
	echo "test-compat: $compat/node_modules missing; run 'scripts/install-deps.sh --test' (or 'make test-deps')" >&2
	exit 1
fi

cd "$compat"
read -r -a tests <<<"${COMPAT_TESTS:-test/}"

flags=(--require ./domain-patch.js --test --test-reporter=spec)
node_help="$(node --help)"
# One test file (and server) at a time keeps the output readable and the timings predictable.
if grep -q -- '--test-concurrency' <<<"$node_help"; then flags+=(--test-concurrency=1); fi
# kurento-client leaves timers behind after close(); without this each file lingers a few seconds.
if grep -q -- '--test-force-exit' <<<"$node_help"; then flags+=(--test-force-exit); fi

exec node "${flags[@]}" "${tests[@]}"
