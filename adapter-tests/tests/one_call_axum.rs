//! `Setup::init` and `readiness_axum::serve_app`: a service set up in one call
//! answers its probes, `/metrics` and `/log-level` on its port, writes JSON lines
//! with request ids, and shuts down in order on SIGTERM. The scenario is shared with
//! `one_call_actix.rs` and the admin-port cases (`one_call_admin_*.rs`).

#[path = "one_call/scenario.rs"]
mod scenario;

use axum::routing::get;
use axum::Router;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_sets_up_and_serves_a_production_service() {
    let (service, out, ran) = scenario::install("orders-axum", false);
    let server = tokio::spawn(readiness_axum::serve_app(service, app()));
    let ports = scenario::exercise(&out, "orders-axum", false).await;
    let outcome = server.await.unwrap().unwrap();
    scenario::after(&outcome, &out, &ran, ports);
}

fn app() -> Router {
    Router::new().route(
        "/hello",
        get(|| async {
            tracing::info!("in the handler");
            scenario::debug_line();
            "hello"
        }),
    )
}
