//! The fault matrix every dependency check goes through, and the real servers' addresses.

use std::time::{Duration, Instant};

use readiness_core::{CheckSpec, Endpoint, Readiness, Status};

use super::proxy::{Mode, Proxy};
use super::request;

pub const TIMEOUT: Duration = Duration::from_millis(2500);
/// Above a cold connect (MariaDB takes some 350 ms here), below one slowed chunk.
pub const WARN_ABOVE: Duration = Duration::from_millis(500);
/// Each chunk from the server is held this long: a check's one or two round trips
/// stay under the timeout.
pub const SLOW: Duration = Duration::from_millis(600);
/// After a fault heals, the next refresh comes an interval later (seconds, in
/// production): give clients that reconnect in the background that long, and no more.
pub const SETTLE: Duration = Duration::from_millis(300);

/// A URL from `var`, or `default`: the machine's real servers.
pub fn service_url(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// The `host:port` of a URL such as `postgres://user@127.0.0.1:5432/test`.
pub fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, host)| host)
}

/// `url` with its `host:port` replaced by `addr`'s.
pub fn through(url: &str, addr: std::net::SocketAddr) -> String {
    url.replacen(authority(url), &addr.to_string(), 1)
}

pub async fn upstream(url: &str) -> std::net::SocketAddr {
    let authority = authority(url);
    tokio::net::lookup_host(authority)
        .await
        .unwrap_or_else(|e| panic!("cannot resolve {authority}: {e}"))
        .next()
        .unwrap()
}

fn status(readiness: &Readiness, name: &str) -> (Status, String) {
    let (_, _, body) = request(readiness, Endpoint::Check(name), "GET", None, None);
    (readiness.check_status(name).unwrap(), body)
}

/// Refreshes and returns the status, the body of the check's endpoint, and the time taken.
async fn run(readiness: &Readiness, name: &str) -> (Status, String, Duration) {
    let started = Instant::now();
    readiness.refresh().await;
    let (status, body) = status(readiness, name);
    (status, body, started.elapsed())
}

/// healthy -> pass; slow -> warn; refused -> fail fast; black-holed -> fail at the
/// timeout while probes answer at once; healed -> pass again on the next refresh.
///
/// `spec` must reach its server through `proxy`. `exchanges_data` is false for checks
/// that only connect: the proxy can neither slow nor black-hole a bare TCP connect
/// (the kernel completes the handshake), so those phases are skipped for them.
pub async fn fault_matrix(
    proxy: &Proxy,
    spec: CheckSpec,
    refused_output: &str,
    exchanges_data: bool,
) {
    let name = spec.check_name().to_owned();
    let readiness = Readiness::builder()
        .details(readiness_core::Details::Full)
        .check(
            spec.timeout(TIMEOUT)
                .interval(Duration::from_secs(3600))
                .warn_above(WARN_ABOVE),
        )
        .build()
        .unwrap();

    // The first run opens the first connection; what follows is steady state.
    let (got, body, _) = run(&readiness, &name).await;
    assert!(got.is_healthy(), "first run: {body}");
    let (got, body, _) = run(&readiness, &name).await;
    assert_eq!(got, Status::Pass, "healthy: {body}");

    if exchanges_data {
        proxy.set(Mode::Slow(SLOW)).await;
        let (got, body, _) = run(&readiness, &name).await;
        assert_eq!(got, Status::Warn, "slow: {body}");
        assert!(body.contains("\"output\":\"slow: "), "slow: {body}");
        proxy.set(Mode::Pass).await;
        tokio::time::sleep(SETTLE).await;
        let (got, body, _) = run(&readiness, &name).await;
        assert_eq!(got, Status::Pass, "after slow: {body}");
    }

    // The server goes away: open connections are reset, new ones refused. The first
    // run may meet a pooled connection (`connection reset`), the next must be refused.
    proxy.set(Mode::Refuse).await;
    for attempt in 0..2 {
        let (got, body, took) = run(&readiness, &name).await;
        assert_eq!(got, Status::Fail, "refused: {body}");
        assert!(
            took < TIMEOUT / 3,
            "refused should fail fast, took {took:?}: {body}"
        );
        let expected: &[&str] = if attempt == 0 {
            &[refused_output, "connection reset"]
        } else {
            &[refused_output]
        };
        assert!(
            expected
                .iter()
                .any(|output| body.contains(&format!("\"output\":\"{output}\""))),
            "refused, run {attempt}: {body}"
        );
    }

    proxy.set(Mode::Pass).await;
    tokio::time::sleep(SETTLE).await;
    let (got, body, _) = run(&readiness, &name).await;
    assert_eq!(got, Status::Pass, "healed after refusal: {body}");

    if exchanges_data {
        black_hole(proxy, &readiness, &name).await;
    }
}

async fn black_hole(proxy: &Proxy, readiness: &Readiness, name: &str) {
    proxy.set(Mode::Blackhole).await;
    let started = Instant::now();
    let refreshing = {
        let readiness = readiness.clone();
        tokio::spawn(async move { readiness.refresh().await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let probe_started = Instant::now();
    let (code, _, _) = request(readiness, Endpoint::Readyz, "GET", None, None);
    let probe_took = probe_started.elapsed();
    assert_eq!(
        code, 200,
        "a probe during a hung check answers from the snapshot"
    );
    assert!(
        probe_took < Duration::from_millis(20),
        "probe took {probe_took:?}"
    );
    refreshing.await.unwrap();
    let took = started.elapsed();
    let (got, body) = status(readiness, name);
    assert_eq!(got, Status::Fail, "black-holed: {body}");
    assert!(
        took + Duration::from_millis(100) >= TIMEOUT
            && took <= TIMEOUT + Duration::from_millis(100),
        "black-holed should fail at its timeout, took {took:?}: {body}"
    );

    proxy.set(Mode::Pass).await;
    tokio::time::sleep(SETTLE).await;
    let (got, body, _) = run(readiness, name).await;
    assert_eq!(got, Status::Pass, "healed after black hole: {body}");
}
