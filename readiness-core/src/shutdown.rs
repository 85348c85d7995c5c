//! Graceful shutdown in the order Kubernetes expects of a pod that is told to stop.
//!
//! 1. **At once**, on SIGTERM or SIGINT (or [`ShutdownHandle::trigger`]): readiness
//!    fails (`/readyz` answers 503, "shutting down"); liveness stays as it was.
//! 2. **Drain delay** (default 5 s): the server goes on serving while load balancers and
//!    the endpoints controller notice that the pod is no longer ready.
//! 3. **Drain**: new connections are refused, idle keep-alive connections are closed,
//!    requests in flight finish, up to the drain timeout (default 15 s); those still
//!    running then are counted, logged and cut.
//! 4. **Hooks**, in the order they were added, each within its own timeout and all
//!    within the hooks timeout (default 5 s): a hook that fails, panics or hangs is
//!    logged and the next one runs. The log writer is flushed last of all.
//!
//! Each step is a `system` log line (target `readiness::shutdown`, a `phase` field,
//! `duration_ms`), and [`ShutdownOutcome::exit_code`] says whether it was clean. A
//! second signal ends the process at once. The framework adapters drive the server:
//! `readiness_axum::serve` and `readiness_actix::run`.
//!
//! ```
//! use std::time::Duration;
//! use readiness_core::shutdown::Shutdown;
//! use readiness_core::Readiness;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
//! let shutdown = Shutdown::builder(&readiness)
//!     .drain_delay(Duration::from_secs(5))
//!     .hook("close the pool", Duration::from_secs(2), || async { Ok(()) })
//!     .build()?;
//! let handle = shutdown.handle(); // for tests and embedding; signals work too
//! # drop((shutdown, handle));
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
#[cfg(feature = "logging")]
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::error::BuildError;
use crate::readiness::Readiness;

const TARGET: &str = "readiness::shutdown";

/// Time kept free between the last deadline and the grace period's end.
const MARGIN: Duration = Duration::from_secs(2);

type HookFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

struct Hook {
    name: String,
    timeout: Duration,
    run: Box<dyn FnOnce() -> HookFuture + Send>,
}

/// Settings and hooks of a [`Shutdown`]. See the [module docs](self).
#[must_use]
pub struct ShutdownBuilder {
    readiness: Readiness,
    drain_delay: Duration,
    drain_timeout: Duration,
    hooks_timeout: Duration,
    grace_period: Duration,
    signals: bool,
    hooks: Vec<Hook>,
    #[cfg(feature = "logging")]
    log_guard: Option<crate::logging::LogGuard>,
}

/// The shutdown coordinator: waits for a signal or a trigger, then runs the phases.
/// Built by [`Shutdown::builder`]; run by a framework adapter.
pub struct Shutdown {
    readiness: Readiness,
    drain_delay: Duration,
    drain_timeout: Duration,
    hooks_timeout: Duration,
    hooks: Vec<Hook>,
    trigger: Arc<watch::Sender<Option<String>>>,
    #[cfg(unix)]
    signals: Option<Signals>,
    #[cfg(feature = "logging")]
    log_guard: Arc<Mutex<Option<crate::logging::LogGuard>>>,
}

#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

/// Starts a shutdown from code, as a signal would. Cheap to clone.
///
/// ```
/// # use readiness_core::{shutdown::Shutdown, Readiness};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let readiness = Readiness::builder().build()?;
/// let shutdown = Shutdown::builder(&readiness).signals(false).build()?;
/// let handle = shutdown.handle();
/// handle.trigger("maintenance");
/// assert!(handle.is_triggered());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ShutdownHandle {
    trigger: Arc<watch::Sender<Option<String>>>,
}

/// How a shutdown went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownOutcome {
    /// What started it: `SIGTERM`, `SIGINT`, the reason given to the handle, or
    /// `server stopped` when the server ended on its own.
    pub trigger: String,
    /// Requests still running at the drain timeout, cut.
    pub cut: u64,
    /// Each hook, in the order it ran.
    pub hooks: Vec<HookReport>,
    /// From the trigger to the end.
    pub took: Duration,
}

/// What one hook did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HookReport {
    /// The name it was added with.
    pub name: String,
    /// How it ended.
    pub result: HookResult,
    /// How long it ran.
    pub took: Duration,
}

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookResult {
    /// It returned `Ok`.
    Done,
    /// It returned an error, or panicked.
    Failed(String),
    /// It ran past its timeout (or the hooks timeout) and was left behind.
    TimedOut,
    /// The hooks timeout was used up before its turn.
    Skipped,
}

