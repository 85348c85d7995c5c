//! The alert catalogue: every alert the kit renders, the tiers it has by default
//! (critical pages now, warning within 30 minutes, info within 2 hours), each
//! tier's threshold and `for:` duration, and the PromQL that compares them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{number, OpsKit};
use crate::error::BuildError;
use crate::metrics::names;

/// One alert of the kit. Each has up to three [`Tier`]s, each a [`Level`]; set
/// them with [`OpsKitBuilder::alert_level`](super::OpsKitBuilder::alert_level) and
/// [`alert_off`](super::OpsKitBuilder::alert_off). The tiers of one alert share
/// its name and differ in their `severity` label.
///
/// ```
/// use std::time::Duration;
/// use readiness_core::ops::{Alert, Level, Tier};
///
/// # let readiness = readiness_core::Readiness::builder().service("orders", "1").build().unwrap();
/// let kit = readiness.ops_kit()
///     // Page when CPU stays above 95% for 10 minutes; no info tier for 4xx.
///     .alert_level(Alert::Cpu, Tier::Critical, Level::new(0.95, Duration::from_secs(600)))
///     .alert_off(Alert::ClientErrorRatio, Tier::Info)
///     .build()
///     .unwrap();
/// assert!(kit.prometheus_rules().contains("> 0.95"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Alert {
    /// 5xx among all answers over 5 minutes, a ratio (default: critical above 5%
    /// for 5 minutes, warning above 1% for 10 minutes).
    ErrorRatio,
    /// 4xx among all answers over 5 minutes (default: info above 10% for 15 min).
    ClientErrorRatio,
    /// P95 latency of reads (GET, HEAD) over 5 minutes, seconds (default: critical
    /// above 2 s, warning above the read budget, each for 10 minutes).
    ReadLatency,
    /// P95 latency of writes, seconds (default: critical above 2 s, warning above
    /// the write budget, each for 10 minutes).
    WriteLatency,
    /// Prometheus cannot scrape an instance (default: critical after 2 minutes).
    Down,
    /// A critical health check fails (default: critical after 1 minute).
    CriticalDependency,
    /// A non-critical health check fails (default: warning after 1 minute).
    NonCriticalDependency,
    /// CPU utilization, a ratio (default: critical above 90%, warning above 80%,
    /// each for 15 minutes).
    Cpu,
    /// Memory utilization of the limit, a ratio (default: critical above 90%,
    /// warning above 85%, each for 5 minutes).
    Memory,
    /// File system utilization, a ratio (default: critical above 90% (less than
    /// 10% free) for 5 minutes, warning above 85% for 10 minutes).
    Disk,
    /// Authentication failures within 5 minutes (default: warning above 10).
    AuthenticationFailures,
    /// Denied accesses within 5 minutes (default: warning above 0).
    AccessDenied,
    /// Security events of any kind within 5 minutes (default: critical above
    /// 200, warning above 50).
    SecurityEvents,
    /// Requests refused by a rate limit within 5 minutes (default: warning above
    /// 100).
    RateLimited,
    /// Log lines dropped within 15 minutes (default: warning above 0).
    LogLinesDropped,
    /// Audit records dropped or failed within 15 minutes (default: critical above
    /// 0).
    AuditRecordsLost,
    /// The audit trail's live integrity check found a changed, missing or
    /// misordered record (default: critical at once).
    AuditTrailCorrupted,
    /// Audit records written over the last hour as a share of the same hour a day
    /// before (default: info below 0.5 for 30 minutes).
    AuditThroughput,
    /// Cache hits among lookups over 5 minutes, by cache (default: critical below
    /// 50% for 30 minutes, warning below 70% for 15 minutes).
    CacheHitRatio,
    /// Connections in use of a database pool (default: critical above 45, warning
    /// above 35, each for 5 minutes).
    PoolInUse,
    /// P95 wait for a pooled connection, seconds (default: warning above 0.5 s for
    /// 5 minutes).
    PoolWait,
    /// Failed runs among a background job's runs over 30 minutes (default: warning
    /// above 5% for 15 minutes).
    JobFailureRatio,
    /// P95 duration of a background job's runs over an hour, seconds (default:
    /// warning above 300 s for 15 minutes).
    JobDuration,
    /// Work items waiting in a background job's queue (default: warning above 100
    /// for 10 minutes).
    JobBacklog,
    /// During a rollout (two versions serving), a version's error ratio over 5
    /// minutes (default: critical above 5% for 2 minutes: roll back).
    RolloutErrorRatio,
    /// During a rollout, how much a version's P95 latency exceeds the best
    /// version's, a ratio (default: critical above 0.5, 50% slower, for 5
    /// minutes: roll back).
    RolloutLatencyRegression,
}

