//! Request ids, the request span and the access line, the same on both adapters.

mod support;

use actix_web::test::{call_service, init_service, read_body, TestRequest};
use actix_web::{web, App, HttpResponse};
use http_body_util::BodyExt as _;
use readiness_core::logging::{Format, LogSettings};
use readiness_core::Readiness;
use serde_json::{Map, Value};
use support::Capture;
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// The lines written, parsed.
fn lines(out: &Capture) -> Vec<Map<String, Value>> {
    out.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The requests both adapters get: (path, X-Request-Id sent).
const REQUESTS: &[(&str, Option<&str>)] = &[
    ("/users/7?token=secret-in-query", Some("abc-123")),
    ("/users/8", Some("bad id with \"quotes\" {}")),
    ("/users/9", None),
    ("/readyz", Some("probe-1")),
    ("/nope", None),
];

/// What the test looks at in a line: everything but the timestamp and the ids that
/// are generated.
fn comparable(line: &Map<String, Value>) -> Map<String, Value> {
    let mut line = line.clone();
    line.remove("timestamp");
    line.remove("duration_ms");
    if let Some(Value::String(id)) = line.get("request_id") {
        if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            line.insert("request_id".into(), "generated".into());
        }
    }
    line
}

async fn via_axum() -> (Vec<Map<String, Value>>, Vec<Option<String>>) {
    let out = Capture::default();
    let readiness = Readiness::builder()
        .service("orders", "1.0.0")
        .build()
        .unwrap();
    let layer = LogSettings::new()
        .service("orders", "1.0.0")
        .format(Format::Json)
        .build(out.clone())
        .unwrap();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let router = axum::Router::new().route(
        "/users/{id}",
        axum::routing::get(|| async {
            tracing::info!(lookup = "users", "in the handler");
            "user"
        }),
    );
    let app = readiness_axum::instrument(router, &readiness);
    let mut echoed = Vec::new();
    for (path, id) in REQUESTS {
        let mut request = axum::http::Request::get(*path)
            .header("user-agent", "test-agent/1.0")
            .header("authorization", "Bearer secret-token-123");
        if let Some(id) = id {
            request = request.header("x-request-id", *id);
        }
        let response = app
            .clone()
            .oneshot(request.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        echoed.push(
            response
                .headers()
                .get("x-request-id")
                .map(|v| v.to_str().unwrap().to_owned()),
        );
        response.into_body().collect().await.unwrap();
    }
    (lines(&out), echoed)
}

async fn via_actix() -> (Vec<Map<String, Value>>, Vec<Option<String>>) {
    let out = Capture::default();
    let readiness = Readiness::builder()
        .service("orders", "1.0.0")
        .build()
        .unwrap();
    let layer = LogSettings::new()
        .service("orders", "1.0.0")
        .format(Format::Json)
        .build(out.clone())
        .unwrap();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let app = init_service(
        App::new()
            .wrap(readiness_actix::Observe::new(&readiness))
            .route(
                "/users/{id}",
                web::get().to(|| async {
                    tracing::info!(lookup = "users", "in the handler");
                    HttpResponse::Ok().body("user")
                }),
            )
            .configure(readiness_actix::configure(&readiness)),
    )
    .await;
    let mut echoed = Vec::new();
    for (path, id) in REQUESTS {
        let mut request = TestRequest::get()
            .uri(path)
            .insert_header(("user-agent", "test-agent/1.0"))
            .insert_header(("authorization", "Bearer secret-token-123"));
        if let Some(id) = id {
            request = request.insert_header(("x-request-id", *id));
        }
        let response = call_service(&app, request.to_request()).await;
        echoed.push(
            response
                .headers()
                .get("x-request-id")
                .map(|v| v.to_str().unwrap().to_owned()),
        );
        read_body(response).await;
    }
    (lines(&out), echoed)
}

#[actix_web::test]
async fn both_adapters_give_the_same_ids_spans_and_access_lines() {
    let (axum_lines, axum_ids) = via_axum().await;
    let (actix_lines, actix_ids) = via_actix().await;
    for (framework, lines, ids) in [
        ("axum", &axum_lines, &axum_ids),
        ("actix", &actix_lines, &actix_ids),
    ] {
        let text = format!("{lines:#?}");
        assert!(!text.contains("secret-token"), "a header leaked: {text}");
        assert!(
            !text.contains("secret-in-query"),
            "the query leaked: {text}"
        );

        // A safe id is kept and echoed; an unsafe one is replaced; none gets one.
        assert_eq!(ids[0].as_deref(), Some("abc-123"));
        let replaced = ids[1].as_deref().unwrap();
        assert_eq!(replaced.len(), 32, "{replaced}");
        let generated = ids[2].as_deref().unwrap();
        assert_ne!(generated, replaced);
        assert_eq!(ids[3], None, "probes are not logged and get no id");

        let handler: Vec<_> = lines
            .iter()
            .filter(|l| l["message"] == "in the handler")
            .collect();
        let access: Vec<_> = lines
            .iter()
            .filter(|l| l["target"] == "readiness::access")
            .collect();
        assert_eq!(handler.len(), 3, "{text}");
        assert_eq!(
            access.len(),
            4,
            "three users and the unmatched path: {text}"
        );
        for (i, line) in handler.iter().enumerate() {
            assert_eq!(line["request_id"], ids[i].as_deref().unwrap(), "{text}");
            // actix routes after its middleware: the route joins the span only
            // when the answer is ready, so the handler's own lines lack it there.
            if framework == "axum" {
                assert_eq!(line["route"], "/users/{id}", "{text}");
            }
            assert_eq!(line["method"], "GET");
            assert_eq!(line["user_agent"], "test-agent/1.0");
            assert_eq!(line["lookup"], "users");
        }
        let first = access[0];
        assert_eq!(first["request_id"], "abc-123");
        assert_eq!(first["category"], "performance");
        assert_eq!(first["path"], "/users/7");
        assert_eq!(first["route"], "/users/{id}");
        assert_eq!(first["status"], 200);
        assert_eq!(first["response_bytes"], 4);
        assert!(first["duration_ms"].as_f64().unwrap() >= 0.0);
        assert_eq!(access[3]["status"], 404);
        assert_eq!(access[3]["request_id"], ids[4].as_deref().unwrap());
    }
    // Line for line, the same keys and values on both (but the clock).
    let axum: Vec<_> = axum_lines.iter().map(comparable).collect();
    let actix: Vec<_> = actix_lines.iter().map(comparable).collect();
    assert_eq!(axum.len(), actix.len());
    for (a, b) in axum.iter().zip(&actix) {
        let (mut a, mut b) = (a.clone(), b.clone());
        if a["message"] == "in the handler" {
            a.remove("route");
            b.remove("route");
        }
        let (a, b) = (&a, &b);
        let a_keys: Vec<&String> = a.keys().collect();
        let b_keys: Vec<&String> = b.keys().collect();
        assert_eq!(a_keys, b_keys, "\naxum:  {a:?}\nactix: {b:?}");
        for key in [
            "message",
            "category",
            "request_id",
            "status",
            "route",
            "path",
            "method",
        ] {
            assert_eq!(a.get(key), b.get(key), "{key}\naxum:  {a:?}\nactix: {b:?}");
        }
    }
}

#[actix_web::test]
async fn the_access_log_can_be_turned_off() {
    let out = Capture::default();
    let readiness = Readiness::builder().access_log(false).build().unwrap();
    let layer = LogSettings::new().build(out.clone()).unwrap();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let app = init_service(
        App::new()
            .wrap(readiness_actix::Observe::new(&readiness))
            .route("/x", web::get().to(HttpResponse::Ok)),
    )
    .await;
    let response = call_service(&app, TestRequest::get().uri("/x").to_request()).await;
    assert!(response.headers().get("x-request-id").is_none());
    read_body(response).await;
    assert!(lines(&out).is_empty());
}

/// The access lines of three requests through axum (the second without a
/// `User-Agent`), logged with `settings`.
async fn access_lines(settings: LogSettings) -> Vec<Map<String, Value>> {
    let out = Capture::default();
    let readiness = Readiness::builder().build().unwrap();
    let layer = settings.build(out.clone()).unwrap();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let router = axum::Router::new().route("/users/{id}", axum::routing::get(|| async { "user" }));
    let app = readiness_axum::instrument(router, &readiness);
    for (path, agent) in [
        ("/users/1", Some("first-agent")),
        ("/users/2", None),
        ("/users/3", Some("third-agent")),
    ] {
        let mut request = axum::http::Request::get(path);
        if let Some(agent) = agent {
            request = request.header("user-agent", agent);
        }
        let response = app
            .clone()
            .oneshot(request.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    lines(&out)
        .into_iter()
        .filter(|l| l["target"] == "readiness::access")
        .collect()
}

/// Our layer takes the request span's and the access line's values typed when the
/// redaction rules keep their names, and visits them when a rule applies to one:
/// both ways give the same lines but for what the rule changes, and no value of
/// one request shows in the next one's line.
#[tokio::test]
async fn rules_on_the_request_fields_apply_and_no_value_carries_over() {
    let plain = access_lines(LogSettings::new()).await;
    let ruled = access_lines(
        LogSettings::new()
            .deny_fields(["user_agent"])
            .confidential("path", readiness_core::logging::Confidential::Mask),
    )
    .await;
    assert_eq!(plain.len(), 3);
    assert_eq!(ruled.len(), 3);
    for (i, (plain, ruled)) in plain.iter().zip(&ruled).enumerate() {
        let text = format!("{plain:?}\n{ruled:?}");
        let n = i + 1;
        assert_eq!(plain["path"], format!("/users/{n}"), "{text}");
        assert_eq!(ruled["path"], format!("****rs/{n}"), "{text}");
        if n == 2 {
            assert!(!plain.contains_key("user_agent"), "{text}");
            assert!(!ruled.contains_key("user_agent"), "{text}");
        } else {
            let agent = if n == 1 { "first-agent" } else { "third-agent" };
            assert_eq!(plain["user_agent"], agent, "{text}");
            assert_eq!(
                ruled["user_agent"],
                readiness_core::logging::REDACTED,
                "{text}"
            );
        }
        let (mut plain, mut ruled) = (comparable(plain), comparable(ruled));
        for key in ["path", "user_agent", "request_id"] {
            plain.remove(key);
            ruled.remove(key);
        }
        assert_eq!(plain, ruled);
        let keys: Vec<&String> = plain.keys().collect(); // sorted
        assert_eq!(
            keys,
            [
                "category",
                "classification",
                "level",
                "message",
                "method",
                "response_bytes",
                "route",
                "status",
                "target"
            ],
            "{text}"
        );
    }
}
