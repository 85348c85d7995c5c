//! [`serve_app`]: the top rung, a router served as a production service in one call.

use std::net::SocketAddr;

use axum::Router;
use readiness_core::shutdown::ShutdownOutcome;
use readiness_core::Installed;

/// Serves `router` as a production service: [`instrument`](crate::instrument())ed
/// (health routes, `/metrics`, `/log-level`, RED metrics, request ids, spans and
/// access lines), on the address of `service` (`BIND` and `PORT`, default
/// `127.0.0.1:8080`), with the peer's address for `client.address`, until SIGTERM or
/// SIGINT; then the graceful shutdown of [`serve`](crate::serve()), the service's
/// hooks, the span flush and the log flush last. Logs `listening` with the address
/// once bound.
///
/// With an admin address (`ADMIN_PORT`, and `ADMIN_BIND`, default `BIND`'s), the
/// probes, the health reports, `/metrics` and `/log-level` answer on the
/// [`admin_router`](crate::admin_router) there only (logged as `listening` with
/// `admin` `true`), `router` gets none of them, and both listeners drain together
/// under the one shutdown ([`serve_with_admin`](crate::serve_with_admin)).
///
/// `service` comes from [`Setup::init`](readiness_core::Setup::init), which read
/// the rest of the environment. Each step is a lower rung:
/// [`instrument`](crate::instrument()) (or [`Instrument`](crate::Instrument) with
/// the routes off and [`admin_router`](crate::admin_router)),
/// `tokio::net::TcpListener::bind`, [`Installed::into_shutdown`] and
/// [`serve`](crate::serve()) (or [`serve_with_admin`](crate::serve_with_admin)).
///
/// ```no_run
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use readiness_axum::core::{checks, Readiness, Setup};
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let readiness = Readiness::builder()
///         .service("orders", env!("CARGO_PKG_VERSION"))
///         .check(checks::from_fn("queue", || async { true }))
///         .build()?;
///     let service = Setup::from_env(&readiness)?.init()? // logs, tracing, shutdown
///         .hook("close the queue", Duration::from_secs(2), || async { Ok(()) });
///     let app = Router::new().route("/orders", get(|| async { "[]" }));
///     let outcome = readiness_axum::serve_app(service, app).await?;
///     std::process::exit(outcome.exit_code());
/// }
/// ```
///
/// # Errors
///
/// An `std::io::Error` when an address cannot be bound, or of kind `InvalidInput`
/// holding the [`BuildError`](readiness_core::BuildError) of a shutdown setting or
/// hook that cannot be used (or of signals that cannot be listened to).
pub async fn serve_app(service: Installed, router: Router) -> std::io::Result<ShutdownOutcome> {
    let readiness = service.readiness().clone();
    let (host, port) = service.address();
    let address = (host.to_owned(), port);
    let admin = service
        .admin_address()
        .map(|(host, port)| (host.to_owned(), port));
    let shutdown = service
        .into_shutdown()
        .build()
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let listener = tokio::net::TcpListener::bind((address.0.as_str(), address.1)).await?;
    tracing::info!(
        target: "readiness::serve",
        address = %listener.local_addr()?,
        "listening"
    );
    let Some((admin_host, admin_port)) = admin else {
        let app = crate::instrument(router, &readiness)
            .into_make_service_with_connect_info::<SocketAddr>();
        return Ok(crate::serve(listener, app, shutdown).await);
    };
    let admin_listener = tokio::net::TcpListener::bind((admin_host.as_str(), admin_port)).await?;
    tracing::info!(
        target: "readiness::serve",
        address = %admin_listener.local_addr()?,
        admin = true,
        "listening"
    );
    let app = crate::Instrument::new(&readiness)
        .health_routes(false)
        .metrics_route(false)
        .log_level_route(false)
        .apply(router)
        .into_make_service_with_connect_info::<SocketAddr>();
    let admin = crate::admin_router(&readiness);
    Ok(crate::serve_with_admin(listener, app, admin_listener, admin, shutdown).await)
}
