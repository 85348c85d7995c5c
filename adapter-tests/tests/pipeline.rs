//! One request pipeline, two frameworks: each rule of the observation holds through
//! the axum adapter and the actix-web adapter alike (and, where axum's types cannot
//! reach a case, through the tower layer it is built on).

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::test::{call_service, init_service, read_body, TestRequest};
use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::FutureExt as _;
use http_body_util::BodyExt as _;
use readiness_core::logging::LogSettings;
use readiness_core::Readiness;
use support::Capture;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

const PROBES: [&str; 5] = [
    "/ops/livez",
    "/ops/readyz",
    "/ops/health",
    "/ops/health/db",
    "/ops/metrics",
];

fn readiness() -> Readiness {
    Readiness::builder()
        .max_routes(8)
        .check(readiness_core::checks::from_fn("db", || async { true }))
        .build()
        .unwrap()
}

fn scrape(readiness: &Readiness) -> String {
    String::from_utf8(readiness.metrics_response().body().to_vec()).unwrap()
}

/// The value of the series `name{labels}`, 0 when absent.
fn value(text: &str, name: &str, labels: &str) -> f64 {
    let series = format!("{name}{{{labels}}}");
    text.lines()
        .find_map(|line| line.strip_prefix(&series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn count(text: &str, method: &str, status: &str, route: &str) -> f64 {
    value(
        text,
        "http_server_request_duration_seconds_count",
        &format!(
            r#"http_request_method="{method}",http_response_status_code="{status}",http_route="{route}""#
        ),
    )
}

fn counted(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("http_server_request_duration_seconds_count"))
        .collect()
}

fn in_flight(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("http_server_active_requests{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until the scrape satisfies `done`.
async fn eventually(readiness: &Readiness, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(readiness);
        if done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- the same app on both frameworks ----

fn axum_app(readiness: &Readiness) -> readiness_axum::Instrumented {
    use axum::routing::{get, post};
    let mut router = axum::Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/boom",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("handler panicked");
                }
                "never"
            }),
        )
        .route(
            "/slow/{ms}",
            get(
                |axum::extract::Path(ms): axum::extract::Path<u64>| async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    "slow"
                },
            ),
        )
        .route(
            "/upload",
            post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/fail",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down") }),
        )
        .nest("/ops", readiness_axum::routes(readiness));
    for route in ["/r/a", "/r/b", "/r/c", "/r/d"] {
        router = router.route(route, get(|| async { "r" }));
    }
    readiness_axum::instrument(router, readiness)
}

fn actix_routes(config: &mut web::ServiceConfig) {
    config
        .route(
            "/users/{id}",
            web::get().to(|| async { HttpResponse::Ok().body("user") }),
        )
        .route(
            "/boom",
            web::get().to(|| async {
                if std::hint::black_box(true) {
                    panic!("handler panicked");
                }
                HttpResponse::Ok().finish()
            }),
        )
        .route(
            "/slow/{ms}",
            web::get().to(|ms: web::Path<u64>| async move {
                actix_web::rt::time::sleep(Duration::from_millis(*ms)).await;
                HttpResponse::Ok().body("slow")
            }),
        )
        .route(
            "/upload",
            web::post().to(|body: web::Bytes| async move {
                HttpResponse::Ok().body(body.len().to_string())
            }),
        )
        .route(
            "/fail",
            web::get().to(|| async { HttpResponse::InternalServerError().body("down") }),
        );
    for route in ["/r/a", "/r/b", "/r/c", "/r/d"] {
        config.route(route, web::get().to(|| async { "r" }));
    }
}

macro_rules! actix_app {
    ($readiness:expr) => {
        App::new()
            .wrap(readiness_actix::Observe::new($readiness))
            .configure(actix_routes)
            .service(web::scope("/ops").configure(readiness_actix::configure($readiness)))
            .configure(readiness_actix::configure($readiness))
    };
}

