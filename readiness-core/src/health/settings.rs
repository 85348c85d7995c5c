//! Per-check settings: name, probes, criticality, timing, thresholds, tags.

use std::fmt;
use std::time::Duration;

use super::boxed::BoxedCheck;
use super::check::{Check, ComponentType};
use crate::error::BuildError;

/// The Kubernetes probe a check answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Probe {
    /// `/livez`: is the process itself working? Restarting it would help.
    Liveness,
    /// `/readyz`: can it take traffic now? The default for a check.
    Readiness,
    /// `/startupz`: has it finished starting?
    Startup,
}

impl Probe {
    const fn bit(self) -> u8 {
        match self {
            Self::Liveness => 1,
            Self::Readiness => 2,
            Self::Startup => 4,
        }
    }

    /// The probe's name as used in paths and logs: `livez`, `readyz` or `startupz`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Liveness => "livez",
            Self::Readiness => "readyz",
            Self::Startup => "startupz",
        }
    }
}

pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// The first retry of a failing or pending check; doubled after each retry, up to
/// the check's interval.
pub(crate) const DEFAULT_RETRY: Duration = Duration::from_millis(200);
const MIN_TIMEOUT: Duration = Duration::from_millis(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(300);
const MIN_INTERVAL: Duration = Duration::from_millis(10);
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
const MAX_THRESHOLD: u32 = 100;
const MAX_NAME_LEN: usize = 64;

/// A check together with its settings, ready to hand to
/// [`ReadinessBuilder::check`](crate::ReadinessBuilder::check).
///
/// Defaults: readiness probe only, critical, timeout 1 s, refresh every 10 s (and a
/// failing or pending check retried after 200 ms, 400 ms, 800 ms, ... up to those
/// 10 s), no latency warning, failure and success thresholds of 1, no tags. Settings
/// are validated by [`build`](crate::ReadinessBuilder::build), which names the check
/// and the field in its error.
///
/// # Probes: add or replace
///
/// A check answers for [`Probe::Readiness`] unless told otherwise. The `also_*`
/// setters and [`add_probe`](Self::add_probe) **add** a probe to the ones the check
/// already answers for; the `*_only` setters and [`probes`](Self::probes)
/// **replace** them:
///
/// ```
/// use readiness_core::{checks, Probe};
///
/// // Disk space: restart the process when it runs out, and take no traffic meanwhile.
/// let disk = checks::from_fn("disk", || async { true }).also_liveness();
/// assert!(disk.has_probe(Probe::Readiness) && disk.has_probe(Probe::Liveness));
///
/// // A deadlock detector: liveness and nothing else.
/// let heap = checks::from_fn("deadlock", || async { true }).liveness_only();
/// assert!(!heap.has_probe(Probe::Readiness));
///
/// let warm = checks::from_fn("cache-warm", || async { true })
///     .probes([Probe::Startup, Probe::Readiness]);
/// assert!(!warm.has_probe(Probe::Liveness));
/// ```
///
/// ```
/// use readiness_core::{checks, CheckSpec};
/// use std::time::Duration;
///
/// let spec: CheckSpec = checks::from_fn("pricing", || async { true })
///     .non_critical()
///     .timeout(Duration::from_millis(300))
///     .interval(Duration::from_secs(5))
///     .warn_above(Duration::from_millis(100))
///     .failure_threshold(3)
///     .tag("upstream");
/// # let _ = spec;
/// ```
pub struct CheckSpec {
    pub(crate) name: String,
    pub(crate) check: BoxedCheck,
    /// `None`: the default set, readiness only.
    probes: Option<u8>,
    pub(crate) retry: Retry,
    pub(crate) critical: bool,
    pub(crate) timeout: Duration,
    pub(crate) interval: Duration,
    pub(crate) warn_above: Option<Duration>,
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) tags: Vec<String>,
    pub(crate) component_type: ComponentType,
    /// An error found while the check was constructed, reported by `build()`.
    pub(crate) deferred: Option<(&'static str, String)>,
}

impl CheckSpec {
    /// Wraps any [`Check`] under `name` (lowercase letters, digits, `-` and `_`).
    #[must_use]
    pub fn new<C: Check>(name: impl Into<String>, check: C) -> Self {
        Self {
            name: name.into(),
            check: BoxedCheck::new(check),
            probes: None,
            retry: Retry::Inherit,
            critical: true,
            timeout: DEFAULT_TIMEOUT,
            interval: DEFAULT_INTERVAL,
            warn_above: None,
            failure_threshold: 1,
            success_threshold: 1,
            tags: Vec::new(),
            component_type: ComponentType::Component,
            deferred: None,
        }
    }

    pub(crate) fn deferred_error(mut self, field: &'static str, message: String) -> Self {
        self.deferred.get_or_insert((field, message));
        self
    }

    /// Renames the check.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The check's name.
    #[must_use]
    pub fn check_name(&self) -> &str {
        &self.name
    }

    /// Whether the check is critical (see [`non_critical`](Self::non_critical)).
    ///
    /// ```
    /// use readiness_core::{checks, CheckOutcome};
    ///
    /// let spec = checks::from_fn("cache", || async { CheckOutcome::pass() }).non_critical();
    /// assert!(!spec.is_critical());
    /// ```
    #[must_use]
    pub fn is_critical(&self) -> bool {
        self.critical
    }

    /// Adds `probe` to the probes the check answers for (by default readiness
    /// only): `.add_probe(Probe::Liveness)` answers for readiness and liveness.
    ///
    /// ```
    /// use readiness_core::{checks, Probe};
    ///
    /// let spec = checks::from_fn("heap", || async { true }).add_probe(Probe::Startup);
    /// assert!(spec.has_probe(Probe::Readiness) && spec.has_probe(Probe::Startup));
    /// ```
    #[must_use]
    pub fn add_probe(mut self, probe: Probe) -> Self {
        self.probes = Some(self.probe_bits() | probe.bit());
        self
    }

    /// Replaces the probes the check answers for with exactly `probes`. An empty
    /// list is rejected by [`build`](crate::ReadinessBuilder::build) (field
    /// `checks[NAME].probes`).
    ///
    /// ```
    /// use readiness_core::{checks, Probe};
    ///
    /// let spec = checks::from_fn("heap", || async { true })
    ///     .probes([Probe::Liveness, Probe::Startup]);
    /// assert!(!spec.has_probe(Probe::Readiness));
    /// ```
    #[must_use]
    pub fn probes(mut self, probes: impl IntoIterator<Item = Probe>) -> Self {
        self.probes = Some(probes.into_iter().fold(0, |bits, p| bits | p.bit()));
        self
    }

    /// Adds liveness to the probes the check answers for: `/livez` fails too when it
    /// fails. Liveness checks should look at the process only (disk, memory, a
    /// deadlock detector), never at a shared dependency.
    ///
    /// ```
    /// use readiness_core::{checks, Probe};
    ///
    /// let disk = checks::from_fn("disk", || async { true }).also_liveness();
    /// assert!(disk.has_probe(Probe::Liveness) && disk.has_probe(Probe::Readiness));
    /// ```
    #[must_use]
    pub fn also_liveness(self) -> Self {
        self.add_probe(Probe::Liveness)
    }

    /// Adds startup to the probes the check answers for: `/startupz` waits for it
    /// to pass once.
    ///
    /// ```
    /// use readiness_core::{checks, Probe};
    ///
    /// let spec = checks::from_fn("cache-warm", || async { true }).also_startup();
    /// assert!(spec.has_probe(Probe::Startup) && spec.has_probe(Probe::Readiness));
    /// ```
    #[must_use]
    pub fn also_startup(self) -> Self {
        self.add_probe(Probe::Startup)
    }

    /// Makes the check answer for liveness only: `/readyz` no longer sees it.
    ///
    /// ```
    /// use readiness_core::{checks, Probe};
    ///
    /// let spec = checks::from_fn("deadlock", || async { true }).liveness_only();
    /// assert!(spec.has_probe(Probe::Liveness) && !spec.has_probe(Probe::Readiness));
    /// ```
    #[must_use]
    pub fn liveness_only(self) -> Self {
        self.probes([Probe::Liveness])
    }

    /// Makes the check answer for startup only: it holds `/startupz` (and with it
    /// `/readyz`) until it passes once, and is not looked at afterwards.
    ///
    /// ```
    /// use readiness_core::{checks, Probe};
    ///
    /// let spec = checks::from_fn("warm-up", || async { true }).startup_only();
    /// assert!(spec.has_probe(Probe::Startup) && !spec.has_probe(Probe::Readiness));
    /// ```
    #[must_use]
    pub fn startup_only(self) -> Self {
        self.probes([Probe::Startup])
    }

    /// The old adding-or-replacing setter: the first call replaces the default
    /// (readiness), later calls add.
    #[deprecated(
        note = "its first call replaces the default probe and later calls add: use `add_probe` to add, `probes([..])` to replace"
    )]
    #[must_use]
    pub fn probe(mut self, probe: Probe) -> Self {
        self.probes = Some(self.probes.unwrap_or(0) | probe.bit());
        self
    }

    /// The old `.probe(Probe::Liveness)`: liveness **instead of** readiness when it
    /// is the first probe named.
    #[deprecated(
        note = "it replaces readiness with liveness: use `also_liveness()` to add liveness, `liveness_only()` to replace"
    )]
    #[must_use]
    pub fn liveness(self) -> Self {
        #[allow(deprecated)]
        self.probe(Probe::Liveness)
    }

    /// The old `.probe(Probe::Readiness)`.
    #[deprecated(
        note = "readiness is the default; use `add_probe(Probe::Readiness)` to add it, `probes([..])` to replace"
    )]
    #[must_use]
    pub fn readiness(self) -> Self {
        #[allow(deprecated)]
        self.probe(Probe::Readiness)
    }

    /// The old `.probe(Probe::Startup)`: startup **instead of** readiness when it is
    /// the first probe named.
    #[deprecated(
        note = "it replaces readiness with startup: use `also_startup()` to add startup, `startup_only()` to replace"
    )]
    #[must_use]
    pub fn startup(self) -> Self {
        #[allow(deprecated)]
        self.probe(Probe::Startup)
    }

    fn probe_bits(&self) -> u8 {
        self.probes.unwrap_or(Probe::Readiness.bit())
    }

    /// Whether the check answers for `probe`.
    #[must_use]
    pub fn has_probe(&self, probe: Probe) -> bool {
        self.probe_bits() & probe.bit() != 0
    }

    /// A failing non-critical check makes the whole `warn` instead of `fail`.
    #[must_use]
    pub fn non_critical(mut self) -> Self {
        self.critical = false;
        self
    }

    /// Sets whether the check is critical (the default).
    #[must_use]
    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// How long one run may take before it is dropped and recorded as `fail`
    /// (default 1 s; 1 ms to 5 min, and no longer than the interval).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often the check is refreshed in the background (default 10 s; 10 ms to 24 h).
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How soon a check that is failing, or has not passed yet, is run again:
    /// after `initial`, then twice as long after each further failed run, up to the
    /// [interval](Self::interval); a run that passes puts the check back on its
    /// interval. The default is 200 ms (or what
    /// [`ReadinessBuilder::retry_backoff`](crate::ReadinessBuilder::retry_backoff)
    /// sets for every check); 10 ms to 24 h.
    ///
    /// So readiness follows a dependency that comes up within about a second of
    /// it, not an interval later. Each retry is a run: it has the check's timeout,
    /// and counts towards the [`success_threshold`](Self::success_threshold) of a
    /// failed check. A healthy check whose run fails below the
    /// [`failure_threshold`](Self::failure_threshold) stays on its interval, so the
    /// threshold still spans that many intervals.
    ///
    /// ```
    /// use readiness_core::checks;
    /// use std::time::Duration;
    ///
    /// // Retried after 1 s, 2 s, 4 s, ... 30 s while it fails.
    /// let spec = checks::tcp("pricing:8080")
    ///     .interval(Duration::from_secs(30))
    ///     .retry_backoff(Duration::from_secs(1));
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn retry_backoff(mut self, initial: Duration) -> Self {
        self.retry = Retry::After(initial);
        self
    }

    /// Turns the retry off for this check: a failing or pending check waits for its
    /// next interval like a passing one.
    ///
    /// ```
    /// use readiness_core::checks;
    /// use std::time::Duration;
    ///
    /// let spec = checks::from_fn("batch-source", || async { true })
    ///     .interval(Duration::from_secs(60))
    ///     .no_retry();
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn no_retry(mut self) -> Self {
        self.retry = Retry::Off;
        self
    }

    /// A passing run slower than this is reported as `warn` (must be below the timeout).
    #[must_use]
    pub fn warn_above(mut self, latency: Duration) -> Self {
        self.warn_above = Some(latency);
        self
    }

    /// Consecutive failed runs before the check reports `fail` (default 1, up to 100),
    /// like a kubelet probe's `failureThreshold`.
    #[must_use]
    pub fn failure_threshold(mut self, runs: u32) -> Self {
        self.failure_threshold = runs;
        self
    }

    /// Consecutive good runs before a failed check reports healthy again (default 1,
    /// up to 100), like a kubelet probe's `successThreshold`.
    #[must_use]
    pub fn success_threshold(mut self, runs: u32) -> Self {
        self.success_threshold = runs;
        self
    }

    /// Adds a tag (same characters as a name). `/health?tag=NAME` shows only the
    /// checks that carry it.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Sets the `componentType` shown in the health body (default `component`).
    #[must_use]
    pub fn component_type(mut self, component_type: ComponentType) -> Self {
        self.component_type = component_type;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        let field = |name: &str| format!("checks[{}].{name}", self.name);
        validate_name(&self.name).map_err(|msg| BuildError::new(field("name"), msg))?;
        if let Some((name, message)) = &self.deferred {
            return Err(BuildError::new(field(name), message.clone()));
        }
        if self.probe_bits() == 0 {
            return Err(BuildError::new(
                field("probes"),
                "must name at least one probe (Probe::Liveness, Readiness or Startup)",
            ));
        }
        if let Retry::After(initial) = self.retry {
            validate_retry(initial).map_err(|msg| BuildError::new(field("retry"), msg))?;
        }
        if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&self.timeout) {
            return Err(BuildError::new(
                field("timeout"),
                format!(
                    "must be between 1 ms and 5 min, got {}",
                    humantime::format_duration(self.timeout)
                ),
            ));
        }
        if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&self.interval) {
            return Err(BuildError::new(
                field("interval"),
                format!(
                    "must be between 10 ms and 24 h, got {}",
                    humantime::format_duration(self.interval)
                ),
            ));
        }
        if self.timeout > self.interval {
            return Err(BuildError::new(
                field("timeout"),
                format!(
                    "must not exceed the interval ({}), got {}",
                    humantime::format_duration(self.interval),
                    humantime::format_duration(self.timeout)
                ),
            ));
        }
        if let Some(warn) = self.warn_above {
            if warn.is_zero() || warn >= self.timeout {
                return Err(BuildError::new(
                    field("warn_above"),
                    format!(
                        "must be above zero and below the timeout ({}), got {}",
                        humantime::format_duration(self.timeout),
                        humantime::format_duration(warn)
                    ),
                ));
            }
        }
        for (name, value) in [
            ("failure_threshold", self.failure_threshold),
            ("success_threshold", self.success_threshold),
        ] {
            if !(1..=MAX_THRESHOLD).contains(&value) {
                return Err(BuildError::new(
                    field(name),
                    format!("must be between 1 and {MAX_THRESHOLD}, got {value}"),
                ));
            }
        }
        for tag in &self.tags {
            validate_name(tag).map_err(|msg| BuildError::new(field("tags"), msg))?;
        }
        Ok(())
    }
}

