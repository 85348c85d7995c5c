//! `Setup::init` and `readiness_axum::serve_app` with `ADMIN_PORT` set: the probes,
//! `/metrics` and `/log-level` answer on the admin port only, the app on the main
//! port, and SIGTERM drains both. The scenario is shared with `one_call_axum.rs`.

#[path = "one_call/scenario.rs"]
mod scenario;

use axum::routing::get;
use axum::Router;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_with_an_admin_port_serves_the_probes_there_only() {
    let (service, out, ran) = scenario::install("orders-axum", true);
    let app = Router::new().route(
        "/hello",
        get(|| async {
            tracing::info!("in the handler");
            scenario::debug_line();
            "hello"
        }),
    );
    let server = tokio::spawn(readiness_axum::serve_app(service, app));
    let ports = scenario::exercise(&out, "orders-axum", true).await;
    let outcome = server.await.unwrap().unwrap();
    scenario::after(&outcome, &out, &ran, ports);
}
