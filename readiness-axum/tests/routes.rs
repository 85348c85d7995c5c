//! The axum adapter inside an application: state, nesting, a real server.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt as _;
use readiness_core::{checks, Readiness};
use tower::ServiceExt as _;

async fn readiness() -> Readiness {
    let readiness = Readiness::builder()
        .check(checks::from_fn("db", || async { true }).interval(Duration::from_secs(3600)))
        .build()
        .unwrap();
    readiness.refresh().await;
    readiness
}

async fn call(app: &Router, uri: &str) -> (StatusCode, String) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn routes_merge_into_a_router_with_state_and_nest_under_a_prefix() {
    #[derive(Clone)]
    struct AppState(&'static str);
    let readiness = readiness().await;
    let app = Router::new()
        .route(
            "/orders",
            get(|State(s): State<AppState>| async move { s.0 }),
        )
        .merge(readiness_axum::routes(&readiness))
        .nest("/ops", readiness_axum::routes(&readiness))
        .nest("/tenants/{tenant}", readiness_axum::routes(&readiness))
        .with_state(AppState("[]"));
    assert_eq!(call(&app, "/orders").await, (StatusCode::OK, "[]".into()));
    assert_eq!(call(&app, "/readyz").await.0, StatusCode::OK);
    assert_eq!(call(&app, "/ops/readyz").await.0, StatusCode::OK);
    assert_eq!(call(&app, "/ops/health/db").await.0, StatusCode::OK);
    assert_eq!(
        call(&app, "/ops/health/nope").await.0,
        StatusCode::NOT_FOUND
    );
    // A prefix with a parameter of its own does not confuse the check name.
    let (status, body) = call(&app, "/tenants/acme/health/db").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(&app, "/tenants/acme/health/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn a_real_server_answers_probes() {
    let readiness = readiness().await;
    let app = readiness_axum::routes(&readiness);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let answer = raw(addr, "GET", "/readyz?verbose").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.ends_with("[+]db ok\nreadyz check passed\n"),
        "{answer}"
    );

    // HEAD: GET's status and headers, its length, no body.
    let head = raw(addr, "HEAD", "/readyz?verbose").await;
    let (get_head, get_body) = answer.split_once("\r\n\r\n").unwrap();
    let (head_head, head_body) = head.split_once("\r\n\r\n").unwrap();
    assert_eq!(head_body, "", "{head}");
    assert!(
        head_head.contains("content-type: text/plain; charset=utf-8"),
        "{head}"
    );
    let length = format!("content-length: {}", get_body.len());
    assert!(
        get_head.contains(&length) && head_head.contains(&length),
        "{answer}\n---\n{head}"
    );
    server.abort();
}

/// One HTTP/1.1 request over a plain socket; the answer as text.
async fn raw(addr: std::net::SocketAddr, method: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_probes_through_the_router_run_no_check() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let readiness = Readiness::builder()
        .check(
            checks::from_fn("db", move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { true }
            })
            .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = runs.load(Ordering::SeqCst);
    let app: Router = readiness_axum::routes(&readiness);
    let probes: Vec<_> = (0..1000)
        .map(|i| {
            let app = app.clone();
            let uri = ["/readyz", "/livez", "/health", "/health/db"][i % 4];
            tokio::spawn(async move { call(&app, uri).await.0 })
        })
        .collect();
    for probe in probes {
        assert_eq!(probe.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(runs.load(Ordering::SeqCst), before);
}
