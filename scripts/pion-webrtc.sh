#!/usr/bin/env bash
# pion-webrtc.sh keeps third_party/pion-webrtc: pion/webrtc at the version
# below, its non-test Go files, with third_party/pion-webrtc.patch applied.
# The patch moves pion/ice, pion/dtls and crypto/x509 code of shared
# files behind `!js`, and gives the browser build small replacements, so the
# wasm SDK stops linking (and initializing) a transport stack it never runs.
# The native build compiles upstream's code plus two methods that hand the
# SFU its SRTP keys (NewSRTPSendContext, NewSRTPReceiveContext). See
# third_party/README.md.
#
#   scripts/pion-webrtc.sh check   the tree is upstream + patch (make test)
#   scripts/pion-webrtc.sh write   rewrite the tree from upstream + patch
#   scripts/pion-webrtc.sh diff    rewrite the patch from the edited tree
#
# Upstream comes from the Go module proxy and must have the pinned h1: sum
# (the one go.sum held before the replace).
set -euo pipefail

cd "$(dirname "$0")/.."
VERSION=v4.2.26
SUM=h1:RX3FUQVHhr488sgPFJWthbbtxpuYNm3XAgYDEj4RDyQ=
TREE=third_party/pion-webrtc
PATCH=third_party/pion-webrtc.patch
# What the SDK and the server import (go list -deps), plus the licenses.
KEEP_DIRS=". internal/fmtp internal/mux internal/util pkg/media pkg/rtcerr"

die() {
	echo "pion-webrtc: $*" >&2
	exit 1
}

# upstream DIR: copies upstream's kept files into DIR.
upstream() {
	local mod dir sum
	mod=$(mktemp -d)
	# The pinned SUM is the check (go.sum no longer lists the replaced
	# module), so the checksum database is not asked.
	(cd "$mod" && GOFLAGS=-mod=mod go mod init tmp >/dev/null 2>&1 &&
		GOFLAGS=-mod=mod GONOSUMDB=github.com/pion/webrtc go mod download -json "github.com/pion/webrtc/v4@$VERSION") >"$mod/dl.json" ||
		die "cannot download github.com/pion/webrtc/v4@$VERSION: $(cat "$mod/dl.json")"
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$mod/dl.json")
	sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' "$mod/dl.json")
	rm -rf "$mod"
	[ "$sum" = "$SUM" ] || die "upstream $VERSION has sum $sum, want $SUM"
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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case "${1:-}" in
check | write)
	upstream "$work/tree"
	(cd "$work/tree" && git apply -p1 --whitespace=nowarn "$OLDPWD/$PATCH") || die "$PATCH does not apply to $VERSION"
	if [ "$1" = write ]; then
		rm -rf "$TREE"
		cp -r "$work/tree" "$TREE"
		echo "pion-webrtc: wrote $TREE ($VERSION + $PATCH)"
	elif ! diff -r "$work/tree" "$TREE" >"$work/out"; then
		cat "$work/out" >&2
		die "$TREE is not pion/webrtc $VERSION + $PATCH: edit the tree, then run scripts/pion-webrtc.sh diff"
	fi
	;;
diff)
	upstream "$work/a"
	cp -r "$TREE" "$work/b"
	# git diff exits 1 when the trees differ, which they do.
	(cd "$work" && git diff --no-index a b) | sed -E '/^(diff --git|--- |\+\+\+ )/ s#(a|b)/(a|b)/#\1/#g' >"$PATCH" || true
	echo "pion-webrtc: wrote $PATCH ($(grep -c '^diff --git' "$PATCH") files)"
	;;
*)
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
