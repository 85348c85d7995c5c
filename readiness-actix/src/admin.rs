//! The admin listener ([`admin_server`], [`run_with_admin`]) and the log-level
//! route.

use actix_web::dev::Server;
use actix_web::{App, HttpServer};
use readiness_core::shutdown::{Shutdown, ShutdownOutcome};
use readiness_core::Readiness;

/// An actix-web server for an admin listener on `listener`: the probes, the health
/// reports, `/metrics` and, when the service gave a
/// [`LogFilter`](readiness_core::logging::LogFilter), the
/// [log-level route](readiness_core::endpoint#the-log-level-route) (what
/// [`configure`](crate::configure()) registers), with no [`Observe`](crate::Observe):
/// no RED series, no access line. One worker, actix's signals off (the shutdown
/// drives it). Run it beside the service's server with [`run_with_admin`], and leave
/// `configure` off the service's `App`, so that these routes answer on the admin port
/// only.
///
/// ```
/// use readiness_actix::core::Readiness;
///
/// # #[actix_web::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let admin = readiness_actix::admin_server(&readiness, listener)?;
/// # drop(admin);
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The `std::io::Error` of a listener actix cannot take.
pub fn admin_server(
    readiness: &Readiness,
    listener: std::net::TcpListener,
) -> std::io::Result<Server> {
    let routes = crate::configure(readiness);
    Ok(
        HttpServer::new(move || App::new().configure(routes.clone()))
            .workers(1)
            .disable_signals()
            .h1_allow_half_closed(false)
            .listen(listener)?
            .run(),
    )
}

/// [`run`](crate::run()) with an admin server beside the service's (usually
/// [`admin_server`]), under one graceful shutdown: on SIGTERM readiness fails (on
/// both, it is one switch), both go on serving for the drain delay, then both stop
/// accepting and the service's requests in flight finish, and the hooks run once. If
/// either server ends on its own, so does the other.
///
/// ```no_run
/// use actix_web::{web, App, HttpServer};
/// use readiness_actix::core::Readiness;
///
/// #[actix_web::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
///     let shutdown = readiness.shutdown().from_env()?.build()?;
///     let observe = readiness_actix::Observe::new(&readiness);
///     let server = HttpServer::new(move || {
///         App::new()
///             .wrap(observe.clone())
///             .route("/", web::get().to(|| async { "hi" })) // no `configure`: on the admin port
///     })
///     .disable_signals()
///     .h1_allow_half_closed(false)
///     .bind(("0.0.0.0", 8080))?
///     .run();
///     let admin = readiness_actix::admin_server(&readiness, std::net::TcpListener::bind("0.0.0.0:9090")?)?;
///     let outcome = readiness_actix::run_with_admin(server, admin, shutdown).await;
///     std::process::exit(outcome.exit_code());
/// }
/// ```
pub async fn run_with_admin(server: Server, admin: Server, shutdown: Shutdown) -> ShutdownOutcome {
    let main = crate::serve::Actix::new(server, Some(shutdown.red().clone()));
    let admin = crate::serve::Actix::new(admin, None);
    shutdown.run((main, admin)).await
}

#[cfg(feature = "logging")]
pub(crate) use log_level::register;

#[cfg(feature = "logging")]
mod log_level {
    use actix_web::http::header::AUTHORIZATION;
    use actix_web::{web, HttpMessage as _, HttpRequest};
    use readiness_core::endpoint::{LogLevelRequest, LOG_LEVEL_PATH};
    use readiness_core::{Readiness, RequestId, REQUEST_ID_HEADER};

    /// Registers the log-level route when the service gave a filter.
    pub(crate) fn register(readiness: &Readiness, config: &mut web::ServiceConfig) {
        if readiness.log_filter().is_none() {
            return;
        }
        let readiness = readiness.clone();
        config.route(
            LOG_LEVEL_PATH,
            web::route().to(move |request: HttpRequest, body: web::Bytes| {
                let headers = request.headers();
                let extensions = request.extensions();
                let log_request = LogLevelRequest::new(request.method().as_str(), &body)
                    .with_authorization(headers.get(AUTHORIZATION).map(|v| v.as_bytes()))
                    .with_request_id(extensions.get::<RequestId>())
                    .with_request_id_header(headers.get(REQUEST_ID_HEADER).map(|v| v.as_bytes()));
                let answer = crate::convert(readiness.respond_log_level(&log_request));
                async move { answer }
            }),
        );
    }
}
