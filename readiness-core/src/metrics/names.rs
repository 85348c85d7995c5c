//! Every metric and label name, in one place: OpenTelemetry's HTTP semantic
//! conventions in Prometheus form, and the library's own families; and the
//! `tracing` targets of each request's span and access line, which the log and
//! OpenTelemetry layers recognise.

/// Histogram of server request durations, in seconds.
pub const HTTP_SERVER_REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// Gauge of requests in flight, by method.
pub const HTTP_SERVER_ACTIVE_REQUESTS: &str = "http_server_active_requests";
/// Histogram of request body sizes, in bytes (from `Content-Length`).
pub const HTTP_SERVER_REQUEST_BODY_SIZE: &str = "http_server_request_body_size_bytes";
/// Histogram of response body sizes, in bytes (from the body's exact size).
pub const HTTP_SERVER_RESPONSE_BODY_SIZE: &str = "http_server_response_body_size_bytes";

/// Label: the request method, or `_OTHER`.
pub const HTTP_REQUEST_METHOD: &str = "http_request_method";
/// Label: the matched route template (`/users/{id}`), `_UNMATCHED` or `_OTHER`.
pub const HTTP_ROUTE: &str = "http_route";
/// Label: the response status code.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http_response_status_code";

/// Gauge per check: 1 pass, 0.5 warn, 0 fail.
pub const HEALTH_CHECK_STATUS: &str = "health_check_status";
/// Histogram per check of run durations, in seconds.
pub const HEALTH_CHECK_DURATION: &str = "health_check_duration_seconds";
/// Counter per check of failed runs.
pub const HEALTH_CHECK_FAILURES: &str = "health_check_failures_total";
/// Label: the check's name.
pub const CHECK: &str = "check";
/// Label: whether a health check is critical (`true`, `false`): a failing critical
/// check fails readiness, a non-critical one only warns.
pub const CRITICAL: &str = "critical";

/// Info series (value 1) carrying `service`, `version` and `instance`.
pub const SERVICE_INFO: &str = "service_info";

/// The route of requests no route matched.
pub const UNMATCHED_ROUTE: &str = "_UNMATCHED";
/// A method outside the standard set, or a route beyond the cap on distinct routes.
pub const OTHER: &str = "_OTHER";
/// The status recorded for a request whose client went away before the answer
/// (nginx's convention).
pub const CLIENT_CLOSED_REQUEST: u16 = 499;

/// OpenTelemetry's recommended buckets for `http.server.request.duration`, seconds.
pub const DEFAULT_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Gauge per check and measurement: the latest observed value a check reported
/// beside its latency (pool `connections`, `idleConnections`, `inUseConnections`,
/// `maxConnections`, disk `freePercent`, ...).
pub const HEALTH_CHECK_OBSERVED: &str = "health_check_observed_value";
/// Label: the measurement's name.
pub const MEASUREMENT: &str = "measurement";

/// Counter of cache lookups by cache name and result (`hit`, `miss`).
pub const CACHE_REQUESTS: &str = "cache_requests_total";
/// Label: the cache's name.
pub const CACHE: &str = "cache";
/// Label: `hit` or `miss`.
pub const RESULT: &str = "result";

/// Counter of the process' user and system CPU time, in seconds.
pub const PROCESS_CPU_SECONDS: &str = "process_cpu_seconds_total";
/// Gauge of the process' resident memory, in bytes.
pub const PROCESS_RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
/// Gauge of the process' virtual memory, in bytes.
pub const PROCESS_VIRTUAL_MEMORY: &str = "process_virtual_memory_bytes";
/// Gauge of the process' open file descriptors.
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
/// Gauge of the process' file descriptor limit.
pub const PROCESS_MAX_FDS: &str = "process_max_fds";
/// Gauge of the process' start time, seconds since the Unix epoch.
pub const PROCESS_START_TIME: &str = "process_start_time_seconds";
/// Gauge of the process' OS threads.
pub const PROCESS_THREADS: &str = "process_threads";

