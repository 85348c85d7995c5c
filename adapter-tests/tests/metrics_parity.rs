//! The same requests through both adapters record the same metric families, label
//! sets and counts.

#[path = "../../readiness-core/tests/support/openmetrics.rs"]
mod openmetrics;

use actix_web::test::{call_service, init_service, read_body, TestRequest};
use actix_web::{web, App, HttpResponse};
use axum::routing::get;
use http_body_util::BodyExt as _;
use readiness_core::Readiness;
use tower::ServiceExt as _;

const REQUESTS: &[&str] = &[
    "/users/1",
    "/users/2",
    "/orders",
    "/fail",
    "/nope",
    "/readyz",
    "/metrics",
    "/users/3",
    "/health/nope", // excluded by its template, known only after routing on actix
];

/// The `_count` series of the duration histogram, the response sizes, and the
/// in-flight gauges.
fn series(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            l.starts_with("http_server_request_duration_seconds_count")
                || l.starts_with("http_server_response_body_size_bytes_sum")
                || l.starts_with("http_server_response_body_size_bytes_count")
                || l.starts_with("http_server_active_requests")
        })
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

fn families(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("# TYPE http_server"))
        .collect()
}

async fn via_axum() -> String {
    let readiness = Readiness::builder().build().unwrap();
    let router = axum::Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/orders", get(|| async { "[]" }))
        .route(
            "/fail",
            get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down") }),
        );
    let app = readiness_axum::instrument(router, &readiness);
    for uri in REQUESTS {
        let request = axum::http::Request::get(*uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap(); // as a client reads it
    }
    let request = axum::http::Request::get("/metrics")
        .body(axum::body::Body::empty())
        .unwrap();
    let body = app
        .oneshot(request)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

async fn via_actix() -> String {
    let readiness = Readiness::builder().build().unwrap();
    let app = init_service(
        App::new()
            .wrap(readiness_actix::Observe::new(&readiness))
            .route(
                "/users/{id}",
                web::get().to(|| async { HttpResponse::Ok().body("user") }),
            )
            .route(
                "/orders",
                web::get().to(|| async { HttpResponse::Ok().body("[]") }),
            )
            .route(
                "/fail",
                web::get().to(|| async {
                    Err::<HttpResponse, _>(actix_web::error::ErrorServiceUnavailable("down"))
                }),
            )
            .configure(readiness_actix::configure(&readiness)),
    )
    .await;
    for uri in REQUESTS {
        let response = call_service(&app, TestRequest::get().uri(uri).to_request()).await;
        read_body(response).await; // as a client reads it
    }
    let response = call_service(&app, TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "text/plain; version=0.0.4"
    );
    String::from_utf8(read_body(response).await.to_vec()).unwrap()
}

#[actix_web::test]
async fn both_adapters_record_the_same_series() {
    let axum = via_axum().await;
    let actix = via_actix().await;
    assert_eq!(families(&axum), families(&actix));
    assert_eq!(
        series(&axum),
        series(&actix),
        "axum:\n{axum}\nactix:\n{actix}"
    );
    let expected = [
        r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/orders"} 1"#,
        r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}"} 3"#,
        r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="404",http_route="_UNMATCHED"} 1"#,
        r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="503",http_route="/fail"} 1"#,
    ];
    for line in expected {
        assert!(actix.lines().any(|l| l == line), "missing {line}\n{actix}");
    }
    assert!(
        !actix.contains(r#"http_route="/readyz""#) && !actix.contains(r#"http_route="/metrics""#)
    );
}

#[actix_web::test]
async fn an_actix_handler_that_panics_is_a_500_under_its_route() {
    let readiness = Readiness::builder().build().unwrap();
    let app = init_service(
        App::new()
            .wrap(readiness_actix::Observe::new(&readiness))
            .route(
                "/boom",
                web::get().to(|| async {
                    if std::hint::black_box(true) {
                        panic!("handler panicked");
                    }
                    HttpResponse::Ok().finish()
                }),
            ),
    )
    .await;
    let call = std::panic::AssertUnwindSafe(call_service(
        &app,
        TestRequest::get().uri("/boom").to_request(),
    ));
    assert!(futures_util::FutureExt::catch_unwind(call).await.is_err());
    let text = String::from_utf8(readiness.metrics_response().body().to_vec()).unwrap();
    // Counted once as a 500 under its route, matched from the path since no
    // response came back to read it from.
    assert!(
        text.contains(r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="500",http_route="/boom"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_server_active_requests{http_request_method="GET"} 0"#),
        "{text}"
    );
}

#[actix_web::test]
async fn both_adapters_answer_openmetrics_when_the_scraper_asks() {
    const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5";
    const OM_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    // axum
    let readiness = Readiness::builder().build().unwrap();
    let app = readiness_axum::instrument(axum::Router::new(), &readiness);
    for (accept, content_type) in [
        (Some(OPENMETRICS), OM_TYPE),
        (None, "text/plain; version=0.0.4"),
    ] {
        let mut request = axum::http::Request::get("/metrics");
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = app
            .clone()
            .oneshot(request.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], content_type);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(text.ends_with("# EOF\n"), accept.is_some(), "{text}");
        if accept.is_some() {
            // The official Python client's strict OpenMetrics parser accepts it.
            openmetrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
    }
    // actix-web
    let readiness = Readiness::builder().build().unwrap();
    let app = init_service(App::new().configure(readiness_actix::configure(&readiness))).await;
    for (accept, content_type) in [
        (Some(OPENMETRICS), OM_TYPE),
        (None, "text/plain; version=0.0.4"),
    ] {
        let mut request = TestRequest::get().uri("/metrics");
        if let Some(accept) = accept {
            request = request.insert_header(("accept", accept));
        }
        let response = call_service(&app, request.to_request()).await;
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            content_type
        );
        let text = String::from_utf8(read_body(response).await.to_vec()).unwrap();
        assert_eq!(text.ends_with("# EOF\n"), accept.is_some(), "{text}");
        if accept.is_some() {
            openmetrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
    }
}
