//! `instrument` is finished last by construction, `ObserveLayer` observes part of a
//! router, and a router with routes of its own at our paths can leave ours out.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt as _;
use readiness_core::Readiness;
use tower::ServiceExt as _;

async fn get_text<S>(app: &S, uri: &str) -> (StatusCode, String)
where
    S: tower::Service<Request<Body>, Response = axum::response::Response> + Clone,
    S::Error: std::fmt::Debug,
{
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn scraped(readiness: &Readiness) -> String {
    String::from_utf8(readiness.metrics_response().into_body().to_vec()).unwrap()
}

fn count(text: &str, route: &str) -> u64 {
    let prefix = "http_server_request_duration_seconds_count{";
    text.lines()
        .filter(|l| l.starts_with(prefix) && l.contains(&format!("http_route=\"{route}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Every route is added before `instrument`, and state and layers still come after
/// it: each request is recorded under its template (adding a route afterwards does
/// not compile: see the `compile_fail` example on `instrument`).
#[tokio::test]
async fn every_route_of_an_instrumented_router_is_recorded_with_state_and_layers_after() {
    #[derive(Clone)]
    struct AppState(&'static str);
    let readiness = Readiness::builder().build().unwrap();
    let router: Router<AppState> = Router::new()
        .route(
            "/a/{id}",
            get(|axum::extract::State(s): axum::extract::State<AppState>| async move { s.0 }),
        )
        .route("/b", get(|| async { "b" }));
    let app = readiness_axum::instrument(router, &readiness)
        .with_state(AppState("a"))
        .layer(tower::layer::util::Identity::new());
    assert_eq!(get_text(&app, "/a/1").await, (StatusCode::OK, "a".into()));
    assert_eq!(get_text(&app, "/b").await.0, StatusCode::OK);
    assert_eq!(get_text(&app, "/nowhere").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get_text(&app, "/livez").await.0, StatusCode::OK);
    let text = scraped(&readiness);
    assert_eq!(count(&text, "/a/{id}"), 1, "{text}");
    assert_eq!(count(&text, "/b"), 1, "{text}");
    assert_eq!(count(&text, "_UNMATCHED"), 1, "{text}");
}

/// `axum::serve` takes an instrumented router as it takes a `Router`.
#[tokio::test]
async fn an_instrumented_router_is_served_by_axum_serve() {
    let readiness = Readiness::builder().build().unwrap();
    let app =
        readiness_axum::instrument(Router::new().route("/x", get(|| async { "x" })), &readiness);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream
        .write_all(b"GET /x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(count(&scraped(&readiness), "/x"), 1);
}

/// `ObserveLayer` on a nested part of a router records that part only, under the
/// full template.
#[tokio::test]
async fn the_observe_layer_records_only_the_part_of_the_router_it_wraps() {
    let readiness = Readiness::builder().build().unwrap();
    let api: Router = Router::new()
        .route("/orders/{id}", get(|| async { "{}" }))
        .route_layer(readiness_axum::ObserveLayer::new(&readiness));
    let app: Router = Router::new()
        .nest("/api", api)
        .route("/internal", get(|| async { "ok" }))
        .merge(readiness_axum::routes(&readiness));
    assert_eq!(get_text(&app, "/api/orders/7").await.0, StatusCode::OK);
    assert_eq!(get_text(&app, "/internal").await.0, StatusCode::OK);
    let (status, text) = get_text(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count(&text, "/api/orders/{id}"), 1, "{text}");
    assert_eq!(count(&text, "/internal"), 0, "{text}");
    assert_eq!(count(&text, "/metrics"), 0, "{text}");
    // The request id and the request span come with it.
    let request = Request::get("/api/orders/8").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
}

/// A router that serves `/metrics` itself keeps it and ours stays out; health
/// routes of its own likewise. Without the option, axum's panic names the route.
#[tokio::test]
async fn a_router_with_its_own_metrics_or_health_routes_leaves_ours_out() {
    let readiness = Readiness::builder().build().unwrap();
    let router: Router = Router::new().route("/metrics", get(|| async { "# theirs" }));
    let app = readiness_axum::Instrument::new(&readiness)
        .metrics_route(false)
        .apply(router);
    assert_eq!(
        get_text(&app, "/metrics").await,
        (StatusCode::OK, "# theirs".into())
    );
    assert_eq!(get_text(&app, "/readyz").await.0, StatusCode::OK);
    // Like ours, a scrape is not a request of the service's: not counted.
    assert_eq!(count(&scraped(&readiness), "/metrics"), 0);

    let router: Router = Router::new().route("/livez", get(|| async { "mine" }));
    let app = readiness_axum::Instrument::new(&readiness)
        .health_routes(false)
        .apply(router);
    assert_eq!(
        get_text(&app, "/livez").await,
        (StatusCode::OK, "mine".into())
    );
    assert_eq!(get_text(&app, "/readyz").await.0, StatusCode::NOT_FOUND);
    let (status, text) = get_text(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("http_server_request_duration_seconds"),
        "{text}"
    );

    // Without the option, axum refuses the overlap and names the route.
    let clash = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let router: Router = Router::new().route("/metrics", get(|| async { "# theirs" }));
        readiness_axum::instrument(router, &readiness)
    }))
    .unwrap_err();
    let message = clash
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| clash.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap();
    assert!(message.contains("/metrics"), "{message}");
}
