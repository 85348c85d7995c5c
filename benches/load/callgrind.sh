#!/usr/bin/env bash
# Instructions per request, counted by callgrind: a figure that does not move with the
# machine's load, unlike requests/s. Each variant of the load server (or of the load
# peer, benches/load/peers) runs under
# `valgrind --tool=callgrind`; WARM requests warm it up (connections, first route
# lookups, series creation), the counters are dumped and reset, then COUNT more
# requests go through one keep-alive connection and the next dump holds exactly their
# cost. Prints instructions per request and the ratio to the bare server. Every
# variant by default; the `-otel` ones export their spans over OTLP/HTTP to the load
# server's stand-in collector (`otlp-sink`, a process of its own, not counted).
#
#   bash benches/load/callgrind.sh            # WARM=2000 COUNT=20000
#   KEEP=1 VARIANTS="axum-readiness" bash benches/load/callgrind.sh   # keep the
#   profile for callgrind_annotate
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/load/lib.sh
WARM=${WARM:-2000}
COUNT=${COUNT:-20000}
PORT=${PORT:-18090}
SINK_PORT=${SINK_PORT:-18321}
bash .ci/tools wrk
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
variants=(${VARIANTS:-$ALL_VARIANTS})
build_servers "${variants[@]}"
server=target/release/load-server
work=$(mktemp -d)
taskset -c 1 "$server" otlp-sink "$SINK_PORT" >/dev/null 2>&1 &
sink_pid=$!
trap 'kill $sink_pid 2>/dev/null || true' EXIT
wait_port "$SINK_PORT"
instructions() { # the total of the newest dump file of this run
    local file
    file=$(ls -t "$work"/callgrind.out.* | head -n1)
    awk '/^(summary|totals):/ {print $2; exit}' "$file"
}

declare -A per_request
for variant in "${variants[@]}"; do
    rm -f "$work"/callgrind.out.*
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$SINK_PORT taskset -c 0 valgrind --tool=callgrind \
        --callgrind-out-file="$work/callgrind.out.%p" "$(server_of "$variant")" "$variant" "$PORT" >/dev/null 2>&1 &
    pid=$!
    wait_port "$PORT" 1200 # a minute: valgrind starts slowly
    requests "$WARM" 1 "http://127.0.0.1:$PORT/hello/world"
    callgrind_control -z "$pid" >/dev/null
    requests "$COUNT" 1 "http://127.0.0.1:$PORT/hello/world"
    callgrind_control -d "$pid" >/dev/null
    sleep 0.5
    total=$(instructions)
    cp "$(ls -t "$work"/callgrind.out.* | head -n1)" "$work/$variant.callgrind"
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    per_request[$variant]=$((total / COUNT))
    echo "$variant: $total instructions for $COUNT requests" >&2
done

echo "| variant | instructions per request | ratio to bare |"
echo "|---|---|---|"
for variant in "${variants[@]}"; do
    bare=${per_request[${variant%%-*}-bare]:-}
    ratio=$([ -n "$bare" ] && python3 -c "print(f'{$bare / ${per_request[$variant]}:.3f}')" || echo "-")
    printf '| %s | %s | %s |\n' "$variant" "$(printf "%'d" "${per_request[$variant]}")" "$ratio"
done
[ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
