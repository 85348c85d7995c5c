//! The built service, run as a child process and stopped with real signals: the
//! phases of a graceful shutdown, under load and with idle connections.

mod support;

const EXE: &str = env!("CARGO_BIN_EXE_axum-service");

#[test]
fn drains_under_load() {
    support::drains_under_load(EXE);
}

#[test]
fn idle_connections_do_not_hold_shutdown() {
    support::idle_connections_do_not_hold_shutdown(EXE);
}

#[test]
fn a_request_past_the_deadline_is_reported() {
    support::a_request_past_the_deadline_is_reported(EXE);
}

#[test]
fn a_second_signal_exits_at_once() {
    support::a_second_signal_exits_at_once(EXE);
}
