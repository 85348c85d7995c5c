//! The server side of a shutdown, which the framework adapters implement.

use std::future::Future;

/// The server side of a shutdown, as a framework adapter drives it.
///
/// Adapters implement it; services use `readiness_axum::serve` or
/// `readiness_actix::run` rather than this trait.
pub trait Server {
    /// Stops accepting connections and closes idle ones.
    fn stop_accepting(&mut self) -> impl Future<Output = ()>;
    /// Resolves once the requests in flight are done and the server has stopped.
    fn drain(&mut self) -> impl Future<Output = ()>;
    /// Drops whatever is still running.
    fn abort(&mut self) -> impl Future<Output = ()>;
    /// Resolves if the server ends on its own, before any shutdown.
    fn stopped(&mut self) -> impl Future<Output = std::io::Result<()>>;
}
