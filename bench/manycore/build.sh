#!/bin/bash
# Builds what run.sh needs on a many-core machine that has no Go toolchain:
# static test binaries of ./usp and ./cmd/uspsim at two revisions (BEFORE and
# AFTER, default main~1 and HEAD), and the local mosquitto with its shared
# libraries. Output: DIR (default devbin/manycore, git-ignored), well under
# the 64 MiB a device run may carry.
#
#   bench/manycore/build.sh [BEFORE [AFTER [DIR]]]
set -euo pipefail
root="$(git rev-parse --show-toplevel)"
before="${1:-main~1}" after="${2:-HEAD}" out="${3:-$root/devbin/manycore}"
mkdir -p "$out/bin" "$out/lib"
work="$(mktemp -d)"
trap 'for t in src after; do git -C "$root" worktree remove --force "$work/$t" >/dev/null 2>&1 || true; done; rm -rf "$work"' EXIT
# Benchmarks that came with the change under test are carried into the
# BEFORE tree when it lacks them (they use only what both revisions have).
carry="${BENCH_CARRY:-usp/bench_shared_internal_test.go}"
git -C "$root" worktree add --detach -f "$work/after" "$after" >/dev/null
for v in before after; do
	rev="$before"; [ "$v" = after ] && rev="$after"
	git -C "$root" worktree add --detach -f "$work/src" "$rev" >/dev/null
	for f in $carry; do
		[ -e "$work/src/$f" ] || cp "$work/after/$f" "$work/src/$f"
	done
	(cd "$work/src" && CGO_ENABLED=0 go test -c -o "$work/usp.test" ./usp &&
		CGO_ENABLED=0 go test -c -o "$work/uspsim.test" ./cmd/uspsim)
	gzip -9c "$work/usp.test" >"$out/usp.$v.test.gz"
	gzip -9c "$work/uspsim.test" >"$out/uspsim.$v.test.gz"
	echo "$v $(git -C "$root" rev-parse --short "$rev")" >>"$out/VERSIONS.new"
	git -C "$root" worktree remove --force "$work/src"
done
git -C "$root" worktree remove --force "$work/after"
mv "$out/VERSIONS.new" "$out/VERSIONS"
if m="$(command -v mosquitto || ls /usr/sbin/mosquitto 2>/dev/null)"; then
	cp "$m" "$out/lib/mosquitto.real"
	ldd "$m" | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | while read -r l; do cp -L "$l" "$out/lib/"; done
	printf '#!/bin/sh\nd="$(dirname "$0")/../lib"\nexec "$d/$(basename "$(ls "$d"/ld-linux* | head -1)")" --library-path "$d" "$d/mosquitto.real" "$@"\n' >"$out/bin/mosquitto"
	chmod +x "$out/bin/mosquitto"
fi
cp "$root/bench/manycore/run.sh" "$out/run.sh"
du -sh "$out"
