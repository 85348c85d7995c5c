//! Check results as metrics, the registry, and metric settings validated at build.

mod support;

use std::time::Duration;

use readiness_core::{CheckSpec, Readiness};
use support::{fail, pass, Scripted};

fn scrape(readiness: &Readiness) -> String {
    String::from_utf8(readiness.metrics_response().body().to_vec()).unwrap()
}

#[tokio::test]
async fn check_results_become_status_duration_and_failures() {
    let check = Scripted::new([pass(), fail("down"), fail("down")]);
    let readiness = Readiness::builder()
        .check(
            CheckSpec::new("db", check)
                .interval(Duration::from_secs(3600))
                .failure_threshold(2),
        )
        .build()
        .unwrap();
    // Every check has a failure series from the start.
    assert!(scrape(&readiness).contains(r#"health_check_failures_total{check="db"} 0"#));
    readiness.refresh().await;
    let text = scrape(&readiness);
    assert!(
        text.contains(r#"health_check_status{check="db"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"health_check_duration_seconds_count{check="db"} 1"#),
        "{text}"
    );
    readiness.refresh().await; // first failure: dampened, still reported pass
    let text = scrape(&readiness);
    assert!(
        text.contains(r#"health_check_status{check="db"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"health_check_failures_total{check="db"} 1"#),
        "{text}"
    );
    readiness.refresh().await;
    let text = scrape(&readiness);
    assert!(
        text.contains(r#"health_check_status{check="db"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(r#"health_check_failures_total{check="db"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn the_services_own_registry_is_served_with_a_namespace() {
    let registry = prometheus::Registry::new();
    let orders = prometheus::IntCounter::new("orders_created_total", "Orders created.").unwrap();
    registry.register(Box::new(orders.clone())).unwrap();
    orders.inc();
    let readiness = Readiness::builder()
        .registry(registry)
        .metrics_namespace("shop")
        .service("orders", "2.0.0")
        .build()
        .unwrap();
    readiness
        .red()
        .start("GET", Some("/orders"), None)
        .unwrap()
        .finish(200, Some(2));
    let text = scrape(&readiness);
    assert!(text.contains("orders_created_total 1"), "{text}");
    assert!(
        text.contains("shop_http_server_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(text.contains(r#"shop_service_info{"#), "{text}");
}

#[tokio::test]
async fn metric_settings_are_validated_naming_the_field() {
    let err = Readiness::builder()
        .metrics_namespace("9lives")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "metrics_namespace");
    let err = Readiness::builder()
        .duration_buckets(vec![0.1, 0.05])
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "duration_buckets");
    let err = Readiness::builder()
        .duration_buckets(vec![])
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "duration_buckets");
    let err = Readiness::builder().max_routes(0).build().unwrap_err();
    assert_eq!(err.field(), "max_routes");
    // Two `Readiness` on one registry would register the same families twice.
    let registry = prometheus::Registry::new();
    Readiness::builder()
        .registry(registry.clone())
        .build()
        .unwrap();
    let err = Readiness::builder().registry(registry).build().unwrap_err();
    assert_eq!(err.field(), "registry");
    assert!(err.message().contains("registered already"), "{err}");
}

#[tokio::test]
async fn check_measurements_and_cache_lookups_become_gauges_and_counters() {
    use readiness_core::{CheckOutcome, Measurement};
    let outcome = CheckOutcome::pass()
        .with_measurement(Measurement::new("connections", 40.0, "connections"))
        .with_measurement(Measurement::new("idleConnections", 3.0, "connections"));
    let readiness = Readiness::builder()
        .check(
            CheckSpec::new("db", Scripted::new([support::Step::Outcome(outcome)]))
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    let users = readiness.cache("users");
    for hit in [true, true, true, false] {
        users.record(hit);
    }
    let text = scrape(&readiness);
    assert!(
        text.contains(r#"health_check_observed_value{check="db",measurement="connections"} 40"#),
        "{text}"
    );
    assert!(
        text.contains(r#"health_check_observed_value{check="db",measurement="idleConnections"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"cache_requests_total{cache="users",result="hit"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"cache_requests_total{cache="users",result="miss"} 1"#),
        "{text}"
    );
}
