#!/usr/bin/env bash
# The long runs of RELIABILITY.md's "Load and accounting" rows: the same code as
# `adapter-tests/tests/load.rs` (the test suite's short runs), built in release, on
# both adapters, with the long figures and the strict bounds.
#
# * Exact under panics and disconnects: REQUESTS requests (default 1,000,000) on 64
#   connections, 10 % to a panicking route, 10 % left by their client mid-handler;
#   prints the counter, the +Inf bucket, the 500s and 499s by route, how long until
#   nothing is in flight, the access lines per request id and the RSS at the start
#   and the end.
# * Scrape under load: 900 request series (20 routes x 9 methods x 5 statuses) and
#   the process families, a scrape every second while 16 connections send requests;
#   ROUNDS rounds (default 10: about 100 scrapes, so the p99 by rank is not
#   simply the slowest one) of SECONDS_PER_PHASE s (default 10) without, then with, the
#   scrapes; prints the scrape's p99 and the request p99 without and with; fails
#   unless render p99 < 20 ms and request p99 within +5 % (READINESS_LOAD_STRICT=1).
#
# * Zero errors under load with HTTP/2 and WebSockets: the examples' test
#   (`tests/support/h2_websockets.rs`) at SCALE times its clients, sockets and load
#   time (default 5: 40 HTTP/1.1 and 10 h2c clients, 20 WebSockets, SIGTERM after
#   5 s), H2WS_ROUNDS times (default 5) on each example. Built as the test suite builds
#   it (debug, every feature), so it reuses the suite's build: the property is
#   that nothing fails or is cut, not a speed.
#
#   bash benches/load/reliability.sh
#   REQUESTS=200000 ROUNDS=2 bash benches/load/reliability.sh
#   ONLY=scrape bash benches/load/reliability.sh   # one scenario: scrape, exact or h2ws
set -euo pipefail
cd "$(dirname "$0")/../.."
export READINESS_LOAD_REQUESTS=${REQUESTS:-1000000}
export READINESS_SCRAPE_ROUNDS=${ROUNDS:-10}
export READINESS_SCRAPE_SECONDS=${SECONDS_PER_PHASE:-10}
export READINESS_LOAD_STRICT=${STRICT:-1}
case "${ONLY:-}" in
    "") filter=() ;;
    scrape) filter=(scrapes_under_load) ;;
    exact) filter=(counts_exactly_under_panics_and_disconnects) ;;
    h2ws) filter=() ;;
    *) echo "ONLY is scrape, exact or h2ws, not $ONLY" >&2; exit 2 ;;
esac
if [ "${ONLY:-}" != h2ws ]; then
    # Every test, one at a time (each starts its own service process), with their figures.
    cargo test --release --locked -p adapter-tests --test load -- "${filter[@]}" --test-threads=1 --nocapture \
        2>&1 | grep -E '^(test |axum|actix|thread|assertion)|: (axum|actix)|requests on|scrapes'
fi
if [ -z "${ONLY:-}" ] || [ "$ONLY" = h2ws ]; then
    export READINESS_H2WS_SCALE=${SCALE:-5}
    for round in $(seq "${H2WS_ROUNDS:-5}"); do
        echo "round $round, scale $READINESS_H2WS_SCALE:"
        # The workspace's features, as the suite's: its build is reused.
        cargo test --locked --workspace --all-features --test h2_websockets -- --nocapture 2>&1 |
            grep -E '^(test |thread|assertion)|: HTTP/1.1:'
    done
fi
