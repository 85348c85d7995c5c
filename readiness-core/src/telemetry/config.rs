//! The `OTEL_*` environment variables, read as the OpenTelemetry specification
//! defines them, with an error naming the variable for any value that cannot be used.

use std::fmt;
use std::time::Duration;

use crate::error::BuildError;

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP over gRPC (`grpc`), port 4317 by convention.
    Grpc,
    /// OTLP over HTTP with protobuf bodies (`http/protobuf`), port 4318 by convention.
    /// The specification's default.
    HttpProtobuf,
}

/// Which spans are kept (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SamplerSetting {
    /// `always_on`.
    AlwaysOn,
    /// `always_off`.
    AlwaysOff,
    /// `traceidratio`: this fraction of traces, by trace id.
    TraceIdRatio(f64),
    /// `parentbased_always_on`: follow the caller's decision, keep new traces. The
    /// default.
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`: follow the caller's decision, drop new traces.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`: follow the caller's decision, keep this fraction of
    /// new traces.
    ParentBasedTraceIdRatio(f64),
}

/// The span export queue's limits (`OTEL_BSP_*`, as for a batch span processor; the
/// log export's `OTEL_BLRP_*` the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Spans waiting for export or being exported at most
    /// (`OTEL_BSP_MAX_QUEUE_SIZE`, default 2048); beyond it new spans are dropped
    /// and counted.
    pub max_queue_size: usize,
    /// Spans per export at most (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, default 512).
    pub max_export_batch_size: usize,
    /// How long a batch not yet full waits, from its first span, before it is
    /// exported (`OTEL_BSP_SCHEDULE_DELAY`, default 5 s).
    pub scheduled_delay: Duration,
    /// Time one export may take (`OTEL_BSP_EXPORT_TIMEOUT`, default 30 s).
    pub export_timeout: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_queue_size: 2048,
            max_export_batch_size: 512,
            scheduled_delay: Duration::from_millis(5000),
            export_timeout: Duration::from_millis(30_000),
        }
    }
}

/// Whether metrics are exported over OTLP (`OTEL_METRICS_EXPORTER`). The Prometheus
/// endpoint (`/metrics`) answers either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsExporter {
    /// `otlp`, the specification's default: exported when an endpoint is set.
    Otlp,
    /// `none` (or only `prometheus`): not exported over OTLP.
    None,
}

/// Which temporality sums and histograms are exported with
/// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Temporality {
    /// `cumulative`, the default: totals since the exporter started.
    Cumulative,
    /// `delta`: what changed since the previous export.
    Delta,
    /// `lowmemory`: delta for counters and histograms recorded as they happen,
    /// cumulative for counters read from the system (`process.cpu.time`) and
    /// up-down counters.
    LowMemory,
}