/// How urgent an alert is: its `severity` label, which Alertmanager routes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Page now.
    Critical,
    /// Within 30 minutes, in working hours.
    Warning,
    /// Within 2 hours, a low-priority queue.
    Info,
}

impl Tier {
    /// Every tier, most urgent first.
    pub const ALL: [Self; 3] = [Self::Critical, Self::Warning, Self::Info];

    /// The `severity` label value: `critical`, `warning` or `info`.
    ///
    /// ```
    /// assert_eq!(readiness_core::ops::Tier::Warning.as_str(), "warning");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// One tier of an alert: the threshold its measure must cross (in the unit the
/// [`Alert`] names), and how long it must stay across before the alert fires
/// (Prometheus' `for:`, whole seconds).
///
/// ```
/// use std::time::Duration;
/// use readiness_core::ops::Level;
///
/// let cpu = Level::new(0.9, Duration::from_secs(15 * 60)); // above 90% for 15 min
/// let down = Level::after(Duration::from_secs(60));       // alerts without a threshold
/// assert_eq!(cpu.threshold(), Some(0.9));
/// assert_eq!(down.threshold(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    threshold: Option<f64>,
    for_: Duration,
}

impl Level {
    /// A threshold held for `for_`.
    #[must_use]
    pub const fn new(threshold: f64, for_: Duration) -> Self {
        Self {
            threshold: Some(threshold),
            for_,
        }
    }

    /// For alerts without a threshold ([`Alert::Down`], the dependency alerts,
    /// [`Alert::AuditTrailCorrupted`]): the condition held for `for_`.
    #[must_use]
    pub const fn after(for_: Duration) -> Self {
        Self {
            threshold: None,
            for_,
        }
    }

    /// The threshold, if the alert has one.
    #[must_use]
    pub const fn threshold(&self) -> Option<f64> {
        self.threshold
    }

    /// How long the condition must hold.
    #[must_use]
    pub const fn duration(&self) -> Duration {
        self.for_
    }
}

/// What a threshold measures, which bounds it.
#[derive(Clone, Copy, PartialEq)]
enum Measure {
    /// Between 0 and 1, exclusive.
    Ratio,
    /// Seconds, above 0.
    Seconds,
    /// A factor, above 0.
    Factor,
    /// A count, 0 or more.
    Count,
    /// A condition without a threshold.
    Condition,
}

/// Whether crossing means rising above or falling below the threshold.
#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Above,
    Below,
}

const fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

impl Alert {
    /// Every alert, in the order the rule file lists them.
    pub(crate) const ALL: [Self; 26] = [
        Self::ErrorRatio,
        Self::ClientErrorRatio,
        Self::ReadLatency,
        Self::WriteLatency,
        Self::Down,
        Self::CriticalDependency,
        Self::NonCriticalDependency,
        Self::Cpu,
        Self::Memory,
        Self::Disk,
        Self::AuthenticationFailures,
        Self::AccessDenied,
        Self::SecurityEvents,
        Self::RateLimited,
        Self::LogLinesDropped,
        Self::AuditRecordsLost,
        Self::AuditTrailCorrupted,
        Self::AuditThroughput,
        Self::CacheHitRatio,
        Self::PoolInUse,
        Self::PoolWait,
        Self::JobFailureRatio,
        Self::JobDuration,
        Self::JobBacklog,
        Self::RolloutErrorRatio,
        Self::RolloutLatencyRegression,
    ];

