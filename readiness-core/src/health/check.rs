//! The `Check` trait and what a check reports.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use serde::Serialize;

use crate::error::BoxError;

/// The health of a check, a probe or the whole service, as in `application/health+json`.
///
/// Ordered from best to worst, so the aggregate of several is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// Healthy.
    Pass,
    /// Healthy, with a concern: slow, or a non-critical dependency failing.
    Warn,
    /// Unhealthy.
    Fail,
}

impl Status {
    /// The lowercase name used on the wire: `pass`, `warn` or `fail`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }

    /// `true` for [`Pass`](Self::Pass) and [`Warn`](Self::Warn): a probe answers 200.
    #[must_use]
    pub const fn is_healthy(self) -> bool {
        !matches!(self, Self::Fail)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of component a check looks at (`componentType` in `application/health+json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ComponentType {
    /// A part of the service or a service it calls.
    #[default]
    Component,
    /// A database, cache or other store.
    Datastore,
    /// The host: disk, memory, CPU, the process itself.
    System,
}

/// A value a check observed besides its own latency, such as the used share of a disk.
///
/// It appears in the health body under the key `CHECK:MEASUREMENT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub(crate) name: Cow<'static, str>,
    pub(crate) value: f64,
    pub(crate) unit: Cow<'static, str>,
}

impl Measurement {
    /// A measurement named like the `application/health+json` examples
    /// (`utilization`, `connections`, `freePercent`), with its value and unit.
    ///
    /// Names are 1 to 64 ASCII letters, digits, `-` or `_`, and not `responseTime`
    /// (the check's latency): a measurement with another name is left out of the body.
    ///
    /// ```
    /// use readiness_core::Measurement;
    /// let m = Measurement::new("utilization", 42.5, "percent");
    /// assert_eq!(m.value(), 42.5);
    /// ```
    #[must_use]
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        value: f64,
        unit: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            name: name.into(),
            value,
            unit: unit.into(),
        }
    }

    /// The measurement's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The observed value.
    #[must_use]
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The unit of the value.
    #[must_use]
    pub fn unit(&self) -> &str {
        &self.unit
    }
}

/// The result of one run of a [`Check`].
///
/// `output` is shown to callers allowed to see details: keep it short and free of
/// secrets; put the full story in a log event instead.
///
/// ```
/// use readiness_core::{CheckOutcome, Measurement, Status};
///
/// let ok = CheckOutcome::pass();
/// let slow = CheckOutcome::warn("queue backlog above 1000")
///     .with_measurement(Measurement::new("backlog", 1250.0, "messages"));
/// assert_eq!(slow.status(), Status::Warn);
/// assert_eq!(ok.output(), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    pub(crate) status: Status,
    pub(crate) output: Option<Cow<'static, str>>,
    pub(crate) measurements: Vec<Measurement>,
    pub(crate) detail: Option<String>,
}

impl CheckOutcome {
    /// A healthy result.
    #[must_use]
    pub fn pass() -> Self {
        Self::with_status(Status::Pass, None)
    }

    /// A healthy result with a concern, described by `output`.
    #[must_use]
    pub fn warn(output: impl Into<Cow<'static, str>>) -> Self {
        Self::with_status(Status::Warn, Some(output.into()))
    }

    /// An unhealthy result, described by `output`.
    #[must_use]
    pub fn fail(output: impl Into<Cow<'static, str>>) -> Self {
        Self::with_status(Status::Fail, Some(output.into()))
    }

    fn with_status(status: Status, output: Option<Cow<'static, str>>) -> Self {
        Self {
            status,
            output,
            measurements: Vec::new(),
            detail: None,
        }
    }

    /// Adds a detail for the log only, such as the driver's full error: it is logged
    /// when the check's status changes (and at debug level on every failed run), and
    /// never shown in a health body.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a measurement reported beside the check's latency.
    #[must_use]
    pub fn with_measurement(mut self, measurement: Measurement) -> Self {
        self.measurements.push(measurement);
        self
    }

    /// The status of this run.
    #[must_use]
    pub fn status(&self) -> Status {
        self.status
    }

    /// The short message, if any.
    #[must_use]
    pub fn output(&self) -> Option<&str> {
        self.output.as_deref()
    }

    /// The measurements reported beside the latency.
    #[must_use]
    pub fn measurements(&self) -> &[Measurement] {
        &self.measurements
    }
}

impl From<Status> for CheckOutcome {
    fn from(status: Status) -> Self {
        Self::with_status(status, None)
    }
}

/// An asynchronous health check.
///
/// Implement it for a type that holds what the check needs (a pool, a client), or use
/// [`checks::from_fn`](crate::checks::from_fn) for a closure. The runner calls it in
/// the background with a timeout, catches panics and turns an `Err` into
/// [`Status::Fail`]; the error's text goes to the log, not to the health body.
///
/// ```
/// use readiness_core::{BoxError, Check, CheckOutcome, CheckSpec, ComponentType};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// struct QueueDepth(AtomicUsize);
///
/// impl Check for QueueDepth {
///     async fn check(&self) -> Result<CheckOutcome, BoxError> {
///         match self.0.load(Ordering::Relaxed) {
///             0..=999 => Ok(CheckOutcome::pass()),
///             _ => Ok(CheckOutcome::warn("queue backlog above 1000")),
///         }
///     }
/// }
///
/// let spec = CheckSpec::new("queue", QueueDepth(AtomicUsize::new(0)))
///     .component_type(ComponentType::Component);
/// # let _ = spec;
/// ```
pub trait Check: Send + Sync + 'static {
    /// Runs the check once.
    fn check(&self) -> impl Future<Output = Result<CheckOutcome, BoxError>> + Send;
}

/// What a [`from_fn`](crate::checks::from_fn) closure may return.
///
/// Implemented for [`CheckOutcome`], [`Status`], `bool` (`true` is pass), `()` (pass)
/// and `Result<T, E>` of any of these with an error convertible to [`BoxError`].
pub trait IntoOutcome: Send {
    /// Converts into the result of a check run.
    fn into_outcome(self) -> Result<CheckOutcome, BoxError>;
}

impl IntoOutcome for CheckOutcome {
    fn into_outcome(self) -> Result<CheckOutcome, BoxError> {
        Ok(self)
    }
}

impl IntoOutcome for Status {
    fn into_outcome(self) -> Result<CheckOutcome, BoxError> {
        Ok(self.into())
    }
}

impl IntoOutcome for bool {
    fn into_outcome(self) -> Result<CheckOutcome, BoxError> {
        Ok(if self {
            CheckOutcome::pass()
        } else {
            CheckOutcome::fail("check returned false")
        })
    }
}

impl IntoOutcome for () {
    fn into_outcome(self) -> Result<CheckOutcome, BoxError> {
        Ok(CheckOutcome::pass())
    }
}

impl<T, E> IntoOutcome for Result<T, E>
where
    T: IntoOutcome,
    E: Into<BoxError> + Send,
{
    fn into_outcome(self) -> Result<CheckOutcome, BoxError> {
        self.map_err(Into::into).and_then(IntoOutcome::into_outcome)
    }
}
