//! The manual ready switch: readiness fails with a reason until it is cleared,
//! whatever the checks say (maintenance, and the first phase of a graceful shutdown).

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

/// Shared by the facade and the shutdown coordinator. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReadySwitch(Arc<RwLock<Option<Cow<'static, str>>>>, Draining);

/// Whether a shutdown has stopped accepting connections; set once, never cleared.
#[derive(Clone, Debug)]
struct Draining(Arc<watch::Sender<bool>>);

impl Default for Draining {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }
}

impl ReadySwitch {
    /// A shutdown stops accepting now: every [`draining`](Self::draining) future resolves.
    pub(crate) fn mark_draining(&self) {
        self.1 .0.send_replace(true);
    }

    /// Resolves once [`mark_draining`](Self::mark_draining) was called (at once if it was).
    pub(crate) fn draining(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut seen = self.1 .0.subscribe();
        async move {
            // The sender lives as long as the switch's clones; if every one is gone
            // nothing can drain any more, so wait for ever.
            if seen.wait_for(|draining| *draining).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Readiness fails with `reason` from now on.
    pub(crate) fn mark_unready(&self, reason: Cow<'static, str>) {
        tracing::info!(target: "readiness::health", reason = %reason, "marked not ready");
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    /// Readiness follows the checks again.
    pub(crate) fn mark_ready(&self) {
        let previous = self.0.write().unwrap_or_else(|e| e.into_inner()).take();
        if previous.is_some() {
            tracing::info!(target: "readiness::health", "marked ready again");
        }
    }

    /// The reason in force, if any.
    pub(crate) fn reason(&self) -> Option<String> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_deref()
            .map(str::to_owned)
    }
}