async fn serve_axum(readiness: &Readiness) -> SocketAddr {
    let app = axum_app(readiness);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn serve_actix(readiness: &Readiness) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let readiness = readiness.clone();
    let server = HttpServer::new(move || actix_app!(&readiness))
        .workers(1)
        .disable_signals()
        .h1_allow_half_closed(false)
        .listen(listener)
        .unwrap()
        .run();
    actix_web::rt::spawn(server);
    addr
}

/// Calls the axum app in-process; a panic is returned as `None`.
async fn via_axum(app: &readiness_axum::Instrumented, method: &str, uri: &str) -> Option<u16> {
    let request = axum::http::Request::builder()
        .method(axum::http::Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    let call = std::panic::AssertUnwindSafe(app.clone().oneshot(request));
    let response = call.catch_unwind().await.ok()?.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    Some(status)
}

/// Calls an actix app in-process; a panic is returned as `None`.
async fn via_actix<S, B>(app: &S, method: &str, uri: &str) -> Option<u16>
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let request = TestRequest::default()
        .method(actix_web::http::Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri)
        .to_request();
    let call = std::panic::AssertUnwindSafe(call_service(app, request));
    let response = call.catch_unwind().await.ok()?;
    let status = response.status().as_u16();
    read_body(response).await;
    Some(status)
}

// ---- the rules ----

#[actix_web::test]
async fn a_panic_keeps_its_route_and_is_a_500() {
    let readiness = readiness();
    assert_eq!(via_axum(&axum_app(&readiness), "GET", "/boom").await, None);
    let text = scrape(&readiness);
    assert_eq!(count(&text, "GET", "500", "/boom"), 1.0, "axum:\n{text}");
    assert_eq!(in_flight(&text), 0.0, "axum:\n{text}");

    let readiness = self::readiness();
    let app = init_service(actix_app!(&readiness)).await;
    assert_eq!(via_actix(&app, "GET", "/boom").await, None);
    let text = scrape(&readiness);
    assert_eq!(count(&text, "GET", "500", "/boom"), 1.0, "actix:\n{text}");
    assert_eq!(in_flight(&text), 0.0, "actix:\n{text}");
}

/// A client that sends `GET /slow/1500` and closes its socket after 300 ms.
async fn leave_early(addr: SocketAddr) {
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET /slow/1500 HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(client);
}

async fn client_gone_is_a_499_with_its_route(readiness: &Readiness, addr: SocketAddr) {
    let started = Instant::now();
    leave_early(addr).await;
    let text = eventually(readiness, "a 499", |text| {
        count(text, "GET", "499", "/slow/{ms}") == 1.0
    })
    .await;
    assert!(started.elapsed() < Duration::from_millis(1400), "{text}");
    // The handler does not go on to answer for nobody.
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(started.elapsed())).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = scrape(readiness);
    assert_eq!(count(&text, "GET", "200", "/slow/{ms}"), 0.0, "{text}");
    assert_eq!(in_flight(&text), 0.0, "{text}");
}

#[actix_web::test]
async fn a_client_gone_before_the_head_is_a_499_with_its_route() {
    let readiness = readiness();
    let addr = serve_axum(&readiness).await;
    client_gone_is_a_499_with_its_route(&readiness, addr).await;

    let readiness = self::readiness();
    let addr = serve_actix(&readiness);
    client_gone_is_a_499_with_its_route(&readiness, addr).await;
}