/// OTLP metrics export settings (`OTEL_METRICS_EXPORTER`,
/// `OTEL_EXPORTER_OTLP_METRICS_*` over `OTEL_EXPORTER_OTLP_*`, `OTEL_METRIC_EXPORT_*`).
///
/// The export reads the registry given to
/// [`Telemetry::registry`](crate::telemetry::Telemetry) (with the `otel` feature),
/// the one `/metrics` serves, and sends it under the semantic-convention names of the
/// library's families; the Prometheus endpoint is unchanged either way.
///
/// ```
/// use std::time::Duration;
/// use readiness_core::telemetry::{OtelSettings, Protocol, Temporality};
///
/// let vars = [
///     ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
///     ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
///     ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"),
/// ];
/// let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
/// let metrics = OtelSettings::from_lookup(lookup).unwrap().metrics;
/// assert_eq!(metrics.endpoint.as_deref(), Some("http://collector:4318/v1/metrics"));
/// assert_eq!(metrics.protocol, Protocol::HttpProtobuf);
/// assert_eq!(metrics.interval, Duration::from_secs(15));
/// assert_eq!(metrics.temporality, Temporality::Delta);
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct MetricsSettings {
    /// `OTEL_METRICS_EXPORTER` (default `otlp`).
    pub exporter: MetricsExporter,
    /// Where metrics go: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` as given, or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (with `/v1/metrics` appended for HTTP). `None`:
    /// no export.
    pub endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL` (default `http/protobuf`).
    pub protocol: Protocol,
    /// `OTEL_EXPORTER_OTLP_[METRICS_]HEADERS`, values percent-decoded.
    pub headers: Vec<(String, String)>,
    /// `OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT` in milliseconds (default 10 s).
    pub timeout: Duration,
    /// `OTEL_METRIC_EXPORT_INTERVAL` in milliseconds (default 60 s).
    pub interval: Duration,
    /// `OTEL_METRIC_EXPORT_TIMEOUT` in milliseconds (default 30 s); the shorter of it
    /// and [`timeout`](Self::timeout) bounds one export.
    pub export_timeout: Duration,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (default `cumulative`).
    pub temporality: Temporality,
}

impl fmt::Debug for MetricsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsSettings")
            .field("exporter", &self.exporter)
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &redacted(&self.headers))
            .field("timeout", &self.timeout)
            .field("interval", &self.interval)
            .field("export_timeout", &self.export_timeout)
            .field("temporality", &self.temporality)
            .finish()
    }
}

/// Whether log lines are exported over OTLP as well (`OTEL_LOGS_EXPORTER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogsExporter {
    /// `otlp`: every line the log layer writes also goes out as an OTLP log record.
    Otlp,
    /// `none`: lines are written, not exported.
    None,
}

/// OTLP log export settings (`OTEL_LOGS_EXPORTER`, `OTEL_EXPORTER_OTLP_LOGS_*` over
/// `OTEL_EXPORTER_OTLP_*`, `OTEL_BLRP_*`).
///
/// Each line the [`LogLayer`](crate::logging::LogLayer) writes goes out as a log
/// record, redacted and classified as the line is, under the resource of the spans
/// and the metrics; see [`Telemetry`](crate::telemetry::Telemetry) (with the `otel`
/// feature). Over OTLP/HTTP (`http/protobuf`, the default) or gRPC (`grpc`), as the
/// spans and the metrics.
///
/// ```
/// use std::time::Duration;
/// use readiness_core::telemetry::{LogsExporter, OtelSettings};
///
/// let vars = [
///     ("OTEL_LOGS_EXPORTER", "otlp"),
///     ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
///     ("OTEL_BLRP_SCHEDULE_DELAY", "200"),
/// ];
/// let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
/// let logs = OtelSettings::from_lookup(lookup).unwrap().logs;
/// assert_eq!(logs.exporter, LogsExporter::Otlp);
/// assert_eq!(logs.endpoint.as_deref(), Some("http://collector:4318/v1/logs"));
/// assert_eq!(logs.batch.scheduled_delay, Duration::from_millis(200));
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct LogsSettings {
    /// `OTEL_LOGS_EXPORTER` (default `otlp`, as the specification says, so an
    /// endpoint alone exports all three signals, over either protocol).
    pub exporter: LogsExporter,
    /// Where records go: `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` as given, or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (with `/v1/logs` appended for HTTP). `None`: no
    /// export.
    pub endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_[LOGS_]PROTOCOL` (default `http/protobuf`).
    pub protocol: Protocol,
    /// `OTEL_EXPORTER_OTLP_[LOGS_]HEADERS`, values percent-decoded.
    pub headers: Vec<(String, String)>,
    /// `OTEL_EXPORTER_OTLP_[LOGS_]TIMEOUT` in milliseconds (default 10 s).
    pub timeout: Duration,
    /// `OTEL_BLRP_MAX_QUEUE_SIZE` (default 2048), `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`
    /// (512), `OTEL_BLRP_SCHEDULE_DELAY` (1 s), `OTEL_BLRP_EXPORT_TIMEOUT` (30 s).
    pub batch: BatchSettings,
}

impl fmt::Debug for LogsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogsSettings")
            .field("exporter", &self.exporter)
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &redacted(&self.headers))
            .field("timeout", &self.timeout)
            .field("batch", &self.batch)
            .finish()
    }
}

/// Header names with their values hidden: credentials more often than not.
fn redacted(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, _)| (k.as_str(), "[REDACTED]"))
        .collect()
}

/// Tracing settings as every OpenTelemetry SDK reads them from the environment.
/// See [`OtelSettings::from_env`].
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct OtelSettings {
    /// `OTEL_SDK_DISABLED=true`: no spans are exported (ids still exist for logs).
    pub disabled: bool,
    /// `OTEL_SERVICE_NAME`, which wins over a `service.name` in the attributes.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs, values percent-decoded.
    pub resource_attributes: Vec<(String, String)>,
    /// Where spans go: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (with `/v1/traces` appended for HTTP). `None`:
    /// no exporter runs and nothing touches the network.
    pub endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` (default `http/protobuf`).
    pub protocol: Protocol,
    /// `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`: `key=value` pairs, values
    /// percent-decoded (an API key for a hosted collector, say).
    pub headers: Vec<(String, String)>,
    /// `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` in milliseconds (default 10 s).
    pub timeout: Duration,
    /// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    pub sampler: SamplerSetting,
    /// `OTEL_BSP_*`.
    pub batch: BatchSettings,
    /// The metrics export (`OTEL_METRICS_EXPORTER`, `OTEL_EXPORTER_OTLP_METRICS_*`,
    /// `OTEL_METRIC_EXPORT_*`), with the same resource as the spans.
    pub metrics: MetricsSettings,
    /// The log export (`OTEL_LOGS_EXPORTER`, `OTEL_EXPORTER_OTLP_LOGS_*`,
    /// `OTEL_BLRP_*`), with the same resource as the spans.
    pub logs: LogsSettings,
}

impl fmt::Debug for OtelSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers = redacted(&self.headers);
        f.debug_struct("OtelSettings")
            .field("disabled", &self.disabled)
            .field("service_name", &self.service_name)
            .field("resource_attributes", &self.resource_attributes)
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("sampler", &self.sampler)
            .field("batch", &self.batch)
            .field("metrics", &self.metrics)
            .field("logs", &self.logs)
            .finish()
    }
}

