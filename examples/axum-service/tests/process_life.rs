//! Back-pressure and process life (RELIABILITY.md): the built service with its
//! stdout on a pipe nobody reads, and as PID 1 of its own PID namespace.

mod support;

const EXE: &str = env!("CARGO_BIN_EXE_axum-service");

#[test]
fn stdout_nobody_reads() {
    support::stdout_nobody_reads(EXE);
}

#[test]
fn as_pid_one_sigterm() {
    support::as_pid_one(EXE, "TERM");
}

#[test]
fn as_pid_one_sigint() {
    support::as_pid_one(EXE, "INT");
}
