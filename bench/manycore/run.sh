#!/bin/bash
# Runs, on a many-core machine without Go, the benchmarks that build.sh
# prepared, before and after, at -cpu 2 and 16; every step is bounded by
# timeout (about 8 minutes in all at worst). Results: $OUT/summary.txt and one
# file per step. Figures are ratios to the bare paho references each
# benchmark measures in the same run (BENCHMARKS.md says how to read them).
set -u
d="$(cd "$(dirname "$0")" && pwd)"
: "${OUT:?set OUT to a directory for the results}"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export PATH="$d/bin:$PATH"
w="$(mktemp -d)"
t0=$(date +%s)
for f in "$d"/*.test.gz; do
	b="$(basename "$f" .gz)"
	gzip -dc "$f" >"$w/$b"
	chmod +x "$w/$b"
done
s="$OUT/summary.txt"
{
	echo "host: $(nproc) cpus, $(free -g | awk '/Mem:/{print $2" GiB"}'), open files $(ulimit -n)"
	cat "$d/VERSIONS"
} | tee "$s"
step() {
	local name=$1 lim=$2
	shift 2
	echo "== $name (limit ${lim}s, at +$(($(date +%s) - t0))s): $*" | tee -a "$s"
	(cd "$w" && timeout -k 5 "$lim" "$@") >"$OUT/$name.txt" 2>&1
	echo "   rc=$? after +$(($(date +%s) - t0))s" | tee -a "$s"
	grep -E '^Benchmark|^(ok|FAIL|---)|panic' "$OUT/$name.txt" >>"$s"
}
# The controller's shared state: notifications from 1,024 agents fed from
# as many goroutines as cores, no network (BenchmarkSharedState); the
# mutex profile at 16 cores shows what still contends.
for v in before after; do
	step shared-$v 60 ./usp.$v.test -test.run '^$' -test.bench SharedState -test.benchmem -test.benchtime 200000x -test.count 2 -test.cpu 1,2,4,8,16
	step shared-mutex-$v 30 ./usp.$v.test -test.run '^$' -test.bench SharedState -test.benchtime 400000x -test.cpu 16 -test.mutexprofile "$OUT/mutex-$v.out" -test.mutexprofilefraction 1
done
for v in before after; do
	step getmqtt-$v 40 ./usp.$v.test -test.run '^$' -test.bench GetMQTT -test.benchmem -test.benchtime 2000x -test.count 2 -test.cpu 2,16
done
for v in before after; do
	GOUSP_BURST_BROKER=mosquitto GOUSP_BURST_AGENTS=1000 step burst1k-$v 60 ./usp.$v.test -test.run '^$' -test.bench 'NotifyBurst/agents=1000,each=10/' -test.benchtime 1x -test.cpu 2,16
	GOUSP_BURST_BROKER=mosquitto GOUSP_BURST_AGENTS=10000 step burst10k-$v 60 ./usp.$v.test -test.run '^$' -test.bench 'NotifyBurst/agents=10000,each=1/' -test.benchtime 1x -test.cpu 16
	step fanout-$v 50 ./uspsim.$v.test -test.run '^$' -test.bench FanOutGet -test.benchtime 2x -test.cpu 16 -uspsim.fanout 10000
done
echo "total $(($(date +%s) - t0))s" | tee -a "$s"
rm -rf "$w"
