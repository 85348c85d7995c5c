//! The built service, run as a child process: spans reach an OTLP collector when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

mod support;

#[test]
fn exports_spans_when_an_endpoint_is_set() {
    support::exports_spans_when_an_endpoint_is_set(env!("CARGO_BIN_EXE_axum-service"));
}
