//! The only file that names OpenTelemetry's types: the tracer provider built from
//! [`OtelSettings`], the `tracing-opentelemetry` layer, and the guard that flushes.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer as _;

use super::config::{LogsExporter, MetricsExporter, OtelSettings, Protocol, SamplerSetting};
use super::export::{Counters, ExportStats, Metrics, SpanQueue};
use super::otlp_logs::{self, LogExport};
use super::otlp_metrics::{MetricsExport, Start};
use crate::error::BuildError;
use crate::metrics::names;
use crate::writer::LogGuard;

/// Sets up OpenTelemetry tracing for a service: settings from the `OTEL_*` variables,
/// then anything set here on top (programmatic settings win).
///
/// With no endpoint configured (or `OTEL_SDK_DISABLED=true`) no exporter runs and
/// nothing touches the network, but spans still get trace and span ids, so log lines
/// can be joined. With one, spans are exported in batches by a thread of their own:
/// a request never waits on the collector, and spans beyond the queue are dropped.
///
/// With a [`registry`](Self::registry) and a metrics endpoint, the registry's families
/// are exported over OTLP as well (see [`MetricsSettings`](super::MetricsSettings)):
/// a thread of the guard's own sends them every interval and once more at
/// [`shutdown`](TelemetryGuard::shutdown), under the same resource as the spans.
///
/// With `OTEL_LOGS_EXPORTER=otlp` and an endpoint (see
/// [`LogsSettings`](super::LogsSettings)), the guard also gives a
/// [`LogExport`](TelemetryGuard::log_export) for the log layer: each line goes out
/// as an OTLP log record too, under the same resource, flushed at shutdown.
///
/// ```
/// use readiness_core::telemetry::Telemetry;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (otel, guard) = Telemetry::from_env()?.service("orders", "1.4.2").build()?;
/// let subscriber = tracing_subscriber::registry().with(otel); // and the log layer
/// # let _ = subscriber;
/// guard.shutdown(std::time::Duration::from_secs(5)); // at the end: flush, bounded
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Telemetry {
    settings: OtelSettings,
    version: Option<String>,
    instance: Option<String>,
    registry: Option<(prometheus::Registry, Option<String>)>,
    /// Where the duration histogram's exemplars are read for OTLP.
    red: Option<crate::metrics::RedMetrics>,
    error_log_interval: Duration,
    instrumentation_attributes: bool,
    /// `None`: [`DEFAULT_LEVEL`] (or, through `Setup::init`, the log filter's).
    level: Option<LevelFilter>,
}

/// The most verbose spans and events the layer takes unless told
/// ([`Telemetry::level`]): as the log layer's default.
const DEFAULT_LEVEL: LevelFilter = LevelFilter::INFO;

/// Flushes and stops the tracer provider. [`shutdown`](Self::shutdown) bounds the
/// time it may take; dropping the guard shuts down with a 5 s bound.
#[must_use = "dropping the guard at once stops the export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    metrics: Option<MetricsExport>,
    logs: Option<(LogExport, LogGuard)>,
    counters: Arc<Counters>,
}

/// What [`TelemetryGuard::shutdown`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// How long the shutdown took.
    pub took: Duration,
    /// `None` when every span was delivered, else what went wrong (a timeout, or
    /// spans the final export lost or never sent, from the export's own counts).
    pub error: Option<String>,
    /// The spans' fate at the end; `pending` spans were never delivered.
    pub stats: ExportStats,
}

impl Telemetry {
    /// Settings from the process environment.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the `OTEL_*` variable holding an unusable value.
    pub fn from_env() -> Result<Self, BuildError> {
        Ok(Self::from_settings(OtelSettings::from_env()?))
    }

    /// Settings read elsewhere (see [`OtelSettings::from_lookup`]).
    pub fn from_settings(settings: OtelSettings) -> Self {
        Self {
            settings,
            version: None,
            instance: None,
            red: None,
            registry: None,
            error_log_interval: Duration::from_secs(60),
            instrumentation_attributes: false,
            level: None,
        }
    }

    /// `service.name` and `service.version`. The name gives way to
    /// `OTEL_SERVICE_NAME` when that is set, as the specification asks.
    pub fn service(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        if self.settings.service_name.is_none() {
            self.settings.service_name = Some(name.into());
        }
        self.version = Some(version.into());
        self
    }

    /// `service.instance.id`, on the spans and the metrics. A `service.instance.id`
    /// in `OTEL_RESOURCE_ATTRIBUTES` wins. [`Readiness::telemetry`](crate::Readiness::telemetry)
    /// gives the builder's [`instance`](crate::ReadinessBuilder::instance) (default
    /// `HOSTNAME`).
    pub fn instance(mut self, id: impl Into<String>) -> Self {
        self.instance = Some(id.into());
        self
    }

