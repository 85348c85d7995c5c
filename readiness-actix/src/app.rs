//! [`serve_app`]: the top rung, an app served as a production service in one call.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer};
use readiness_core::shutdown::ShutdownOutcome;
use readiness_core::Installed;

/// Serves the apps `factory` makes (one per worker, as `HttpServer::new` does) as a
/// production service: each wrapped in [`Observe`](crate::Observe) (RED metrics,
/// request ids, spans and access lines) with the health routes, `/metrics` and
/// `/log-level` of [`configure`](crate::configure()), on the address of `service`
/// (`BIND` and `PORT`, default `127.0.0.1:8080`), until SIGTERM or SIGINT; then the
/// graceful shutdown of [`run`](crate::run()), the service's hooks, the span flush
/// and the log flush last. Logs `listening` with each address once bound.
///
/// With an admin address (`ADMIN_PORT`, and `ADMIN_BIND`, default `BIND`'s), the
/// probes, the health reports, `/metrics` and `/log-level` answer on the
/// [`admin_server`](crate::admin_server) there only (logged as `listening` with
/// `admin` `true`), the apps get no `configure`, and both servers drain together
/// under the one shutdown ([`run_with_admin`](crate::run_with_admin)).
///
/// The server is built as [`run`](crate::run()) needs it: `.disable_signals()` (the
/// shutdown handles them, with its drain delay) and `.h1_allow_half_closed(false)`
/// (a client gone ends its request, as on axum). For other `HttpServer` settings,
/// use the lower rungs: [`Installed::into_shutdown`], [`Observe`](crate::Observe),
/// [`configure`](crate::configure()) and [`run`](crate::run()) (or
/// [`admin_server`](crate::admin_server) and [`run_with_admin`](crate::run_with_admin)).
///
/// `service` comes from [`Setup::init`](readiness_core::Setup::init), which read
/// the rest of the environment.
///
/// ```no_run
/// use std::time::Duration;
/// use actix_web::{web, App};
/// use readiness_actix::core::{checks, Readiness, Setup};
///
/// #[actix_web::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let readiness = Readiness::builder()
///         .service("orders", env!("CARGO_PKG_VERSION"))
///         .check(checks::from_fn("queue", || async { true }))
///         .build()?;
///     let service = Setup::from_env(&readiness)?.init()? // logs, tracing, shutdown
///         .hook("close the queue", Duration::from_secs(2), || async { Ok(()) });
///     let outcome = readiness_actix::serve_app(service, || {
///         App::new().route("/orders", web::get().to(|| async { "[]" }))
///     })
///     .await?;
///     std::process::exit(outcome.exit_code());
/// }
/// ```
///
/// # Errors
///
/// An `std::io::Error` when an address cannot be bound, or of kind `InvalidInput`
/// holding the [`BuildError`](readiness_core::BuildError) of a shutdown setting or
/// hook that cannot be used (or of signals that cannot be listened to).
pub async fn serve_app<F, T, B>(service: Installed, factory: F) -> std::io::Result<ShutdownOutcome>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
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
    let observe = crate::Observe::new(&readiness);
    let Some((admin_host, admin_port)) = admin else {
        let health = crate::configure(&readiness);
        let server =
            HttpServer::new(move || factory().configure(health.clone()).wrap(observe.clone()))
                .disable_signals()
                .h1_allow_half_closed(false)
                .bind((address.0.as_str(), address.1))?;
        for address in server.addrs() {
            tracing::info!(target: "readiness::serve", address = %address, "listening");
        }
        return Ok(crate::run(server.run(), shutdown).await);
    };
    // No `configure`: the probes, `/metrics` and `/log-level` are the admin server's.
    let server = HttpServer::new(move || factory().wrap(observe.clone()))
        .disable_signals()
        .h1_allow_half_closed(false)
        .bind((address.0.as_str(), address.1))?;
    for address in server.addrs() {
        tracing::info!(target: "readiness::serve", address = %address, "listening");
    }
    let admin_listener = std::net::TcpListener::bind((admin_host.as_str(), admin_port))?;
    tracing::info!(
        target: "readiness::serve",
        address = %admin_listener.local_addr()?,
        admin = true,
        "listening"
    );
    let admin = crate::admin_server(&readiness, admin_listener)?;
    Ok(crate::run_with_admin(server.run(), admin, shutdown).await)
}
