#!/usr/bin/env bash
# The long runs of RELIABILITY.md's "Back-pressure and process life" rows: the same
# code as `examples/*/tests/process_life.rs` (the test suite's short runs), built in
# release, on both examples.
#
# * Stdout nobody reads: REQUESTS requests (default 50,000) with stdout drained,
#   then the same with the pipe never read (a QUEUE-line log queue, default 8,192);
#   prints both p99s,
#   the lines emitted, written and dropped, and the strict writes refused; fails
#   unless dropped = emitted - written exactly, every strict write is a 503 and
#   the undrained p99 is within P99_RATIO (default 1.10) of the drained one
#   (+ 20 ms).
# * PID 1: each example as PID 1 of its own PID namespace (`unshare --pid --fork
#   --mount-proc`, needs root or user namespaces), stopped by SIGTERM and by SIGINT
#   under load.
#
#   bash benches/load/process_life.sh
#   REQUESTS=200000 bash benches/load/process_life.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export READINESS_PIPE_REQUESTS=${REQUESTS:-50000}
# A release server outruns the test's reader of a 64-line queue even while it drains.
export READINESS_PIPE_QUEUE=${QUEUE:-8192}
export READINESS_PIPE_P99_RATIO=${P99_RATIO:-1.10}
cargo test --release --locked -p axum-service -p actix-web-service --test process_life \
    -- --test-threads=1 --nocapture 2>&1 | grep -E '^(test |thread|assertion)|requests drained'
