//! An actix-web `Server` driven by a [`Shutdown`]: the phases of a graceful shutdown.

use std::time::Duration;

use actix_web::dev::{Server as ActixServer, ServerHandle};
use actix_web::rt::task::JoinHandle;
use readiness_core::metrics::RedMetrics;
use readiness_core::shutdown::{Server, Shutdown, ShutdownOutcome};

/// Runs `server` until `shutdown` is triggered (SIGTERM, SIGINT or its handle), then
/// fails readiness, waits the drain delay, stops accepting (the listening sockets
/// close: new connections are refused), lets requests in flight finish, runs the
/// hooks, and returns how it went: the same phases, settings and log lines as
/// `readiness_axum::serve`. Requests in flight are answered with `connection: close`
/// by actix itself; idle keep-alive connections do not hold the shutdown up, they
/// close when the process exits, which it should do with the outcome's exit code.
///
/// Build the server with `.disable_signals()`, or actix stops on SIGTERM by itself
/// without the drain delay, and with `.h1_allow_half_closed(false)`, so that a client
/// that closes its connection before its answer ends its request (recorded as 499,
/// as on axum) instead of leaving the handler to run for nobody. Requests are counted
/// in flight by [`Observe`](crate::Observe), which must wrap the app.
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
///     let health = readiness_actix::configure(&readiness);
///     let server = HttpServer::new(move || {
///         App::new()
///             .wrap(observe.clone())
///             .route("/", web::get().to(|| async { "hi" }))
///             .configure(health.clone())
///     })
///     .disable_signals()
///     .h1_allow_half_closed(false)
///     .bind(("0.0.0.0", 8080))?
///     .run();
///     let outcome = readiness_actix::run(server, shutdown).await;
///     std::process::exit(outcome.exit_code());
/// }
/// ```
pub async fn run(server: ActixServer, shutdown: Shutdown) -> ShutdownOutcome {
    let red = shutdown.red().clone();
    shutdown.run(Actix::new(server, Some(red))).await
}

/// One actix-web server, as a shutdown drives it.
pub(crate) struct Actix {
    handle: ServerHandle,
    /// Requests in flight, counted by `Observe`; `None` for a server it does not
    /// wrap (the admin one, whose probes and scrapes take microseconds): its drain
    /// ends once it stops accepting.
    red: Option<RedMetrics>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Actix {
    /// Starts `server`.
    pub(crate) fn new(server: ActixServer, red: Option<RedMetrics>) -> Self {
        let handle = server.handle();
        let task = actix_web::rt::spawn(server);
        Self {
            handle,
            red,
            task: Some(task),
        }
    }
}

impl Server for Actix {
    async fn stop_accepting(&mut self) {
        // A graceful stop closes the listening sockets at once (new connections are
        // refused) and lets the workers finish. It resolves only once every
        // connection has closed, idle keep-alive ones included, so it is not waited
        // for here.
        let handle = self.handle.clone();
        actix_web::rt::spawn(async move { handle.stop(true).await });
    }

    async fn drain(&mut self) {
        // Requests in flight finish (actix answers them with `connection: close`). Idle
        // keep-alive connections would hold actix's workers until their keep-alive
        // timeout; nothing is running on them, so they are left to the process's
        // exit. Zero twice in a row: a request read just as the count fell is seen.
        let Some(red) = &self.red else {
            return;
        };
        let mut idle_polls = 0;
        while idle_polls < 2 {
            if red.in_flight() == 0 {
                idle_polls += 1;
            } else {
                idle_polls = 0;
            }
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn abort(&mut self) {
        // The graceful stop holds actix's command loop, so a hard stop would wait
        // behind it: what still runs ends with the process.
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
