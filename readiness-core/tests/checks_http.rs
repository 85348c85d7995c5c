//! The HTTP check against a local server of the test's own, through the fault proxy.
#![cfg(feature = "http")]

mod support;

use std::time::Duration;

use readiness_core::checks::{self, HttpCheck};
use readiness_core::{Details, Endpoint, Readiness, Status};
use support::faults::fault_matrix;
use support::proxy::Proxy;
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

fn output(body: &serde_json::Value) -> &str {
    body["checks"]["http:responseTime"][0]["output"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_goes_through_the_fault_matrix() {
    let server = http_server::start().await;
    let proxy = Proxy::start(server).await;
    let url = format!("http://{}/ok", proxy.addr());
    fault_matrix(&proxy, checks::http_get(url), "connection refused", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_bodies_and_redirects() {
    let server = http_server::start().await;
    let url = |path: &str| format!("http://{server}{path}");

    assert_eq!(run(HttpCheck::get(url("/ok"))).await.0, Status::Pass);
    assert_eq!(run(HttpCheck::get(url("/redirect"))).await.0, Status::Pass);
    assert_eq!(
        run(HttpCheck::get(url("/ok")).body_contains("ok")).await.0,
        Status::Pass
    );

    let (status, body) = run(HttpCheck::get(url("/unavailable"))).await;
    assert_eq!(status, Status::Fail);
    assert_eq!(output(&body), "unexpected status 503");

    let (status, _) = run(HttpCheck::get(url("/unavailable")).expect_status(200..=503)).await;
    assert_eq!(status, Status::Pass);

    let (status, body) = run(HttpCheck::get(url("/teapot")).body_contains("ok")).await;
    assert_eq!(status, Status::Fail);
    assert_eq!(output(&body), "unexpected response body");

    let (status, body) = run(HttpCheck::get(url("/loop"))).await;
    assert_eq!(status, Status::Fail);
    assert_eq!(output(&body), "too many redirects");
}

#[tokio::test]
async fn bad_urls_are_build_errors_naming_the_check() {
    for url in [
        "not a url",
        "ftp://example.com/",
        "/relative",
        "http//missing-colon",
    ] {
        let err = Readiness::builder()
            .check(checks::http_get(url).name("upstream"))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "checks[upstream].url", "{url}: {err}");
        assert!(
            !err.to_string().contains(url),
            "the URL may hold secrets: {err}"
        );
    }
    let err = Readiness::builder()
        .check(checks::http(
            HttpCheck::get("http://x/").expect_status(600..=700),
        ))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "checks[http].expect_status");
}
