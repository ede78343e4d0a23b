#!/usr/bin/env bash
# netlab.sh: a link lab for tests. As root, it makes a network namespace
# joined to the host by a veth pair, runs processes in it, and breaks its
# link the ways real networks do: a rate limit (tc tbf; this kernel has no
# netem), random loss (nftables numgen random), a black hole (nftables drop),
# and a new address (a network change). internal/netlab (Go tests) and
# e2e/netlab.mjs (Playwright) drive it; it is the one implementation.
#
# Lab N (1-250) is namespace skN with 10.231.N.2/24 on its end (sknN) of
# the veth pair; the host end (skhN) has 10.231.N.1, which is also the
# namespace's default route. A server bound to 10.231.N.1 (or 0.0.0.0) is
# reachable from both sides.
#
#   netlab.sh up                 make a free lab; prints N
#   netlab.sh down N             remove lab N (its processes lose their network)
#   netlab.sh exec N CMD ARGS…   run CMD inside lab N
#   netlab.sh shape N DIR RATE [BURST LIMIT]
#                                limit DIR (down: host → lab, up: lab → host,
#                                both) to RATE (tc syntax, e.g. 300kbit); a
#                                queue of ~100 ms, or of LIMIT bytes with a
#                                bucket of BURST bytes (a shallow queue)
#   netlab.sh unshape N [DIR]    lift the limit
#   netlab.sh drops N DIR        prints the packets DIR's limit dropped so far
#                                (its queue was full; 0 if not shaped)
#   netlab.sh loss N DIR PCT     drop PCT % of the UDP packets in DIR at random
#   netlab.sh blackhole N on|off drop every packet of the lab's link, both ways
#   netlab.sh dtlshole N on|off  drop the DTLS records on the lab's link, both
#                                ways (UDP payloads whose first byte is 20-63,
#                                RFC 7983): ICE's STUN and SRTP pass
#   netlab.sh dtlsdrops N        prints the DTLS records dtlshole dropped
#   netlab.sh readdress N        replace the lab's address by a new one
#                                (10.231.N.3, .4, …); prints it
#   netlab.sh addr N             prints the lab's current address
#   netlab.sh check              exits 0 if labs can be made here (root, ip,
#                                tc, nft), else says why and exits 1
#
# Everything the lab changes lives in its namespace and the veth pair, so
# `down` (or a reboot) removes it all.
set -euo pipefail

PREFIX=10.231
TABLE=netlab

die() { printf 'netlab: %s\n' "$*" >&2; exit 1; }

check() {
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, tc, nftables)"
	local t
	for t in ip tc nft; do
		command -v "$t" >/dev/null 2>&1 || die "$t not found: run make setup (iproute2, nftables)"
	done
}

lab() {
	[[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 250 ] || die "bad lab number '${1:-}'"
	N=$1 NS=sk$1 HOSTIF=skh$1 NSIF=skn$1 HOSTADDR=$PREFIX.$1.1
}

in_ns() { ip netns exec "$NS" "$@"; }

up() {
	check
	local start=$(( (RANDOM % 250) + 1 )) i n
	for i in $(seq 0 249); do
		n=$(( (start + i - 1) % 250 + 1 ))
		lab "$n"
		# The host end's name is the lock: creating it fails if another
		# lab (another test process) holds this number.
		ip link add "$HOSTIF" type veth peer name "$NSIF" 2>/dev/null || continue
		if ! ip netns add "$NS" 2>/dev/null; then
			ip link del "$HOSTIF" 2>/dev/null || true
			continue
		fi
		ip link set "$NSIF" netns "$NS"
		ip addr add "$HOSTADDR/24" dev "$HOSTIF"
		ip link set "$HOSTIF" up
		in_ns ip link set lo up
		in_ns ip addr add "$PREFIX.$n.2/24" dev "$NSIF"
		in_ns ip link set "$NSIF" up
		in_ns ip route add default via "$HOSTADDR"
		in_ns nft -f - <<-EOF
			table inet $TABLE {
				chain input { type filter hook input priority 0; policy accept; iif lo accept; }
				chain output { type filter hook output priority 0; policy accept; oif lo accept; }
			}
		EOF
		echo "$n"
		return 0
	done
	die "no free lab number"
}

down() {
	lab "$1"
	ip netns del "$NS" 2>/dev/null || true
	ip link del "$HOSTIF" 2>/dev/null || true
}

# dev DIR: the interface whose egress carries DIR.
devs() {
	case "$1" in
	down) echo host ;;
	up) echo ns ;;
	both) echo host ns ;;
	*) die "direction must be down, up or both, not '$1'" ;;
	esac
}

tcdev() { # host|ns ACTION ARGS…: tc qdisc ACTION dev IF ARGS…
	if [ "$1" = host ]; then tc qdisc "$2" dev "$HOSTIF" "${@:3}"; else in_ns tc qdisc "$2" dev "$NSIF" "${@:3}"; fi
}

shape() {
	lab "$1"
	local d rate=$3 burst=${4:-} limit=${5:-}
	[[ "$rate" =~ ^[0-9]+(bit|kbit|mbit|gbit)$ ]] || die "bad rate '$rate' (e.g. 300kbit)"
	local queue=(burst 4kb latency 100ms)
	if [ -n "$burst" ]; then
		[[ "$burst" =~ ^[0-9]+$ && "$limit" =~ ^[0-9]+$ ]] || die "bad burst '$burst' or limit '$limit' (bytes)"
		queue=(burst "$burst" limit "$limit")
	fi
	for d in $(devs "$2"); do
		# By default a queue of ~100 ms at the rate, at least two full-size
		# packets.
		tcdev "$d" replace root tbf rate "$rate" "${queue[@]}"
	done
}

