//! `Setup::init` and `readiness_actix::serve_app` with `ADMIN_PORT` set: the probes,
//! `/metrics` and `/log-level` answer on the admin port only, the app on the main
//! port, and SIGTERM drains both. The scenario is shared with `one_call_actix.rs`.

#[path = "one_call/scenario.rs"]
mod scenario;

use actix_web::{web, App};

#[actix_web::test]
async fn one_call_with_an_admin_port_serves_the_probes_there_only() {
    let (service, out, ran) = scenario::install("orders-actix", true);
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
    let ports = scenario::exercise(&out, "orders-actix", true).await;
    let outcome = server.await.unwrap().unwrap();
    scenario::after(&outcome, &out, &ran, ports);
}
