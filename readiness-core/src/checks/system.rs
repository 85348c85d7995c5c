//! Host checks through `sysinfo`: free disk space, memory use, CPU use.
//!
//! sysinfo reads procfs and calls `statvfs`, which block: every run goes through
//! `spawn_blocking` so the runtime's workers never wait on the file system.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sysinfo::System;

use crate::error::BoxError;
use crate::health::{Check, CheckOutcome, CheckSpec, ComponentType, Measurement};
use crate::system::{filesystem_of, memory_usage};

/// Validates a warn/fail pair of percentages; `rising` means higher is worse.
fn thresholds(warn: f64, fail: f64, rising: bool) -> Result<(), (&'static str, String)> {
    for (field, value) in [("warn", warn), ("fail", fail)] {
        if !(0.0..=100.0).contains(&value) {
            return Err((
                field,
                format!("must be a percentage from 0 to 100, got {value}"),
            ));
        }
    }
    let ordered = if rising { warn <= fail } else { warn >= fail };
    if !ordered {
        let relation = if rising { "at most" } else { "at least" };
        return Err((
            "warn",
            format!("must be {relation} the fail threshold ({fail}), got {warn}"),
        ));
    }
    Ok(())
}

fn with_thresholds(spec: CheckSpec, warn: f64, fail: f64, rising: bool) -> CheckSpec {
    let spec = spec.component_type(ComponentType::System);
    match thresholds(warn, fail, rising) {
        Ok(()) => spec,
        Err((field, message)) => spec.deferred_error(field, message),
    }
}

/// Grades a percentage: `rising` means higher is worse.
fn grade(value: f64, warn: f64, fail: f64, rising: bool, what: &str) -> CheckOutcome {
    let worse = |limit: f64| if rising { value > limit } else { value < limit };
    let word = if rising { "above" } else { "below" };
    if worse(fail) {
        CheckOutcome::fail(format!("{what} {value:.1}% {word} {fail}%"))
    } else if worse(warn) {
        CheckOutcome::warn(format!("{what} {value:.1}% {word} {warn}%"))
    } else {
        CheckOutcome::pass()
    }
}

/// Runs sysinfo's blocking reads off the async workers, one at a time per check.
///
/// A blocking call cannot be cancelled: when a run times out (a hung network mount,
/// say) its thread goes on. Later runs then fail at once instead of parking one more
/// thread each, so a stuck file system never piles up threads.
#[derive(Debug, Default)]
struct Blocking {
    busy: Arc<AtomicBool>,
}

impl Blocking {
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, BoxError> + Send + 'static,
    ) -> Result<T, BoxError> {
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err("the previous run is still blocked reading system figures".into());
        }
        let done = Done(Arc::clone(&self.busy));
        tokio::task::spawn_blocking(move || {
            let _done = done;
            f()
        })
        .await?
    }
}

/// Clears the busy flag when the blocking call ends, even by a panic.
struct Done(Arc<AtomicBool>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Free space on the file system holding `path`, in percent: `warn` below
/// `warn_below`, `fail` below `fail_below`. Named `disk`.
///
/// ```
/// use readiness_core::checks;
/// let spec = checks::disk_free_percent("/var/lib/app", 20.0, 10.0).also_liveness();
/// # let _ = spec;
/// ```
pub fn disk_free_percent(path: impl Into<PathBuf>, warn_below: f64, fail_below: f64) -> CheckSpec {
    let check = DiskFree {
        blocking: Blocking::default(),
        path: path.into(),
        warn_below,
        fail_below,
    };
    with_thresholds(CheckSpec::new("disk", check), warn_below, fail_below, false)
}

#[derive(Debug)]
struct DiskFree {
    blocking: Blocking,
    path: PathBuf,
    warn_below: f64,
    fail_below: f64,
}

impl Check for DiskFree {
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        let path = self.path.clone();
        let free = self.blocking.run(move || free_percent(&path)).await?;
        let Some(free) = free else {
            return Ok(CheckOutcome::fail("path is on no mounted file system"));
        };
        Ok(
            grade(free, self.warn_below, self.fail_below, false, "free space")
                .with_measurement(Measurement::new("freePercent", round1(free), "percent")),
        )
    }
}

fn free_percent(path: &Path) -> Result<Option<f64>, BoxError> {
    Ok(filesystem_of(path)?
        .and_then(|fs| (fs.total > 0).then(|| fs.available as f64 * 100.0 / fs.total as f64)))
}

