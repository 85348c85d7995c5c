//! Zero errors under load with HTTP/2 and WebSockets (issue 20, RELIABILITY.md):
//! the built service as a child process, HTTP/1.1 keep-alive clients plus 20 %
//! HTTP/2 (h2c, prior knowledge) clients and open WebSockets, stopped by SIGTERM
//! mid-load; each WebSocket's closing handshake completed (the scenario is in
//! `support/h2_websockets.rs`, shared with the actix-web example).

mod support;

const EXE: &str = env!("CARGO_BIN_EXE_axum-service");

#[test]
fn h1_h2c_and_websockets_drain_without_errors() {
    support::h1_h2c_and_websockets_drain_without_errors(EXE);
}
