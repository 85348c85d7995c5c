//! The HTTP check never writes credentials or query strings to the log. In a test
//! binary of its own: a subscriber set for one thread must not share callsites with
//! tests on other threads.
#![cfg(feature = "http")]

mod support;

use std::time::Duration;

use readiness_core::checks::{self, HttpCheck};
use readiness_core::{Details, Endpoint, Readiness, Status};
use support::{get, http_server, json};

async fn run(check: HttpCheck) -> (Status, serde_json::Value) {
    let readiness = Readiness::builder()
        .details(Details::Full)
        .check(checks::http(check).interval(Duration::from_secs(3600)))
        .build()
        .unwrap();
    readiness.refresh().await;
    let body = json(&get(&readiness, Endpoint::Check("http"), None).2);
    (readiness.check_status("http").unwrap(), body)
}

#[tokio::test]
async fn credentials_and_query_strings_never_reach_logs_or_bodies() {
    let (sink, _guard) = support::capture_logs();

    let server = http_server::start().await;
    // One refused (nothing listens on the port after drop), one with a bad status.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    for url in [
        format!("http://admin:hunter2-secret@{server}/unavailable?token=sk-live-123"),
        format!("http://admin:hunter2-secret@{closed}/ok?token=sk-live-123"),
    ] {
        let (status, body) = run(HttpCheck::get(url)).await;
        assert_eq!(status, Status::Fail);
        let body = body.to_string();
        assert!(
            !body.contains("hunter2") && !body.contains("sk-live"),
            "{body}"
        );
    }
    let log = sink.text();
    assert!(log.contains("health check status changed"), "{log}");
    assert!(
        log.contains("/unavailable"),
        "the log names the redacted URL: {log}"
    );
    assert!(
        !log.contains("hunter2") && !log.contains("sk-live") && !log.contains("admin"),
        "{log}"
    );
}