impl OtelSettings {
    /// Reads the process environment. See [`from_lookup`](Self::from_lookup).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] whose field is the variable holding a value that cannot be
    /// used.
    pub fn from_env() -> Result<Self, BuildError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (the environment, a config file, a test's
    /// map). Empty values count as unset, as the specification says.
    ///
    /// ```
    /// use readiness_core::telemetry::{OtelSettings, Protocol, SamplerSetting};
    ///
    /// let vars = [
    ///     ("OTEL_SERVICE_NAME", "orders"),
    ///     ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
    ///     ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
    ///     ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
    /// ];
    /// let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    /// let settings = OtelSettings::from_lookup(lookup).unwrap();
    /// assert_eq!(settings.endpoint.as_deref(), Some("http://collector:4318/v1/traces"));
    /// assert_eq!(settings.protocol, Protocol::HttpProtobuf);
    /// assert_eq!(settings.sampler, SamplerSetting::ParentBasedTraceIdRatio(0.25));
    ///
    /// let bad = |name: &str| (name == "OTEL_TRACES_SAMPLER_ARG").then(|| "half".to_owned());
    /// let err = OtelSettings::from_lookup(|n| {
    ///     if n == "OTEL_TRACES_SAMPLER" { Some("traceidratio".into()) } else { bad(n) }
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.field(), "OTEL_TRACES_SAMPLER_ARG");
    /// ```
    ///
    /// # Errors
    ///
    /// A [`BuildError`] whose field is the variable holding a value that cannot be
    /// used.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        // The traces-specific variable wins over the generic one.
        let either = |specific: &'static str, generic: &'static str| {
            get(specific)
                .map(|v| (specific, v))
                .or_else(|| get(generic).map(|v| (generic, v)))
        };

