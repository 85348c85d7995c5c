//! Structured logging on `tracing`: one JSON object per line, every event classified by
//! category and data class, secrets redacted before they reach a line, audit and
//! security events, and a non-blocking writer that never drops an audit line.
//!
//! [`LogSettings::build`] gives a `tracing_subscriber::Layer` to compose with your own
//! layers and filter; nothing is installed globally behind your back.
//!
//! A line:
//!
//! ```json
//! {"timestamp":"2026-11-23T10:00:00.123456Z","level":"INFO","message":"order placed",
//!  "target":"orders::api","service":"orders","version":"1.4.2","category":"application",
//!  "classification":"internal","request_id":"5f0c...","order_id":42,"method":"POST"}
//! ```
//!
//! (on one line). The keys up to `span_id`, and `truncated` ([`RESERVED_KEYS`]),
//! belong to the library: an event field named `level` is written as `field.level`
//! (and one named `field.level` as `field.field.level`), a field recorded twice keeps
//! its last value, and no line has a key twice. Inside a request, the line's
//! `request_id` is the request's: an event's own `request_id` that differs is
//! written as `field.request_id`. Then come the event's fields, then those of the
//! spans it is in (innermost first). Values are escaped as JSON, and so are DEL, the
//! C1 controls and U+2028/U+2029: nothing a value holds can end a line, in any
//! reader.
//!
//! - **Category** ([`Category`]): `application` unless the event says
//!   `category = "audit"` (or `security`, `performance`, `system`), a span it is in
//!   does, or its target is mapped to one (targets `audit`, `security`, `performance`,
//!   `system` and their children by default; the library's own events are `system`,
//!   its access log `performance`).
//! - **Data class** ([`DataClass`]): `internal` unless `classification = "..."` says
//!   otherwise. A `restricted` event keeps its keys, and every value becomes
//!   [`REDACTED`].
//! - **Redaction**: fields whose names contain a deny-listed word ([`DEFAULT_DENY_LIST`]:
//!   password, secret, token, api key, authorization, cookie, ...) are written as
//!   `[REDACTED]`; values wrapped in `secrecy` types stay `[REDACTED]`; configured
//!   secret values are scrubbed wherever they appear; confidential fields can be
//!   masked or hashed ([`Confidential`]). In every value, the credentials of a URL
//!   are redacted as OpenTelemetry says (`https://REDACTED:REDACTED@host/?sig=REDACTED`,
//!   see [`crate::redact`]); log headers through
//!   [`SafeHeaders`](crate::redact::SafeHeaders).
//! - **Level**: `INFO` and above by default ([`LogSettings::level`]); add a
//!   `tracing_subscriber` filter for per-target rules.
//! - **Caps**: a value over 4 KiB ([`LogSettings::max_field_bytes`]) is cut with a
//!   `…[truncated]` marker; a line never exceeds 32 KiB
//!   ([`LogSettings::max_line_bytes`]): it loses its last fields and says
//!   `"truncated":true` (a message and request id of escaped control characters too
//!   long for the line are cut, with the marker, to share its room).
//!
//! # Default
//!
//! ```
//! use readiness_core::logging::{LogSettings, LogWriter};
//! use tracing_subscriber::layer::SubscriberExt as _;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (writer, _guard) = LogWriter::stdout().build()?; // keep the guard to the end
//! let layer = LogSettings::new().service("orders", "1.4.2").build_with_writer(&writer)?;
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info!(order_id = 42, "order placed");
//! });
//! # Ok(()) }
//! ```
//!
//! # Customized
//!
//! ```
//! use readiness_core::logging::{Category, Confidential, LogSettings};
//! use tracing_subscriber::layer::SubscriberExt as _;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let layer = LogSettings::new()
//!     .service("orders", "1.4.2")
//!     .deny_fields(["iban"])
//!     .confidential("email", Confidential::Hash)
//!     .confidential("card_number", Confidential::Mask)
//!     .hash_key(b"a key of at least 16 bytes".to_vec())
//!     .secret_values(["the-database-password"])
//!     .target_category("orders::billing", Category::Audit)
//!     .level(tracing::level_filters::LevelFilter::DEBUG)
//!     .build(std::io::stderr)?;
//! let _subscriber = tracing_subscriber::registry().with(layer); // then `.init()`
//! # Ok(()) }
//! ```

