//! RED metrics, check metrics and the `/metrics` answer, on a `prometheus::Registry`.
//!
//! [`Readiness`](crate::Readiness) registers its families on the registry given to
//! [`ReadinessBuilder::registry`](crate::ReadinessBuilder::registry) (or a new one),
//! so the service's own metrics appear on the same endpoint:
//!
//! | family | type | labels |
//! |---|---|---|
//! | `http_server_request_duration_seconds` | histogram | `http_request_method`, `http_route`, `http_response_status_code` |
//! | `http_server_request_body_size_bytes` | histogram | same |
//! | `http_server_response_body_size_bytes` | histogram | same |
//! | `http_server_active_requests` | gauge | `http_request_method` |
//! | `health_check_status` | gauge (1 pass, 0.5 warn, 0 fail) | `check`, `critical` (`true`, `false`) |
//! | `health_check_duration_seconds` | histogram | `check` |
//! | `health_check_failures_total` | counter | `check` |
//! | `health_check_observed_value` | gauge | `check`, `measurement` (pool `connections`, `idleConnections`, `inUseConnections`, `maxConnections`, disk `freePercent`, ...) |
//! | `cache_requests_total` | counter | `cache`, `result` (`hit`, `miss`); see [`Readiness::cache`](crate::Readiness::cache) |
//! | `job_duration_seconds` | histogram | `operation`; see [`Readiness::job`](crate::Readiness::job) |
//! | `job_runs_total` | counter | `operation`, `outcome` (`success`, `failure`) |
//! | `job_queue_depth` | gauge | `operation` |
//! | `db_client_connections` | gauge | `pool`, `state` (`idle`, `used`); see `Readiness::sqlx_pool` (a `postgres`, `mysql` or `sqlite` feature) |
//! | `db_client_connections_max` | gauge | `pool` |
//! | `db_client_connection_wait_time_seconds` | histogram | `pool` |
//! | `service_info` | gauge (1) | `service`, `version`, `instance` |
//! | `process_cpu_seconds_total` | counter | |
//! | `process_resident_memory_bytes`, `process_virtual_memory_bytes` | gauge | |
//! | `process_open_fds`, `process_max_fds`, `process_threads`, `process_start_time_seconds` | gauge | |
//! | `system_cpu_utilization_ratio` | gauge (0 to 1, host, all cores) | |
//! | `system_memory_usage_bytes`, `system_memory_limit_bytes`, `system_memory_utilization_ratio` | gauge (cgroup limit when set) | |
//! | `system_filesystem_usage_bytes`, `system_filesystem_limit_bytes`, `system_filesystem_utilization_ratio` | gauge | `mountpoint` |
//!
//! The `process_*` and `system_*` families need the `system` feature (on by default).
//! A background thread of their own reads them every 10 s (see
//! [`ReadinessBuilder::system_metrics_interval`](crate::ReadinessBuilder::system_metrics_interval)),
//! so neither a request nor a scrape ever waits on procfs or a slow mount. The
//! `process_*` names are the ones Prometheus' own client libraries use, so existing
//! dashboards work.
//!
//! Cardinality is bounded by construction: methods outside the standard nine become
//! `_OTHER`, requests no route matched share `_UNMATCHED`, and routes beyond the cap
//! (default 200 distinct templates) share `_OTHER`. Probe routes and `/metrics` are
//! not counted by default.
//!
//! # Default
//!
//! ```
//! use readiness_core::observe::{End, RequestHead};
//! use readiness_core::Readiness;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
//! // The adapters' middleware does this for every request (see `observe`).
//! let head = RequestHead::new("GET", "/orders/7", &()).with_route(Some("/orders/{id}"));
//! if let Some(mut observation) = readiness.observer().begin(&head) {
//!     observation.responded(200);
//!     observation.frame(512);
//!     observation.end(End::Completed);
//! }
//! let scrape = readiness.metrics_response();
//! let text = std::str::from_utf8(scrape.body())?;
//! assert!(text.contains(r#"http_route="/orders/{id}""#));
//! # Ok(()) }
//! ```
//!
//! # Customized
//!
//! ```
//! use readiness_core::Readiness;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = prometheus::Registry::new(); // the service's own registry
//! let readiness = Readiness::builder()
//!     .registry(registry.clone())
//!     .metrics_namespace("orders")
//!     .duration_buckets(vec![0.01, 0.05, 0.1, 0.5, 1.0])
//!     .max_routes(50)
//!     .build()?;
//! # let _ = readiness;
//! # Ok(()) }
//! ```

mod cache;
mod exemplar;
mod histogram;
mod info;
mod job;
pub mod names;
#[cfg(feature = "_sqlx")]
mod pool;
mod red;
mod registrar;
#[cfg(feature = "system")]
mod system;

pub(crate) use cache::CacheFamily;
pub(crate) use job::JobFamily;
#[cfg(feature = "_sqlx")]
pub(crate) use pool::PoolFamily;

/// Checks a metric namespace: letters, digits and `_`, not starting with a digit
/// (field `metrics_namespace`).
pub(crate) fn validate_namespace(namespace: &str) -> Result<(), crate::BuildError> {
    let mut chars = namespace.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(crate::BuildError::new(
            "metrics_namespace",
            format!("{namespace:?} must be letters, digits and `_`, not starting with a digit"),
        ));
    }
    Ok(())
}

/// Checks a label value a caller names a series by (`operation`, `pool`): not empty,
/// at most 100 bytes, no control characters. Errors name `field`.
pub(crate) fn validate_label_value(field: &str, value: &str) -> Result<(), crate::BuildError> {
    if value.is_empty() || value.len() > 100 || value.chars().any(char::is_control) {
        return Err(crate::BuildError::new(
            field,
            format!(
                "{value:?} must be 1 to 100 bytes without control characters, \
                 and one of a fixed set of names (each is a series of its own)"
            ),
        ));
    }
    Ok(())
}

/// A family's options, its name under the service's namespace when one is set.
pub(crate) fn opts(namespace: Option<&str>, name: &str, help: &str) -> prometheus::Opts {
    let opts = prometheus::Opts::new(name, help);
    match namespace {
        Some(ns) => opts.namespace(ns.to_owned()),
        None => opts,
    }
}
pub use cache::CacheMetrics;
pub(crate) use exemplar::hex;
pub use exemplar::{Exemplar, SeriesExemplars};
pub(crate) use info::register_info;
pub use job::{JobMetrics, JobRun};
#[cfg(feature = "_sqlx")]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite")))
)]
pub use pool::PoolMetrics;
pub use red::RedMetrics;
pub(crate) use red::RedSettings;
pub(crate) use red::{Finished, Route};
pub(crate) use registrar::Registrar;
#[cfg(feature = "system")]
pub(crate) use system::{Sampler, SystemSettings};
