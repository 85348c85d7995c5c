//! Health probes for [actix-web] services, on top of [`readiness_core`].
//!
//! [`configure`] registers `/livez`, `/readyz`, `/startupz`, `/health` and
//! `/health/{check}` on an `App` or a scope. The answers come from
//! [`readiness_core::Readiness::respond`], so they are byte for byte those of the axum
//! adapter.
//!
//! # Default
//!
//! ```
//! use actix_web::{web, App, HttpResponse};
//! use readiness_actix::core::{checks, Readiness};
//!
//! # #[actix_web::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder()
//!     .service("orders", "1.4.2")
//!     .check(checks::from_fn("queue", || async { true }))
//!     .build()?;
//!
//! let app = App::new()
//!     .route("/orders", web::get().to(|| async { HttpResponse::Ok().body("[]") }))
//!     .configure(readiness_actix::configure(&readiness));
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! # Customized
//!
//! ```
//! use actix_web::{web, App};
//! use readiness_actix::core::{Details, Readiness};
//!
//! # #[actix_web::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder()
//!     .details(Details::StatusOnly)
//!     .details_token("an-operator-token-0123")
//!     .build()?;
//!
//! let app = App::new().service(web::scope("/ops").configure(readiness_actix::configure(&readiness)));
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! [actix-web]: https://docs.rs/actix-web
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

use actix_web::http::header::AUTHORIZATION;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
pub use middleware::{Observe, ObserveFuture, ObserveMiddleware, ObservedBody};
pub use readiness_core as core;

mod admin;
#[cfg(feature = "logging")]
mod app;
mod middleware;
mod serve;
pub use admin::{admin_server, run_with_admin};
#[cfg(feature = "logging")]
#[cfg_attr(docsrs, doc(cfg(feature = "logging")))]
pub use app::serve_app;
use readiness_core::endpoint::{
    CHECK_PATH, HEALTH_PATH, LIVEZ_PATH, METRICS_PATH, READYZ_PATH, STARTUPZ_PATH,
};
use readiness_core::observe::EndpointRoute;
use readiness_core::{Endpoint, ProbeRequest, Readiness};
pub use serve::run;

/// Registers the health routes of `readiness` and `/metrics`, and the
/// [log-level route](readiness_core::endpoint#the-log-level-route) when the service
/// gave a [`LogFilter`](readiness_core::logging::LogFilter); pass it to
/// `App::configure` or `Scope::configure`. See the [crate docs](crate), and
/// [`Routes`] to leave some of them out.
///
/// Every method reaches the handler, which answers `405` with `Allow: GET, HEAD` for
/// those it does not serve, as the axum adapter does.
pub fn configure(readiness: &Readiness) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
    Routes::new(readiness).configure()
}

/// Which of the library's routes to register: all of them by default, as
/// [`configure`] does. A service that serves `/metrics` or a health path itself
/// leaves ours out (actix would answer a path registered twice with whichever came
/// first, without a word), as does one that serves them on an
/// [admin listener](crate::admin_server).
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use readiness_actix::core::Readiness;
/// use readiness_actix::Routes;
///
/// # #[actix_web::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = Readiness::builder().build()?;
/// let app = App::new()
///     // The service's own `/metrics`; ours stays out, the probes stay in.
///     .route("/metrics", web::get().to(|| async { HttpResponse::Ok().body("# mine") }))
///     .configure(Routes::new(&readiness).metrics_route(false).configure());
/// # let _ = app;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Routes {
    readiness: Readiness,
    health: bool,
    metrics: bool,
    log_level: bool,
}

impl Routes {
    /// Every route: the probes, `/health`, `/health/{check}`, `/metrics` and, with a
    /// log filter, `/log-level`.
    pub fn new(readiness: &Readiness) -> Self {
        Self {
            readiness: readiness.clone(),
            health: true,
            metrics: true,
            log_level: true,
        }
    }

    /// Whether `/livez`, `/readyz`, `/startupz`, `/health` and `/health/{check}` are
    /// registered (default `true`).
    pub fn health_routes(mut self, on: bool) -> Self {
        self.health = on;
        self
    }

