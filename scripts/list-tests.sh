#!/usr/bin/env bash
# list-tests.sh KIND lists native Go test functions of the repo, for make:
#   bench  -> one package dir per line that has a func BenchmarkXxx
#   fuzz   -> "dir FuzzXxx" per line
# Test files built only for js/wasm (a _js.go/_wasm.go name, or a //go:build
# line that requires js) are left out: those run under `make bench-wasm`.
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:?usage: list-tests.sh bench|fuzz}
case $kind in
bench) re='^func Benchmark[A-Za-z0-9_]*' ;;
fuzz) re='^func Fuzz[A-Za-z0-9_]*' ;;
*) echo "unknown kind $kind" >&2; exit 2 ;;
esac

native_test_files() {
	git ls-files -co --exclude-standard -- '*_test.go' |
		grep -v -E '(_js|_wasm)(_test)?\.go$|_js_wasm_test\.go$|^node_modules/' |
		while IFS= read -r f; do
			# A build line that names js without negating it requires js.
			if grep -q -E '^//go:build' "$f" && grep -E '^//go:build' "$f" | grep -q -E '(^|[^!A-Za-z_])js([^A-Za-z_]|$)'; then
				continue
			fi
			printf '%s\n' "$f"
		done
}

native_test_files | while IFS= read -r f; do
	{ grep -o -E "$re" "$f" || true; } | sed 's/^func //' | while IFS= read -r fn; do
		dir=./$(dirname "$f")
		if [ "$kind" = bench ]; then echo "$dir"; else echo "$dir $fn"; fi
	done
done | sort -u