mod audit;
mod class;
mod fields;
pub(crate) mod filter;
mod json;
mod layer;
mod line;
#[cfg(feature = "otel")]
mod otlp;
mod pretty;
mod redact;
pub(crate) mod request;
#[cfg(feature = "otel")]
pub(crate) use request::trace_ids;
// The bounded writer thread lives a layer below, shared with the OTLP log export.
use crate::writer;

pub use crate::request_id::{RequestId, REQUEST_ID_HEADER};
pub use audit::{AuditEvent, Outcome, SecurityEvent, SecurityKind, Severity};
pub use class::{Category, DataClass};
pub use filter::{LogFilter, LogFilterError, ReloadFilter, LOG_FILTER_ENV};
pub use json::RESERVED_KEYS;
pub use layer::LogLayer;
pub use redact::{Confidential, DEFAULT_DENY_LIST, REDACTED};
pub use writer::{LogGuard, LogWriter, LogWriterBuilder, Overflow, Rotation};

use std::fmt;
use std::sync::Arc;

use tracing::level_filters::LevelFilter;
use tracing::Subscriber;
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer as _;

use crate::error::BuildError;
use layer::Shared;
use redact::Redactor;
use writer::{MakeWriterSink, Sink};

/// The layer [`LogSettings::build`] gives: a [`LogLayer`] behind its own level filter.
/// The filter is the layer's alone (a per-layer filter): other layers of the
/// subscriber still see every event they want, and a call site no layer wants is
/// switched off for good, so a dependency's `trace!` costs nothing.
pub type FilteredLogLayer<S> = Filtered<LogLayer, LevelFilter, S>;

/// The environment variable choosing the line format when the settings do not:
/// `json` (the default) or `pretty`.
pub const LOG_FORMAT_ENV: &str = "READINESS_LOG_FORMAT";

/// The shape of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// One JSON object per line. The default.
    Json,
    /// One human-readable line, for a terminal during development.
    Pretty,
}

/// Settings of a [`LogLayer`]. See the [module docs](self).
#[must_use]
pub struct LogSettings {
    format: Option<Format>,
    level: LevelFilter,
    service: Option<String>,
    version: Option<String>,
    deny: Vec<String>,
    confidential: Vec<(String, Confidential)>,
    hash_key: Option<Vec<u8>>,
    secrets: Vec<String>,
    urls: crate::redact::UrlRedactor,
    targets: Vec<(String, Category)>,
    max_field: usize,
    max_line: usize,
    registry: Option<(prometheus::Registry, Option<String>)>,
    #[cfg(feature = "otel")]
    otlp: Option<crate::telemetry::LogExport>,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self::new()
    }
}

impl LogSettings {
    /// The defaults: JSON unless `READINESS_LOG_FORMAT=pretty`, the default deny-list,
    /// values up to 4 KiB, lines up to 32 KiB.
    pub fn new() -> Self {
        Self {
            format: None,
            level: LevelFilter::INFO,
            service: None,
            version: None,
            deny: DEFAULT_DENY_LIST.iter().map(|s| (*s).to_owned()).collect(),
            confidential: Vec::new(),
            hash_key: None,
            secrets: Vec::new(),
            urls: crate::redact::UrlRedactor::new(),
            targets: [
                ("audit", Category::Audit),
                ("security", Category::Security),
                ("performance", Category::Performance),
                ("system", Category::System),
                ("readiness::audit", Category::Audit),
                ("readiness::security", Category::Security),
                (crate::metrics::names::ACCESS_TARGET, Category::Performance),
                ("readiness", Category::System),
            ]
            .into_iter()
            .map(|(t, c)| (t.to_owned(), c))
            .collect(),
            max_field: 4096,
            max_line: 32 * 1024,
            registry: None,
            #[cfg(feature = "otel")]
            otlp: None,
        }
    }

    /// The `service` and `version` of every line.
    pub fn service(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self.version = Some(version.into());
        self
    }

    /// The most verbose level written (default `INFO`), as the layer's own filter
    /// (see [`FilteredLogLayer`]); add a `tracing_subscriber` filter with
    /// `.with_filter(..)` for finer rules (per target, from `RUST_LOG`).
    pub fn level(mut self, level: LevelFilter) -> Self {
        self.level = level;
        self
    }