    /// Whether `/metrics` is registered (default `true`).
    pub fn metrics_route(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Whether `/log-level` is registered when the service gave a log filter
    /// (default `true`).
    pub fn log_level_route(mut self, on: bool) -> Self {
        self.log_level = on;
        self
    }

    /// The routes, for `App::configure` or `Scope::configure`.
    pub fn configure(self) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
        move |config: &mut web::ServiceConfig| self.register(config)
    }

    fn register(&self, config: &mut web::ServiceConfig) {
        let readiness = &self.readiness;
        if self.health {
            for (path, endpoint) in [
                (LIVEZ_PATH, Endpoint::Livez),
                (READYZ_PATH, Endpoint::Readyz),
                (STARTUPZ_PATH, Endpoint::Startupz),
                (HEALTH_PATH, Endpoint::Health),
            ] {
                let readiness = readiness.clone();
                config.route(
                    path,
                    web::route().to(move |request: HttpRequest| {
                        let answer = answer(&readiness, endpoint, &request);
                        async move { answer }
                    }),
                );
            }
        }
        if self.metrics {
            let scrape = readiness.clone();
            config.route(
                METRICS_PATH,
                web::get().to(move |request: HttpRequest| {
                    let accept = request
                        .headers()
                        .get(actix_web::http::header::ACCEPT)
                        .and_then(|value| value.to_str().ok());
                    // Rendered on the blocking pool, not on this worker (actix
                    // workers do not steal each other's connections), and shared
                    // with concurrent scrapes.
                    let answer = scrape.scrape(accept);
                    async move { in_slices(convert(answer.await)) }
                }),
            );
        }
        if self.health {
            let one = readiness.clone();
            config.route(
                CHECK_PATH,
                web::route().to(move |request: HttpRequest| {
                    let name = request.match_info().get("check").unwrap_or_default();
                    let answer = answer(&one, Endpoint::Check(name), &request);
                    async move { answer }
                }),
            );
        }
        #[cfg(feature = "logging")]
        if self.log_level {
            admin::register(readiness, config);
        }
    }
}

fn answer(readiness: &Readiness, endpoint: Endpoint<'_>, request: &HttpRequest) -> HttpResponse {
    let query = Some(request.query_string()).filter(|q| !q.is_empty());
    let probe = ProbeRequest::new(endpoint, request.method().as_str())
        .with_query(query)
        .with_authorization(request.headers().get(AUTHORIZATION).map(|v| v.as_bytes()));
    convert(readiness.respond(&probe))
}

/// An `http` 1.x response as an actix-web (`http` 0.2) one: mapped by number and bytes.
/// A large answer's body as 64 KiB slices of it (no copy). actix-web copies each
/// item of a body into the connection's write buffer at once, so a scrape of
/// megabytes as one item grew that buffer (and faulted its pages in) to the
/// scrape's size each time; slices are copied and sent one by one.
fn in_slices(response: HttpResponse) -> HttpResponse {
    use actix_web::body::{BoxBody, MessageBody as _, SizedStream};
    const SLICE: usize = 64 * 1024;
    let (response, body) = response.into_parts();
    let body = match body.try_into_bytes() {
        Ok(bytes) if bytes.len() > SLICE => {
            let length = bytes.len();
            let slices = (0..length).step_by(SLICE).map(move |at| {
                Ok::<_, std::convert::Infallible>(bytes.slice(at..length.min(at + SLICE)))
            });
            BoxBody::new(SizedStream::new(
                length as u64,
                futures_util::stream::iter(slices),
            ))
        }
        Ok(bytes) => BoxBody::new(bytes),
        Err(body) => body,
    };
    response.set_body(body)
}

fn convert(response: http::Response<bytes::Bytes>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    // actix-web 4 uses the `http` 0.2 types: map by number and by bytes.
    let status =
        StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        response.insert_header((name.as_str(), value.as_bytes()));
    }
    let mut response = response.body(body);
    if let Some(&route) = parts.extensions.get::<EndpointRoute>() {
        response.extensions_mut().insert(route);
    }
    response
}
