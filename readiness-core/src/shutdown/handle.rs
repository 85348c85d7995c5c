//! Starting a shutdown from code.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// Starts a shutdown from code, as a signal would. Cheap to clone.
///
/// ```
/// # use readiness_core::Readiness;
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let readiness = Readiness::builder().build()?;
/// let shutdown = readiness.shutdown().signals(false).build()?;
/// let handle = shutdown.handle();
/// handle.trigger("maintenance");
/// assert!(handle.is_triggered());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ShutdownHandle {
    pub(super) trigger: Arc<watch::Sender<Option<String>>>,
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl ShutdownHandle {
    /// Starts the shutdown, as SIGTERM would; `reason` is logged. Later calls do
    /// nothing.
    pub fn trigger(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.trigger.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// Whether a shutdown was triggered through a handle.
    #[must_use]
    pub fn is_triggered(&self) -> bool {
        self.trigger.borrow().is_some()
    }
}