/// How soon a failing or pending check is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// The builder's setting (by default 200 ms).
    Inherit,
    /// No retry: the interval only.
    Off,
    /// The first retry after this, doubling up to the interval.
    After(Duration),
}

/// A retry's first delay: 10 ms to 24 h, like an interval.
pub(crate) fn validate_retry(initial: Duration) -> Result<(), String> {
    if (MIN_INTERVAL..=MAX_INTERVAL).contains(&initial) {
        Ok(())
    } else {
        Err(format!(
            "must be between 10 ms and 24 h, got {}",
            humantime::format_duration(initial)
        ))
    }
}

/// Names and tags: 1 to 64 of `a-z`, `0-9`, `-`, `_`, starting with a letter or digit.
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "{name:?} must be 1 to {MAX_NAME_LEN} characters long"
        ));
    }
    if !name.chars().all(ok_char) || name.starts_with(['-', '_']) {
        return Err(format!(
            "{name:?} may hold only lowercase letters, digits, `-` and `_`, and must start with a letter or digit"
        ));
    }
    Ok(())
}

impl fmt::Debug for CheckSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckSpec")
            .field("name", &self.name)
            .field("liveness", &self.has_probe(Probe::Liveness))
            .field("readiness", &self.has_probe(Probe::Readiness))
            .field("startup", &self.has_probe(Probe::Startup))
            .field("critical", &self.critical)
            .field("timeout", &self.timeout)
            .field("interval", &self.interval)
            .field("retry", &self.retry)
            .field("warn_above", &self.warn_above)
            .field("failure_threshold", &self.failure_threshold)
            .field("success_threshold", &self.success_threshold)
            .field("tags", &self.tags)
            .field("component_type", &self.component_type)
            .finish_non_exhaustive()
    }
}

/// Checks every check's settings, and that no two share a name (field
/// `checks[name].name`).
pub(crate) fn validate_checks(specs: &[CheckSpec]) -> Result<(), BuildError> {
    let mut seen = std::collections::HashSet::new();
    for spec in specs {
        spec.validate()?;
        if !seen.insert(spec.check_name()) {
            return Err(BuildError::new(
                format!("checks[{}].name", spec.check_name()),
                format!(
                    "duplicate check name {:?}: names must be unique",
                    spec.check_name()
                ),
            ));
        }
    }
    Ok(())
}