        let disabled = match get("OTEL_SDK_DISABLED") {
            None => false,
            Some(v) => boolean("OTEL_SDK_DISABLED", &v)?,
        };
        let service_name = get("OTEL_SERVICE_NAME").map(|v| v.trim().to_owned());
        let resource_attributes = match get("OTEL_RESOURCE_ATTRIBUTES") {
            None => Vec::new(),
            Some(v) => pairs("OTEL_RESOURCE_ATTRIBUTES", &v)?,
        };

        let protocol = match either(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ) {
            None => Protocol::HttpProtobuf,
            Some((name, v)) => parse_protocol(name, &v)?,
        };
        let endpoint = match get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(v) => Some(url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &v)?),
            None => match get("OTEL_EXPORTER_OTLP_ENDPOINT") {
                None => None,
                Some(v) => {
                    let base = url("OTEL_EXPORTER_OTLP_ENDPOINT", &v)?;
                    Some(match protocol {
                        Protocol::Grpc => base,
                        Protocol::HttpProtobuf => {
                            format!("{}/v1/traces", base.trim_end_matches('/'))
                        }
                    })
                }
            },
        };
        let headers = match either(
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ) {
            None => Vec::new(),
            Some((name, v)) => pairs(name, &v)?,
        };
        let timeout = match either(
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ) {
            None => Duration::from_secs(10),
            Some((name, v)) => millis(name, &v)?,
        };

        let ratio = || -> Result<f64, BuildError> {
            match get("OTEL_TRACES_SAMPLER_ARG") {
                None => Ok(1.0),
                Some(v) => match v.trim().parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                    _ => Err(BuildError::new(
                        "OTEL_TRACES_SAMPLER_ARG",
                        format!("must be a number from 0 to 1, got {v:?}"),
                    )),
                },
            }
        };
        let sampler = match get("OTEL_TRACES_SAMPLER").as_deref().map(str::trim) {
            None | Some("parentbased_always_on") => SamplerSetting::ParentBasedAlwaysOn,
            Some("always_on") => SamplerSetting::AlwaysOn,
            Some("always_off") => SamplerSetting::AlwaysOff,
            Some("traceidratio") => SamplerSetting::TraceIdRatio(ratio()?),
            Some("parentbased_always_off") => SamplerSetting::ParentBasedAlwaysOff,
            Some("parentbased_traceidratio") => SamplerSetting::ParentBasedTraceIdRatio(ratio()?),
            Some(other) => {
                return Err(BuildError::new(
                    "OTEL_TRACES_SAMPLER",
                    format!(
                        "must be always_on, always_off, traceidratio, parentbased_always_on, \
                         parentbased_always_off or parentbased_traceidratio, got {other:?}"
                    ),
                ));
            }
        };

        let defaults = BatchSettings::default();
        let count = |name: &'static str, default: usize| -> Result<usize, BuildError> {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(BuildError::new(
                        name,
                        format!("must be a whole number above 0, got {v:?}"),
                    )),
                },
            }
        };
        let batch = BatchSettings {
            max_queue_size: count("OTEL_BSP_MAX_QUEUE_SIZE", defaults.max_queue_size)?,
            max_export_batch_size: count(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                defaults.max_export_batch_size,
            )?,
            scheduled_delay: match get("OTEL_BSP_SCHEDULE_DELAY") {
                None => defaults.scheduled_delay,
                Some(v) => millis("OTEL_BSP_SCHEDULE_DELAY", &v)?,
            },
            export_timeout: match get("OTEL_BSP_EXPORT_TIMEOUT") {
                None => defaults.export_timeout,
                Some(v) => millis("OTEL_BSP_EXPORT_TIMEOUT", &v)?,
            },
        };
        if batch.max_export_batch_size > batch.max_queue_size {
            return Err(BuildError::new(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                format!(
                    "must not exceed OTEL_BSP_MAX_QUEUE_SIZE ({}), got {}",
                    batch.max_queue_size, batch.max_export_batch_size
                ),
            ));
        }

        let metrics = metrics_settings(&get)?;
        let logs = logs_settings(&get)?;

        Ok(Self {
            disabled,
            service_name,
            resource_attributes,
            endpoint,
            protocol,
            headers,
            timeout,
            sampler,
            batch,
            metrics,
            logs,
        })
    }
}

