//! Process and host figures, read through `sysinfo` by a background thread.
//!
//! The reads go to procfs and `statvfs`, which block (a hung network mount blocks for
//! good), so they run on one thread of their own every interval: never on a request,
//! never on a scrape, never on the runtime's workers. A scrape encodes the latest sample.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use prometheus::{Counter, Gauge, GaugeVec};
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};

use super::names::*;
use crate::system::{filesystem_of, memory_usage};

pub(crate) struct SystemSettings {
    pub(crate) namespace: Option<String>,
    pub(crate) interval: Duration,
    pub(crate) disks: Vec<PathBuf>,
}

impl Default for SystemSettings {
    /// Every 10 s, the root file system.
    fn default() -> Self {
        Self {
            namespace: None,
            interval: Duration::from_secs(10),
            disks: vec![PathBuf::from("/")],
        }
    }
}

impl SystemSettings {
    /// Checks the settings (fields `system_metrics_interval`, `system_metrics_disks`).
    pub(crate) fn validate(&self) -> Result<(), crate::BuildError> {
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.interval) {
            return Err(crate::BuildError::new(
                "system_metrics_interval",
                format!("must be from 1 s to 1 h, got {:?}", self.interval),
            ));
        }
        for (i, path) in self.disks.iter().enumerate() {
            if !path.is_absolute() {
                return Err(crate::BuildError::new(
                    format!("system_metrics_disks[{i}]"),
                    format!("must be an absolute path, got {}", path.display()),
                ));
            }
        }
        Ok(())
    }
}

/// Keeps the sampling thread alive; dropping it stops the thread at once.
pub(crate) struct Sampler {
    _stop: mpsc::SyncSender<()>,
}

struct Families {
    cpu_seconds: Counter,
    resident: Gauge,
    virtual_memory: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    start_time: Gauge,
    threads: Gauge,
    cpu_utilization: Gauge,
    memory_usage: Gauge,
    memory_limit: Gauge,
    memory_utilization: Gauge,
    fs_usage: GaugeVec,
    fs_limit: GaugeVec,
    fs_utilization: GaugeVec,
}

impl Sampler {
    /// Registers the families and starts the thread, which takes its first sample
    /// after sysinfo's minimum CPU interval (200 ms), then one every `interval`.
    pub(crate) fn start(
        registry: &super::registrar::Registrar<'_>,
        settings: SystemSettings,
    ) -> prometheus::Result<Self> {
        let opts = |name: &str, help: &str| super::opts(settings.namespace.as_deref(), name, help);
        let gauge = |name: &str, help: &str| -> prometheus::Result<Gauge> {
            let gauge = Gauge::with_opts(opts(name, help))?;
            registry.register(&gauge)?;
            Ok(gauge)
        };
        let by_mount = |name: &str, help: &str| -> prometheus::Result<GaugeVec> {
            let gauge = GaugeVec::new(opts(name, help), &[MOUNTPOINT])?;
            registry.register(&gauge)?;
            Ok(gauge)
        };
        let cpu_seconds = Counter::with_opts(opts(
            PROCESS_CPU_SECONDS,
            "Total user and system CPU time spent, in seconds.",
        ))?;
        registry.register(&cpu_seconds)?;
        let families = Families {
            cpu_seconds,
            resident: gauge(PROCESS_RESIDENT_MEMORY, "Resident memory size, in bytes.")?,
            virtual_memory: gauge(PROCESS_VIRTUAL_MEMORY, "Virtual memory size, in bytes.")?,
            open_fds: gauge(PROCESS_OPEN_FDS, "Number of open file descriptors.")?,
            max_fds: gauge(PROCESS_MAX_FDS, "Maximum number of open file descriptors.")?,
            start_time: gauge(
                PROCESS_START_TIME,
                "Start time of the process since the Unix epoch, in seconds.",
            )?,
            threads: gauge(PROCESS_THREADS, "Number of OS threads in the process.")?,
            cpu_utilization: gauge(
                SYSTEM_CPU_UTILIZATION,
                "Host CPU in use over the last sampling interval, all cores, from 0 to 1.",
            )?,
            memory_usage: gauge(
                SYSTEM_MEMORY_USAGE,
                "Memory in use, in bytes (of the container when a cgroup limit is set).",
            )?,
            memory_limit: gauge(
                SYSTEM_MEMORY_LIMIT,
                "Memory available in all, in bytes: the cgroup limit when set, else the host's.",
            )?,
            memory_utilization: gauge(
                SYSTEM_MEMORY_UTILIZATION,
                "Memory in use over the memory limit, from 0 to 1.",
            )?,
            fs_usage: by_mount(
                SYSTEM_FILESYSTEM_USAGE,
                "File system space in use, in bytes.",
            )?,
            fs_limit: by_mount(SYSTEM_FILESYSTEM_LIMIT, "File system size, in bytes.")?,
            fs_utilization: by_mount(
                SYSTEM_FILESYSTEM_UTILIZATION,
                "File system space in use over its size, from 0 to 1.",
            )?,
        };
        let (stop, stopped) = mpsc::sync_channel(0);
        let interval = settings.interval;
        let disks = settings.disks;
        std::thread::Builder::new()
            .name("readiness-sampler".to_owned())
            .spawn(move || run(&families, &stopped, interval, &disks))
            .map_err(|error| {
                prometheus::Error::Msg(format!("cannot start the sampler: {error}"))
            })?;
        Ok(Self { _stop: stop })
    }
}

