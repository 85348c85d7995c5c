//! `Setup::init` and `readiness_actix::serve_app`: a service set up in one call
//! answers its probes, `/metrics` and `/log-level` on its port, writes JSON lines
//! with request ids, and shuts down in order on SIGTERM. The scenario is shared with
//! `one_call_axum.rs` and the admin-port cases (`one_call_admin_*.rs`).

#[path = "one_call/scenario.rs"]
mod scenario;

use actix_web::{web, App};

#[actix_web::test]
async fn one_call_sets_up_and_serves_a_production_service() {
    let (service, out, ran) = scenario::install("orders-actix", false);
    let server = actix_web::rt::spawn(readiness_actix::serve_app(service, || {
        App::new().route(
            "/hello",
            web::get().to(|| async {
                tracing::info!("in the handler");
                scenario::debug_line();
                "hello"
            }),
        )
    }));
    let ports = scenario::exercise(&out, "orders-actix", false).await;
    let outcome = server.await.unwrap().unwrap();
    scenario::after(&outcome, &out, &ran, ports);
}
