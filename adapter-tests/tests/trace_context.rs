//! W3C trace context on both adapters: a caller's `traceparent` becomes the parent of
//! the request's span, the handler's log lines carry that trace id, and
//! `inject_context` hands the trace (and the caller's baggage) on to the next call.
#![cfg(feature = "otel")]

mod support;

use std::sync::{Arc, Mutex};

use actix_web::test::{call_service, init_service, read_body, TestRequest};
use actix_web::{web, App, HttpResponse};
use http_body_util::BodyExt as _;
use readiness_core::logging::LogSettings;
use readiness_core::telemetry::{inject_context, OtelSettings, Telemetry};
use readiness_core::Readiness;
use support::Capture;
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const BAGGAGE: &str = "tenant=acme,plan=gold";

/// What the handler would send onwards: `traceparent` and `baggage`.
type Sent = Mutex<Option<(String, String)>>;

fn handler_work(sent: &Sent) {
    tracing::info!("in the handler");
    let mut headers = http::HeaderMap::new();
    inject_context(&mut headers);
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    *sent.lock().unwrap() = Some((header("traceparent"), header("baggage")));
}

fn check(out: &Capture, sent: &Sent) {
    let text = out.text();
    let handler = text
        .lines()
        .find(|l| l.contains("in the handler"))
        .unwrap_or_else(|| panic!("no handler line in {text}"));
    let line: serde_json::Value = serde_json::from_str(handler).unwrap();
    assert_eq!(line["trace_id"], TRACE, "{handler}");
    let (onward, baggage) = sent.lock().unwrap().clone().expect("headers to send on");
    let mut entries: Vec<&str> = baggage.split(',').map(str::trim).collect();
    entries.sort_unstable();
    assert_eq!(entries, ["plan=gold", "tenant=acme"], "baggage {baggage:?}");
    let parts: Vec<&str> = onward.split('-').collect();
    assert_eq!(parts[1], TRACE, "{onward}");
    assert_ne!(
        parts[2], "00f067aa0ba902b7",
        "the request's own span is the parent now"
    );
    assert_eq!(parts[2], line["span_id"], "{onward} vs {handler}");
}

#[actix_web::test]
async fn axum_continues_the_callers_trace() {
    let out = Capture::default();
    let (otel, _guard) = Telemetry::from_settings(OtelSettings::from_lookup(|_| None).unwrap())
        .build()
        .unwrap();
    let logs = LogSettings::new().build(out.clone()).unwrap();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel).with(logs));
    let sent = Arc::new(Mutex::new(None));
    let readiness = Readiness::builder().build().unwrap();
    let seen = Arc::clone(&sent);
    let router = axum::Router::new().route(
        "/work",
        axum::routing::get(move || {
            handler_work(&seen);
            async { "done" }
        }),
    );
    let app = readiness_axum::instrument(router, &readiness);
    let response = app
        .oneshot(
            axum::http::Request::get("/work")
                .header("traceparent", TRACEPARENT)
                .header("baggage", BAGGAGE)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
    check(&out, &sent);
}

#[actix_web::test]
async fn actix_continues_the_callers_trace() {
    let out = Capture::default();
    let (otel, _guard) = Telemetry::from_settings(OtelSettings::from_lookup(|_| None).unwrap())
        .build()
        .unwrap();
    let logs = LogSettings::new().build(out.clone()).unwrap();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel).with(logs));
    let sent = Arc::new(Mutex::new(None));
    let readiness = Readiness::builder().build().unwrap();
    let seen = Arc::clone(&sent);
    let app = init_service(
        App::new()
            .wrap(readiness_actix::Observe::new(&readiness))
            .route(
                "/work",
                web::get().to(move || {
                    handler_work(&seen);
                    async { HttpResponse::Ok().body("done") }
                }),
            ),
    )
    .await;
    let response = call_service(
        &app,
        TestRequest::get()
            .uri("/work")
            .insert_header(("traceparent", TRACEPARENT))
            .insert_header(("baggage", BAGGAGE))
            .to_request(),
    )
    .await;
    read_body(response).await;
    check(&out, &sent);
}