#[actix_web::test]
async fn an_inner_err_is_counted_under_its_route() {
    use actix_web::dev::Service as _;
    use tower::Layer as _;

    // actix-web: a middleware inside `Observe` refuses with an `Err`.
    let readiness = readiness();
    let app = init_service(
        App::new()
            .wrap_fn(|request, service| {
                let refuse = request.path().starts_with("/users/");
                let call = (!refuse).then(|| service.call(request));
                async move {
                    match call {
                        Some(call) => call.await,
                        None => Err(actix_web::error::ErrorForbidden("no")),
                    }
                }
            })
            .wrap(readiness_actix::Observe::new(&readiness))
            .configure(actix_routes),
    )
    .await;
    let request = TestRequest::get().uri("/users/7").to_request();
    let refused = app.call(request).await;
    assert!(refused.is_err());
    let text = scrape(&readiness);
    assert_eq!(
        count(&text, "GET", "403", "/users/{id}"),
        1.0,
        "actix:\n{text}"
    );
    assert_eq!(in_flight(&text), 0.0, "actix:\n{text}");

    // tower (what the axum adapter is built on; axum's own types let no `Err` out
    // of a router): the inner service fails, the server will answer 500.
    #[derive(Clone)]
    struct Users;
    impl<B> readiness_core::observe::RouteTemplate<B> for Users {
        fn route<'a>(&self, _request: &'a http::Request<B>) -> Option<&'a str> {
            Some("/users/{id}")
        }
    }
    let readiness = self::readiness();
    let service = readiness_core::observe::ObserveLayer::new(readiness.observer(), Users).layer(
        tower::service_fn(|_request: http::Request<String>| async {
            Err::<http::Response<String>, _>(std::io::Error::other("refused"))
        }),
    );
    let request = http::Request::get("/users/7").body(String::new()).unwrap();
    assert!(service.oneshot(request).await.is_err());
    let text = scrape(&readiness);
    assert_eq!(
        count(&text, "GET", "500", "/users/{id}"),
        1.0,
        "tower:\n{text}"
    );
    assert_eq!(in_flight(&text), 0.0, "tower:\n{text}");
}

/// 10,000 distinct paths nobody routes.
fn scan() -> impl Iterator<Item = String> {
    (0..10_000u32).map(|i| format!("/scan/{:08x}/{i}", i.wrapping_mul(2_654_435_761)))
}

#[actix_web::test]
async fn a_path_scan_adds_at_most_one_series() {
    let readiness = readiness();
    let app = axum_app(&readiness);
    assert_eq!(via_axum(&app, "GET", "/users/1").await, Some(200));
    let before = counted(&scrape(&readiness)).len();
    for path in scan() {
        assert_eq!(via_axum(&app, "GET", &path).await, Some(404));
    }
    let text = scrape(&readiness);
    assert!(counted(&text).len() <= before + 1, "axum:\n{text}");
    assert_eq!(count(&text, "GET", "404", "_UNMATCHED"), 10_000.0);

    let readiness = self::readiness();
    let app = init_service(actix_app!(&readiness)).await;
    assert_eq!(via_actix(&app, "GET", "/users/1").await, Some(200));
    let before = counted(&scrape(&readiness)).len();
    for path in scan() {
        assert_eq!(via_actix(&app, "GET", &path).await, Some(404));
    }
    let text = scrape(&readiness);
    assert!(counted(&text).len() <= before + 1, "actix:\n{text}");
    assert_eq!(count(&text, "GET", "404", "_UNMATCHED"), 10_000.0);
}

