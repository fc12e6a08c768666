#!/usr/bin/env bash
# Installs what is missing to build and run Miksilo on Debian 12; with --test, also what the tests need.
# Idempotent and silent when everything is present.
#
#   scripts/install-deps.sh          Go toolchain check + RUN_PKGS
#   scripts/install-deps.sh --test   also TEST_PKGS and the npm modules of test/compat and test/browser (npm ci)
set -euo pipefail

GO_MIN_MAJOR=1
GO_MIN_MINOR=25

# Debian packages needed to build and run the server.
# The server links GStreamer 1.22 through cgo (go-gst): the -dev packages to build, the plugin
# packages for the elements the Composite and the transcoder use (vp8enc/dec, x264enc, avdec_h264,
# openh264, compositor, audiomixer, opus, RTP (de)payloaders), and gcc for cgo.
RUN_PKGS=(
	ca-certificates
	make
	gcc
	libc6-dev
	pkg-config
	libglib2.0-dev
	libgstreamer1.0-dev
	libgstreamer-plugins-base1.0-dev
	libgstreamer-plugins-bad1.0-dev
	gstreamer1.0-plugins-base
	gstreamer1.0-plugins-good
	gstreamer1.0-plugins-bad
	gstreamer1.0-plugins-ugly
	gstreamer1.0-libav
	gstreamer1.0-tools
)

# Debian packages needed by the tests (nodejs/npm are added below only when node is missing).
# gcc and libc6-dev: `go test -race` needs cgo. iproute2 provides `ip` and util-linux `unshare` for
# the network-namespace tests; chromium runs the browser end-to-end suite (test/browser, driven by
# playwright-core, which never downloads a browser of its own).
TEST_PKGS=(
	gcc
	libc6-dev
	iproute2
	util-linux
	chromium
)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
with_tests=0

usage() {
	echo "usage: $0 [--test]" >&2
	exit 2
}

for arg in "$@"; do
	case "$arg" in
	--test) with_tests=1 ;;
	-h | --help) usage ;;
	*)
		echo "install-deps: unknown argument '$arg'" >&2
		usage
		;;
	esac
done

die() {
	echo "install-deps: $*" >&2
	exit 1
}

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null 2>&1 || die "not root and sudo is not installed: run this script as root"
	SUDO=(sudo)
fi

# run_logged runs a command with its output in a log file under /tmp; prints the log if it fails.
run_logged() {
	local what="$1"
	shift
	local log
	log="$(mktemp /tmp/miksilo-install-deps.XXXXXX.log)"
	if ! "$@" >"$log" 2>&1; then
		echo "install-deps: $what failed; output:" >&2
		cat "$log" >&2
		rm -f "$log"
		exit 1
	fi
	rm -f "$log"
}

# --- Go toolchain -------------------------------------------------------------------------------

go_install_hint() {
	cat >&2 <<EOF
install-deps: Miksilo needs Go >= ${GO_MIN_MAJOR}.${GO_MIN_MINOR} (Debian 12's golang-go package is too old).
Install the official toolchain, e.g.:
    curl -fsSL https://go.dev/dl/go1.25.0.linux-amd64.tar.gz -o /tmp/go.tgz
    rm -rf /usr/local/go && tar -C /usr/local -xzf /tmp/go.tgz
    export PATH=/usr/local/go/bin:\$PATH
(see https://go.dev/doc/install), then run this script again.
EOF
}

# go_version_ok GO_BINARY: exit status 0 if the toolchain is new enough.
go_version_ok() {
	local v major minor
	v="$("$1" env GOVERSION 2>/dev/null)" || return 1
	[[ "$v" =~ ^go([0-9]+)\.([0-9]+) ]] || return 1
	major="${BASH_REMATCH[1]}"
	minor="${BASH_REMATCH[2]}"
	((major > GO_MIN_MAJOR || (major == GO_MIN_MAJOR && minor >= GO_MIN_MINOR)))
}

check_go() {
	local path_go
	path_go="$(command -v go 2>/dev/null || true)"
	if [[ -n "$path_go" ]] && go_version_ok "$path_go"; then
		return 0
	fi
	if [[ -x /usr/local/go/bin/go ]] && go_version_ok /usr/local/go/bin/go; then
		# Usable, but the Makefile calls plain `go`: tell how to put it first on PATH.
		local have
		have="$(/usr/local/go/bin/go env GOVERSION)"
		if [[ -n "$path_go" ]]; then
			echo "install-deps: warning: 'go' on PATH is $path_go ($("$path_go" env GOVERSION 2>/dev/null || echo unusable)); $have is in /usr/local/go/bin:" >&2
		else
			echo "install-deps: warning: $have is in /usr/local/go/bin, which is not on PATH:" >&2
		fi
		echo "    export PATH=/usr/local/go/bin:\$PATH" >&2
		return 0
	fi
	if [[ -n "$path_go" ]]; then
		echo "install-deps: $path_go is $("$path_go" env GOVERSION 2>/dev/null || echo 'unusable'), too old." >&2
	else
		echo "install-deps: no Go toolchain found (looked on PATH and in /usr/local/go/bin)." >&2
	fi
	go_install_hint
	exit 1
}

# --- Debian packages ----------------------------------------------------------------------------

pkg_installed() {
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

apt_updated=0

# ensure_pkgs PKG...: installs the packages that are not installed yet.
ensure_pkgs() {
	local missing=() p
	for p in "$@"; do
		pkg_installed "$p" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these packages by hand: ${missing[*]}"
	echo "install-deps: installing ${missing[*]}"
	if ((!apt_updated)); then
		run_logged "apt-get update" "${SUDO[@]}" apt-get update -qq
		apt_updated=1
	fi
	run_logged "apt-get install ${missing[*]}" "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# --- npm modules of the Node test suites (test/compat, test/browser) ---------------------------

# ensure_node_modules DIR: `npm ci` in DIR unless its node_modules are newer than its package files.
ensure_node_modules() {
	local dir="$root/$1"
	local stamp="$dir/node_modules/.miksilo-install-stamp"
	[[ -f "$dir/package-lock.json" ]] || die "$dir/package-lock.json is missing"
	if [[ -f "$stamp" && ! "$dir/package-lock.json" -nt "$stamp" && ! "$dir/package.json" -nt "$stamp" ]]; then
		return 0
	fi
	command -v npm >/dev/null 2>&1 || die "npm not found (node is $(command -v node)); install npm for this Node.js"
	echo "install-deps: npm ci in $1"
	run_logged "npm ci ($1)" bash -c 'cd "$1" && npm ci --ignore-scripts --no-audit --no-fund' _ "$dir"
	touch "$stamp"
}

# --- main ---------------------------------------------------------------------------------------

check_go

pkgs=("${RUN_PKGS[@]}")
if ((with_tests)); then
	pkgs+=("${TEST_PKGS[@]}")
	if ! command -v node >/dev/null 2>&1; then
		pkgs+=(nodejs npm)
	fi
fi
ensure_pkgs "${pkgs[@]}"

if ((with_tests)); then
	node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
	((node_major >= 18)) || die "Node.js >= 18 is needed for the tests (found $(node --version 2>/dev/null || echo none))"
	ensure_node_modules test/compat
	ensure_node_modules test/browser
fi