    /// The setting's name in errors: `ops.alerts.{key}.{tier}`.
    pub(crate) const fn key(self) -> &'static str {
        match self {
            Self::ErrorRatio => "error_ratio",
            Self::ClientErrorRatio => "client_error_ratio",
            Self::ReadLatency => "read_latency",
            Self::WriteLatency => "write_latency",
            Self::Down => "down",
            Self::CriticalDependency => "critical_dependency",
            Self::NonCriticalDependency => "non_critical_dependency",
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Disk => "disk",
            Self::AuthenticationFailures => "authentication_failures",
            Self::AccessDenied => "access_denied",
            Self::SecurityEvents => "security_events",
            Self::RateLimited => "rate_limited",
            Self::LogLinesDropped => "log_lines_dropped",
            Self::AuditRecordsLost => "audit_records_lost",
            Self::AuditTrailCorrupted => "audit_trail_corrupted",
            Self::AuditThroughput => "audit_throughput",
            Self::CacheHitRatio => "cache_hit_ratio",
            Self::PoolInUse => "pool_in_use",
            Self::PoolWait => "pool_wait",
            Self::JobFailureRatio => "job_failure_ratio",
            Self::JobDuration => "job_duration",
            Self::JobBacklog => "job_backlog",
            Self::RolloutErrorRatio => "rollout_error_ratio",
            Self::RolloutLatencyRegression => "rollout_latency_regression",
        }
    }

    /// The alert's name after the service's prefix.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::ErrorRatio => "HighErrorRate",
            Self::ClientErrorRatio => "HighClientErrorRate",
            Self::ReadLatency => "ReadLatencyHigh",
            Self::WriteLatency => "WriteLatencyHigh",
            Self::Down => "Down",
            Self::CriticalDependency => "DependencyUnreachable",
            Self::NonCriticalDependency => "NonCriticalDependencyUnreachable",
            Self::Cpu => "HighCpu",
            Self::Memory => "HighMemory",
            Self::Disk => "DiskAlmostFull",
            Self::AuthenticationFailures => "AuthenticationFailures",
            Self::AccessDenied => "UnauthorizedAccess",
            Self::SecurityEvents => "SecurityEventsHigh",
            Self::RateLimited => "RateLimitExceeded",
            Self::LogLinesDropped => "LogLinesDropped",
            Self::AuditRecordsLost => "AuditRecordsLost",
            Self::AuditTrailCorrupted => "AuditTrailCorrupted",
            Self::AuditThroughput => "AuditThroughputLow",
            Self::CacheHitRatio => "CacheHitRateLow",
            Self::PoolInUse => "DatabasePoolSaturated",
            Self::PoolWait => "DatabasePoolWaitHigh",
            Self::JobFailureRatio => "JobFailureRateHigh",
            Self::JobDuration => "JobDurationHigh",
            Self::JobBacklog => "JobBacklogHigh",
            Self::RolloutErrorRatio => "RolloutErrorRateHigh",
            Self::RolloutLatencyRegression => "RolloutLatencyRegression",
        }
    }

    const fn measure(self) -> Measure {
        match self {
            Self::ErrorRatio
            | Self::ClientErrorRatio
            | Self::Cpu
            | Self::Memory
            | Self::Disk
            | Self::AuditThroughput
            | Self::CacheHitRatio
            | Self::JobFailureRatio
            | Self::RolloutErrorRatio => Measure::Ratio,
            Self::ReadLatency | Self::WriteLatency | Self::PoolWait | Self::JobDuration => {
                Measure::Seconds
            }
            Self::RolloutLatencyRegression => Measure::Factor,
            Self::AuthenticationFailures
            | Self::AccessDenied
            | Self::SecurityEvents
            | Self::RateLimited
            | Self::LogLinesDropped
            | Self::AuditRecordsLost
            | Self::PoolInUse
            | Self::JobBacklog => Measure::Count,
            Self::Down
            | Self::CriticalDependency
            | Self::NonCriticalDependency
            | Self::AuditTrailCorrupted => Measure::Condition,
        }
    }

    const fn direction(self) -> Direction {
        match self {
            Self::AuditThroughput | Self::CacheHitRatio => Direction::Below,
            _ => Direction::Above,
        }
    }

    /// The default level of each tier, `None` where the tier is off.
    pub(crate) const fn default_level(self, tier: Tier) -> Option<Level> {
        use Tier::{Critical, Info, Warning};
        let (value, for_) = match (self, tier) {
            (Self::ErrorRatio, Critical) => (0.05, 5),
            (Self::ErrorRatio, Warning) => (0.01, 10),
            (Self::ClientErrorRatio, Info) => (0.1, 15),
            (Self::ReadLatency | Self::WriteLatency, Critical) => (2.0, 10),
            (Self::ReadLatency, Warning) => (0.5, 10),
            (Self::WriteLatency, Warning) => (1.0, 10),
            (Self::Down, Critical) => return Some(Level::after(minutes(2))),
            (Self::CriticalDependency, Critical) | (Self::NonCriticalDependency, Warning) => {
                return Some(Level::after(minutes(1)))
            }
            (Self::AuditTrailCorrupted, Critical) => return Some(Level::after(Duration::ZERO)),
            (Self::Cpu, Critical) => (0.9, 15),
            (Self::Cpu, Warning) => (0.8, 15),
            (Self::Memory, Critical) => (0.9, 5),
            (Self::Memory, Warning) => (0.85, 5),
            (Self::Disk, Critical) => (0.9, 5),
            (Self::Disk, Warning) => (0.85, 10),
            (Self::AuthenticationFailures, Warning) => (10.0, 0),
            (Self::AccessDenied | Self::LogLinesDropped, Warning) => (0.0, 0),
            (Self::SecurityEvents, Critical) => (200.0, 0),
            (Self::SecurityEvents, Warning) => (50.0, 0),
            (Self::RateLimited, Warning) => (100.0, 0),
            (Self::AuditRecordsLost, Critical) => (0.0, 0),
            (Self::AuditThroughput, Info) => (0.5, 30),
            (Self::CacheHitRatio, Critical) => (0.5, 30),
            (Self::CacheHitRatio, Warning) => (0.7, 15),
            (Self::PoolInUse, Critical) => (45.0, 5),
            (Self::PoolInUse, Warning) => (35.0, 5),
            (Self::PoolWait, Warning) => (0.5, 5),
            (Self::JobFailureRatio, Warning) => (0.05, 15),
            (Self::JobDuration, Warning) => (300.0, 15),
            (Self::JobBacklog, Warning) => (100.0, 10),
            (Self::RolloutErrorRatio, Critical) => (0.05, 2),
            (Self::RolloutLatencyRegression, Critical) => (0.5, 5),
            _ => return None,
        };
        Some(Level::new(value, minutes(for_)))
    }

    /// The summary of the alert's annotations.
    const fn summary(self) -> &'static str {
        match self {
            Self::ErrorRatio => "error rate is high",
            Self::ClientErrorRatio => "many requests are refused as client errors (4xx)",
            Self::ReadLatency => "P95 latency of reads is high",
            Self::WriteLatency => "P95 latency of writes is high",
            Self::Down => "an instance is down",
            Self::CriticalDependency => "a critical dependency check is failing",
            Self::NonCriticalDependency => "a non-critical dependency check is failing",
            Self::Cpu => "CPU utilization is high",
            Self::Memory => "memory utilization is high",
            Self::Disk => "a file system is almost full",
            Self::AuthenticationFailures => "authentication failures",
            Self::AccessDenied => "access was denied",
            Self::SecurityEvents => "many security events",
            Self::RateLimited => "rate limits are being exceeded",
            Self::LogLinesDropped => "log lines were dropped",
            Self::AuditRecordsLost => "audit records were not written",
            Self::AuditTrailCorrupted => "audit trail corruption detected",
            Self::AuditThroughput => "audit throughput is unusually low",
            Self::CacheHitRatio => "cache hit rate is low",
            Self::PoolInUse => "a database pool is nearly exhausted",
            Self::PoolWait => "waiting long for database connections",
            Self::JobFailureRatio => "a background job keeps failing",
            Self::JobDuration => "a background job is slow",
            Self::JobBacklog => "a background job's queue is backing up",
            Self::RolloutErrorRatio => "a version being rolled out fails too often",
            Self::RolloutLatencyRegression => "a version being rolled out is slower",
        }
    }

    /// The description, for threshold `t` held for `held`.
    fn description(self, t: &str, held: &str) -> String {
        match self {
            Self::ErrorRatio => format!("More than {} of answers were 5xx over 5 minutes{held}.", percent(t)),
            Self::ClientErrorRatio => format!("More than {} of answers were 4xx over 5 minutes{held}: a client, a deployment or an API change may be wrong.", percent(t)),
            Self::ReadLatency => format!("The 95th percentile of reads has been above {t} s{held}."),
            Self::WriteLatency => format!("The 95th percentile of writes has been above {t} s{held}."),
            Self::Down => format!("Prometheus has not been able to scrape the instance{held}."),
            Self::CriticalDependency => format!("A critical health check has failed{held}: the instance is out of readiness."),
            Self::NonCriticalDependency => format!("A non-critical health check has failed{held}: the instance still serves, degraded."),
            Self::Cpu => format!("CPU utilization has been above {}{held}.", percent(t)),
            Self::Memory => format!("Memory use has been above {} of the limit{held}.", percent(t)),
            Self::Disk => format!("A file system has been more than {} full{held}.", percent(t)),
            Self::AuthenticationFailures => format!("More than {t} authentication failures within 5 minutes{held}."),
            Self::AccessDenied => format!("More than {t} denied accesses within 5 minutes{held}."),
            Self::SecurityEvents => format!("More than {t} security events within 5 minutes{held}."),
            Self::RateLimited => format!("More than {t} requests were refused by a rate limit within 5 minutes{held}."),
            Self::LogLinesDropped => format!("More than {t} log lines were dropped (writer queue full) within 15 minutes{held}."),
            Self::AuditRecordsLost => format!("More than {t} audit records were dropped (batch queue full) or failed to be written within 15 minutes{held}: audited actions went unrecorded."),
            Self::AuditTrailCorrupted => format!("The audit trail no longer verifies from its last good checkpoint{held}: a record was changed, removed or reordered. Run `audit-verify` and secure the trail."),
            Self::AuditThroughput => format!("Audit records written in the last hour are below {} of the same hour yesterday{held}.", percent(t)),
            Self::CacheHitRatio => format!("A cache's hit rate over 5 minutes has been below {}{held}.", percent(t)),
            Self::PoolInUse => format!("More than {t} connections of a database pool have been in use{held}."),
            Self::PoolWait => format!("The 95th percentile wait for a pooled connection has been above {t} s{held}."),
            Self::JobFailureRatio => format!("More than {} of a background job's runs failed over 30 minutes{held}.", percent(t)),
            Self::JobDuration => format!("The 95th percentile duration of a background job's runs over an hour has been above {t} s{held}."),
            Self::JobBacklog => format!("More than {t} work items have been waiting in a background job's queue{held}."),
            Self::RolloutErrorRatio => format!("While two versions serve, this version's error ratio has been above {}{held}: roll it back.", percent(t)),
            Self::RolloutLatencyRegression => format!("While two versions serve, this version's P95 latency has been more than {} above the best version's{held}: roll it back.", percent(t)),
        }
    }

    /// The alert's expression for threshold `t` (ignored by conditions).
    fn expr(self, kit: &OpsKit, t: &str) -> String {
        let sel = kit.selector();
        let m = |name: &str| kit.metric(name);
        let method = names::HTTP_REQUEST_METHOD;
        let bucket = format!("{}_bucket", kit.duration());
        let security = |kind: &str, t: &str| {
            format!(
                "sum by (job) (increase({}{{{sel}{kind}}}[5m])) > {t}",
                m(names::SECURITY_EVENTS)
            )
        };
        let p95 = |name: &str, by: &str, window: &str| {
            format!("histogram_quantile(0.95, sum by (job, {by}le) (rate({}_bucket{{{sel}}}[{window}]))) > {t}", m(name))
        };
        match self {
            Self::ErrorRatio => format!("{}{{{sel}}} > {t}", super::rules::errors_ratio("5m")),
            Self::ClientErrorRatio => format!("{}{{{sel}}} > {t}", super::rules::client_errors_ratio()),
            Self::ReadLatency | Self::WriteLatency => {
                let methods = if self == Self::ReadLatency { super::rules::READS } else { super::rules::WRITES };
                format!("histogram_quantile(0.95, sum by (job, le) (rate({bucket}{{{sel}, {method}=~\"{methods}\"}}[5m]))) > {t}")
            }
            Self::Down => format!("up{{{sel}}} == 0"),
            Self::CriticalDependency | Self::NonCriticalDependency => format!(
                "{}{{{sel}, {}=\"{}\"}} == 0",
                m(names::HEALTH_CHECK_STATUS),
                names::CRITICAL,
                self == Self::CriticalDependency
            ),
            Self::Cpu => format!("{}{{{sel}}} > {t}", m(names::SYSTEM_CPU_UTILIZATION)),
            Self::Memory => format!("{}{{{sel}}} > {t}", m(names::SYSTEM_MEMORY_UTILIZATION)),
            Self::Disk => format!("{}{{{sel}}} > {t}", m(names::SYSTEM_FILESYSTEM_UTILIZATION)),
            Self::AuthenticationFailures => security(", kind=\"authentication_failure\"", t),
            Self::AccessDenied => security(", kind=\"access_denied\"", t),
            Self::SecurityEvents => security("", t),
            Self::RateLimited => security(", kind=\"rate_limited\"", t),
            Self::LogLinesDropped => format!(
                "sum by (job) (increase({}{{{sel}}}[15m])) > {t}",
                m(names::LOG_LINES_DROPPED)
            ),
            Self::AuditRecordsLost => format!(
                "sum by (job, {result}) (increase({}{{{sel}, {result}=~\"dropped|failed\"}}[15m])) > {t}",
                m(names::AUDIT_RECORDS),
                result = names::RESULT
            ),
            Self::AuditTrailCorrupted => format!("{}{{{sel}}} == 0", m(names::AUDIT_TRAIL_INTEGRITY)),
            Self::AuditThroughput => {
                let written = format!("{}{{{sel}, {}=\"written\"}}", m(names::AUDIT_RECORDS), names::RESULT);
                format!("sum by (job) (rate({written}[1h]))\n< {t} * sum by (job) (rate({written}[1h] offset 1d))")
            }
            Self::CacheHitRatio => {
                let lookups = m(names::CACHE_REQUESTS);
                let by = format!("job, {}", names::CACHE);
                format!("sum by ({by}) (rate({lookups}{{{sel}, {}=\"hit\"}}[5m]))\n/ sum by ({by}) (rate({lookups}{{{sel}}}[5m]))\n< {t}", names::RESULT)
            }
            Self::PoolInUse => format!(
                "{}{{{sel}, {}=\"used\"}} > {t}",
                m(names::DB_CLIENT_CONNECTIONS),
                names::STATE
            ),
            Self::PoolWait => p95(names::DB_CLIENT_CONNECTION_WAIT_TIME, &format!("{}, ", names::POOL), "5m"),
            Self::JobFailureRatio => {
                let runs = m(names::JOB_RUNS);
                let by = format!("job, {}", names::OPERATION);
                format!("sum by ({by}) (rate({runs}{{{sel}, {}=\"failure\"}}[30m]))\n/ sum by ({by}) (rate({runs}{{{sel}}}[30m]))\n> {t}", names::OUTCOME)
            }
            Self::JobDuration => p95(names::JOB_DURATION, &format!("{}, ", names::OPERATION), "1h"),
            Self::JobBacklog => format!("{}{{{sel}}} > {t}", m(names::JOB_QUEUE_DEPTH)),
            Self::RolloutErrorRatio => {
                let ratio = format!("{}{{{sel}}}", super::rules::version_errors());
                // Only while more than one version serves: a rollout in progress.
                format!("{ratio} > {t}\nand on (job) count by (job) ({ratio}) > 1")
            }
            Self::RolloutLatencyRegression => {
                let p95 = format!("{}{{{sel}}}", super::rules::version_p95());
                format!("{p95}\n> on (job) group_left () (1 + {t}) * min by (job) ({p95})")
            }
        }
    }
}