/// The log export's variables: the logs-specific ones over the generic ones.
fn logs_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<LogsSettings, BuildError> {
    let either = |specific: &'static str, generic: &'static str| {
        get(specific)
            .map(|v| (specific, v))
            .or_else(|| get(generic).map(|v| (generic, v)))
    };
    // Unset: `otlp` as the specification says, so one endpoint exports all three
    // signals, over HTTP or gRPC alike.
    let exporter = match get("OTEL_LOGS_EXPORTER") {
        None => LogsExporter::Otlp,
        Some(v) => {
            let mut exporter = LogsExporter::None;
            for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                match item {
                    "otlp" => exporter = LogsExporter::Otlp,
                    // The lines are written either way.
                    "none" | "console" => {}
                    other => {
                        return Err(BuildError::new(
                            "OTEL_LOGS_EXPORTER",
                            format!("must be `otlp` or `none`, got {other:?}"),
                        ));
                    }
                }
            }
            exporter
        }
    };
    let protocol = match either(
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ) {
        None => Protocol::HttpProtobuf,
        Some((name, v)) => parse_protocol(name, &v)?,
    };
    let endpoint = match get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") {
        Some(v) => Some(url("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", &v)?),
        None => match get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            None => None,
            Some(v) => {
                let base = url("OTEL_EXPORTER_OTLP_ENDPOINT", &v)?;
                Some(match protocol {
                    Protocol::Grpc => base,
                    Protocol::HttpProtobuf => format!("{}/v1/logs", base.trim_end_matches('/')),
                })
            }
        },
    };
    let headers = match either(
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ) {
        None => Vec::new(),
        Some((name, v)) => pairs(name, &v)?,
    };
    let timeout = match either(
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ) {
        None => Duration::from_secs(10),
        Some((name, v)) => millis(name, &v)?,
    };
    let count = |name: &'static str, default: usize| -> Result<usize, BuildError> {
        match get(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(BuildError::new(
                    name,
                    format!("must be a whole number above 0, got {v:?}"),
                )),
            },
        }
    };
    let batch = BatchSettings {
        max_queue_size: count("OTEL_BLRP_MAX_QUEUE_SIZE", 2048)?,
        max_export_batch_size: count("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", 512)?,
        scheduled_delay: match get("OTEL_BLRP_SCHEDULE_DELAY") {
            None => Duration::from_millis(1000),
            Some(v) => millis("OTEL_BLRP_SCHEDULE_DELAY", &v)?,
        },
        export_timeout: match get("OTEL_BLRP_EXPORT_TIMEOUT") {
            None => Duration::from_millis(30_000),
            Some(v) => millis("OTEL_BLRP_EXPORT_TIMEOUT", &v)?,
        },
    };
    if batch.max_export_batch_size > batch.max_queue_size {
        return Err(BuildError::new(
            "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
            format!(
                "must not exceed OTEL_BLRP_MAX_QUEUE_SIZE ({}), got {}",
                batch.max_queue_size, batch.max_export_batch_size
            ),
        ));
    }
    Ok(LogsSettings {
        exporter,
        endpoint,
        protocol,
        headers,
        timeout,
        batch,
    })
}

