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
/// With the `http2` feature, the app's port also speaks HTTP/2 without TLS (h2c,
/// prior knowledge: `curl --http2-prior-knowledge`), told apart from HTTP/1.1 by
/// the connection's first bytes (`HttpServer::bind_auto_h2c`); the admin server
/// speaks HTTP/1.1 only. The drain is the same for both protocols: requests in
/// flight finish. actix ends an HTTP/1.1 connection after its answer once accepting
/// stops but sends no `GOAWAY` on an h2c one, whose client would go on sending
/// requests that hold the drain up: from then on, a new HTTP/2 request is answered
/// `503` without reaching the app (observed as any request, and safe to retry
/// elsewhere), and the connection closes with the process.
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
    let draining = GoingAway::new(&readiness);
    let Some((admin_host, admin_port)) = admin else {
        let health = crate::configure(&readiness);
        let server = HttpServer::new(move || {
            draining
                .refuse_http2(factory().configure(health.clone()))
                .wrap(observe.clone())
        })
        .disable_signals()
        .h1_allow_half_closed(false);
        #[cfg(feature = "http2")]
        let server = server.bind_auto_h2c((address.0.as_str(), address.1))?;
        #[cfg(not(feature = "http2"))]
        let server = server.bind((address.0.as_str(), address.1))?;
        for address in server.addrs() {
            tracing::info!(target: "readiness::serve", address = %address, "listening");
        }
        return Ok(crate::run(server.run(), shutdown).await);
    };
    // No `configure`: the probes, `/metrics` and `/log-level` are the admin server's.
    let server = HttpServer::new(move || draining.refuse_http2(factory()).wrap(observe.clone()))
        .disable_signals()
        .h1_allow_half_closed(false);
    #[cfg(feature = "http2")]
    let server = server.bind_auto_h2c((address.0.as_str(), address.1))?;
    #[cfg(not(feature = "http2"))]
    let server = server.bind((address.0.as_str(), address.1))?;
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

/// Whether the shutdown has stopped accepting, for the HTTP/2 requests that still
/// come on open h2c connections (actix sends no `GOAWAY`); nothing without the
/// `http2` feature.
#[derive(Clone)]
struct GoingAway {
    #[cfg(feature = "http2")]
    draining: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl GoingAway {
    /// Set once `readiness`'s shutdown stops accepting (a task on this runtime).
    fn new(readiness: &readiness_core::Readiness) -> Self {
        #[cfg(feature = "http2")]
        {
            let draining = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let set = std::sync::Arc::clone(&draining);
            let stops = readiness.draining();
            actix_web::rt::spawn(async move {
                stops.await;
                set.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            Self { draining }
        }
        #[cfg(not(feature = "http2"))]
        {
            let _ = readiness;
            Self {}
        }
    }

    /// `app`, answering a new HTTP/2 request with `503` once draining.
    #[cfg(feature = "http2")]
    fn refuse_http2<T, B>(
        &self,
        app: App<T>,
    ) -> App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<actix_web::body::EitherBody<B>>,
            Error = actix_web::Error,
            InitError = (),
        >,
    >
    where
        T: ServiceFactory<
                ServiceRequest,
                Config = (),
                Response = ServiceResponse<B>,
                Error = actix_web::Error,
                InitError = (),
            > + 'static,
        B: MessageBody + 'static,
    {
        use actix_web::dev::Service as _;

        let draining = std::sync::Arc::clone(&self.draining);
        app.wrap_fn(move |request, service| {
            let refuse = request.version() == actix_web::http::Version::HTTP_2
                && draining.load(std::sync::atomic::Ordering::Relaxed);
            let answer = if refuse {
                Err(request)
            } else {
                Ok(service.call(request))
            };
            async move {
                match answer {
                    Ok(call) => call.await.map(ServiceResponse::map_into_left_body),
                    Err(request) => {
                        let response = actix_web::HttpResponse::ServiceUnavailable().finish();
                        Ok(request.into_response(response).map_into_right_body())
                    }
                }
            }
        })
    }

    /// `app` as it is: without `http2`, no h2c connection is served.
    #[cfg(not(feature = "http2"))]
    #[allow(clippy::unused_self)]
    fn refuse_http2<T>(&self, app: App<T>) -> App<T> {
        app
    }
}
