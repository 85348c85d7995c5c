//! OpenTelemetry tracing: the settings every OpenTelemetry SDK reads from `OTEL_*`
//! variables, parsed and checked, with an error naming the variable for any value that
//! cannot be used (the SDKs themselves ignore such values silently).
//!
//! ```
//! use readiness_core::telemetry::OtelSettings;
//!
//! # fn main() -> Result<(), readiness_core::BuildError> {
//! let settings = OtelSettings::from_env()?; // no endpoint set: no exporter
//! # let _ = settings;
//! # Ok(()) }
//! ```

mod config;

pub use config::{
    BatchSettings, LogsExporter, LogsSettings, MetricsExporter, MetricsSettings, OtelSettings,
    Protocol, SamplerSetting, Temporality,
};

#[cfg(feature = "otel")]
mod export;
#[cfg(feature = "otel")]
mod otel;
#[cfg(feature = "otel")]
mod otlp_grpc;
#[cfg(feature = "otel")]
pub(crate) mod otlp_http;
#[cfg(feature = "otel")]
mod otlp_logs;
#[cfg(feature = "otel")]
mod otlp_metrics;
#[cfg(feature = "otel")]
mod propagation;
#[cfg(feature = "otel")]
mod semconv;
#[cfg(feature = "otel")]
mod sender;
#[cfg(feature = "otel")]
pub(crate) mod server_span;

#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub use export::ExportStats;
#[cfg(feature = "otel")]
pub(crate) use otel::check_span_failed;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub use otel::{OtelFilter, OtelLayer, ShutdownReport, Telemetry, TelemetryGuard};
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub use otlp_logs::{LogExport, LogExportStats};
#[cfg(feature = "otel")]
pub(crate) use propagation::first_traced;
#[cfg(all(feature = "otel", feature = "http"))]
pub use propagation::TraceContextExt;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub use propagation::{inject_context, set_remote_parent};
