//! `axum::serve` driven by a [`Shutdown`]: the phases of a graceful shutdown.

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::IntoFuture as _;

use axum::extract::Request;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use readiness_core::shutdown::{Server, Shutdown, ShutdownOutcome};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_service::Service;

/// Serves `make_service` on `listener` as [`axum::serve()`] does, until `shutdown`
/// is triggered (SIGTERM, SIGINT or its handle); then fails readiness, waits the
/// drain delay, stops accepting, lets requests in flight finish (idle keep-alive
/// connections are closed at once), runs the hooks, and returns how it went.
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use readiness_axum::core::Readiness;
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
///     let app = readiness_axum::instrument(Router::new().route("/", get(|| async { "hi" })), &readiness);
///     let shutdown = readiness.shutdown().from_env()?.build()?;
///     let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
///     let outcome = readiness_axum::serve(listener, app, shutdown).await;
///     std::process::exit(outcome.exit_code());
/// }
/// ```
pub async fn serve<L, M, S>(listener: L, make_service: M, shutdown: Shutdown) -> ShutdownOutcome
where
    L: Listener,
    L::Addr: Debug,
    M: for<'a> Service<IncomingStream<'a, L>, Error = Infallible, Response = S> + Send + 'static,
    for<'a> <M as Service<IncomingStream<'a, L>>>::Future: Send,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    shutdown.run(spawn(listener, make_service)).await
}

/// Starts serving `make_service` on `listener` until told to stop.
pub(crate) fn spawn<L, M, S>(listener: L, make_service: M) -> Axum
where
    L: Listener,
    L::Addr: Debug,
    M: for<'a> Service<IncomingStream<'a, L>, Error = Infallible, Response = S> + Send + 'static,
    for<'a> <M as Service<IncomingStream<'a, L>>>::Future: Send,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let server = axum::serve(listener, make_service)
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        })
        .into_future();
    let task = tokio::spawn(server);
    Axum {
        stop: Some(stop),
        task: Some(task),
    }
}

/// One axum server, as a shutdown drives it.
pub(crate) struct Axum {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server for Axum {
    async fn stop_accepting(&mut self) {
        // axum drops the listener, and hyper closes idle connections and answers
        // the requests in flight with `connection: close`.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    async fn drain(&mut self) {
        if let Some(task) = self.task.as_mut() {
            let _ = task.await;
            self.task = None;
        }
    }

    async fn abort(&mut self) {
        // The connections' own tasks end with the runtime, when the service returns.
        if let Some(task) = self.task.take() {
            task.abort();
        }
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
