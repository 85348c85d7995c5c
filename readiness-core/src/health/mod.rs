//! Health checks, probes and their cached results.
//!
//! A [`Check`] is run by a background task on its own interval, with a timeout; the
//! latest result of every check lives in a snapshot that the probe endpoints read
//! without I/O, so a flood of probes never reaches a dependency. Checks run
//! concurrently, one run at a time per check; a run that times out is dropped, one that
//! panics or returns an error is recorded as [`Status::Fail`] and the next run goes on.
//!
//! Each check answers for one or more [`Probe`]s: readiness by default. The `also_*`
//! setters of [`CheckSpec`] add a probe, the `*_only` ones and
//! [`probes`](CheckSpec::probes) replace them (see [`CheckSpec`]). A failing
//! critical check fails its probes; a failing non-critical one makes them `warn`, which
//! still answers 200. `/readyz` and `/startupz` fail until every critical readiness and
//! startup check has passed once; after that `/startupz` stays `pass`.
//!
//! # Retry
//!
//! A check that fails, or has not passed yet, is run again soon rather than an
//! interval later: after 200 ms, then 400 ms, 800 ms, ... doubling up to its interval,
//! each run with its timeout. Once it passes it is back on its interval. So readiness
//! follows a dependency that comes up (or a migration that finishes) within about a
//! second. [`CheckSpec::retry_backoff`] and [`ReadinessBuilder::retry_backoff`](crate::ReadinessBuilder::retry_backoff)
//! change the first delay, `no_retry()` on either turns it off.
//!
//! # Pending checks
//!
//! A check is *pending* until it reports a status: before its first run ends, and
//! while its first runs have failed fewer times than its
//! [`failure_threshold`](CheckSpec::failure_threshold). A pending check has not
//! passed: [`Readiness::check_status`](crate::Readiness::check_status) gives
//! [`Status::Fail`], `/health/{check}` answers 503 saying `pending`, and it counts
//! as failing, with its criticality, everywhere but `/livez` (see the
//! [`endpoint` module docs](crate::endpoint#pending-checks)).
//!
//! # Default
//!
//! ```
//! use readiness_core::{checks, Readiness};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder()
//!     .service("orders", "1.4.2")
//!     .check(checks::from_fn("queue", || async { true }))
//!     .build()?;
//! readiness.refresh().await;
//! assert!(readiness.check_status("queue").unwrap().is_healthy());
//! # Ok(()) }
//! ```
//!
//! # Customized
//!
//! ```
//! use readiness_core::{checks, CheckOutcome, Details, Readiness};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder()
//!     .service("orders", "1.4.2")
//!     .details(Details::StatusOnly)
//!     .details_token("s3cr3t-operator-token")
//!     .check(
//!         checks::from_fn("pricing", || async { CheckOutcome::warn("degraded") })
//!             .non_critical()
//!             .timeout(Duration::from_millis(300))
//!             .interval(Duration::from_secs(5))
//!             .failure_threshold(3)
//!             .tag("upstream"),
//!     )
//!     .build()?;
//! # let _ = readiness;
//! # Ok(()) }
//! ```

mod boxed;
mod check;
pub(crate) mod metrics;
pub(crate) mod runner;
mod settings;
pub(crate) mod snapshot;
mod switch;

use std::time::Duration;

pub(crate) use boxed::BoxedCheck;
pub use check::{Check, CheckOutcome, ComponentType, IntoOutcome, Measurement, Status};
pub use runner::time_left;
pub(crate) use settings::{validate_checks, validate_name, validate_retry, DEFAULT_RETRY};
pub use settings::{CheckSpec, Probe};
pub(crate) use switch::ReadySwitch;

/// A check's settings once validated, shared by the runner and the endpoints.
#[derive(Debug)]
pub(crate) struct CheckInfo {
    pub(crate) name: String,
    pub(crate) liveness: bool,
    pub(crate) readiness: bool,
    pub(crate) startup: bool,
    pub(crate) critical: bool,
    pub(crate) timeout: Duration,
    pub(crate) interval: Duration,
    /// The first retry of a failing or pending check, doubling up to `interval`;
    /// `None`: no retry.
    pub(crate) retry: Option<Duration>,
    pub(crate) warn_above: Option<Duration>,
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) tags: Vec<String>,
    pub(crate) component_type: ComponentType,
}

impl CheckInfo {
    pub(crate) fn has_probe(&self, probe: Probe) -> bool {
        match probe {
            Probe::Liveness => self.liveness,
            Probe::Readiness => self.readiness,
            Probe::Startup => self.startup,
        }
    }
}

impl CheckSpec {
    /// The validated settings, with `default_retry` (the builder's) unless the
    /// check set its own.
    pub(crate) fn into_parts(self, default_retry: Option<Duration>) -> (CheckInfo, BoxedCheck) {
        let retry = match self.retry {
            settings::Retry::Inherit => default_retry,
            settings::Retry::Off => None,
            settings::Retry::After(initial) => Some(initial),
        };
        let info = CheckInfo {
            retry,
            liveness: self.has_probe(Probe::Liveness),
            readiness: self.has_probe(Probe::Readiness),
            startup: self.has_probe(Probe::Startup),
            name: self.name,
            critical: self.critical,
            timeout: self.timeout,
            interval: self.interval,
            warn_above: self.warn_above,
            failure_threshold: self.failure_threshold,
            success_threshold: self.success_threshold,
            tags: self.tags,
            component_type: self.component_type,
        };
        (info, self.check)
    }
}
