//! An actix-web `Server` driven by a [`Shutdown`]: the phases of a graceful shutdown.

use std::time::Duration;

use actix_web::dev::{Server as ActixServer, ServerHandle};
use actix_web::rt::task::JoinHandle;
use readiness_core::metrics::RedMetrics;
use readiness_core::shutdown::{Server, Shutdown, ShutdownOutcome};

/// Runs `server` until `shutdown` is triggered (SIGTERM, SIGINT or its handle), then
/// fails readiness, waits the drain delay, stops accepting, lets requests in flight
/// finish, closes the connections left (idle keep-alive ones at once), runs the
/// hooks, and returns how it went: the same phases, settings and log lines as
/// `readiness_axum::serve`.
///
/// Build the server with `.disable_signals()`, or actix stops on SIGTERM by itself
/// without the drain delay. Requests are counted in flight by [`Observe`](crate::Observe),
/// which must wrap the app; once accepting stops, it answers with `connection:
/// close`, as actix does not close keep-alive connections itself.
///
/// ```no_run
/// use actix_web::{web, App, HttpServer};
/// use readiness_actix::core::{shutdown::Shutdown, Readiness};
///
/// #[actix_web::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
///     let shutdown = Shutdown::builder(&readiness).from_env()?.build()?;
///     let observe = readiness_actix::Observe::new(&readiness);
///     let health = readiness_actix::configure(&readiness);
///     let server = HttpServer::new(move || {
///         App::new()
///             .wrap(observe.clone())
///             .route("/", web::get().to(|| async { "hi" }))
///             .configure(health.clone())
///     })
///     .disable_signals()
///     .bind(("0.0.0.0", 8080))?
///     .run();
///     let outcome = readiness_actix::run(server, shutdown).await;
///     std::process::exit(outcome.exit_code());
/// }
/// ```
pub async fn run(server: ActixServer, shutdown: Shutdown) -> ShutdownOutcome {
    let handle = server.handle();
    let red = shutdown.readiness().red().clone();
    let task = actix_web::rt::spawn(server);
    shutdown
        .run(Actix {
            handle,
            red,
            task: Some(task),
        })
        .await
}

struct Actix {
    handle: ServerHandle,
    red: RedMetrics,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server for Actix {
    async fn stop_accepting(&mut self) {
        self.handle.pause().await;
    }

    async fn drain(&mut self) {
        // Requests in flight finish (each answered with `connection: close`); what
        // is left then are idle keep-alive connections, closed by a hard stop.
        while self.red.in_flight() > 0 {
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
        self.handle.stop(false).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    async fn abort(&mut self) {
        self.handle.stop(false).await;
    }

    async fn stopped(&mut self) -> std::io::Result<()> {
        match self.task.as_mut() {
            Some(task) => {
                let result = task.await;
                self.task = None;
                result.map_err(std::io::Error::other)?
            }
            None => std::future::pending().await,
        }
    }
}
