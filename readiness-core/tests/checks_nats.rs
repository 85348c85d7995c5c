//! The NATS check against the machine's real server, through the fault proxy.
#![cfg(feature = "nats")]

mod support;

use std::time::Duration;

use readiness_core::{checks, Details, Endpoint, Readiness, Status};
use support::faults::{fault_matrix, service_url, through, upstream};
use support::proxy::Proxy;

const NATS: &str = "nats://127.0.0.1:4222";

/// The application's client: it reconnects quickly once the server is back.
async fn client(url: &str) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .reconnect_delay_callback(|_| Duration::from_millis(50))
        .connect(url)
        .await
        .expect("NATS at TEST_NATS_URL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_goes_through_the_fault_matrix() {
    let url = service_url("TEST_NATS_URL", NATS);
    let proxy = Proxy::start(upstream(&url).await).await;
    let client = client(&through(&url, proxy.addr())).await;
    fault_matrix(&proxy, checks::nats(client), "not connected", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_trip_passes_even_with_a_responder_on_another_subject() {
    let url = service_url("TEST_NATS_URL", NATS);
    let client = client(&url).await;
    let _unrelated = client.subscribe("orders.>").await.unwrap();
    let readiness = Readiness::builder()
        .details(Details::Full)
        .check(
            checks::nats(client)
                .name("events")
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    readiness.refresh().await;
    assert_eq!(readiness.check_status("events"), Some(Status::Pass));
    let body = support::json(&support::get(&readiness, Endpoint::Check("events"), None).2);
    assert_eq!(
        body["checks"]["events:responseTime"][0]["componentType"],
        "component"
    );
}
