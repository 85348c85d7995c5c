//! RED metrics through the axum adapter: names, labels, cardinality, panics,
//! cancellations, exclusions.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use futures_util::FutureExt as _;
use http_body_util::BodyExt as _;
use readiness_axum::Instrumented;
use readiness_core::observe::{End, RequestHead};
use readiness_core::Readiness;
use tower::ServiceExt as _;

fn app(readiness: &Readiness) -> Instrumented {
    let router = Router::new()
        .route(
            "/users/{id}",
            get(|| async { "user" }).post(|| async { StatusCode::CREATED }),
        )
        .route("/orders", get(|| async { "[]" }))
        .route(
            "/boom",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("handler panicked");
                }
                "unreachable"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        );
    readiness_axum::instrument(router, readiness)
}

/// Sends a request and reads the whole answer, as a client does: a request is
/// recorded when its body has been written out.
async fn call(app: &Instrumented, method: Method, uri: &str) -> StatusCode {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    response.into_body().collect().await.unwrap();
    status
}

async fn scrape(app: &Instrumented) -> String {
    let response = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The `_count` series of the duration histogram: label set -> count.
fn counts(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("http_server_request_duration_seconds_count{"))
        .map(|rest| {
            let (labels, value) = rest.rsplit_once("} ").unwrap();
            (labels.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn count_of(text: &str, method: &str, status: &str, route: &str) -> u64 {
    let labels = format!(
        r#"http_request_method="{method}",http_response_status_code="{status}",http_route="{route}""#
    );
    counts(text)
        .into_iter()
        .find(|(l, _)| *l == labels)
        .map_or(0, |(_, n)| n)
}

fn active(text: &str, method: &str) -> i64 {
    let prefix = format!(r#"http_server_active_requests{{http_request_method="{method}"}} "#);
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn requests_are_counted_by_method_route_template_and_status() {
    let readiness = Readiness::builder()
        .service("orders", "1.4.2")
        .instance("pod-1")
        .build()
        .unwrap();
    let app = app(&readiness);
    assert_eq!(call(&app, Method::GET, "/users/1").await, StatusCode::OK);
    assert_eq!(call(&app, Method::GET, "/users/2").await, StatusCode::OK);
    let post = Request::post("/users/2")
        .header("content-length", "5")
        .body(Body::from("hello"))
        .unwrap();
    let response = app.clone().oneshot(post).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.into_body().collect().await.unwrap();
    assert_eq!(
        call(&app, Method::DELETE, "/users/2").await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let text = scrape(&app).await;
    assert_eq!(count_of(&text, "GET", "200", "/users/{id}"), 2, "{text}");
    assert_eq!(count_of(&text, "POST", "201", "/users/{id}"), 1, "{text}");
    assert_eq!(count_of(&text, "DELETE", "405", "/users/{id}"), 1, "{text}");
    assert!(
        text.contains(r#"service_info{instance="pod-1",service="orders",version="1.4.2"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"http_server_request_body_size_bytes_sum{http_request_method="POST",http_response_status_code="201",http_route="/users/{id}"} 5"#), "{text}");
    assert!(text.contains(r#"http_server_response_body_size_bytes_sum{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}"} 8"#), "{text}");
    assert_eq!(active(&text, "GET"), 0);
}

#[tokio::test]
async fn a_scan_of_ten_thousand_random_paths_adds_one_series() {
    let readiness = Readiness::builder().build().unwrap();
    let app = app(&readiness);
    call(&app, Method::GET, "/orders").await;
    let before = counts(&scrape(&app).await).len();
    for i in 0..10_000u32 {
        let path = format!("/scan/{}/{:x}", i, i.wrapping_mul(2_654_435_761));
        assert_eq!(call(&app, Method::GET, &path).await, StatusCode::NOT_FOUND);
    }
    let text = scrape(&app).await;
    assert_eq!(
        counts(&text).len(),
        before + 1,
        "one `_UNMATCHED` series, nothing else"
    );
    assert_eq!(count_of(&text, "GET", "404", "_UNMATCHED"), 10_000);
    assert!(!text.contains("/scan/"));
}

#[tokio::test]
async fn unknown_methods_are_other_and_routes_past_the_cap_are_other() {
    let readiness = Readiness::builder().max_routes(1).build().unwrap();
    let app = app(&readiness);
    let brew = Method::from_bytes(b"BREW").unwrap();
    call(&app, brew, "/orders").await;
    call(&app, Method::GET, "/orders").await;
    call(&app, Method::GET, "/users/1").await;
    let text = scrape(&app).await;
    assert_eq!(count_of(&text, "_OTHER", "405", "/orders"), 1, "{text}");
    assert_eq!(count_of(&text, "GET", "200", "/orders"), 1, "{text}");
    assert_eq!(count_of(&text, "GET", "200", "_OTHER"), 1, "{text}");
}

#[tokio::test]
async fn probes_and_metrics_are_not_counted_by_default() {
    let readiness = Readiness::builder().build().unwrap();
    let app = app(&readiness);
    for uri in ["/livez", "/readyz", "/startupz", "/health", "/metrics"] {
        call(&app, Method::GET, uri).await;
    }
    let text = scrape(&app).await;
    assert!(counts(&text).is_empty(), "{text}");

    let readiness = Readiness::builder()
        .exclude_routes(["/orders"])
        .build()
        .unwrap();
    let app = self::app(&readiness);
    call(&app, Method::GET, "/orders").await;
    call(&app, Method::GET, "/readyz").await;
    let text = scrape(&app).await;
    assert_eq!(count_of(&text, "GET", "200", "/readyz"), 1, "{text}");
    assert_eq!(count_of(&text, "GET", "200", "/orders"), 0, "{text}");
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_in_flight_returns_to_zero() {
    let readiness = Readiness::builder().build().unwrap();
    let app = app(&readiness);
    let request = Request::get("/boom").body(Body::empty()).unwrap();
    let result = AssertUnwindSafe(app.clone().oneshot(request))
        .catch_unwind()
        .await;
    assert!(result.is_err(), "the panic reaches the caller");
    let text = scrape(&app).await;
    assert_eq!(count_of(&text, "GET", "500", "/boom"), 1, "{text}");
    assert_eq!(active(&text, "GET"), 0, "{text}");
}

#[tokio::test]
async fn a_request_dropped_by_a_gone_client_is_counted_once_as_499() {
    let readiness = Readiness::builder().build().unwrap();
    let app = app(&readiness);
    let pending = tokio::spawn({
        let app = app.clone();
        async move { call(&app, Method::GET, "/slow").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(active(&scrape(&app).await, "GET"), 1);
    pending.abort();
    let _ = pending.await;
    let text = scrape(&app).await;
    assert_eq!(count_of(&text, "GET", "499", "/slow"), 1, "{text}");
    assert_eq!(active(&text, "GET"), 0, "{text}");
}

#[tokio::test]
async fn hostile_label_values_are_escaped_by_the_encoder() {
    let readiness = Readiness::builder().build().unwrap();
    let head = RequestHead::new("GET", "/a", &()).with_route(Some("/a\"b\n} 1\n{c}\\"));
    let mut observation = readiness.observer().begin(&head).unwrap();
    observation.responded(200);
    observation.end(End::Completed);
    let app = readiness_axum::instrument(Router::new(), &readiness);
    let text = scrape(&app).await;
    assert!(text.contains(r#"http_route="/a\"b\n} 1\n{c}\\""#), "{text}");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            ["http_", "health_", "service_", "cache_", "process_", "system_"]
                .iter()
                .any(|prefix| line.starts_with(prefix)),
            "forged line: {line}"
        );
    }
}