    /// The service's RED families, whose request-duration exemplars (the trace and
    /// span of a sampled request, per bucket) go on the OTLP histogram's points, and
    /// whose [`url_scheme`](crate::ReadinessBuilder::url_scheme) is the `url.scheme`
    /// of the `http.server.*` points (without them, `http`).
    /// [`Readiness::telemetry`](crate::Readiness::telemetry) gives the service's own.
    pub fn exemplars(mut self, red: crate::metrics::RedMetrics) -> Self {
        self.red = Some(red);
        self
    }

    /// Where spans go, overriding the environment.
    pub fn endpoint(mut self, endpoint: impl Into<String>, protocol: Protocol) -> Self {
        self.settings.endpoint = Some(endpoint.into());
        self.settings.protocol = protocol;
        self
    }

    /// Which spans are kept, overriding the environment.
    pub fn sampler(mut self, sampler: SamplerSetting) -> Self {
        self.settings.sampler = sampler;
        self
    }

    /// Counts exported and dropped spans on `registry` (`trace_spans_exported_total`,
    /// `trace_spans_dropped_total{reason="queue_full"|"export_failed"}`) and metrics
    /// exports (`telemetry_metrics_exports_total`,
    /// `telemetry_metrics_exports_failed_total`), with the metric name prefix
    /// `namespace` if any; at zero when no exporter runs.
    ///
    /// It is also the registry the OTLP metrics export reads (see
    /// [`MetricsSettings`](super::MetricsSettings)): without one, no metrics are
    /// exported. [`Readiness::telemetry`](crate::Readiness::telemetry) gives the
    /// service's own, the one `/metrics` serves.
    pub fn registry(mut self, registry: prometheus::Registry, namespace: Option<String>) -> Self {
        self.registry = Some((registry, namespace));
        self
    }

    /// How often, at most, a failing export is logged (default 60 s): one line per
    /// interval with the failures and spans lost since the last, and one line when
    /// export works again, never a line per span or per batch.
    pub fn error_log_interval(mut self, interval: Duration) -> Self {
        self.error_log_interval = interval;
        self
    }

    /// Whether each span also carries tracing-opentelemetry's attributes about the
    /// instrumentation: the source file and line and the module of the code that
    /// opened it, the thread, the `tracing` target, and its busy and idle times
    /// (default `false`: they describe the code, not the request, made a third of a
    /// server span's attributes, and the times read the clock on every poll).
    ///
    /// ```
    /// use readiness_core::telemetry::{OtelSettings, Telemetry};
    ///
    /// let telemetry = Telemetry::from_settings(OtelSettings::from_lookup(|_| None).unwrap())
    ///     .instrumentation_attributes(true);
    /// # let _ = telemetry;
    /// ```
    pub fn instrumentation_attributes(mut self, on: bool) -> Self {
        self.instrumentation_attributes = on;
        self
    }

    /// The most verbose spans and events that become OpenTelemetry spans and span
    /// events (default `INFO`, as the log layer's). It is the layer's own filter:
    /// a dependency's `trace!` or `debug_span!` that no other layer wants is
    /// switched off at its call site and costs a request nothing. Through
    /// [`Setup::init`](crate::Setup::init) it defaults to `TRACE` instead, as the
    /// setup's log filter (`RUST_LOG`, the log-level route) stands before every
    /// layer and decides for both.
    ///
    /// ```
    /// use readiness_core::telemetry::{OtelSettings, Telemetry};
    /// use tracing::level_filters::LevelFilter;
    ///
    /// let telemetry = Telemetry::from_settings(OtelSettings::from_lookup(|_| None).unwrap())
    ///     .level(LevelFilter::DEBUG); // the service's own debug spans traced too
    /// # let _ = telemetry;
    /// ```
    pub fn level(mut self, level: LevelFilter) -> Self {
        self.level = Some(level);
        self
    }

    /// [`level`](Self::level) when none was set.
    pub(crate) fn level_unless_set(mut self, level: LevelFilter) -> Self {
        self.level.get_or_insert(level);
        self
    }

    /// The settings in force.
    #[must_use]
    pub fn settings(&self) -> &OtelSettings {
        &self.settings
    }