/// `0.05` as `5%`.
fn percent(ratio: &str) -> String {
    let value: f64 = ratio.parse().unwrap_or(0.0);
    format!("{}%", number((value * 1e6).round() / 1e4))
}

/// A duration as Prometheus writes it: `0s`, `90s`, `15m`, `2h`.
pub(super) fn prom_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        "0m".to_owned()
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// " for 10 minutes", or nothing for an alert that fires at once.
fn held(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => String::new(),
        60 => " for 1 minute".to_owned(),
        s if s.is_multiple_of(3600) && s > 3600 => format!(" for {} hours", s / 3600),
        s if s.is_multiple_of(60) => format!(" for {} minutes", s / 60),
        s => format!(" for {s} seconds"),
    }
}

/// The levels of every alert's tiers: the defaults, then the builder's settings.
#[derive(Debug, Clone)]
pub(crate) struct Levels(BTreeMap<(Alert, Tier), Level>);

impl Default for Levels {
    fn default() -> Self {
        let mut levels = BTreeMap::new();
        for alert in Alert::ALL {
            for tier in Tier::ALL {
                if let Some(level) = alert.default_level(tier) {
                    levels.insert((alert, tier), level);
                }
            }
        }
        Self(levels)
    }
}

impl Levels {
    pub(crate) fn set(&mut self, alert: Alert, tier: Tier, level: Option<Level>) {
        match level {
            Some(level) => self.0.insert((alert, tier), level),
            None => self.0.remove(&(alert, tier)),
        };
    }

