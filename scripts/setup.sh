#!/usr/bin/env bash
# setup.sh installs what the build and the tests need, and nothing global
# beyond Debian packages:
#   - Debian's chromium (+ brotli, for the precompressed SDK), and for the
#     cluster tests postgresql and redis-server, for the link lab
#     (scripts/netlab.sh) iproute2 and nftables, via apt-get, only when
#     missing (the tests start their own throwaway servers; the packages'
#     own services are not needed);
#   - wasmbrowsertest v0.11.0 into ./bin (GOBIN), only when missing or another
#     version;
#   - the npm devDependencies (playwright-core; never `npx playwright install`),
#     only when node_modules does not match package-lock.json.
# Idempotent and fast when everything is present. Runs unattended (CI=true, no
# stdin) as root, or as a user with passwordless sudo.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
WASMBROWSERTEST_VERSION=v0.11.0

log() { printf '[setup] %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------
apt_pkgs=()
[ -x /usr/bin/chromium ] || apt_pkgs+=(chromium)
command -v brotli >/dev/null 2>&1 || apt_pkgs+=(brotli)
command -v node >/dev/null 2>&1 || apt_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_pkgs+=(npm)
# PostgreSQL: Debian installs its binaries under /usr/lib/postgresql/<major>/bin.
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || apt_pkgs+=(postgresql)
command -v redis-server >/dev/null 2>&1 || apt_pkgs+=(redis-server)
# The link lab of the network tests (scripts/netlab.sh): ip and tc, nft.
{ command -v ip && command -v tc; } >/dev/null 2>&1 || apt_pkgs+=(iproute2)
command -v nft >/dev/null 2>&1 || apt_pkgs+=(nftables)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
	SUDO=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			SUDO=(sudo -n)
		else
			log "need root (or sudo) to install: ${apt_pkgs[*]}"
			exit 1
		fi
	fi
	log "apt-get install ${apt_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	"${SUDO[@]}" apt-get update -q </dev/null
	"${SUDO[@]}" apt-get install -y -q "${apt_pkgs[@]}" </dev/null
fi

# --- wasmbrowsertest into ./bin --------------------------------------------
wbt="$ROOT/bin/wasmbrowsertest"
if ! [ -x "$wbt" ] || ! go version -m "$wbt" 2>/dev/null |
	grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/agnivade/wasmbrowsertest[[:space:]]+$WASMBROWSERTEST_VERSION([[:space:]]|$)"; then
	log "go install github.com/agnivade/wasmbrowsertest@$WASMBROWSERTEST_VERSION -> bin/"
	mkdir -p "$ROOT/bin"
	GOBIN="$ROOT/bin" GOFLAGS= go install "github.com/agnivade/wasmbrowsertest@$WASMBROWSERTEST_VERSION"
fi

# --- npm devDependencies ---------------------------------------------------
if [ -f package.json ]; then
	stamp=node_modules/.stagekit-setup-stamp
	if [ -f package-lock.json ]; then
		want="lock:$(sha256sum package-lock.json | cut -d' ' -f1)"
	else
		want="pkg:$(sha256sum package.json | cut -d' ' -f1)"
	fi
	if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
		export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
		if [ -f package-lock.json ]; then
			log "npm ci"
			npm ci --no-audit --no-fund </dev/null
		else
			log "npm install (no package-lock.json)"
			npm install --no-audit --no-fund </dev/null
		fi
		mkdir -p node_modules
		echo "$want" >"$stamp"
	fi
fi

log "ok: $(/usr/bin/chromium --version 2>/dev/null | grep -i chromium | head -1 || echo 'chromium ?'), wasmbrowsertest $WASMBROWSERTEST_VERSION, node $(node --version)"