    /// Builds the provider and the `tracing` layer. With an exporter, call it inside
    /// a Tokio runtime (the gRPC client lives there).
    ///
    /// The layer leaves out tracing-opentelemetry's attributes about the
    /// instrumentation itself unless asked for (see
    /// [`instrumentation_attributes`](Self::instrumentation_attributes)), and the
    /// access line: the server span has its facts as attributes already, so it is
    /// not sent again as a span event (see [`OtelLayer`]). It takes spans and events
    /// from its [`level`](Self::level) up (`INFO` unless set).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] (field `OTEL_EXPORTER_OTLP_ENDPOINT`) when the exporter cannot
    /// be made from the settings.
    pub fn build<S>(self) -> Result<(OtelLayer<S>, TelemetryGuard), BuildError>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let settings = &self.settings;
        // One resource for the spans and the metrics.
        let resource_pairs = self.resource();
        let resource = Resource::builder_empty()
            .with_attributes(
                resource_pairs
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build();
        let mut builder = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_sampler(sampler(settings.sampler));
        let mut counters = Arc::new(Counters::default());
        // Registered with or without an exporter, so a dashboard or an alert over
        // them finds the series at zero rather than none.
        let metrics = match &self.registry {
            Some((registry, namespace)) => Some(register_metrics(registry, namespace.as_deref())?),
            None => None,
        };
        // No endpoint, or the SDK disabled: no exporter; spans get ids (for log
        // lines) and go nowhere.
        if let (Some(endpoint), false) = (&settings.endpoint, settings.disabled) {
            counters = Arc::new(Counters::new(metrics));
            let queue = SpanQueue::start(
                settings,
                endpoint,
                &resource,
                counters.clone(),
                self.error_log_interval,
            )
            .map_err(|error| {
                BuildError::new(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    format!("cannot make the OTLP exporter for {endpoint}: {error}"),
                )
            })?;
            builder = builder.with_span_processor(queue);
        } else if metrics.is_some() {
            counters = Arc::new(Counters::new(metrics));
        }
        let metrics = self.metrics_export(&resource_pairs, &counters)?;
        let logs = self.logs_export(&resource)?;
        let provider = builder.build();
        let tracer = provider.tracer("readiness");
        // tracing-opentelemetry's notes on the instrumentation only when asked for
        // (see `instrumentation_attributes`).
        let extras = self.instrumentation_attributes;
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(extras)
            .with_threads(extras)
            .with_target(extras)
            .with_tracked_inactivity(extras)
            .with_filter(OtelFilter {
                level: self.level.unwrap_or(DEFAULT_LEVEL),
            });
        Ok((
            layer,
            TelemetryGuard {
                provider: Some(provider),
                metrics,
                logs,
                counters,
            },
        ))
    }

    /// The resource of the spans and the metrics: `service.instance.id` from
    /// [`instance`](Self::instance), then `OTEL_RESOURCE_ATTRIBUTES`, then
    /// `service.version` from [`service`](Self::service), then `service.name` from
    /// `OTEL_SERVICE_NAME` or [`service`](Self::service); later pairs win.
    fn resource(&self) -> Vec<(String, String)> {
        let settings = &self.settings;
        let mut pairs: Vec<(String, String)> = self
            .instance
            .iter()
            .map(|id| ("service.instance.id".to_owned(), id.clone()))
            .collect();
        pairs.extend(
            settings
                .resource_attributes
                .iter()
                .filter(|(key, _)| key != "service.name" || settings.service_name.is_none())
                .cloned(),
        );
        if let Some(version) = &self.version {
            pairs.push(("service.version".to_owned(), version.clone()));
        }
        if let Some(name) = &settings.service_name {
            pairs.push(("service.name".to_owned(), name.clone()));
        }
        pairs
    }

    /// The OTLP metrics export, when the settings ask for one and there is a
    /// registry to read.
    fn metrics_export(
        &self,
        resource: &[(String, String)],
        counters: &Arc<Counters>,
    ) -> Result<Option<MetricsExport>, BuildError> {
        let settings = &self.settings;
        let metrics = &settings.metrics;
        let (Some((registry, namespace)), Some(endpoint), MetricsExporter::Otlp, false) = (
            &self.registry,
            &metrics.endpoint,
            metrics.exporter,
            settings.disabled,
        ) else {
            return Ok(None);
        };
        MetricsExport::start(Start {
            registry: registry.clone(),
            namespace: namespace.as_deref(),
            settings: metrics,
            endpoint,
            resource,
            counters: counters.clone(),
            log_interval: self.error_log_interval,
            exemplars: self.red.clone(),
        })
        .map(Some)
        .map_err(|error| {
            BuildError::new(
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                format!("cannot make the OTLP metrics exporter for {endpoint}: {error}"),
            )
        })
    }
}

