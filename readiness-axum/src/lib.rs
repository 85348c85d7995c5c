//! Health probes for [axum] services, on top of [`readiness_core`].
//!
//! [`routes`] returns a `Router` with `/livez`, `/readyz`, `/startupz`, `/health` and
//! `/health/{check}`; merge it into the service's router. The answers come from
//! [`readiness_core::Readiness::respond`], so they are byte for byte those of the
//! actix-web adapter.
//!
//! # Default
//!
//! ```
//! use axum::{routing::get, Router};
//! use readiness_axum::core::{checks, Readiness};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder()
//!     .service("orders", "1.4.2")
//!     .check(checks::from_fn("queue", || async { true }))
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/orders", get(|| async { "[]" }))
//!     .merge(readiness_axum::routes(&readiness));
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! # Customized
//!
//! Routes can sit under a prefix, and the service's own state is untouched:
//!
//! ```
//! use axum::{extract::State, routing::get, Router};
//! use readiness_axum::core::{Details, Readiness};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! #[derive(Clone)]
//! struct AppState { greeting: &'static str }
//!
//! let readiness = Readiness::builder()
//!     .details(Details::StatusOnly)
//!     .details_token("an-operator-token-0123")
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/", get(|State(s): State<AppState>| async move { s.greeting }))
//!     .nest("/ops", readiness_axum::routes(&readiness))
//!     .with_state(AppState { greeting: "hello" });
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! [axum]: https://docs.rs/axum
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

mod admin;
#[cfg(all(feature = "serve", feature = "logging"))]
mod app;
mod instrument;
#[cfg(feature = "serve")]
mod serve;
pub use admin::admin_router;
#[cfg(feature = "serve")]
#[cfg_attr(docsrs, doc(cfg(feature = "serve")))]
pub use admin::serve_with_admin;
#[cfg(all(feature = "serve", feature = "logging"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "serve", feature = "logging"))))]
pub use app::serve_app;
pub use instrument::{instrument, Instrument, Instrumented, MatchedRoute, ObserveLayer};
#[cfg(feature = "serve")]
#[cfg_attr(docsrs, doc(cfg(feature = "serve")))]
pub use serve::serve;

use axum::body::Body;
use std::collections::HashMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request};
use axum::http::header::AUTHORIZATION;
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
pub use readiness_core as core;
use readiness_core::endpoint::{
    CHECK_PATH, HEALTH_PATH, LIVEZ_PATH, METRICS_PATH, READYZ_PATH, STARTUPZ_PATH,
};
use readiness_core::{Endpoint, ProbeRequest, Readiness};

/// A router serving the health routes of `readiness` and `/metrics`, and the
/// [log-level route](readiness_core::endpoint#the-log-level-route) when the service
/// gave a [`LogFilter`](readiness_core::logging::LogFilter). See the
/// [crate docs](crate).
///
/// Every method reaches the health handlers, which answer `405` with
/// `Allow: GET, HEAD` for those they do not serve, as the actix-web adapter does.
pub fn routes<S>(readiness: &Readiness) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let router = health_routes(readiness).merge(metrics_route(readiness));
    #[cfg(feature = "logging")]
    let router = router.merge(admin::log_level_route(readiness));
    router
}

/// `/metrics` alone.
fn metrics_route<S>(readiness: &Readiness) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let scrape = readiness.clone();
    Router::new().route(
        METRICS_PATH,
        get(move |headers: axum::http::HeaderMap| {
            let readiness = scrape.clone();
            async move {
                let accept = headers
                    .get(axum::http::header::ACCEPT)
                    .and_then(|value| value.to_str().ok());
                // Rendered on the blocking pool, and shared with concurrent scrapes.
                readiness.scrape(accept).await.map(Body::from)
            }
        }),
    )
}

/// The health routes alone.
fn health_routes<S>(readiness: &Readiness) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let probe = |endpoint: Endpoint<'static>| {
        let readiness = readiness.clone();
        any(move |request: Request| {
            let readiness = readiness.clone();
            async move { answer(&readiness, endpoint, &request) }
        })
    };
    let one = readiness.clone();
    Router::new()
        .route(LIVEZ_PATH, probe(Endpoint::Livez))
        .route(READYZ_PATH, probe(Endpoint::Readyz))
        .route(STARTUPZ_PATH, probe(Endpoint::Startupz))
        .route(HEALTH_PATH, probe(Endpoint::Health))
        .route(
            CHECK_PATH,
            any(
                move |params: Result<Path<HashMap<String, String>>, PathRejection>,
                      request: Request| {
                    let readiness = one.clone();
                    // Under a prefix with parameters of its own the map holds those
                    // too; a name that is not UTF-8 is no check's name: 404.
                    let name = params.ok().and_then(|Path(mut p)| p.remove("check"));
                    async move {
                        let name = name.unwrap_or_default();
                        answer(&readiness, Endpoint::Check(&name), &request)
                    }
                },
            ),
        )
}

fn answer(readiness: &Readiness, endpoint: Endpoint<'_>, request: &Request) -> Response {
    let probe = ProbeRequest::new(endpoint, request.method().as_str())
        .with_query(request.uri().query())
        .with_authorization(request.headers().get(AUTHORIZATION).map(|v| v.as_bytes()));
    readiness.respond(&probe).map(Body::from)
}