/// Waits for `timeout`; false once the [`Sampler`] is dropped.
fn wait(stopped: &mpsc::Receiver<()>, timeout: Duration) -> bool {
    matches!(
        stopped.recv_timeout(timeout),
        Err(mpsc::RecvTimeoutError::Timeout)
    )
}

fn run(families: &Families, stopped: &mpsc::Receiver<()>, interval: Duration, disks: &[PathBuf]) {
    let mut system = System::new();
    let pid = sysinfo::get_current_pid().ok();
    let mut state = State::default();
    system.refresh_cpu_usage();
    if !wait(stopped, sysinfo::MINIMUM_CPU_UPDATE_INTERVAL) {
        return;
    }
    loop {
        // A panic inside sysinfo must not end the sampling for good.
        let sampled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sample(families, &mut system, pid, disks, &mut state);
        }));
        if sampled.is_err() {
            state.report("sample", Some("sampling panicked".to_owned()));
        }
        if !wait(stopped, interval) {
            return;
        }
    }
}

/// What the previous samples saw: the CPU time already counted and, per source, the
/// error last logged (each error is logged when it appears and when it clears).
#[derive(Default)]
struct State {
    cpu_millis: u64,
    errors: HashMap<String, String>,
}

impl State {
    fn report(&mut self, source: &str, error: Option<String>) {
        match error {
            Some(error) => {
                if self.errors.get(source) != Some(&error) {
                    tracing::warn!(target: "readiness::metrics", source, error = %error, "system figure unavailable");
                    self.errors.insert(source.to_owned(), error);
                }
            }
            None => {
                if self.errors.remove(source).is_some() {
                    tracing::info!(target: "readiness::metrics", source, "system figure available again");
                }
            }
        }
    }
}

fn sample(
    families: &Families,
    system: &mut System,
    pid: Option<sysinfo::Pid>,
    disks: &[PathBuf],
    state: &mut State,
) {
    system.refresh_cpu_usage();
    families
        .cpu_utilization
        .set(f64::from(system.global_cpu_usage()) / 100.0);

    match memory_usage(system) {
        Ok((used, total)) => {
            families.memory_usage.set(used as f64);
            families.memory_limit.set(total as f64);
            families.memory_utilization.set(used as f64 / total as f64);
            state.report("memory", None);
        }
        Err(error) => state.report("memory", Some(error.to_string())),
    }

    let process = pid.and_then(|pid| {
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            false,
            ProcessRefreshKind::nothing()
                .with_cpu()
                .with_memory()
                .with_tasks(),
        );
        system.process(pid)
    });
    match process {
        Some(process) => {
            let cpu_millis = process.accumulated_cpu_time();
            if cpu_millis > state.cpu_millis {
                families
                    .cpu_seconds
                    .inc_by((cpu_millis - state.cpu_millis) as f64 / 1000.0);
                state.cpu_millis = cpu_millis;
            }
            families.resident.set(process.memory() as f64);
            families.virtual_memory.set(process.virtual_memory() as f64);
            families.start_time.set(process.start_time() as f64);
            if let Some(tasks) = process.tasks() {
                families.threads.set(tasks.len().max(1) as f64);
            }
            if let Some(open) = process.open_files() {
                families.open_fds.set(open as f64);
            }
            if let Some(limit) = process.open_files_limit() {
                families.max_fds.set(limit as f64);
            }
            state.report("process", None);
        }
        None => state.report("process", Some("this process cannot be read".to_owned())),
    }

    for path in disks {
        let source = path.display().to_string();
        match filesystem_of(path) {
            Ok(Some(fs)) if fs.total > 0 => {
                let mount = fs.mount_point.display().to_string();
                let used = fs.total.saturating_sub(fs.available) as f64;
                let labels = [mount.as_str()];
                families.fs_usage.with_label_values(&labels).set(used);
                families
                    .fs_limit
                    .with_label_values(&labels)
                    .set(fs.total as f64);
                families
                    .fs_utilization
                    .with_label_values(&labels)
                    .set(used / fs.total as f64);
                state.report(&source, None);
            }
            Ok(_) => state.report(&source, Some("on no mounted file system".to_owned())),
            Err(error) => state.report(&source, Some(error.to_string())),
        }
    }
}