impl Telemetry {
    /// The OTLP log export, when the settings ask for one.
    fn logs_export(
        &self,
        resource: &Resource,
    ) -> Result<Option<(LogExport, LogGuard)>, BuildError> {
        let settings = &self.settings;
        let logs = &settings.logs;
        let (Some(endpoint), LogsExporter::Otlp, false) =
            (&logs.endpoint, logs.exporter, settings.disabled)
        else {
            return Ok(None);
        };
        let registry = self
            .registry
            .as_ref()
            .map(|(registry, namespace)| (registry, namespace.as_deref()));
        otlp_logs::start(logs, endpoint, resource, registry, self.error_log_interval).map(Some)
    }
}

/// The `tracing` layer [`Telemetry::build`] gives: tracing-opentelemetry's, which
/// makes an OpenTelemetry span of each `tracing` span and a span event of each event
/// inside one, behind its own [`OtelFilter`].
pub type OtelLayer<S> =
    Filtered<tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>, OtelFilter, S>;

/// What [`OtelLayer`] takes: spans and events at its [level](Telemetry::level) or
/// above, except the access line (`readiness::access`), whose facts the server span
/// has as attributes already. A per-layer filter: the other layers still see what
/// they want.
///
/// ```
/// use readiness_core::telemetry::{OtelLayer, OtelSettings, Telemetry};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (otel, _guard) = Telemetry::from_settings(OtelSettings::from_lookup(|_| None)?).build()?;
/// let otel: OtelLayer<tracing_subscriber::Registry> = otel;
/// // At `INFO` by default: a `debug_span!` becomes no OpenTelemetry span.
/// assert_eq!(
///     tracing_subscriber::layer::Filter::<tracing_subscriber::Registry>::max_level_hint(otel.filter()),
///     Some(tracing::level_filters::LevelFilter::INFO),
/// );
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct OtelFilter {
    level: LevelFilter,
}

impl OtelFilter {
    fn takes(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.level
            && !(metadata.is_event() && metadata.target() == names::ACCESS_TARGET)
    }
}

impl<S> Filter<S> for OtelFilter {
    fn enabled(&self, metadata: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.takes(metadata)
    }

    /// Decided once per call site: a level or target never changes.
    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.takes(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.level)
    }
}

fn register_metrics(
    registry: &prometheus::Registry,
    namespace: Option<&str>,
) -> Result<Metrics, BuildError> {
    let register_error = |error: prometheus::Error| {
        BuildError::new(
            "telemetry.registry",
            format!("cannot register the span export metrics: {error}"),
        )
    };
    let exported = prometheus::IntCounter::with_opts(crate::metrics::opts(
        namespace,
        names::TRACE_SPANS_EXPORTED,
        "Spans the OTLP collector accepted.",
    ))
    .map_err(register_error)?;
    let dropped = prometheus::IntCounterVec::new(
        crate::metrics::opts(
            namespace,
            names::TRACE_SPANS_DROPPED,
            "Spans dropped: the export queue was full, or their export failed.",
        ),
        &[names::REASON],
    )
    .map_err(register_error)?;
    let metric_exports = prometheus::IntCounter::with_opts(crate::metrics::opts(
        namespace,
        names::TELEMETRY_METRICS_EXPORTS,
        "OTLP metrics exports the collector accepted.",
    ))
    .map_err(register_error)?;
    let metric_exports_failed = prometheus::IntCounter::with_opts(crate::metrics::opts(
        namespace,
        names::TELEMETRY_METRICS_EXPORTS_FAILED,
        "OTLP metrics exports that failed: refused, timed out or unreachable.",
    ))
    .map_err(register_error)?;
    let collector = |i: usize| -> Box<dyn prometheus::core::Collector> {
        match i {
            0 => Box::new(exported.clone()),
            1 => Box::new(dropped.clone()),
            2 => Box::new(metric_exports.clone()),
            _ => Box::new(metric_exports_failed.clone()),
        }
    };
    for i in 0..4 {
        if let Err(error) = registry.register(collector(i)) {
            for done in 0..i {
                let _ = registry.unregister(collector(done));
            }
            return Err(register_error(error));
        }
    }
    Ok(Metrics {
        exported,
        dropped_queue_full: dropped.with_label_values(&["queue_full"]),
        dropped_export_failed: dropped.with_label_values(&["export_failed"]),
        metric_exports,
        metric_exports_failed,
    })
}

