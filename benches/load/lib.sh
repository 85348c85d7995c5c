# Shared by the load scripts (sourced from the repository's root).

# Waits until something listens on port $1, trying $2 times (default 100) every 0.05 s.
wait_port() {
    for _ in $(seq 1 "${2:-100}"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on $1" >&2
    exit 1
}

# Sends exactly $1 requests on $2 connections to the URL $3 (with the wrk script $4,
# default count.lua) from core 1, then comes back.
requests() {
    local done_file wrk_pid
    done_file=$(mktemp -u)
    LIMIT=$1 DONE=$done_file taskset -c 1 wrk -t1 -c"$2" -d3600s -s "${4:-benches/load/count.lua}" \
        "$3" >/dev/null 2>&1 &
    wrk_pid=$!
    while [ ! -e "$done_file" ] && kill -0 "$wrk_pid" 2>/dev/null; do sleep 0.1; done
    kill "$wrk_pid" 2>/dev/null; wait "$wrk_pid" 2>/dev/null || true
    rm -f "$done_file"
}

# Every variant of the load bench, under its stable name: bare, ours (RED, the access
# log, OpenTelemetry), and the peers.
ALL_VARIANTS="axum-bare axum-readiness axum-readiness-log axum-readiness-otel
    axum-readiness-otel-all axum-readiness-spans axum-prometheus axum-tracelayer
    axum-tracing-opentelemetry axum-tower-otel axum-route-layer actix-bare actix-readiness
    actix-readiness-log actix-readiness-otel actix-readiness-otel-all
    actix-readiness-spans actix-web-prom actix-tracing-actix-web
    actix-tracing-actix-web-otel"

# The variants served by `load-peer` (benches/load/peers): peers that speak another
# OpenTelemetry version than the workspace, built outside it.
PEER_VARIANTS="actix-tracing-actix-web-otel"

# The binary that serves variant $1.
server_of() {
    case " $PEER_VARIANTS " in
        *" $1 "*) echo target/peers/release/load-peer ;;
        *) echo target/release/load-server ;;
    esac
}

# Builds the load server, and `load-peer` (its own workspace and lock file, in
# target/peers) when one of the variants $@ needs it.
build_servers() {
    cargo build --release --locked -q -p readiness-benches --features load --bin load-server
    local variant
    for variant in "$@"; do
        case " $PEER_VARIANTS " in
            *" $variant "*)
                CARGO_TARGET_DIR=target/peers cargo build --release --locked -q \
                    --manifest-path benches/load/peers/Cargo.toml --bin load-peer
                return
                ;;
        esac
    done
}
