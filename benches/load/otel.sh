#!/usr/bin/env bash
# What OpenTelemetry export costs a request, and whether a collector that is away
# slows requests down: the access-log variant of each framework without OTel, then
# with spans exported (`-otel`), and with spans, log records and metrics exported
# (`-otel-all`), each to a collector that accepts everything, to a port that refuses,
# and to a collector that accepts connections and never answers. Server pinned to
# core 0, wrk (and the stand-in collector) to core 1, cases interleaved, ROUNDS rounds
# (default 3). Prints requests/s, the ratio to the same framework without OTel, p50
# and p99, and the spans and log records exported and dropped as the server's
# /metrics counts them.
#
#   bash benches/load/otel.sh            # ROUNDS=3 DURATION=10 SIGNALS='spans all'
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/load/lib.sh
ROUNDS=${ROUNDS:-3}
SIGNALS=${SIGNALS:-spans all}
DURATION=${DURATION:-10}
PORT=${PORT:-18080}
SINK_PORT=${SINK_PORT:-18318}
HUNG_PORT=${HUNG_PORT:-18319}
REFUSED_PORT=${REFUSED_PORT:-18320}
bash .ci/tools wrk
cargo build --release --locked -q -p readiness-benches --features load --bin load-server
server=target/release/load-server
results=$(mktemp)

taskset -c 1 "$server" otlp-sink "$SINK_PORT" >/dev/null 2>&1 &
sink_pid=$!
taskset -c 1 "$server" otlp-hung "$HUNG_PORT" >/dev/null 2>&1 &
hung_pid=$!
trap 'kill $sink_pid $hung_pid 2>/dev/null || true; rm -f "$results"' EXIT
wait_port "$SINK_PORT"
wait_port "$HUNG_PORT"

for round in $(seq 1 "$ROUNDS"); do
    for framework in axum actix; do
        cases=(none)
        for signals in $SIGNALS; do
            for collector in up refusing hung; do cases+=("$signals/$collector"); done
        done
        for case in "${cases[@]}"; do
            collector=${case#*/}
            case ${case%%/*} in
                spans) variant=$framework-readiness-otel ;;
                all) variant=$framework-readiness-otel-all ;;
                *) variant=$framework-readiness-log ;;
            esac
            case $collector in
                none) endpoint= ;;
                up) endpoint=http://127.0.0.1:$SINK_PORT ;;
                refusing) endpoint=http://127.0.0.1:$REFUSED_PORT ;;
                hung) endpoint=http://127.0.0.1:$HUNG_PORT ;;
            esac
            # Metrics every second (not the default minute), so a run exports some.
            OTEL_METRIC_EXPORT_INTERVAL=1000 \
            OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint taskset -c 0 "$server" "$variant" "$PORT" \
                >/dev/null 2>&1 &
            pid=$!
            wait_port "$PORT"
            taskset -c 1 wrk -t1 -c64 -d2s "http://127.0.0.1:$PORT/hello/world" >/dev/null
            out=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" --latency \
                "http://127.0.0.1:$PORT/hello/world")
            metrics=$(curl -s "http://127.0.0.1:$PORT/metrics")
            kill "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null || true
            rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
            p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
            p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
            exported=$(awk '/^trace_spans_exported_total / {print $2}' <<<"$metrics")
            dropped=$(awk '/^trace_spans_dropped_total/ {s += $2} END {print s + 0}' <<<"$metrics")
            logs=$(awk '/^log_records_exported_total/ {s += $2} END {print s + 0}' <<<"$metrics")
            logs_dropped=$(awk '/^log_records_dropped_total/ {s += $2} END {print s + 0}' <<<"$metrics")
            echo "$round $framework $case $rps $p50 $p99 ${exported:-0} $dropped $logs $logs_dropped" \
                >>"$results"
            echo "round $round $framework $case: $rps req/s, p50 $p50, p99 $p99," \
                "spans exported ${exported:-0}, dropped $dropped; log records exported $logs," \
                "dropped $logs_dropped" >&2
        done
    done
done

python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def ms(v):
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * f
    return float(v)
by = {}
for rnd, fw, case, rps, p50, p99, exported, dropped, logs, logs_dropped in rows:
    by.setdefault((fw, case), []).append((int(rnd), float(rps), ms(p50), ms(p99),
        float(exported), float(dropped), float(logs), float(logs_dropped)))
print("| framework | signals/collector | requests/s median | ratio to no OTel | p50 | p99 "
      "| spans exported / dropped | log records exported / dropped (medians) |")
print("|---|---|---|---|---|---|---|---|")
for (fw, case), runs in by.items():
    base = {r: rps for r, rps, *_ in by[(fw, "none")]}
    ratios = [rps / base[r] for r, rps, *_ in runs]
    med = lambda i: statistics.median(run[i] for run in runs)
    spans = "-" if case == "none" else f"{med(4):,.0f} / {med(5):,.0f}"
    logs = f"{med(6):,.0f} / {med(7):,.0f}" if case.startswith("all/") else "-"
    print(f"| {fw} | {case} | {med(1):,.0f} | {statistics.median(ratios):.3f} | "
          f"{med(2):.2f} ms | {med(3):.2f} ms | {spans} | {logs} |")
PY
