//! The settings of a shutdown: its defaults, the environment, the hooks, and their
//! checks before the coordinator is built.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
#[cfg(feature = "logging")]
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use super::coordinator::Shutdown;
use super::hook::Hook;
#[cfg(unix)]
use super::signal::Signals;
use super::{millis, TARGET};
use crate::error::{BoxError, BuildError};
use crate::health::ReadySwitch;
use crate::metrics::RedMetrics;

/// Time kept free between the last deadline and the grace period's end.
const MARGIN: Duration = Duration::from_secs(2);

/// Settings and hooks of a [`Shutdown`]. See the [module docs](super).
#[must_use]
pub struct ShutdownBuilder {
    switch: ReadySwitch,
    red: RedMetrics,
    drain_delay: Duration,
    drain_timeout: Duration,
    hooks_timeout: Duration,
    grace_period: Duration,
    signals: bool,
    hooks: Vec<Hook>,
    #[cfg(feature = "logging")]
    log_guard: Option<crate::logging::LogGuard>,
}

impl ShutdownBuilder {
    /// Settings for the service whose ready switch is `switch` and whose requests
    /// `red` counts, with the defaults: drain delay 5 s, drain timeout 15 s, hooks
    /// timeout 5 s, grace period 30 s, SIGTERM and SIGINT. Made by
    /// [`Readiness::shutdown`](crate::Readiness::shutdown).
    pub(crate) fn new(switch: ReadySwitch, red: RedMetrics) -> Self {
        Self {
            switch,
            red,
            drain_delay: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(15),
            hooks_timeout: Duration::from_secs(5),
            grace_period: Duration::from_secs(30),
            signals: true,
            hooks: Vec::new(),
            #[cfg(feature = "logging")]
            log_guard: None,
        }
    }
}

impl fmt::Debug for ShutdownBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownBuilder")
            .field("drain_delay", &self.drain_delay)
            .field("drain_timeout", &self.drain_timeout)
            .field("hooks_timeout", &self.hooks_timeout)
            .field("grace_period", &self.grace_period)
            .field("signals", &self.signals)
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

impl ShutdownBuilder {
    /// How long the server goes on serving after readiness fails (default 5 s; 0
    /// allowed). Long enough for the endpoints controller and the load balancers to
    /// stop sending new requests.
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// How long requests in flight may take to finish once accepting stops (default
    /// 15 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// How long all the hooks together may take (default 5 s).
    pub fn hooks_timeout(mut self, timeout: Duration) -> Self {
        self.hooks_timeout = timeout;
        self
    }

    /// The time the platform gives between SIGTERM and SIGKILL (default 30 s, as
    /// Kubernetes' `terminationGracePeriodSeconds`). `build` warns when the drain
    /// delay, drain timeout and hooks timeout do not fit in it with 2 s to spare.
    pub fn grace_period(mut self, period: Duration) -> Self {
        self.grace_period = period;
        self
    }

    /// Whether SIGTERM and SIGINT start the shutdown (default true; a
    /// [`ShutdownHandle`](super::ShutdownHandle) always can).
    pub fn signals(mut self, on: bool) -> Self {
        self.signals = on;
        self
    }

