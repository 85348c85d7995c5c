//! The RabbitMQ check against the machine's real broker, through the fault proxy.
#![cfg(feature = "amqp")]

mod support;

use std::time::Duration;

use readiness_core::{checks, Details, Endpoint, Readiness, Status};
use support::faults::{fault_matrix, service_url, through, upstream};
use support::proxy::Proxy;

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The application's connection: auto-recovery on, retrying quickly.
async fn connection(url: &str) -> lapin::Connection {
    let properties = lapin::ConnectionProperties::default()
        .enable_auto_recover()
        .configure_backoff(|backoff| {
            backoff
                .with_min_delay(Duration::from_millis(50))
                .with_max_delay(Duration::from_millis(100))
                .with_max_times(1000)
        });
    lapin::Connection::connect(url, properties)
        .await
        .expect("RabbitMQ at TEST_AMQP_URL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_goes_through_the_fault_matrix() {
    let url = service_url("TEST_AMQP_URL", AMQP);
    let proxy = Proxy::start(upstream(&url).await).await;
    let connection = connection(&through(&url, proxy.addr())).await;
    fault_matrix(&proxy, checks::amqp(connection), "not connected", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_connection_passes_and_the_password_never_shows() {
    let url = service_url("TEST_AMQP_URL", AMQP);
    let connection = std::sync::Arc::new(connection(&url).await);
    let readiness = Readiness::builder()
        .details(Details::Full)
        .check(
            checks::amqp(connection.clone())
                .name("broker")
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    assert_eq!(readiness.check_status("broker"), Some(Status::Pass));
    connection.close(200, "test over".into()).await.unwrap();
    readiness.refresh().await;
    let body = support::get(&readiness, Endpoint::Check("broker"), None).2;
    assert_eq!(
        readiness.check_status("broker"),
        Some(Status::Fail),
        "{body}"
    );
    assert_eq!(
        support::json(&body)["checks"]["broker:responseTime"][0]["output"],
        "not connected"
    );
    assert!(!body.contains("guest"), "{body}");
}
