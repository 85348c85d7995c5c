//! SIGTERM and SIGINT: the first starts the shutdown, a second ends the process.

#[cfg(all(unix, feature = "logging"))]
use std::sync::Arc;

use super::coordinator::Shutdown;
#[cfg(unix)]
use super::TARGET;
#[cfg(unix)]
use crate::error::BuildError;

#[cfg(unix)]
pub(super) struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// Starts listening for SIGTERM and SIGINT; inside a Tokio runtime only.
    pub(super) fn listen() -> Result<Self, BuildError> {
        use tokio::signal::unix::{signal, SignalKind};
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BuildError::new(
                "shutdown.signals",
                "build the shutdown inside a Tokio runtime to listen for signals",
            ));
        }
        let listen = |kind| {
            signal(kind).map_err(|error| {
                BuildError::new(
                    "shutdown.signals",
                    format!("cannot listen for signals: {error}"),
                )
            })
        };
        Ok(Self {
            term: listen(SignalKind::terminate())?,
            int: listen(SignalKind::interrupt())?,
        })
    }
}

impl Shutdown {
    pub(super) async fn wait_for_trigger(&mut self) -> String {
        let mut trigger = self.trigger.subscribe();
        let by_handle = async move {
            if trigger.wait_for(Option::is_some).await.is_err() {
                // The sender lives in `self`: never closed while this runs.
                std::future::pending::<()>().await;
            }
            trigger.borrow().clone().unwrap_or_default()
        };
        #[cfg(unix)]
        if let Some(signals) = self.signals.as_mut() {
            return tokio::select! {
                reason = by_handle => reason,
                _ = signals.term.recv() => "SIGTERM".to_owned(),
                _ = signals.int.recv() => "SIGINT".to_owned(),
            };
        }
        by_handle.await
    }

    /// A second signal while shutting down ends the process at once.
    pub(super) fn watch_second_signal(&mut self, first: &str) {
        #[cfg(unix)]
        if let Some(mut signals) = self.signals.take() {
            let first = first.to_owned();
            #[cfg(feature = "logging")]
            let log_guard = Arc::clone(&self.log_guard);
            tokio::spawn(async move {
                let second = tokio::select! {
                    _ = signals.term.recv() => "SIGTERM",
                    _ = signals.int.recv() => "SIGINT",
                };
                tracing::error!(
                    target: TARGET,
                    category = "system",
                    phase = "forced_exit",
                    first = %first,
                    second,
                    "second signal while shutting down: exiting at once"
                );
                #[cfg(feature = "logging")]
                if let Some(guard) = log_guard.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    guard.flush();
                }
                std::process::exit(1);
            });
        }
        #[cfg(not(unix))]
        let _ = first;
    }
}
