#!/usr/bin/env bash
# third-party.sh keeps the patched upstream trees of third_party/: each is
# an upstream Go module at a pinned version, its non-test Go files of the
# packages this project uses, with third_party/NAME.patch applied. go.mod
# replaces the module with the tree. See third_party/README.md for what
# each patch does and why.
#
#   scripts/third-party.sh check [NAME...]   each tree is upstream + patch (make test)
#   scripts/third-party.sh write [NAME...]   rewrite each tree from upstream + patch
#   scripts/third-party.sh diff  [NAME...]   rewrite each patch from the edited tree
#
# NAME is pion-webrtc or pion-ice; none means both. Upstream comes from the
# Go module proxy and must have the pinned h1: sum (the one go.sum held
# before the replace).
set -euo pipefail

cd "$(dirname "$0")/.."
NAMES="pion-webrtc pion-ice"

die() {
	echo "third-party: $*" >&2
	exit 1
}

# pin NAME sets MODULE, VERSION, SUM and KEEP_DIRS (the packages the SDK
# and the server import, go list -deps) for third_party/NAME.
pin() {
	case "$1" in
	pion-webrtc)
		# Moves pion/ice, pion/dtls and crypto/x509 code of shared files
		# behind `!js`, so that the wasm SDK stops linking a transport stack
		# it never runs; hands the SFU its SRTP keys; lets it turn off
		# the DTLS retransmission backoff.
		MODULE=github.com/pion/webrtc/v4
		VERSION=v4.2.26
		SUM=h1:RX3FUQVHhr488sgPFJWthbbtxpuYNm3XAgYDEj4RDyQ=
		KEEP_DIRS=". internal/fmtp internal/mux internal/util pkg/media pkg/rtcerr"
		;;
	pion-ice)
		# A connected agent without keepalives or timeouts stops its
		# 2-second connectivity-check timer; a check's success belongs to
		# the pair it was sent on, not to the candidate that read it; a
		# request on a failed pair triggers a check of it; while nothing
		# is selected, a failed pair is checked again a second later.
		MODULE=github.com/pion/ice/v4
		VERSION=v4.4.8
		SUM=h1:NB22Ze5WrgMjcf9L+O+1B29bl6anq+sbyvddImDLdhc=
		KEEP_DIRS=". internal/atomic internal/fakenet internal/netutil internal/stun internal/taskloop"
		;;
	*) die "no tree $1 (one of: $NAMES)" ;;
	esac
}

# upstream DIR: copies upstream's kept files into DIR.
upstream() {
	local mod dir sum
	mod=$(mktemp -d)
	# The pinned SUM is the check (go.sum no longer lists the replaced
	# module), so the checksum database is not asked.
	(cd "$mod" && GOFLAGS=-mod=mod go mod init tmp >/dev/null 2>&1 &&
		GOFLAGS=-mod=mod GONOSUMDB="$MODULE" go mod download -json "$MODULE@$VERSION") >"$mod/dl.json" ||
		die "cannot download $MODULE@$VERSION: $(cat "$mod/dl.json")"
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$mod/dl.json")
	sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' "$mod/dl.json")
	rm -rf "$mod"
	[ "$sum" = "$SUM" ] || die "upstream $MODULE $VERSION has sum $sum, want $SUM"
	mkdir -p "$1"
	cp "$dir/LICENSE" "$dir/README.md" "$dir/go.mod" "$dir/go.sum" "$1/"
	cp -r "$dir/LICENSES" "$1/"
	local d
	for d in $KEEP_DIRS; do
		mkdir -p "$1/$d"
		find "$dir/$d" -maxdepth 1 -name '*.go' ! -name '*_test.go' -exec cp {} "$1/$d/" \;
	done
	chmod -R u+w "$1"
}

# run CMD NAME: does CMD for third_party/NAME.
run() {
	local tree=third_party/$2 patch=third_party/$2.patch work=$root/$2
	pin "$2"
	mkdir "$work"
	case "$1" in
	check | write)
		upstream "$work/tree"
		(cd "$work/tree" && git apply -p1 --allow-empty --whitespace=nowarn "$OLDPWD/$patch") || die "$patch does not apply to $MODULE $VERSION"
		if [ "$1" = write ]; then
			rm -rf "$tree"
			cp -r "$work/tree" "$tree"
			echo "third-party: wrote $tree ($MODULE $VERSION + $patch)"
		elif ! diff -r "$work/tree" "$tree" >"$work/out"; then
			cat "$work/out" >&2
			die "$tree is not $MODULE $VERSION + $patch: edit the tree, then run scripts/third-party.sh diff $2"
		fi
		;;
	diff)
		upstream "$work/a"
		cp -r "$tree" "$work/b"
		# git diff exits 1 when the trees differ, which they do.
		(cd "$work" && git diff --no-index a b) | sed -E '/^(diff --git|--- |\+\+\+ )/ s#(a|b)/(a|b)/#\1/#g' >"$patch" || true
		echo "third-party: wrote $patch ($(grep -c '^diff --git' "$patch") files)"
		;;
	esac
}

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

case "${1:-}" in
check | write | diff)
	cmd=$1
	shift
	names=("$@")
	[ $# -gt 0 ] || read -r -a names <<<"$NAMES"
	for name in "${names[@]}"; do
		run "$cmd" "$name"
	done
	;;
*)
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