fn methods_are_bounded(text: &str, framework: &str) {
    assert!(!text.contains("BREW"), "{framework}:\n{text}");
    assert!(
        counted(text)
            .iter()
            .any(|l| l.contains(r#"http_request_method="_OTHER""#)),
        "{framework}:\n{text}"
    );
}

#[actix_web::test]
async fn unknown_methods_are_other() {
    let readiness = readiness();
    let app = axum_app(&readiness);
    via_axum(&app, "BREW", "/users/1").await.unwrap();
    methods_are_bounded(&scrape(&readiness), "axum");

    let readiness = self::readiness();
    let app = init_service(actix_app!(&readiness)).await;
    via_actix(&app, "BREW", "/users/1").await.unwrap();
    methods_are_bounded(&scrape(&readiness), "actix");
}

fn routes_are_capped(text: &str, framework: &str) {
    // The cap is 8 distinct templates: /users/{id}, /fail, /slow/{ms}, /upload, /boom
    // and /r/a to /r/c fill it; /r/d is `_OTHER`.
    for route in ["/r/a", "/r/b", "/r/c"] {
        assert_eq!(
            count(text, "GET", "200", route),
            1.0,
            "{framework}:\n{text}"
        );
    }
    assert_eq!(
        count(text, "GET", "200", "/r/d"),
        0.0,
        "{framework}:\n{text}"
    );
    assert_eq!(
        count(text, "GET", "200", "_OTHER"),
        1.0,
        "{framework}:\n{text}"
    );
}

#[actix_web::test]
async fn routes_past_the_cap_are_other() {
    let filler = ["/users/1", "/fail", "/slow/0", "/boom"];
    let readiness = readiness();
    let app = axum_app(&readiness);
    for uri in filler {
        via_axum(&app, "GET", uri).await;
    }
    via_axum(&app, "POST", "/upload").await.unwrap();
    for uri in ["/r/a", "/r/b", "/r/c", "/r/d"] {
        via_axum(&app, "GET", uri).await.unwrap();
    }
    routes_are_capped(&scrape(&readiness), "axum");

    let readiness = self::readiness();
    let app = init_service(actix_app!(&readiness)).await;
    for uri in filler {
        via_actix(&app, "GET", uri).await;
    }
    via_actix(&app, "POST", "/upload").await.unwrap();
    for uri in ["/r/a", "/r/b", "/r/c", "/r/d"] {
        via_actix(&app, "GET", uri).await.unwrap();
    }
    routes_are_capped(&scrape(&readiness), "actix");
}

fn access_lines(out: &Capture) -> Vec<String> {
    out.lines()
        .into_iter()
        .filter(|l| l.contains("readiness::access"))
        .collect()
}

#[actix_web::test]
async fn probes_and_metrics_under_a_prefix_are_neither_counted_nor_logged() {
    let out = Capture::default();
    let logs = LogSettings::new().build(out.clone()).unwrap();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(logs));

    let readiness = readiness();
    readiness.refresh().await;
    let app = axum_app(&readiness);
    for uri in PROBES {
        assert_eq!(via_axum(&app, "GET", uri).await, Some(200), "axum {uri}");
    }
    let text = scrape(&readiness);
    assert_eq!(counted(&text), Vec::<&str>::new(), "axum:\n{text}");
    assert_eq!(in_flight(&text), 0.0, "axum:\n{text}");
    // A route of the app is still counted and logged: the capture works.
    assert!(access_lines(&out).is_empty(), "axum: {:?}", out.lines());
    via_axum(&app, "GET", "/users/1").await.unwrap();
    assert_eq!(access_lines(&out).len(), 1, "axum: {:?}", out.lines());

    let out_before = access_lines(&out).len();
    let readiness = self::readiness();
    readiness.refresh().await;
    let app = init_service(actix_app!(&readiness)).await;
    for uri in PROBES {
        assert_eq!(via_actix(&app, "GET", uri).await, Some(200), "actix {uri}");
    }
    let text = scrape(&readiness);
    assert_eq!(counted(&text), Vec::<&str>::new(), "actix:\n{text}");
    assert_eq!(in_flight(&text), 0.0, "actix:\n{text}");
    assert_eq!(
        access_lines(&out).len(),
        out_before,
        "actix: {:?}",
        out.lines()
    );
    via_actix(&app, "GET", "/users/1").await.unwrap();
    assert_eq!(access_lines(&out).len(), out_before + 1);
}

/// Uploads 11 bytes in two chunks, with no `Content-Length`, over a real connection.
async fn chunked_upload(readiness: &Readiness, addr: SocketAddr, framework: &str) {
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(
            b"POST /upload HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
              5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{framework}: {answer}");
    assert!(answer.ends_with("11"), "{framework}: {answer}");
    let labels =
        r#"http_request_method="POST",http_response_status_code="200",http_route="/upload""#;
    let text = eventually(readiness, "the upload recorded", |text| {
        count(text, "POST", "200", "/upload") == 1.0
    })
    .await;
    assert_eq!(
        value(&text, "http_server_request_body_size_bytes_sum", labels),
        11.0,
        "{framework}:\n{text}"
    );
    assert_eq!(
        value(&text, "http_server_request_body_size_bytes_count", labels),
        1.0,
        "{framework}:\n{text}"
    );
}

#[actix_web::test]
async fn a_chunked_upload_is_measured_from_its_frames() {
    let readiness = readiness();
    let addr = serve_axum(&readiness).await;
    chunked_upload(&readiness, addr, "axum").await;

    let readiness = self::readiness();
    let addr = serve_actix(&readiness);
    chunked_upload(&readiness, addr, "actix").await;
}

#[cfg(feature = "otel")]
#[actix_web::test]
async fn the_server_span_carries_route_status_and_error() {
    use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span};
    use readiness_core::telemetry::{OtelSettings, Protocol, Telemetry};

    let (addr, received) = support::otlp::start().await;
    let (otel, guard) = Telemetry::from_settings(OtelSettings::from_lookup(|_| None).unwrap())
        .endpoint(format!("http://{addr}/v1/traces"), Protocol::HttpProtobuf)
        .build()
        .unwrap();
    let logs = LogSettings::new().build(Capture::default()).unwrap();
    let default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel).with(logs));

    let readiness = readiness();
    let app = axum_app(&readiness);
    assert_eq!(via_axum(&app, "GET", "/users/7").await, Some(200));
    assert_eq!(via_axum(&app, "GET", "/fail").await, Some(500));
    let readiness = self::readiness();
    let app = init_service(actix_app!(&readiness)).await;
    assert_eq!(via_actix(&app, "GET", "/users/7").await, Some(200));
    assert_eq!(via_actix(&app, "GET", "/fail").await, Some(500));
    drop(default);
    let report = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.error, None);

    let exports = received.0.lock().unwrap();
    let spans: Vec<&Span> = exports
        .iter()
        .flat_map(|(_, r)| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let attribute = |span: &Span, key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .map(|v| format!("{:?}", v.value))
            .unwrap_or_default()
    };
    // In order: axum's two, then actix's two.
    assert_eq!(spans.len(), 4, "{spans:#?}");
    for (i, span) in spans.iter().enumerate() {
        let framework = if i < 2 { "axum" } else { "actix" };
        let (route, status, error) = if i % 2 == 0 {
            ("/users/{id}", "200", false)
        } else {
            ("/fail", "500", true)
        };
        assert_eq!(span.name, format!("GET {route}"), "{framework}: {span:#?}");
        assert!(
            attribute(span, "http.route").contains(route),
            "{framework}: {span:#?}"
        );
        assert!(
            attribute(span, "http.response.status_code").contains(status),
            "{framework}: {span:#?}"
        );
        assert!(
            attribute(span, "http.request.method").contains("GET"),
            "{framework}: {span:#?}"
        );
        // The access line is a log line, not a span event (the span has its
        // facts); tracing-opentelemetry's notes on itself are left out.
        assert!(
            span.events.iter().all(|e| e.name != "request finished"),
            "{framework}: {span:#?}"
        );
        for key in [
            "code.file.path",
            "code.filepath",
            "thread.id",
            "busy_ns",
            "target",
        ] {
            assert_eq!(attribute(span, key), "", "{framework} {key}: {span:#?}");
        }
        let code = span.status.as_ref().map_or(0, |s| s.code);
        assert_eq!(
            code == StatusCode::Error as i32,
            error,
            "{framework}: {span:#?}"
        );
    }
}