/// Gauge of host CPU in use over the last sampling interval, 0 to 1.
pub const SYSTEM_CPU_UTILIZATION: &str = "system_cpu_utilization_ratio";
/// Gauge of memory in use, in bytes (the container's when a cgroup limit is set).
pub const SYSTEM_MEMORY_USAGE: &str = "system_memory_usage_bytes";
/// Gauge of the memory limit, in bytes (the cgroup limit when set, else the host's).
pub const SYSTEM_MEMORY_LIMIT: &str = "system_memory_limit_bytes";
/// Gauge of memory in use over the limit, 0 to 1.
pub const SYSTEM_MEMORY_UTILIZATION: &str = "system_memory_utilization_ratio";
/// Gauge per file system of space in use, in bytes.
pub const SYSTEM_FILESYSTEM_USAGE: &str = "system_filesystem_usage_bytes";
/// Gauge per file system of its size, in bytes.
pub const SYSTEM_FILESYSTEM_LIMIT: &str = "system_filesystem_limit_bytes";
/// Gauge per file system of space in use over its size, 0 to 1.
pub const SYSTEM_FILESYSTEM_UTILIZATION: &str = "system_filesystem_utilization_ratio";
/// Label: a file system's mount point.
pub const MOUNTPOINT: &str = "mountpoint";

/// Counter of security events written, by `kind` and `severity`.
pub const SECURITY_EVENTS: &str = "security_events_total";
/// Counter of log lines dropped because the writer's queue was full.
pub const LOG_LINES_DROPPED: &str = "log_lines_dropped_total";

/// Counter of spans the OTLP collector accepted.
pub const TRACE_SPANS_EXPORTED: &str = "trace_spans_exported_total";
/// Counter of spans dropped, by `reason`: `queue_full` or `export_failed`.
pub const TRACE_SPANS_DROPPED: &str = "trace_spans_dropped_total";
/// Label: why something was dropped.
pub const REASON: &str = "reason";
/// Counter of OTLP metrics exports the collector accepted.
pub const TELEMETRY_METRICS_EXPORTS: &str = "telemetry_metrics_exports_total";
/// Counter of OTLP metrics exports that failed (refused, timed out, unreachable).
pub const TELEMETRY_METRICS_EXPORTS_FAILED: &str = "telemetry_metrics_exports_failed_total";
/// Counter of log records the OTLP collector accepted.
pub const LOG_RECORDS_EXPORTED: &str = "log_records_exported_total";
/// Counter of log records not exported, by `reason` (`queue_full`, `export_failed`)
/// and `category` (`audit`, `security`, `other`): audit and security records are
/// counted under their own label.
pub const LOG_RECORDS_DROPPED: &str = "log_records_dropped_total";
/// Label: the category of a log line counted (`audit`, `security`, `other`).
pub const CATEGORY: &str = "category";

/// Counter of audit trail records, by `result`: `written`, `dropped`, `failed`.
pub const AUDIT_RECORDS: &str = "audit_records_total";
/// Gauge: 1 while the audit trail re-verifies from its last verified checkpoint to
/// its tail, 0 once it does not (a record changed, removed or out of order).
pub const AUDIT_TRAIL_INTEGRITY: &str = "audit_trail_integrity_status";
/// Counter of audit trail records the live integrity check has re-verified.
pub const AUDIT_TRAIL_VERIFIED: &str = "audit_trail_verified_records_total";

/// Histogram of background job (operation) run durations, seconds, by `operation`.
pub const JOB_DURATION: &str = "job_duration_seconds";
/// Counter of background job runs, by `operation` and `outcome`.
pub const JOB_RUNS: &str = "job_runs_total";
/// Gauge of work items waiting in a job's queue, by `operation`.
pub const JOB_QUEUE_DEPTH: &str = "job_queue_depth";
/// Label: a background job's (operation's) name. Not `job`, which is Prometheus'
/// own target label.
pub const OPERATION: &str = "operation";
/// Label: how a job run ended, `success` or `failure`.
pub const OUTCOME: &str = "outcome";

/// Gauge of a database pool's connections, by `pool` and `state` (`idle`, `used`):
/// OpenTelemetry's `db.client.connection.count`, without the `_count` suffix its
/// Prometheus form would have, which Prometheus keeps for histograms and summaries.
pub const DB_CLIENT_CONNECTIONS: &str = "db_client_connections";
/// Gauge of a database pool's maximum connections, by `pool`.
pub const DB_CLIENT_CONNECTIONS_MAX: &str = "db_client_connections_max";
/// Histogram of the time taken to obtain a connection from a pool, seconds, by
/// `pool`; OpenTelemetry's `db.client.connection.wait_time`.
pub const DB_CLIENT_CONNECTION_WAIT_TIME: &str = "db_client_connection_wait_time_seconds";
/// Label: a database pool's name.
pub const POOL: &str = "pool";
/// Label: a pooled connection's state, `idle` or `used`.
pub const STATE: &str = "state";

/// `tracing` target of each request's span (see [`crate::observe`]).
pub const REQUEST_TARGET: &str = "readiness::request";
/// `tracing` target of each request's access line.
pub const ACCESS_TARGET: &str = "readiness::access";
