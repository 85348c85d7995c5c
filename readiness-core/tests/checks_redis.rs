//! The Redis check against the machine's real server, through the fault proxy.
#![cfg(feature = "redis")]

mod support;

use std::time::Duration;

use readiness_core::{checks, Details, Endpoint, Readiness, Status};
use support::faults::{fault_matrix, service_url, through, upstream};
use support::proxy::Proxy;

const REDIS: &str = "redis://127.0.0.1:6379";

/// The application's settings: a response timeout above the proxy's slowed replies,
/// and one connect retry so a refusal surfaces (the default, 6 retries with backoff,
/// spends seconds before a command sees the error: the check then reports a timeout).
fn config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_connection_manager_goes_through_the_fault_matrix() {
    let url = service_url("TEST_REDIS_URL", REDIS);
    let proxy = Proxy::start(upstream(&url).await).await;
    let client = redis::Client::open(through(&url, proxy.addr())).unwrap();
    let manager = redis::aio::ConnectionManager::new_with_config(client, config())
        .await
        .expect("Redis at TEST_REDIS_URL");
    fault_matrix(&proxy, checks::redis(manager), "connection refused", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multiplexed_connection_works_too() {
    let url = service_url("TEST_REDIS_URL", REDIS);
    let client = redis::Client::open(url).unwrap();
    let connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at TEST_REDIS_URL");
    let readiness = Readiness::builder()
        .details(Details::Full)
        .check(
            checks::redis(connection)
                .name("cache")
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    assert_eq!(readiness.check_status("cache"), Some(Status::Pass));
    let (_, _, body) = support::get(&readiness, Endpoint::Check("cache"), None);
    let body = support::json(&body);
    assert_eq!(
        body["checks"]["cache:responseTime"][0]["componentType"],
        "datastore"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_authentication_failed_and_never_shown() {
    let url = service_url("TEST_REDIS_URL", REDIS);
    // The server has no password: AUTH with one fails the same way a wrong one does.
    let bad = url.replacen("redis://", "redis://nobody:hunter2-secret@", 1);
    let client = redis::Client::open(bad).unwrap();
    let connection = redis::aio::ConnectionManager::new_lazy_with_config(client, config()).unwrap();
    let readiness = Readiness::builder()
        .details(Details::Full)
        .check(
            checks::redis(connection)
                .timeout(Duration::from_secs(5))
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    let (_, _, body) = support::get(&readiness, Endpoint::Check("redis"), None);
    assert!(!body.contains("hunter2"), "{body}");
    assert_eq!(
        support::json(&body)["checks"]["redis:responseTime"][0]["output"],
        "authentication failed",
        "{body}"
    );
}