fn sampler(setting: SamplerSetting) -> Sampler {
    match setting {
        SamplerSetting::AlwaysOn => Sampler::AlwaysOn,
        SamplerSetting::AlwaysOff => Sampler::AlwaysOff,
        SamplerSetting::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
        SamplerSetting::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerSetting::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerSetting::ParentBasedTraceIdRatio(ratio) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}

impl TelemetryGuard {
    /// The OTLP log export, for [`LogSettings::otlp`](crate::logging::LogSettings::otlp):
    /// `Some` when `OTEL_LOGS_EXPORTER=otlp` with an endpoint (and the SDK not
    /// disabled).
    #[must_use]
    pub fn log_export(&self) -> Option<LogExport> {
        self.logs.as_ref().map(|(export, _)| export.clone())
    }

    /// What became of the spans so far: exported, dropped, pending.
    #[must_use]
    pub fn stats(&self) -> ExportStats {
        self.counters.stats()
    }

    /// Exports the spans still queued and stops the provider, within `deadline`.
    /// Returns how long it took and what went wrong, if anything; it never blocks
    /// longer than the deadline (plus the thread's wake-up).
    pub fn shutdown(mut self, deadline: Duration) -> ShutdownReport {
        self.shutdown_within(deadline)
    }

    fn shutdown_within(&mut self, deadline: Duration) -> ShutdownReport {
        let started = Instant::now();
        let before = self.counters.stats();
        // The last metrics export runs beside the span flush, within the deadline.
        if let Some(metrics) = &mut self.metrics {
            metrics.stop();
        }
        let mut error = match self.provider.take() {
            None => None,
            Some(provider) => provider
                .shutdown_with_timeout(deadline)
                .err()
                .map(|e| e.to_string()),
        };
        let metrics_finished = self
            .metrics
            .take()
            .is_none_or(|mut metrics| metrics.wait(started + deadline));
        // The log records queued so far, within what is left of the deadline.
        let logs_flushed = self.logs.take().is_none_or(|(_, guard)| {
            guard.finish_within(deadline.saturating_sub(started.elapsed()))
        });
        if !logs_flushed {
            tracing::warn!(
                target: "readiness::telemetry",
                category = "system",
                "the log records were not exported within the shutdown deadline"
            );
        }
        let stats = self.counters.stats();
        if !metrics_finished {
            tracing::warn!(
                target: "readiness::telemetry",
                category = "system",
                "the last metrics export did not finish within the shutdown deadline"
            );
        }
        // The provider's shutdown answers Ok once the queue is written out, whether
        // or not the final export got through: what the export counted decides.
        let failed = stats.export_failed.saturating_sub(before.export_failed);
        if error.is_none() && (failed > 0 || stats.pending > 0) {
            error = Some(format!(
                "the final export failed: {failed} spans refused, {} never sent",
                stats.pending
            ));
        }
        ShutdownReport {
            took: started.elapsed(),
            error,
            stats,
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if self.provider.is_some() || self.metrics.is_some() || self.logs.is_some() {
            let report = self.shutdown_within(Duration::from_secs(5));
            if let Some(error) = report.error {
                tracing::warn!(target: "readiness::telemetry", error = %error, took_ms = report.took.as_millis() as u64, "span export not flushed cleanly");
            }
        }
    }
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("running", &self.provider.is_some())
            .field("metrics", &self.metrics)
            .field("logs", &self.logs.as_ref().map(|(export, _)| export))
            .finish()
    }
}

/// A failed check run marks its span as an error.
pub(crate) fn check_span_failed(span: &tracing::Span, output: &str) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    span.set_status(opentelemetry::trace::Status::error(output.to_owned()));
}

#[cfg(test)]
mod tests {
    use crate::telemetry::{OtelSettings, Telemetry};

    fn settings(vars: &'static [(&'static str, &'static str)]) -> OtelSettings {
        OtelSettings::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
    }

    /// The spans' and the metrics' one resource: the builder's name, version and
    /// instance, under `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`.
    #[test]
    fn one_resource_from_the_builder_and_the_environment() {
        let telemetry = |settings| {
            Telemetry::from_settings(settings)
                .service("orders", "1.4.2")
                .instance("orders-7f9c")
        };
        let pairs = telemetry(settings(&[])).resource();
        let get = |key: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("service.name"), Some("orders"));
        assert_eq!(get("service.version"), Some("1.4.2"));
        assert_eq!(get("service.instance.id"), Some("orders-7f9c"));

        let pairs = telemetry(settings(&[
            ("OTEL_SERVICE_NAME", "orders-from-env"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.instance.id=pod-1,deployment.environment=prod",
            ),
        ]))
        .resource();
        let get = |key: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("service.name"), Some("orders-from-env"));
        assert_eq!(get("service.instance.id"), Some("pod-1"));
        assert_eq!(get("deployment.environment"), Some("prod"));
    }
}