    /// Sets a tier's threshold, keeping its `for:` (or the default's, or 5 minutes
    /// for a tier without a default).
    pub(crate) fn set_threshold(&mut self, alert: Alert, tier: Tier, threshold: f64) {
        let for_ = self
            .0
            .get(&(alert, tier))
            .copied()
            .or(alert.default_level(tier))
            .map_or(minutes(5), |level| level.for_);
        self.0.insert((alert, tier), Level::new(threshold, for_));
    }

    /// Checks each level: a threshold where the alert has one and in its range,
    /// whole seconds, and the tiers in order of urgency.
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        for (&(alert, tier), level) in &self.0 {
            let field = format!("ops.alerts.{}.{}", alert.key(), tier.as_str());
            if level.for_.subsec_nanos() != 0 {
                return Err(BuildError::new(
                    field,
                    "the `for` duration must be whole seconds",
                ));
            }
            let measure = alert.measure();
            let value = match (measure, level.threshold) {
                (Measure::Condition, None) => continue,
                (Measure::Condition, Some(_)) => {
                    return Err(BuildError::new(
                        field,
                        "this alert has no threshold: use `Level::after`",
                    ))
                }
                (_, None) => {
                    return Err(BuildError::new(
                        field,
                        "this alert needs a threshold: use `Level::new`",
                    ))
                }
                (_, Some(value)) => value,
            };
            let fits = match measure {
                Measure::Ratio => value > 0.0 && value < 1.0,
                Measure::Seconds | Measure::Factor => value.is_finite() && value > 0.0,
                _ => value.is_finite() && value >= 0.0,
            };
            if !fits {
                let range = match measure {
                    Measure::Ratio => "a ratio between 0 and 1 (exclusive)",
                    Measure::Seconds => "a number of seconds above 0",
                    Measure::Factor => "a number above 0",
                    _ => "a count of 0 or more",
                };
                return Err(BuildError::new(
                    field,
                    format!("must be {range}, got {value}"),
                ));
            }
        }
        // A more urgent tier must not cross before a less urgent one.
        for alert in Alert::ALL {
            let tiers: Vec<(Tier, f64)> = Tier::ALL
                .iter()
                .filter_map(|&tier| Some((tier, self.0.get(&(alert, tier))?.threshold?)))
                .collect();
            for pair in tiers.windows(2) {
                let ((urgent, high), (calm, low)) = (pair[0], pair[1]);
                let wrong = match alert.direction() {
                    Direction::Above => low > high,
                    Direction::Below => low < high,
                };
                if wrong {
                    let side = if alert.direction() == Direction::Above {
                        "above"
                    } else {
                        "below"
                    };
                    return Err(BuildError::new(
                        format!("ops.alerts.{}.{}", alert.key(), calm.as_str()),
                        format!(
                            "{low} must not be {side} the {} threshold ({high})",
                            urgent.as_str()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The alert rules of every tier that is on, in catalogue order.
    pub(super) fn rules(&self, kit: &OpsKit) -> Vec<super::rules::Rule> {
        self.0
            .iter()
            .map(|(&(alert, tier), level)| {
                let t = level.threshold.map(number).unwrap_or_default();
                let for_ = prom_duration(level.for_);
                super::rules::alert(
                    kit,
                    alert.name(),
                    alert.expr(kit, &t),
                    &for_,
                    tier.as_str(),
                    alert.summary(),
                    alert.description(&t, &held(level.for_)),
                )
            })
            .collect()
    }
}