    /// Reads the settings from `READINESS_SHUTDOWN_DRAIN_DELAY`,
    /// `READINESS_SHUTDOWN_DRAIN_TIMEOUT`, `READINESS_SHUTDOWN_HOOKS_TIMEOUT` and
    /// `READINESS_SHUTDOWN_GRACE_PERIOD` where they are set (`5s`, `500ms`, `1m`).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the variable holding a value that is not a duration.
    pub fn from_env(self) -> Result<Self, BuildError> {
        self.from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read by `lookup`.
    ///
    /// ```
    /// # use readiness_core::Readiness;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let readiness = Readiness::builder().build().unwrap();
    /// let error = readiness.shutdown()
    ///     .from_lookup(|name| (name == "READINESS_SHUTDOWN_DRAIN_DELAY").then(|| "soon".into()))
    ///     .unwrap_err();
    /// assert_eq!(error.field(), "READINESS_SHUTDOWN_DRAIN_DELAY");
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, BuildError> {
        let read = |name: &str| -> Result<Option<Duration>, BuildError> {
            lookup(name)
                .map(|value| {
                    humantime::parse_duration(value.trim()).map_err(|error| {
                        BuildError::new(
                            name,
                            format!("must be a duration such as `5s` or `500ms`, got {value:?}: {error}"),
                        )
                    })
                })
                .transpose()
        };
        if let Some(delay) = read("READINESS_SHUTDOWN_DRAIN_DELAY")? {
            self.drain_delay = delay;
        }
        if let Some(timeout) = read("READINESS_SHUTDOWN_DRAIN_TIMEOUT")? {
            self.drain_timeout = timeout;
        }
        if let Some(timeout) = read("READINESS_SHUTDOWN_HOOKS_TIMEOUT")? {
            self.hooks_timeout = timeout;
        }
        if let Some(period) = read("READINESS_SHUTDOWN_GRACE_PERIOD")? {
            self.grace_period = period;
        }
        Ok(self)
    }

    /// Adds a hook: `run` is called once, after the drain, and may take `timeout`
    /// (cut shorter when the hooks timeout runs out). Hooks run in the order added.
    /// An `Err` is logged (with its sources) and the next hook still runs.
    ///
    /// A hook returns a [`BoxError`], so `?` takes any error type (`std::io::Error`,
    /// a client's error, `anyhow::Error`) as it is, and a message is
    /// `Err("why".into())`:
    ///
    /// ```
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = readiness_core::Readiness::builder().build()?;
    /// let shutdown = readiness.shutdown()
    ///     .signals(false)
    ///     .hook("remove the pid file", Duration::from_secs(1), || async {
    ///         tokio::fs::remove_file("/tmp/orders.pid").await?; // std::io::Error
    ///         Ok(())
    ///     })
    ///     .hook("say goodbye", Duration::from_secs(1), || async {
    ///         Err("nobody to say it to".into())
    ///     })
    ///     .build()?;
    /// # drop(shutdown);
    /// # Ok(()) }
    /// ```
    pub fn hook<F, Fut>(mut self, name: impl Into<String>, timeout: Duration, run: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.hooks.push(Hook {
            name: name.into(),
            timeout,
            run: Box::new(move || Box::pin(run())),
        });
        self
    }

    /// Adds a hook that blocks (a flush, a synchronous client): run on Tokio's
    /// blocking pool, so it cannot stall the runtime; left behind at its timeout.
    /// Its errors are those of [`hook`](Self::hook).
    pub fn hook_blocking<F>(self, name: impl Into<String>, timeout: Duration, run: F) -> Self
    where
        F: FnOnce() -> Result<(), BoxError> + Send + 'static,
    {
        self.hook(name, timeout, move || async move {
            tokio::task::spawn_blocking(run)
                .await
                .unwrap_or_else(|join| {
                    Err(if join.is_panic() {
                        "panicked".into()
                    } else {
                        join.into()
                    })
                })
        })
    }

    /// Adds the span flush as a hook (`flush spans`), within `timeout`.
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub fn flush_telemetry(
        self,
        guard: crate::telemetry::TelemetryGuard,
        timeout: Duration,
    ) -> Self {
        self.hook_blocking("flush spans", timeout, move || {
            let report = guard.shutdown(timeout);
            match report.error {
                None if report.stats.pending == 0 => Ok(()),
                None => Err(format!("{} spans not delivered", report.stats.pending).into()),
                Some(error) => {
                    Err(format!("{error} ({} spans not delivered)", report.stats.pending).into())
                }
            }
        })
    }

    /// Flushes the log writer after everything else, the shutdown's own last line
    /// included (and before a forced exit on a second signal).
    #[cfg(feature = "logging")]
    #[cfg_attr(docsrs, doc(cfg(feature = "logging")))]
    pub fn flush_logs(mut self, guard: crate::logging::LogGuard) -> Self {
        self.log_guard = Some(guard);
        self
    }

    /// Checks the settings and, with signals on, starts listening for SIGTERM and
    /// SIGINT (so call it inside the Tokio runtime, before serving).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the setting: a zero drain timeout, hooks timeout,
    /// grace period or hook timeout, a hook without a name, or signals that cannot
    /// be listened to (no Tokio runtime).
    pub fn build(self) -> Result<Shutdown, BuildError> {
        for (field, value) in [
            ("shutdown.drain_timeout", self.drain_timeout),
            ("shutdown.hooks_timeout", self.hooks_timeout),
            ("shutdown.grace_period", self.grace_period),
        ] {
            if value.is_zero() {
                return Err(BuildError::new(field, "must be more than zero"));
            }
        }
        for hook in &self.hooks {
            if hook.name.trim().is_empty() {
                return Err(BuildError::new("shutdown.hook", "a hook needs a name"));
            }
            if hook.timeout.is_zero() {
                return Err(BuildError::new(
                    format!("shutdown.hook.{}.timeout", hook.name),
                    "must be more than zero",
                ));
            }
        }
        let needed = self.drain_delay + self.drain_timeout + self.hooks_timeout;
        if needed + MARGIN > self.grace_period {
            tracing::warn!(
                target: TARGET,
                category = "system",
                drain_delay_ms = millis(self.drain_delay),
                drain_timeout_ms = millis(self.drain_timeout),
                hooks_timeout_ms = millis(self.hooks_timeout),
                grace_period_ms = millis(self.grace_period),
                "drain delay + drain timeout + hooks timeout ({needed:?}) do not fit in the grace period ({:?}) with {MARGIN:?} to spare: the process may be killed mid-shutdown",
                self.grace_period
            );
        }
        #[cfg(unix)]
        let signals = if self.signals {
            Some(Signals::listen()?)
        } else {
            None
        };
        let (trigger, _) = watch::channel(None);
        Ok(Shutdown {
            switch: self.switch,
            red: self.red,
            drain_delay: self.drain_delay,
            drain_timeout: self.drain_timeout,
            hooks_timeout: self.hooks_timeout,
            hooks: self.hooks,
            trigger: Arc::new(trigger),
            #[cfg(unix)]
            signals,
            #[cfg(feature = "logging")]
            log_guard: Arc::new(Mutex::new(self.log_guard)),
        })
    }
}
