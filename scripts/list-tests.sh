#!/usr/bin/env bash
# list-tests.sh KIND lists Go test functions of the repo, for make:
#   bench     -> one package dir per line that has a func BenchmarkXxx
#   fuzz      -> "dir FuzzXxx" per line
#   bench-js  -> like bench, for the test files built only for js/wasm
# A test file is js-only when its name ends _js_test.go/_wasm_test.go or its
# //go:build line requires js; bench and fuzz leave those out.
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:?usage: list-tests.sh bench|bench-js|fuzz}
case $kind in
bench | bench-js) re='^func Benchmark[A-Za-z0-9_]*' ;;
fuzz) re='^func Fuzz[A-Za-z0-9_]*' ;;
*) echo "unknown kind $kind" >&2; exit 2 ;;
esac

# is_js_only FILE: the file is built only for js/wasm.
is_js_only() {
	case $1 in *_js_test.go | *_wasm_test.go | *_js_wasm_test.go) return 0 ;; esac
	# A build line that names js without negating it requires js.
	grep -E '^//go:build' "$1" | grep -q -E '(^|[^!A-Za-z_])js([^A-Za-z_]|$)'
}

test_files() {
	git ls-files -co --exclude-standard -- '*_test.go' |
		grep -v -E '(^|/)[_.][^/]*/|(^|/)testdata/|^node_modules/' |
		while IFS= read -r f; do
			js_only=false
			if is_js_only "$f"; then js_only=true; fi
			if [ "$js_only" = "$([ "$kind" = bench-js ] && echo true || echo false)" ]; then
				printf '%s\n' "$f"
			fi
		done
}

test_files | while IFS= read -r f; do
	{ grep -o -E "$re" "$f" || true; } | sed 's/^func //' | while IFS= read -r fn; do
		dir=./$(dirname "$f")
		if [ "$kind" = fuzz ]; then echo "$dir $fn"; else echo "$dir"; fi
	done
done | sort -u
