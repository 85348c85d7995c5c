//! The built service, run as a child process: secrets in request headers, query
//! strings and configured URLs never reach its logs, answers, metrics or spans.

mod support;

#[test]
fn no_secret_reaches_an_output() {
    support::no_secret_reaches_an_output(env!("CARGO_BIN_EXE_actix-web-service"));
}
