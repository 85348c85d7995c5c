#!/usr/bin/env bash
# The load bench: the same small service bare, with readiness' RED middleware (and
# with its access log), and with each peer (axum-prometheus, actix-web-prom, and
# tower-http's TraceLayer for logging), server pinned to core 0 and wrk to core 1,
# variants interleaved, ROUNDS rounds (default 3). Prints requests/s (median,
# min-max), the ratio to the bare server of the same framework, and p99.
# Then a scan of SCAN random paths (default 100000) per metrics variant, and the
# number of series and bytes /metrics has afterwards.
#
#   bash benches/load/run.sh            # ROUNDS=3 DURATION=10 SCAN=100000
#   VARIANTS="axum-bare axum-readiness" SCAN=0 bash benches/load/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
SCAN=${SCAN:-100000}
PORT=${PORT:-18080}
bash .ci/tools wrk
cargo build --release --locked -q -p readiness-benches --features load --bin load-server
server=target/release/load-server
variants=(${VARIANTS:-axum-bare axum-readiness axum-readiness-log axum-prometheus axum-tracelayer actix-bare actix-readiness actix-readiness-log actix-web-prom})
results=$(mktemp)
scan_lua=$(mktemp --suffix=.lua)
cat >"$scan_lua" <<'LUA'
-- Random paths; after SCAN answers the single wrk thread stops and says so in a
-- file (wrk itself runs on to its -d), which the script waits for.
local limit = tonumber(os.getenv("SCAN"))
local sent, answered = 0, 0
request = function()
  sent = sent + 1
  return wrk.format("GET", "/scan/" .. sent .. "/" .. math.random(1, 1000000000))
end
response = function()
  answered = answered + 1
  if answered == limit then
    local done = io.open(os.getenv("SCAN_DONE"), "w")
    done:close()
    wrk.thread:stop()
  end
end
LUA
start() {
    taskset -c 0 "$server" "$1" "$PORT" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "load-server $1 did not start" >&2
    exit 1
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

scan=$(mktemp)
for variant in $([ "$SCAN" -gt 0 ] && echo axum-readiness axum-prometheus actix-readiness actix-web-prom); do
    start "$variant"
    # SCAN requests to random paths, then what the scrape has grown to.
    done_file=$(mktemp -u)
    SCAN=$SCAN SCAN_DONE=$done_file taskset -c 1 wrk -t1 -c16 -d900s -s "$scan_lua" \
        "http://127.0.0.1:$PORT" >/dev/null 2>&1 &
    wrk_pid=$!
    while [ ! -e "$done_file" ] && kill -0 "$wrk_pid" 2>/dev/null; do sleep 0.2; done
    kill "$wrk_pid" 2>/dev/null; wait "$wrk_pid" 2>/dev/null || true
    rm -f "$done_file"
    seen=$SCAN
    metrics=$(curl -s "http://127.0.0.1:$PORT/metrics")
    series=$(grep -vc '^#' <<<"$metrics" || true)
    bytes=$(wc -c <<<"$metrics")
    echo "$variant $seen $series $bytes" >>"$scan"
    stop
done

python3 - "$results" "$scan" <<'PY'
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
    bare = by[variant.split("-")[0] + "-bare"]
    ratios = [r / b for (r, _), (b, _) in zip(runs, bare)]
    print(f"| {variant} | {statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f}) | "
          f"{statistics.median(ratios):.3f} | {statistics.median(p for _, p in runs):.2f} ms |")
print()
print("| variant | scan requests | series in /metrics after | /metrics bytes |")
print("|---|---|---|---|")
for line in open(sys.argv[2]):
    variant, seen, series, size = line.split()
    print(f"| {variant} | {int(float(seen)):,} | {int(series):,} | {int(size):,} |")
PY
rm -f "$results" "$scan" "$scan_lua"
