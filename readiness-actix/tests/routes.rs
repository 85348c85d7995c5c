//! The actix-web adapter inside an application: scopes, other routes, a real server.

use std::time::Duration;

use actix_web::test::{call_service, init_service, read_body, TestRequest};
use actix_web::{web, App, HttpResponse, HttpServer};
use readiness_core::{checks, Readiness};

async fn readiness() -> Readiness {
    let readiness = Readiness::builder()
        .check(checks::from_fn("db", || async { true }).interval(Duration::from_secs(3600)))
        .build()
        .unwrap();
    readiness.refresh().await;
    readiness
}

#[actix_web::test]
async fn routes_sit_beside_the_application_and_under_a_scope() {
    let readiness = readiness().await;
    let app = init_service(
        App::new()
            .route(
                "/orders",
                web::get().to(|| async { HttpResponse::Ok().body("[]") }),
            )
            .service(web::scope("/ops").configure(readiness_actix::configure(&readiness))),
    )
    .await;
    let response = call_service(&app, TestRequest::get().uri("/orders").to_request()).await;
    assert_eq!(read_body(response).await, "[]");
    let response = call_service(&app, TestRequest::get().uri("/ops/readyz").to_request()).await;
    assert_eq!(response.status(), 200);
    let response = call_service(&app, TestRequest::get().uri("/ops/health/db").to_request()).await;
    assert_eq!(response.status(), 200);
    let response = call_service(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(response.status(), 404);
}

#[actix_web::test]
async fn a_real_server_with_two_workers_answers_probes() {
    let readiness = readiness().await;
    let configure = readiness_actix::configure(&readiness);
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(2)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    let running = actix_web::rt::spawn(server);

    for _ in 0..8 {
        let response = raw(addr, "GET", "/readyz").await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(
            response.contains("content-type: application/health+json\r\n"),
            "{response}"
        );
    }
    // HEAD: GET's status and headers, its length, no body.
    let get = raw(addr, "GET", "/readyz?verbose").await;
    let head = raw(addr, "HEAD", "/readyz?verbose").await;
    let (get_head, get_body) = get.split_once("\r\n\r\n").unwrap();
    let (head_head, head_body) = head.split_once("\r\n\r\n").unwrap();
    assert_eq!(head_body, "", "{head}");
    assert!(
        head_head.contains("content-type: text/plain; charset=utf-8"),
        "{head}"
    );
    let length = format!("content-length: {}", get_body.len());
    assert!(
        get_head.contains(&length) && head_head.contains(&length),
        "{get}\n---\n{head}"
    );
    handle.stop(true).await;
    running.await.unwrap().unwrap();
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

/// A service with its own `/metrics` leaves ours out and keeps the probes; with the
/// health routes left out too, only its own routes answer.
#[actix_web::test]
async fn a_service_with_its_own_metrics_leaves_ours_out() {
    let readiness = readiness().await;
    let own = || web::get().to(|| async { HttpResponse::Ok().body("# mine") });
    let app = init_service(
        App::new().route("/metrics", own()).configure(
            readiness_actix::Routes::new(&readiness)
                .metrics_route(false)
                .configure(),
        ),
    )
    .await;
    let response = call_service(&app, TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(read_body(response).await, "# mine");
    let response = call_service(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(response.status(), 200);

    let app = init_service(
        App::new().configure(
            readiness_actix::Routes::new(&readiness)
                .health_routes(false)
                .configure(),
        ),
    )
    .await;
    for path in ["/readyz", "/livez", "/health", "/health/db"] {
        let response = call_service(&app, TestRequest::get().uri(path).to_request()).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    let response = call_service(&app, TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(response.status(), 200);
}
