//! The admin listener ([`admin_router`], [`serve_with_admin`]) and the log-level
//! route.

use axum::Router;
#[cfg(feature = "logging")]
use axum::{
    body::Body, extract::Request, http::header::AUTHORIZATION, response::Response, routing::any,
};
#[cfg(feature = "logging")]
use readiness_core::endpoint::{LogLevelRequest, LOG_LEVEL_MAX_BODY, LOG_LEVEL_PATH};
use readiness_core::Readiness;
#[cfg(feature = "logging")]
use readiness_core::{RequestId, REQUEST_ID_HEADER};

/// The router of an admin listener: the probes, the health reports, `/metrics` and,
/// when the service gave a [`LogFilter`](readiness_core::logging::LogFilter), the
/// [log-level route](readiness_core::endpoint#the-log-level-route); nothing
/// observed (no RED series, no access line), as the probes are anywhere. Serve it
/// on a port of its own with [`serve_with_admin`], and leave these routes off the
/// service's router ([`Instrument::health_routes`](crate::Instrument::health_routes),
/// [`metrics_route`](crate::Instrument::metrics_route) and
/// [`log_level_route`](crate::Instrument::log_level_route) `false`), so that they
/// answer on the admin port only.
///
/// ```
/// use axum::{routing::get, Router};
/// use readiness_axum::core::Readiness;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
/// let router: Router = Router::new().route("/orders", get(|| async { "[]" }));
/// let app = readiness_axum::Instrument::new(&readiness)
///     .health_routes(false)
///     .metrics_route(false)
///     .log_level_route(false)
///     .apply(router);
/// let admin = readiness_axum::admin_router(&readiness);
/// # let _ = (app, admin);
/// # Ok(()) }
/// ```
pub fn admin_router(readiness: &Readiness) -> Router {
    crate::routes(readiness)
}

/// The log-level route alone; none when the service gave no filter.
#[cfg(feature = "logging")]
pub(crate) fn log_level_route<S>(readiness: &Readiness) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    if readiness.log_filter().is_none() {
        return Router::new();
    }
    let readiness = readiness.clone();
    Router::new().route(
        LOG_LEVEL_PATH,
        any(move |request: Request| {
            let readiness = readiness.clone();
            async move { log_level(&readiness, request).await }
        }),
    )
}

#[cfg(feature = "logging")]
async fn log_level(readiness: &Readiness, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, LOG_LEVEL_MAX_BODY).await;
    let headers = &parts.headers;
    let mut request =
        LogLevelRequest::new(parts.method.as_str(), body.as_deref().unwrap_or_default())
            .with_authorization(headers.get(AUTHORIZATION).map(|v| v.as_bytes()))
            .with_request_id(parts.extensions.get::<RequestId>())
            .with_request_id_header(headers.get(REQUEST_ID_HEADER).map(|v| v.as_bytes()));
    if body.is_err() {
        request = request.with_body_too_large();
    }
    readiness.respond_log_level(&request).map(Body::from)
}

#[cfg(feature = "serve")]
pub use serve::serve_with_admin;

#[cfg(feature = "serve")]
mod serve {
    use std::convert::Infallible;
    use std::fmt::Debug;

    use axum::extract::Request;
    use axum::response::Response;
    use axum::serve::{IncomingStream, Listener};
    use axum::Router;
    use readiness_core::shutdown::{Shutdown, ShutdownOutcome};
    use tower_service::Service;

    /// [`serve`](crate::serve()) with an admin listener beside the service's:
    /// `make_service` on `listener`, `admin` (usually [`admin_router`](super::admin_router))
    /// on `admin_listener`, under one graceful shutdown. On SIGTERM readiness fails
    /// (on both, it is one switch), both go on serving for the drain delay, then both
    /// stop accepting and drain together, and the hooks run once. If either server
    /// ends on its own, so does the other.
    ///
    /// ```no_run
    /// use axum::{routing::get, Router};
    /// use readiness_axum::core::Readiness;
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
    ///     let app = readiness_axum::Instrument::new(&readiness)
    ///         .health_routes(false)
    ///         .metrics_route(false)
    ///         .log_level_route(false)
    ///         .apply(Router::new().route("/", get(|| async { "hi" })));
    ///     let shutdown = readiness.shutdown().from_env()?.build()?;
    ///     let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    ///     let admin = tokio::net::TcpListener::bind("0.0.0.0:9090").await?;
    ///     let admin_router = readiness_axum::admin_router(&readiness);
    ///     let outcome =
    ///         readiness_axum::serve_with_admin(listener, app, admin, admin_router, shutdown).await;
    ///     std::process::exit(outcome.exit_code());
    /// }
    /// ```
    pub async fn serve_with_admin<L, M, S, A>(
        listener: L,
        make_service: M,
        admin_listener: A,
        admin: Router,
        shutdown: Shutdown,
    ) -> ShutdownOutcome
    where
        L: Listener,
        L::Addr: Debug,
        M: for<'a> Service<IncomingStream<'a, L>, Error = Infallible, Response = S>
            + Send
            + 'static,
        for<'a> <M as Service<IncomingStream<'a, L>>>::Future: Send,
        S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
        S::Future: Send,
        A: Listener,
        A::Addr: Debug,
    {
        let main = crate::serve::spawn(listener, make_service);
        let admin = crate::serve::spawn(admin_listener, admin);
        shutdown.run((main, admin)).await
    }
}