impl HookResult {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed(_) => "failed",
            Self::TimedOut => "timed_out",
            Self::Skipped => "skipped",
        }
    }
}

impl ShutdownOutcome {
    /// Whether nothing was cut and every hook finished.
    #[must_use]
    pub fn clean(&self) -> bool {
        self.cut == 0
            && self.trigger != SERVER_STOPPED
            && self.hooks.iter().all(|h| h.result == HookResult::Done)
    }

    /// `0` for a clean shutdown, else `1`: for `std::process::exit`.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.clean())
    }
}

const SERVER_STOPPED: &str = "server stopped";

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

impl Shutdown {
    /// Settings for `readiness`'s service, with the defaults: drain delay 5 s, drain
    /// timeout 15 s, hooks timeout 5 s, grace period 30 s, SIGTERM and SIGINT.
    pub fn builder(readiness: &Readiness) -> ShutdownBuilder {
        ShutdownBuilder {
            readiness: readiness.clone(),
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

    /// The service's readiness, whose state the shutdown changes.
    #[must_use]
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
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

        self.readiness.mark_unready("shutting down");
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
            let cut = self.readiness.red().in_flight();
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

    async fn wait_for_trigger(&mut self) -> String {
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
    fn watch_second_signal(&mut self, first: &str) {
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

    async fn run_hooks(&mut self) -> Vec<HookReport> {
        let started = Instant::now();
        let deadline = started + self.hooks_timeout;
        let mut reports = Vec::with_capacity(self.hooks.len());
        for hook in self.hooks.drain(..) {
            let began = Instant::now();
            let limit = hook.timeout.min(deadline.saturating_duration_since(began));
            let result = if limit.is_zero() {
                HookResult::Skipped
            } else {
                let mut task = tokio::spawn((hook.run)());
                match tokio::time::timeout(limit, &mut task).await {
                    Ok(Ok(Ok(()))) => HookResult::Done,
                    Ok(Ok(Err(error))) => HookResult::Failed(error),
                    Ok(Err(join)) => HookResult::Failed(if join.is_panic() {
                        "panicked".to_owned()
                    } else {
                        join.to_string()
                    }),
                    Err(_) => {
                        task.abort();
                        HookResult::TimedOut
                    }
                }
            };
            let took = began.elapsed();
            if result == HookResult::Done {
                tracing::info!(target: TARGET, category = "system", hook = %hook.name, result = result.as_str(), duration_ms = millis(took), "shutdown hook done");
            } else {
                let error = match &result {
                    HookResult::Failed(error) => error.as_str(),
                    _ => "",
                };
                tracing::warn!(target: TARGET, category = "system", hook = %hook.name, result = result.as_str(), error, duration_ms = millis(took), timeout_ms = millis(limit), "shutdown hook did not finish");
            }
            reports.push(HookReport {
                name: hook.name,
                result,
                took,
            });
        }
        let failed = reports
            .iter()
            .filter(|r| r.result != HookResult::Done)
            .count();
        tracing::info!(
            target: TARGET,
            category = "system",
            phase = "hooks_done",
            duration_ms = millis(started.elapsed()),
            hooks = reports.len(),
            failed,
            "shutdown hooks done"
        );
        reports
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
    /// [`ShutdownHandle`] always can).
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
    /// # use readiness_core::{shutdown::Shutdown, Readiness};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let readiness = Readiness::builder().build().unwrap();
    /// let error = Shutdown::builder(&readiness)
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
    /// An `Err` is logged and the next hook still runs.
    pub fn hook<F, Fut>(mut self, name: impl Into<String>, timeout: Duration, run: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
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
    pub fn hook_blocking<F>(self, name: impl Into<String>, timeout: Duration, run: F) -> Self
    where
        F: FnOnce() -> Result<(), String> + Send + 'static,
    {
        self.hook(name, timeout, move || async move {
            tokio::task::spawn_blocking(run)
                .await
                .unwrap_or_else(|join| {
                    Err(if join.is_panic() {
                        "panicked".to_owned()
                    } else {
                        join.to_string()
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
                None => Err(format!("{} spans not delivered", report.stats.pending)),
                Some(error) => Err(format!(
                    "{error} ({} spans not delivered)",
                    report.stats.pending
                )),
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
            Some(Signals {
                term: listen(SignalKind::terminate())?,
                int: listen(SignalKind::interrupt())?,
            })
        } else {
            None
        };
        let (trigger, _) = watch::channel(None);
        Ok(Shutdown {
            readiness: self.readiness,
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

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