    /// JSON or pretty lines, whatever `READINESS_LOG_FORMAT` says.
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// More words for the deny-list: fields whose names contain one are redacted.
    pub fn deny_fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.deny.extend(names.into_iter().map(Into::into));
        self
    }

    /// Shows the field named `name` (without case or separators) masked or hashed.
    pub fn confidential(mut self, name: impl Into<String>, how: Confidential) -> Self {
        self.confidential.push((name.into(), how));
        self
    }

    /// The key of [`Confidential::Hash`] (at least 16 bytes; keep it secret and
    /// stable, or hashes stop matching across restarts).
    pub fn hash_key(mut self, key: Vec<u8>) -> Self {
        self.hash_key = Some(key);
        self
    }

    /// Values that must never appear in a line, in any field, message or header (a
    /// database password, an API key): each occurrence becomes [`REDACTED`]. At
    /// least 6 characters each.
    pub fn secret_values<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.secrets.extend(values.into_iter().map(Into::into));
        self
    }

    /// More query parameters whose values are redacted from every URL in a line,
    /// besides [`SENSITIVE_QUERY_PARAMS`](crate::redact::SENSITIVE_QUERY_PARAMS) (see
    /// [`UrlRedactor`](crate::redact::UrlRedactor)).
    pub fn redact_query_params<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.urls = self.urls.with_query_params(names);
        self
    }

    /// Events whose target is `target` or below it (`target::...`) get `category`.
    /// The longest matching prefix wins.
    pub fn target_category(mut self, target: impl Into<String>, category: Category) -> Self {
        self.targets.push((target.into(), category));
        self
    }

    /// The longest value written, in bytes (default 4096, from 64 to 1 MiB).
    pub fn max_field_bytes(mut self, bytes: usize) -> Self {
        self.max_field = bytes;
        self
    }

    /// The longest line written, in bytes (default 32 KiB, from 1 KiB to 16 MiB).
    pub fn max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line = bytes;
        self
    }

    /// Registers `security_events_total{kind, severity}`, every known kind and
    /// severity at zero (and, with a [`LogWriter`], `log_lines_dropped_total`) on
    /// `registry`. Set for you by
    /// [`Readiness::log_settings`](crate::Readiness::log_settings).
    pub fn registry(mut self, registry: prometheus::Registry, namespace: Option<String>) -> Self {
        self.registry = Some((registry, namespace));
        self
    }

    /// A layer writing each line with one `write_all` on a writer of `make_writer`
    /// (`std::io::stdout`, a file, a test buffer). Prefer
    /// [`build_with_writer`](Self::build_with_writer) in production: it never blocks
    /// a request on a slow destination.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the setting that is out of range.
    pub fn build<W, S>(self, make_writer: W) -> Result<FilteredLogLayer<S>, BuildError>
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let level = self.level;
        let layer = self.finish(Box::new(MakeWriterSink(make_writer)), None)?;
        Ok(layer.with_filter(level))
    }

    /// A layer writing through a [`LogWriter`]: queued, audit and security lines
    /// never dropped, drops counted.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the setting that is out of range.
    pub fn build_with_writer<S>(self, writer: &LogWriter) -> Result<FilteredLogLayer<S>, BuildError>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let level = self.level;
        let layer = self.finish(Box::new(writer.clone()), Some(writer))?;
        Ok(layer.with_filter(level))
    }

    /// Also hands each line, as an OTLP log record, to `export` (from
    /// [`TelemetryGuard::log_export`](crate::telemetry::TelemetryGuard::log_export),
    /// on when `OTEL_LOGS_EXPORTER=otlp`): the same redacted values, the category,
    /// classification and request id as attributes, the trace and span ids. A full
    /// export queue drops the record, never the line, and counts it (audit and
    /// security records under their own label).
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub fn otlp(mut self, export: crate::telemetry::LogExport) -> Self {
        self.otlp = Some(export);
        self
    }

    fn finish(
        self,
        sink: Box<dyn Sink>,
        writer: Option<&LogWriter>,
    ) -> Result<LogLayer, BuildError> {
        if !(64..=1024 * 1024).contains(&self.max_field) {
            return Err(BuildError::new(
                "logging.max_field_bytes",
                format!("must be from 64 to 1048576, got {}", self.max_field),
            ));
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_line) {
            return Err(BuildError::new(
                "logging.max_line_bytes",
                format!("must be from 1024 to 16777216, got {}", self.max_line),
            ));
        }
        for (i, secret) in self.secrets.iter().enumerate() {
            if secret.chars().count() < 6 {
                return Err(BuildError::new(
                    format!("logging.secret_values[{i}]"),
                    "must be at least 6 characters (shorter ones would blank ordinary text)",
                ));
            }
        }
        let hashes = self
            .confidential
            .iter()
            .any(|(_, how)| *how == Confidential::Hash);
        match &self.hash_key {
            Some(key) if key.len() < 16 => {
                return Err(BuildError::new(
                    "logging.hash_key",
                    format!("must be at least 16 bytes, got {}", key.len()),
                ));
            }
            None if hashes => {
                return Err(BuildError::new(
                    "logging.hash_key",
                    "a confidential field is hashed: set a key of at least 16 bytes",
                ));
            }
            _ => {}
        }
        for (i, (target, _)) in self.targets.iter().enumerate() {
            if target.is_empty() {
                return Err(BuildError::new(
                    format!("logging.target_category[{i}]"),
                    "the target must not be empty",
                ));
            }
        }
        let format = match self.format {
            Some(format) => format,
            None => match std::env::var(LOG_FORMAT_ENV).as_deref() {
                Err(_) | Ok("" | "json") => Format::Json,
                Ok("pretty") => Format::Pretty,
                Ok(other) => {
                    return Err(BuildError::new(
                        LOG_FORMAT_ENV,
                        format!("must be `json` or `pretty`, got {other:?}"),
                    ));
                }
            },
        };
        let mut targets = self.targets;
        targets.sort_by_key(|(target, _)| std::cmp::Reverse(target.len()));

        let mut security_events = None;
        if let Some((registry, namespace)) = &self.registry {
            let opts =
                |name: &str, help: &str| crate::metrics::opts(namespace.as_deref(), name, help);
            let register_error = |error: prometheus::Error| {
                BuildError::new(
                    "logging.registry",
                    format!("cannot register the logging metrics: {error}"),
                )
            };
            let counter = prometheus::IntCounterVec::new(
                opts(
                    crate::metrics::names::SECURITY_EVENTS,
                    "Security events written, by kind and severity.",
                ),
                &["kind", "severity"],
            )
            .map_err(register_error)?;
            registry
                .register(Box::new(counter.clone()))
                .map_err(register_error)?;
            // Every known kind and severity has its series from the start, at zero:
            // `increase()` sees the first event after a restart, and a rule's
            // family is there before any event.
            for kind in audit::SecurityKind::ALL {
                for severity in audit::Severity::ALL {
                    counter.with_label_values(&[kind.as_str(), severity.as_str()]);
                }
            }
            security_events = Some(counter);
            if let Some(writer) = writer {
                let dropped = prometheus::IntCounter::with_opts(opts(
                    crate::metrics::names::LOG_LINES_DROPPED,
                    "Log lines dropped because the writer's queue was full.",
                ))
                .map_err(register_error)?;
                if let Err(error) = registry.register(Box::new(dropped.clone())) {
                    if let Some(counter) = &security_events {
                        let _ = registry.unregister(Box::new(counter.clone()));
                    }
                    return Err(register_error(error));
                }
                writer.set_drop_counter(dropped);
            }
        }

        let redactor = Redactor::new(
            &self.deny,
            &self.confidential,
            self.hash_key,
            self.secrets,
            self.urls,
        );
        Ok(LogLayer {
            shared: Arc::new(Shared {
                format,
                identity_json: json::identity_json(
                    self.service.as_deref(),
                    self.version.as_deref(),
                ),
                service: self.service,
                request_names_kept: request::names_kept(&redactor),
                redactor,
                targets,
                max_field: self.max_field,
                max_line: self.max_line,
                security_events,
            }),
            sink,
            #[cfg(feature = "otel")]
            dispatch: std::sync::OnceLock::new(),
            #[cfg(feature = "otel")]
            otlp: self.otlp,
        })
    }
}

impl fmt::Debug for LogSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogSettings")
            .field("format", &self.format)
            .field("service", &self.service)
            .field("version", &self.version)
            .field("deny", &self.deny)
            .field("confidential", &self.confidential)
            .field("hash_key", &self.hash_key.as_ref().map(|_| REDACTED))
            .field("secrets", &self.secrets.len())
            .field("max_field", &self.max_field)
            .field("max_line", &self.max_line)
            .finish_non_exhaustive()
    }
}