/// Memory in use, in percent of the container's limit when a cgroup sets one, else of
/// the host's memory: `warn` above `warn_above`, `fail` above `fail_above`. Named `memory`.
///
/// ```
/// use readiness_core::checks;
/// let spec = checks::memory_used_percent(85.0, 95.0);
/// # let _ = spec;
/// ```
pub fn memory_used_percent(warn_above: f64, fail_above: f64) -> CheckSpec {
    let check = MemoryUsed {
        blocking: Blocking::default(),
        system: Arc::new(Mutex::new(System::new())),
        warn_above,
        fail_above,
    };
    with_thresholds(
        CheckSpec::new("memory", check),
        warn_above,
        fail_above,
        true,
    )
}

#[derive(Debug)]
struct MemoryUsed {
    blocking: Blocking,
    system: Arc<Mutex<System>>,
    warn_above: f64,
    fail_above: f64,
}

impl Check for MemoryUsed {
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        let system = Arc::clone(&self.system);
        let used = self
            .blocking
            .run(move || {
                let mut system = system.lock().map_err(|_| "sysinfo state poisoned")?;
                let (used, total) = memory_usage(&mut system)?;
                Ok(used as f64 * 100.0 / total as f64)
            })
            .await?;
        Ok(
            grade(used, self.warn_above, self.fail_above, true, "memory use")
                .with_measurement(Measurement::new("utilization", round1(used), "percent")),
        )
    }
}

/// CPU in use across all cores, in percent, averaged since the previous run (the first
/// run samples over 200 ms): `warn` above `warn_above`, `fail` above `fail_above`.
/// Named `cpu`. High CPU rarely means a restart would help: prefer it non-critical.
///
/// ```
/// use readiness_core::checks;
/// let spec = checks::cpu_used_percent(80.0, 95.0).non_critical();
/// # let _ = spec;
/// ```
pub fn cpu_used_percent(warn_above: f64, fail_above: f64) -> CheckSpec {
    let check = CpuUsed {
        blocking: Blocking::default(),
        state: Arc::new(Mutex::new((System::new(), false))),
        warn_above,
        fail_above,
    };
    with_thresholds(CheckSpec::new("cpu", check), warn_above, fail_above, true)
}

#[derive(Debug)]
struct CpuUsed {
    blocking: Blocking,
    /// The sampler and whether it holds a first sample to measure against.
    state: Arc<Mutex<(System, bool)>>,
    warn_above: f64,
    fail_above: f64,
}

impl Check for CpuUsed {
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        let state = Arc::clone(&self.state);
        let used = self
            .blocking
            .run(move || {
                let mut state = state.lock().map_err(|_| "sysinfo state poisoned")?;
                let (system, primed) = &mut *state;
                if !*primed {
                    system.refresh_cpu_usage();
                    std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
                    *primed = true;
                }
                system.refresh_cpu_usage();
                Ok(f64::from(system.global_cpu_usage()))
            })
            .await?;
        Ok(
            grade(used, self.warn_above, self.fail_above, true, "CPU use")
                .with_measurement(Measurement::new("utilization", round1(used), "percent")),
        )
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::Blocking;

    #[tokio::test]
    async fn a_blocked_read_is_not_joined_by_another_thread() {
        let blocking = Blocking::default();
        let (release, wait) = mpsc::channel::<()>();
        let stuck = blocking.run(move || {
            wait.recv().map_err(|e| e.to_string())?;
            Ok(1)
        });
        // The runner's timeout drops the future; the thread stays blocked.
        assert!(tokio::time::timeout(Duration::from_millis(20), stuck)
            .await
            .is_err());
        let err = blocking.run(|| Ok(2)).await.unwrap_err();
        assert!(err.to_string().contains("still blocked"), "{err}");

        release.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match blocking.run(|| Ok(3)).await {
                Ok(value) => break assert_eq!(value, 3),
                Err(_) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(err) => panic!("never recovered: {err}"),
            }
        }
    }

    #[tokio::test]
    async fn a_panicking_read_frees_the_slot() {
        let blocking = Blocking::default();
        assert!(blocking
            .run(|| -> Result<(), _> { panic!("boom") })
            .await
            .is_err());
        assert_eq!(blocking.run(|| Ok(4)).await.unwrap(), 4);
    }
}
