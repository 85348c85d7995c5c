//! The manual ready switch: readiness fails with a reason until it is cleared,
//! whatever the checks say (maintenance, and the first phase of a graceful shutdown).

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

/// Shared by the facade and the shutdown coordinator. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReadySwitch(Arc<RwLock<Option<Cow<'static, str>>>>);

impl ReadySwitch {
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