unshape() {
	lab "$1"
	local d
	for d in $(devs "${2:-both}"); do
		tcdev "$d" del root 2>/dev/null || true
	done
}

drops() {
	lab "$1"
	local d=$(devs "$2") out
	[ "$d" = host ] || [ "$d" = ns ] || die "drops: one direction, down or up"
	if [ "$d" = host ]; then out=$(tc -s qdisc show dev "$HOSTIF"); else out=$(in_ns tc -s qdisc show dev "$NSIF"); fi
	# "Sent B bytes P pkt (dropped D, overlimits O requeues R)", per qdisc.
	sed -n 's/.*(dropped \([0-9]*\),.*/\1/p' <<<"$out" | awk '{ n += $1 } END { print n + 0 }'
}

# setrule CHAIN TAG [RULE]: loss and the black hole are separate rules in
# the same chains, each tagged with a comment, so that each command replaces
# only its own (no RULE removes it).
setrule() {
	local chain=$1 tag=$2 rule=${3:-} h
	for h in $(in_ns nft -a list chain inet "$TABLE" "$chain" | sed -n "s/.*comment \"$tag\" # handle \([0-9]*\)/\1/p"); do
		in_ns nft delete rule inet "$TABLE" "$chain" handle "$h"
	done
	if [ -n "$rule" ]; then
		# shellcheck disable=SC2086 # a rule is words
		in_ns nft add rule inet "$TABLE" "$chain" $rule comment "\"$tag\""
	fi
}

loss() {
	lab "$1"
	local pct=$3 rule=
	[[ "$pct" =~ ^[0-9]+$ ]] && [ "$pct" -le 100 ] || die "bad loss '$pct' (a whole percent)"
	[ "$pct" -gt 0 ] && rule="meta l4proto udp numgen random mod 100 < $pct drop"
	[ "$pct" -eq 100 ] && rule="meta l4proto udp drop" # nft takes no "< 100" of mod 100
	case "$2" in
	down) setrule input loss "$rule" ;;
	up) setrule output loss "$rule" ;;
	both) setrule input loss "$rule"; setrule output loss "$rule" ;;
	*) die "direction must be down, up or both, not '$2'" ;;
	esac
}

blackhole() {
	lab "$1"
	local rule=
	case "${2:-}" in
	on) rule=drop ;;
	off) ;;
	*) die "blackhole takes on or off" ;;
	esac
	setrule input hole "$rule"
	setrule output hole "$rule"
}

dtlshole() {
	lab "$1"
	in_ns nft delete table netdev "$TABLE-dtls" 2>/dev/null || true
	case "${2:-}" in
	on) ;;
	off) return 0 ;;
	*) die "dtlshole takes on or off" ;;
	esac
	# At the lab's device (netdev ingress and egress), not in its input and
	# output chains: a packet dropped there fails the sender's send with
	# EPERM, which no middlebox does.
	local match='meta l4proto udp @th,64,8 20-63 counter drop'
	in_ns nft -f - <<-EOF
		table netdev $TABLE-dtls {
			chain in { type filter hook ingress device "$NSIF" priority 0; policy accept; $match; }
			chain out { type filter hook egress device "$NSIF" priority 0; policy accept; $match; }
		}
	EOF
}

dtlsdrops() {
	lab "$1"
	in_ns nft list table netdev "$TABLE-dtls" 2>/dev/null | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p' |
		awk '{ n += $1 } END { print n + 0 }'
}

addr() {
	lab "$1"
	in_ns ip -4 -o addr show dev "$NSIF" | awk '{print $4}' | cut -d/ -f1 | head -1
}

readdress() {
	lab "$1"
	local old host
	old=$(addr "$1")
	host=${old##*.}
	host=$(( host >= 250 ? 2 : host + 1 ))
	# Sockets bound to the old address lose their traffic, as on a network
	# change; the default route goes with the old address and is re-added.
	in_ns ip addr del "$old/24" dev "$NSIF"
	in_ns ip addr add "$PREFIX.$N.$host/24" dev "$NSIF"
	in_ns ip route replace default via "$HOSTADDR"
	echo "$PREFIX.$N.$host"
}

cmd=${1:-}
[ -n "$cmd" ] || die "usage: netlab.sh up|down|exec|shape|unshape|drops|loss|blackhole|dtlshole|dtlsdrops|readdress|addr|check"
shift
case "$cmd" in
check) check ;;
up) up ;;
down) check; down "$@" ;;
exec) check; lab "$1"; shift; exec ip netns exec "$NS" "$@" ;;
shape) check; shape "$@" ;;
unshape) check; unshape "$@" ;;
drops) check; drops "$@" ;;
loss) check; loss "$@" ;;
blackhole) check; blackhole "$@" ;;
dtlshole) check; dtlshole "$@" ;;
dtlsdrops) check; dtlsdrops "$@" ;;
readdress) check; readdress "$@" ;;
addr) check; addr "$@" ;;
*) die "unknown command '$cmd'" ;;
esac
