//! The log-level route and the admin listener, the same on both adapters.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::test::{call_service, init_service, read_body, TestRequest};
use actix_web::{web, App, HttpResponse, HttpServer};
use http_body_util::BodyExt as _;
use readiness_core::logging::{Format, LogFilter, LogSettings};
use readiness_core::Readiness;
use serde_json::Value;
use support::Capture;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::ServiceExt as _;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;

const TOKEN: &str = "an-operator-token-0123";

/// A step of the script both adapters run.
enum Step {
    /// method, body, `Authorization`, `X-Request-Id`
    Call(
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
    ),
    /// A `debug` line of target `orders`.
    Debug(&'static str),
}

const BEARER: Option<&str> = Some("Bearer an-operator-token-0123");

const SCRIPT: &[Step] = &[
    Step::Call("GET", "", None, None),
    Step::Call("GET", "", Some("Bearer wrong-token-0123456789"), None),
    Step::Call("PUT", "debug", None, None),
    Step::Call("GET", "", BEARER, None),
    Step::Debug("before the change"),
    Step::Call(
        "PUT",
        r#"{"filter":"info,orders=debug"}"#,
        BEARER,
        Some("change-1"),
    ),
    Step::Debug("after the change"),
    Step::Call("POST", "orders=loud", BEARER, None),
    Step::Call("PUT", r#"{"filter":""}"#, BEARER, None),
    Step::Call("GET", "", BEARER, None),
    Step::Call("DELETE", "", BEARER, Some("reset-1")),
    Step::Debug("after the reset"),
    Step::Call("POST", "warn,orders=trace", BEARER, None),
    Step::Call("POST", r#"{"reset":true}"#, BEARER, None),
    Step::Call("PATCH", "", BEARER, None),
];

/// What each call answered (status, body), the lines written, and the answer of a
/// service without a details token.
type Run = (Vec<(u16, Value)>, Vec<Value>, u16);

fn service(token: bool) -> (Readiness, impl tracing::Subscriber + Send + Sync, Capture) {
    let out = Capture::default();
    let (filter, log_filter) = LogFilter::new("info").unwrap();
    let mut builder = Readiness::builder()
        .service("orders", "1.0.0")
        .log_filter(log_filter);
    if token {
        builder = builder.details_token(TOKEN);
    }
    let readiness = builder.build().unwrap();
    let layer = LogSettings::new()
        .service("orders", "1.0.0")
        .format(Format::Json)
        .level(LevelFilter::TRACE) // the reloadable filter decides
        .build(out.clone())
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(filter).with(layer);
    (readiness, subscriber, out)
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

fn lines(out: &Capture) -> Vec<Value> {
    out.lines().iter().map(|l| json(l.as_bytes())).collect()
}

fn debug(message: &str) {
    tracing::debug!(target: "orders", "{message}");
}

async fn via_axum() -> Run {
    let (readiness, subscriber, out) = service(true);
    let _default = tracing::subscriber::set_default(subscriber);
    let app = readiness_axum::instrument(axum::Router::new(), &readiness);
    let mut answers = Vec::new();
    for step in SCRIPT {
        let (method, body, auth, id) = match step {
            Step::Debug(message) => {
                debug(message);
                continue;
            }
            Step::Call(method, body, auth, id) => (method, body, auth, id),
        };
        let mut request = axum::http::Request::builder()
            .method(*method)
            .uri("/log-level");
        if let Some(auth) = auth {
            request = request.header("authorization", *auth);
        }
        if let Some(id) = id {
            request = request.header("x-request-id", *id);
        }
        let request = request.body(axum::body::Body::from(*body)).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        answers.push((status, json(&body)));
    }
    let (readiness, _subscriber, _out) = service(false);
    let request = axum::http::Request::get("/log-level")
        .header("authorization", BEARER.unwrap())
        .body(axum::body::Body::empty())
        .unwrap();
    let app = readiness_axum::instrument(axum::Router::new(), &readiness);
    let no_token = app.oneshot(request).await.unwrap().status().as_u16();
    (answers, lines(&out), no_token)
}

async fn via_actix() -> Run {
    let (readiness, subscriber, out) = service(true);
    let _default = tracing::subscriber::set_default(subscriber);
    let app = init_service(
        App::new()
            .wrap(readiness_actix::Observe::new(&readiness))
            .configure(readiness_actix::configure(&readiness)),
    )
    .await;
    let mut answers = Vec::new();
    for step in SCRIPT {
        let (method, body, auth, id) = match step {
            Step::Debug(message) => {
                debug(message);
                continue;
            }
            Step::Call(method, body, auth, id) => (method, body, auth, id),
        };
        let mut request = TestRequest::default()
            .method(method.parse().unwrap())
            .uri("/log-level")
            .set_payload(*body);
        if let Some(auth) = auth {
            request = request.insert_header(("authorization", *auth));
        }
        if let Some(id) = id {
            request = request.insert_header(("x-request-id", *id));
        }
        let response = call_service(&app, request.to_request()).await;
        let status = response.status().as_u16();
        answers.push((status, json(&read_body(response).await)));
    }
    let (readiness, _subscriber, _out) = service(false);
    let app = init_service(App::new().configure(readiness_actix::configure(&readiness))).await;
    let request = TestRequest::get()
        .uri("/log-level")
        .insert_header(("authorization", BEARER.unwrap()))
        .to_request();
    let no_token = call_service(&app, request).await.status().as_u16();
    (answers, lines(&out), no_token)
}

#[actix_web::test]
async fn the_log_level_route_reads_sets_refuses_and_resets_on_both_adapters() {
    let axum_run = via_axum().await;
    let actix_run = via_actix().await;
    for (framework, (answers, lines, no_token)) in [("axum", &axum_run), ("actix", &actix_run)] {
        let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
        assert_eq!(
            statuses,
            [401, 401, 401, 200, 200, 400, 400, 200, 200, 200, 200, 405],
            "{framework}: {answers:?}"
        );
        let state = |filter: &str| serde_json::json!({"filter": filter, "startup": "info"});
        assert_eq!(answers[3].1, state("info"), "{framework}");
        assert_eq!(answers[4].1, state("orders=debug,info"), "{framework}");
        // A bad filter: the parser's message, nothing changed.
        let detail = answers[5].1["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("invalid log filter: "),
            "{framework}: {detail}"
        );
        assert!(answers[6].1["detail"]
            .as_str()
            .unwrap()
            .contains("no directives"));
        assert_eq!(answers[7].1, state("orders=debug,info"), "{framework}");
        assert_eq!(answers[8].1, state("info"), "{framework}");
        assert_eq!(answers[9].1, state("orders=trace,warn"), "{framework}");
        assert_eq!(answers[10].1, state("info"), "{framework}");
        assert_eq!(*no_token, 403, "{framework}");

        // The debug line appears after the change only.
        let messages: Vec<&str> = lines
            .iter()
            .filter(|l| l["target"] == "orders")
            .map(|l| l["message"].as_str().unwrap())
            .collect();
        assert_eq!(messages, ["after the change"], "{framework}");

        // Four refusals (the last by the service without a token): security
        // events, without the token in any line.
        let refusals: Vec<&Value> = lines
            .iter()
            .filter(|l| l["category"] == "security" && l["resource"] == "/log-level")
            .map(|l| &l["reason"])
            .collect();
        assert_eq!(
            refusals,
            [
                "no bearer token",
                "wrong bearer token",
                "no bearer token",
                "no details token is configured"
            ],
            "{framework}"
        );
        assert!(lines.iter().all(|l| !l.to_string().contains(TOKEN)));

        // Each change is an audit line: who (the request), from what, to what.
        let audits: Vec<&Value> = lines.iter().filter(|l| l["category"] == "audit").collect();
        assert_eq!(audits.len(), 4, "{framework}: {audits:?}");
        assert_eq!(audits[0]["action"], "update");
        assert_eq!(audits[0]["resource_type"], "log_filter");
        assert_eq!(audits[0]["actor"], "details-token");
        assert_eq!(audits[0]["request_id"], "change-1", "{framework}");
        assert_eq!(audits[0]["from"], "info");
        assert_eq!(audits[0]["to"], "orders=debug,info");
        assert_eq!(audits[1]["action"], "reset");
        assert_eq!(audits[1]["request_id"], "reset-1", "{framework}");
        assert_eq!(audits[1]["from"], "orders=debug,info");
        assert_eq!(audits[1]["to"], "info");
        // `warn,...` hides the audit line: it is written before the change.
        assert_eq!(audits[2]["to"], "orders=trace,warn");
    }
    assert_eq!(axum_run.0, actix_run.0);
}

/// `GET path` over a fresh connection: the status and the body, or `None` when the
/// connection is refused.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

fn listener() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    listener
}

fn readiness() -> Readiness {
    Readiness::builder()
        .service("orders", "1.0.0")
        .build()
        .unwrap()
}

/// What both adapters must show: the app on the main port, the probes and
/// `/metrics` on the admin port only, admin requests unrecorded, readiness failing on
/// both at the shutdown, then both closed.
async fn check_listeners(
    main: SocketAddr,
    admin: SocketAddr,
    trigger: impl FnOnce(),
    done: impl std::future::Future<Output = readiness_core::shutdown::ShutdownOutcome>,
) {
    assert_eq!(get(main, "/hello").await.unwrap().0, 200);
    assert_eq!(get(main, "/readyz").await.unwrap().0, 404);
    assert_eq!(get(main, "/metrics").await.unwrap().0, 404);
    assert_eq!(get(admin, "/readyz").await.unwrap().0, 200);
    assert_eq!(get(admin, "/livez").await.unwrap().0, 200);
    assert_eq!(get(admin, "/hello").await.unwrap().0, 404);
    let (status, metrics) = get(admin, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains(r#"http_route="/hello""#), "{metrics}");
    // The admin port's own requests are not recorded.
    assert!(!metrics.contains(r#"http_route="/readyz""#), "{metrics}");
    assert!(!metrics.contains(r#"http_route="/livez""#), "{metrics}");

    trigger();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The drain delay: readiness fails on the admin port, the app still serves.
    assert_eq!(get(admin, "/readyz").await.unwrap().0, 503);
    assert_eq!(get(main, "/hello").await.unwrap().0, 200);
    let outcome = tokio::time::timeout(Duration::from_secs(10), done)
        .await
        .expect("both servers stop");
    assert!(outcome.clean(), "{outcome:?}");
    assert!(closed(main).await, "the main port is closed");
    assert!(closed(admin).await, "the admin port is closed");
}

/// Whether connections to `addr` are refused within a second.
async fn closed(addr: SocketAddr) -> bool {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn axum_serves_the_admin_routes_on_their_own_port_and_stops_both() {
    let readiness = readiness();
    let app = readiness_axum::Instrument::new(&readiness)
        .health_routes(false)
        .metrics_route(false)
        .log_level_route(false)
        .apply(axum::Router::new().route("/hello", axum::routing::get(|| async { "hi" })));
    let (main, admin) = (listener(), listener());
    let (main_addr, admin_addr) = (main.local_addr().unwrap(), admin.local_addr().unwrap());
    let shutdown = readiness
        .shutdown()
        .signals(false)
        .drain_delay(Duration::from_millis(300))
        .build()
        .unwrap();
    let handle = shutdown.handle();
    let served = tokio::spawn(readiness_axum::serve_with_admin(
        tokio::net::TcpListener::from_std(main).unwrap(),
        app,
        tokio::net::TcpListener::from_std(admin).unwrap(),
        readiness_axum::admin_router(&readiness),
        shutdown,
    ));
    check_listeners(main_addr, admin_addr, || handle.trigger("test"), async {
        served.await.unwrap()
    })
    .await;
}

#[actix_web::test]
async fn actix_serves_the_admin_routes_on_their_own_port_and_stops_both() {
    let readiness = readiness();
    let observe = readiness_actix::Observe::new(&readiness);
    let (main, admin) = (listener(), listener());
    let (main_addr, admin_addr) = (main.local_addr().unwrap(), admin.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new().wrap(observe.clone()).route(
            "/hello",
            web::get().to(|| async { HttpResponse::Ok().body("hi") }),
        )
    })
    .workers(1)
    .disable_signals()
    .h1_allow_half_closed(false)
    .listen(main)
    .unwrap()
    .run();
    let admin = readiness_actix::admin_server(&readiness, admin).unwrap();
    let shutdown = readiness
        .shutdown()
        .signals(false)
        .drain_delay(Duration::from_millis(300))
        .build()
        .unwrap();
    let handle = shutdown.handle();
    let served = actix_web::rt::spawn(readiness_actix::run_with_admin(server, admin, shutdown));
    check_listeners(main_addr, admin_addr, || handle.trigger("test"), async {
        served.await.unwrap()
    })
    .await;
}
