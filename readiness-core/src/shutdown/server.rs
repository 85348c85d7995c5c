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

/// Two servers driven as one, such as the service's listener and its admin listener:
/// both stop accepting together, both drain together, and the pair ends on its own
/// when either does (a service whose probes are gone should not go on as if healthy).
/// Readiness fails on both at once, before either stops, since it is one switch.
impl<A: Server, B: Server> Server for (A, B) {
    async fn stop_accepting(&mut self) {
        futures_util::future::join(self.0.stop_accepting(), self.1.stop_accepting()).await;
    }

    async fn drain(&mut self) {
        futures_util::future::join(self.0.drain(), self.1.drain()).await;
    }

    async fn abort(&mut self) {
        futures_util::future::join(self.0.abort(), self.1.abort()).await;
    }

    async fn stopped(&mut self) -> std::io::Result<()> {
        tokio::select! {
            result = self.0.stopped() => result,
            result = self.1.stopped() => result,
        }
    }
}
