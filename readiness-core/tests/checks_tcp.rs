//! The TCP check against a real server (PostgreSQL's port) through the fault proxy.

mod support;

use readiness_core::{checks, Readiness};
use support::faults::{fault_matrix, service_url, upstream};
use support::proxy::Proxy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_goes_through_the_fault_matrix() {
    let url = service_url(
        "TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let proxy = Proxy::start(upstream(&url).await).await;
    // A bare connect exchanges no data, so the proxy cannot slow it down.
    fault_matrix(
        &proxy,
        checks::tcp(proxy.addr().to_string()),
        "connection refused",
        false,
    )
    .await;
}

#[tokio::test]
async fn bad_addresses_are_build_errors_naming_the_check() {
    for address in ["nohost", "host:", "host:0", "host:99999", ":80", "::1:80"] {
        let err = Readiness::builder()
            .check(checks::tcp(address).name("upstream"))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "checks[upstream].address", "{address}: {err}");
    }
    for address in ["localhost:80", "10.0.0.1:5432", "[::1]:6379"] {
        Readiness::builder()
            .check(checks::tcp(address))
            .build()
            .unwrap();
    }
}

#[tokio::test]
async fn a_connect_that_hangs_fails_at_the_timeout() {
    use std::time::{Duration, Instant};
    // A listener that never accepts, its backlog filled: Linux then drops new SYNs,
    // so a connect hangs as it would against a black-holed host.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(stream);
        }
    }
    let timeout = Duration::from_millis(500);
    let readiness = Readiness::builder()
        .details(readiness_core::Details::Full)
        .check(
            checks::tcp(addr.to_string())
                .timeout(timeout)
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    let started = Instant::now();
    readiness.refresh().await;
    let took = started.elapsed();
    assert_eq!(
        readiness.check_status("tcp"),
        Some(readiness_core::Status::Fail)
    );
    assert!(
        took >= timeout && took <= timeout + Duration::from_millis(100),
        "{took:?}"
    );
    drop(listener);
}
