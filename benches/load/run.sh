#!/usr/bin/env bash
# The load bench: the same small service bare, with readiness' RED middleware, with
# its access log, and with OpenTelemetry spans exported too, and with each peer
# (axum-prometheus and actix-web-prom for metrics, tower-http's TraceLayer and
# tracing-actix-web for log lines, axum-tracing-opentelemetry, tower-otel and
# tracing-actix-web with OpenTelemetry for spans; the last is built outside the
# workspace, see benches/load/peers), server pinned to core 0 and wrk to core 1,
# variants interleaved, ROUNDS rounds (default 3). Prints requests/s (median,
# min-max), the ratio to the bare server of the same framework, and p99.
# Then the server's memory (RSS) after 100,000 and after MEMORY requests (default
# 1000000) per variant, to show it stays flat; and a scan of SCAN random paths
# (default 100000) per metrics variant, with the number of series and bytes
# /metrics has afterwards.
#
#   bash benches/load/run.sh            # ROUNDS=3 DURATION=10 MEMORY=1000000 SCAN=100000
#   VARIANTS="axum-bare axum-readiness" SCAN=0 bash benches/load/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/load/lib.sh
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
SCAN=${SCAN:-100000}
MEMORY=${MEMORY:-1000000}
PORT=${PORT:-18080}
bash .ci/tools wrk
variants=(${VARIANTS:-$ALL_VARIANTS})
build_servers "${variants[@]}"
server=target/release/load-server
SINK_PORT=${SINK_PORT:-18322}
# The variants that export spans send them to the load server's stand-in collector
# (a process of its own on the load's core).
taskset -c 1 "$server" otlp-sink "$SINK_PORT" >/dev/null 2>&1 &
sink_pid=$!
trap 'kill $sink_pid 2>/dev/null || true' EXIT
wait_port "$SINK_PORT"
results=$(mktemp)
start() {
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$SINK_PORT taskset -c 0 "$(server_of "$1")" "$1" "$PORT" \
        >/dev/null 2>&1 &
    pid=$!
    wait_port "$PORT"
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }

for round in $(seq 1 "$ROUNDS"); do
    for variant in "${variants[@]}"; do
        start "$variant"
        taskset -c 1 wrk -t1 -c64 -d2s "http://127.0.0.1:$PORT/hello/world" >/dev/null
        out=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/hello/world")
        stop
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
        echo "$round $variant $rps $p99" >>"$results"
        echo "round $round $variant: $rps req/s, p99 $p99" >&2
    done
done

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }

memory=$(mktemp)
for variant in $([ "$MEMORY" -gt 100000 ] && echo "${variants[@]}"); do
    start "$variant"
    requests 100000 64 "http://127.0.0.1:$PORT/hello/world"
    early=$(rss_kib)
    requests $((MEMORY - 100000)) 64 "http://127.0.0.1:$PORT/hello/world"
    late=$(rss_kib)
    echo "$variant $early $late" >>"$memory"
    echo "$variant: RSS $early KiB after 100000 requests, $late KiB after $MEMORY" >&2
    stop
done

scan=$(mktemp)
for variant in $([ "$SCAN" -gt 0 ] && echo axum-readiness axum-prometheus actix-readiness actix-web-prom); do
    start "$variant"
    # SCAN requests to random paths, then what the scrape has grown to.
    requests "$SCAN" 16 "http://127.0.0.1:$PORT" benches/load/scan.lua
    seen=$SCAN
    metrics=$(curl -s "http://127.0.0.1:$PORT/metrics")
    series=$(grep -vc '^#' <<<"$metrics" || true)
    bytes=$(wc -c <<<"$metrics")
    echo "$variant $seen $series $bytes" >>"$scan"
    stop
done

python3 - "$results" "$scan" "$memory" "$MEMORY" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def ms(v):
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * f
    return float(v)
by = {}
for _, variant, rps, p99 in rows:
    by.setdefault(variant, []).append((float(rps), ms(p99)))
print("| variant | requests/s median (min-max) | ratio to bare (median of rounds) | p99 median |")
print("|---|---|---|---|")
for variant, runs in by.items():
    rps = [r for r, _ in runs]
    bare = by.get(variant.split("-")[0] + "-bare")
    ratio = "-"
    if bare:
        ratio = f"{statistics.median(r / b for (r, _), (b, _) in zip(runs, bare)):.3f}"
    print(f"| {variant} | {statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f}) | "
          f"{ratio} | {statistics.median(p for _, p in runs):.2f} ms |")
print()
print(f"| variant | RSS after 100,000 requests | RSS after {int(sys.argv[4]):,} | growth |")
print("|---|---|---|---|")
for line in open(sys.argv[3]):
    variant, early, late = line.split()
    early, late = int(early), int(late)
    print(f"| {variant} | {early / 1024:.1f} MiB | {late / 1024:.1f} MiB | {(late - early) / 1024:+.1f} MiB |")
print()
print("| variant | scan requests | series in /metrics after | /metrics bytes |")
print("|---|---|---|---|")
for line in open(sys.argv[2]):
    variant, seen, series, size = line.split()
    print(f"| {variant} | {int(float(seen)):,} | {int(series):,} | {int(size):,} |")
PY
rm -f "$results" "$scan" "$memory"