/// The metrics export's variables: the metrics-specific ones over the generic ones.
fn metrics_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<MetricsSettings, BuildError> {
    let either = |specific: &'static str, generic: &'static str| {
        get(specific)
            .map(|v| (specific, v))
            .or_else(|| get(generic).map(|v| (generic, v)))
    };
    let exporter = match get("OTEL_METRICS_EXPORTER") {
        None => MetricsExporter::Otlp,
        Some(v) => {
            let mut exporter = MetricsExporter::None;
            for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                match item {
                    "otlp" => exporter = MetricsExporter::Otlp,
                    // The Prometheus endpoint serves either way.
                    "none" | "prometheus" => {}
                    other => {
                        return Err(BuildError::new(
                            "OTEL_METRICS_EXPORTER",
                            format!("must be `otlp`, `prometheus` or `none`, got {other:?}"),
                        ));
                    }
                }
            }
            exporter
        }
    };
    let protocol = match either(
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ) {
        None => Protocol::HttpProtobuf,
        Some((name, v)) => parse_protocol(name, &v)?,
    };
    let endpoint = match get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
        Some(v) => Some(url("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &v)?),
        None => match get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            None => None,
            Some(v) => {
                let base = url("OTEL_EXPORTER_OTLP_ENDPOINT", &v)?;
                Some(match protocol {
                    Protocol::Grpc => base,
                    Protocol::HttpProtobuf => {
                        format!("{}/v1/metrics", base.trim_end_matches('/'))
                    }
                })
            }
        },
    };
    let headers = match either(
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ) {
        None => Vec::new(),
        Some((name, v)) => pairs(name, &v)?,
    };
    let timeout = match either(
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ) {
        None => Duration::from_secs(10),
        Some((name, v)) => millis(name, &v)?,
    };
    let positive = |name: &'static str, default: Duration| match get(name) {
        None => Ok(default),
        Some(v) => match millis(name, &v)? {
            Duration::ZERO => Err(BuildError::new(
                name,
                format!("must be a whole number of milliseconds above 0, got {v:?}"),
            )),
            d => Ok(d),
        },
    };
    let interval = positive("OTEL_METRIC_EXPORT_INTERVAL", Duration::from_secs(60))?;
    let export_timeout = positive("OTEL_METRIC_EXPORT_TIMEOUT", Duration::from_secs(30))?;
    let temporality = match get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE") {
        None => Temporality::Cumulative,
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "cumulative" => Temporality::Cumulative,
            "delta" => Temporality::Delta,
            "lowmemory" => Temporality::LowMemory,
            _ => {
                return Err(BuildError::new(
                    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                    format!("must be `cumulative`, `delta` or `lowmemory`, got {v:?}"),
                ));
            }
        },
    };
    Ok(MetricsSettings {
        exporter,
        endpoint,
        protocol,
        headers,
        timeout,
        interval,
        export_timeout,
        temporality,
    })
}

fn parse_protocol(name: &'static str, value: &str) -> Result<Protocol, BuildError> {
    match value.trim() {
        "grpc" => Ok(Protocol::Grpc),
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        other => Err(BuildError::new(
            name,
            format!("must be `grpc` or `http/protobuf`, got {other:?}"),
        )),
    }
}

fn boolean(name: &'static str, value: &str) -> Result<bool, BuildError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(BuildError::new(
            name,
            format!("must be `true` or `false`, got {value:?}"),
        )),
    }
}

fn millis(name: &'static str, value: &str) -> Result<Duration, BuildError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| {
            BuildError::new(
                name,
                format!("must be a whole number of milliseconds, got {value:?}"),
            )
        })
}

fn url(name: &'static str, value: &str) -> Result<String, BuildError> {
    let value = value.trim();
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(value.to_owned()),
        _ => Err(BuildError::new(
            name,
            format!("must be an http:// or https:// URL with a host, got {value:?}"),
        )),
    }
}

/// `key1=value1,key2=value2`, values percent-decoded (W3C baggage octets).
fn pairs(name: &'static str, value: &str) -> Result<Vec<(String, String)>, BuildError> {
    value
        .split(',')
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            let (key, raw) = item.split_once('=').ok_or_else(|| {
                BuildError::new(name, format!("{item:?} is not a key=value pair"))
            })?;
            let key = key.trim();
            if key.is_empty() {
                return Err(BuildError::new(name, format!("{item:?} has an empty key")));
            }
            let decoded = percent_decode(raw.trim()).ok_or_else(|| {
                BuildError::new(name, format!("{item:?} is not UTF-8 once decoded"))
            })?;
            Ok((key.to_owned(), decoded))
        })
        .collect()
}

fn percent_decode(value: &str) -> Option<String> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}
