//! The coordinator: waits for a signal or a trigger, then runs the phases in order.

use std::fmt;
use std::sync::Arc;
#[cfg(feature = "logging")]
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::handle::ShutdownHandle;
use super::hook::Hook;
use super::outcome::{HookReport, ShutdownOutcome, SERVER_STOPPED};
use super::server::Server;
#[cfg(unix)]
use super::signal::Signals;
use super::{millis, TARGET};
use crate::health::ReadySwitch;
use crate::metrics::RedMetrics;

/// The shutdown coordinator: waits for a signal or a trigger, then runs the phases.
/// Built by [`Readiness::shutdown`](crate::Readiness::shutdown); run by a framework
/// adapter.
pub struct Shutdown {
    pub(super) switch: ReadySwitch,
    pub(super) red: RedMetrics,
    pub(super) drain_delay: Duration,
    pub(super) drain_timeout: Duration,
    pub(super) hooks_timeout: Duration,
    pub(super) hooks: Vec<Hook>,
    pub(super) trigger: Arc<watch::Sender<Option<String>>>,
    #[cfg(unix)]
    pub(super) signals: Option<Signals>,
    #[cfg(feature = "logging")]
    pub(super) log_guard: Arc<Mutex<Option<crate::logging::LogGuard>>>,
}

impl Shutdown {
    /// The recorder whose requests in flight the drain waits for
    /// ([`RedMetrics::in_flight`]): a server adapter polls it.
    #[must_use]
    pub fn red(&self) -> &RedMetrics {
        &self.red
    }

    /// How long the server goes on serving after readiness fails
    /// ([`ShutdownBuilder::drain_delay`](super::ShutdownBuilder::drain_delay)).
    #[must_use]
    pub fn drain_delay(&self) -> Duration {
        self.drain_delay
    }

    /// How long requests in flight may take to finish once accepting stops
    /// ([`ShutdownBuilder::drain_timeout`](super::ShutdownBuilder::drain_timeout)).
    #[must_use]
    pub fn drain_timeout(&self) -> Duration {
        self.drain_timeout
    }

    /// How long all the hooks together may take
    /// ([`ShutdownBuilder::hooks_timeout`](super::ShutdownBuilder::hooks_timeout)).
    #[must_use]
    pub fn hooks_timeout(&self) -> Duration {
        self.hooks_timeout
    }

    /// A handle that starts the shutdown from code.
    #[must_use]
    pub fn handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            trigger: Arc::clone(&self.trigger),
        }
    }

    /// Waits for the trigger, then runs every phase against `server`. Framework
    /// adapters call it.
    pub async fn run<S: Server>(mut self, mut server: S) -> ShutdownOutcome {
        let trigger = tokio::select! {
            trigger = self.wait_for_trigger() => Ok(trigger),
            result = server.stopped() => Err(result),
        };
        let trigger = match trigger {
            Ok(trigger) => trigger,
            Err(result) => {
                match result {
                    Ok(()) => {
                        tracing::error!(target: TARGET, category = "system", "the server stopped on its own")
                    }
                    Err(error) => {
                        tracing::error!(target: TARGET, category = "system", error = %error, "the server failed")
                    }
                }
                let started = Instant::now();
                let hooks = self.run_hooks().await;
                return self.finish(SERVER_STOPPED.to_owned(), 0, hooks, started);
            }
        };
        let started = Instant::now();
        self.watch_second_signal(&trigger);
        tracing::info!(target: TARGET, category = "system", phase = "initiated", trigger = %trigger, "shutdown initiated");

        self.switch.mark_unready("shutting down".into());
        tracing::info!(
            target: TARGET,
            category = "system",
            phase = "readiness_failed",
            duration_ms = millis(started.elapsed()),
            "readiness failed"
        );

        tokio::time::sleep(self.drain_delay).await;
        tracing::info!(
            target: TARGET,
            category = "system",
            phase = "drain_delay_elapsed",
            duration_ms = millis(started.elapsed()),
            "drain delay elapsed"
        );

        let stopping = Instant::now();
        // Long-lived connections the server does not drain (WebSockets, streams)
        // are told to close now, through `Readiness::draining`.
        self.switch.mark_draining();
        server.stop_accepting().await;
        tracing::info!(
            target: TARGET,
            category = "system",
            phase = "stopped_accepting",
            duration_ms = millis(stopping.elapsed()),
            "stopped accepting"
        );

        let draining = Instant::now();
        let cut = if tokio::time::timeout(self.drain_timeout, server.drain())
            .await
            .is_ok()
        {
            tracing::info!(
                target: TARGET,
                category = "system",
                phase = "in_flight_drained",
                duration_ms = millis(draining.elapsed()),
                cut = 0u64,
                "in-flight requests drained"
            );
            0
        } else {
            let cut = self.red.in_flight();
            server.abort().await;
            tracing::warn!(
                target: TARGET,
                category = "system",
                phase = "in_flight_drained",
                duration_ms = millis(draining.elapsed()),
                cut,
                "requests still running at the drain timeout were cut"
            );
            cut
        };

        let hooks = self.run_hooks().await;
        self.finish(trigger, cut, hooks, started)
    }

    fn finish(
        &self,
        trigger: String,
        cut: u64,
        hooks: Vec<HookReport>,
        started: Instant,
    ) -> ShutdownOutcome {
        let outcome = ShutdownOutcome {
            trigger,
            cut,
            hooks,
            took: started.elapsed(),
        };
        tracing::info!(
            target: TARGET,
            category = "system",
            phase = "exit",
            clean = outcome.clean(),
            exit_code = outcome.exit_code(),
            duration_ms = millis(outcome.took),
            "shutdown complete"
        );
        #[cfg(feature = "logging")]
        if let Some(guard) = self
            .log_guard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            // Every line above, written before the process exits.
            drop(guard);
        }
        outcome
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("drain_delay", &self.drain_delay)
            .field("drain_timeout", &self.drain_timeout)
            .field("hooks_timeout", &self.hooks_timeout)
            .field(
                "hooks",
                &self
                    .hooks
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}
