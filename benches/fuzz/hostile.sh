#!/usr/bin/env bash
# Hostile input, the long runs: the same code as the short tests, in release, with
# many more cases. Prints each suite's figures (cases, events, lines, failures, cuts).
#
#   bash benches/fuzz/hostile.sh                 # LOG_CASES=1000000
#   LOG_CASES=100000 SEED=7 bash benches/fuzz/hostile.sh
#
# - Log injection fuzz (readiness-core/tests/logging_hostile.rs): arbitrary bytes in
#   the path, query, user agent, request id, message and field values, fields named
#   like the library's keys and a field twice; every line parsed strictly (a key
#   twice is a failure), line count = event count, no raw control character, caps.
set -euo pipefail
cd "$(dirname "$0")/../.."
LOG_CASES=${LOG_CASES:-1000000}
SEED=${SEED:-6843629338677}
echo "== log injection fuzz: $LOG_CASES cases, release build, seed $SEED"
READINESS_FUZZ_CASES=$LOG_CASES READINESS_FUZZ_SEED=$SEED \
    cargo test --release --locked -q -p readiness-core --features logging \
    --test logging_hostile -- --nocapture --test-threads 1 2>&1 | grep -E "^log fuzz|panicked|FAILED|failing"

# - Request fuzz over real sockets, axum and actix-web
#   (adapter-tests/tests/hostile_headers.rs): raw `x-request-id`, `traceparent`,
#   `tracestate`, user agent and query bytes; response headers, echoed ids, trace
#   continuation, the tracestate handed on, every log line parsed strictly.
REQUESTS=${REQUESTS:-10000}
echo "== request fuzz: $REQUESTS requests per adapter, release build, seed $SEED"
READINESS_FUZZ_REQUESTS=$REQUESTS READINESS_FUZZ_SEED=$SEED \
    cargo test --release --locked -q -p adapter-tests \
    --test hostile_headers -- --nocapture 2>&1 | grep -E "^request fuzz|panicked|failing"
