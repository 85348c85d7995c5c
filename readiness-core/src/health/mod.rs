//! Health checks, probes and their cached results.
//!
//! A [`Check`] is run by a background task on its own interval, with a timeout; the
//! latest result of every check lives in a snapshot that the probe endpoints read
//! without I/O, so a flood of probes never reaches a dependency. Checks run
//! concurrently, one run at a time per check; a run that times out is dropped, one that
//! panics or returns an error is recorded as [`Status::Fail`] and the next run goes on.
//!
//! Each check answers for one or more [`Probe`]s: readiness by default. A failing
//! critical check fails its probes; a failing non-critical one makes them `warn`, which
//! still answers 200. `/readyz` and `/startupz` fail until every critical readiness and
//! startup check has passed once; after that `/startupz` stays `pass`.
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
pub(crate) use settings::{validate_checks, validate_name};
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
    pub(crate) fn into_parts(self) -> (CheckInfo, BoxedCheck) {
        let info = CheckInfo {
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
