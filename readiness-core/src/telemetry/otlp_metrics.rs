//! Metrics over OTLP: a thread of its own gathers the service's
//! `prometheus::Registry` (the one `/metrics` renders, so every family comes along,
//! the service's own included) every `OTEL_METRIC_EXPORT_INTERVAL`, turns the
//! families into an `ExportMetricsServiceRequest` (opentelemetry-proto's types) and
//! sends it over OTLP/HTTP or gRPC.
//!
//! Recorded once: a request only touches the Prometheus families it always did; the
//! export reads them on its own thread, so a slow or absent collector costs requests
//! nothing. The library's families take their semantic-convention names and units
//! on the way out (see `semconv`); histograms become explicit-bucket histograms,
//! counters monotonic sums, gauges gauges. Delta temporality is the difference from
//! the last export the collector accepted, kept for the series alive now only.

use std::collections::HashMap;
use std::fmt;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, summary_data_point, AggregationTemporality, Exemplar,
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prometheus::proto::{MetricFamily, MetricType};
use prost::Message as _;

use super::config::{MetricsSettings, Temporality};
use super::export::{Counters, ErrorLog};
use super::semconv::{self, Instrument};
use super::sender::{Sender, METRICS_EXPORT};
use crate::metrics::names::{
    HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, HTTP_SERVER_REQUEST_DURATION,
};
use crate::metrics::RedMetrics;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A series: its family's Prometheus name and its labels.
type SeriesKey = (String, Vec<(String, String)>);

/// A series' values at the last accepted export, for delta temporality.
#[derive(Debug, Clone, PartialEq)]
enum Last {
    Value(f64),
    Histogram {
        count: u64,
        sum: f64,
        buckets: Vec<u64>,
    },
}

/// Turns gathered families into OTLP requests.
pub(crate) struct Converter {
    /// `namespace_`, stripped before the semantic-convention table is read.
    prefix: Option<String>,
    resource: Resource,
    temporality: Temporality,
    /// When the exporter started: the start of every cumulative point.
    started: u64,
    /// The last accepted export: its time (the start of delta points) and values.
    last_time: u64,
    last: HashMap<SeriesKey, Last>,
    /// This export's values, kept once the collector accepts it.
    pending: HashMap<SeriesKey, Last>,
    /// Where the request-duration exemplars and the requests' `url.scheme` are read.
    exemplars: Option<crate::metrics::RedMetrics>,
}

/// The exemplars of the request-duration series, by method, route and status.
type ExemplarsBySeries = HashMap<(String, String, String), Vec<Exemplar>>;

impl Converter {
    pub(crate) fn new(
        namespace: Option<&str>,
        resource: &[(String, String)],
        temporality: Temporality,
        now: u64,
    ) -> Self {
        // One value per key, the last given winning (as the SDK's resource does).
        let mut attributes: Vec<KeyValue> = Vec::new();
        for (key, value) in resource {
            attributes.retain(|kv| kv.key != *key);
            attributes.push(string_attribute(key, value));
        }
        Self {
            prefix: namespace.map(|ns| format!("{ns}_")),
            resource: Resource {
                attributes,
                ..Resource::default()
            },
            temporality,
            started: now,
            last_time: now,
            last: HashMap::new(),
            pending: HashMap::new(),
            exemplars: None,
        }
    }

    /// Reads the request-duration exemplars from `red` at each export.
    pub(crate) fn with_exemplars(mut self, red: Option<crate::metrics::RedMetrics>) -> Self {
        self.exemplars = red;
        self
    }

    /// The request-duration exemplars newer than `since`, by series.
    fn duration_exemplars(&self, since: u64) -> ExemplarsBySeries {
        let mut by_series = ExemplarsBySeries::new();
        let Some(red) = &self.exemplars else {
            return by_series;
        };
        for series in red.duration_exemplars() {
            let exemplars: Vec<Exemplar> = series
                .buckets
                .iter()
                .filter_map(|(_, e)| {
                    let time = nanos(e.time());
                    (time >= since).then(|| Exemplar {
                        time_unix_nano: time,
                        span_id: e.span_id().to_vec(),
                        trace_id: e.trace_id().to_vec(),
                        value: Some(exemplar::Value::AsDouble(e.value())),
                        ..Exemplar::default()
                    })
                })
                .collect();
            if !exemplars.is_empty() {
                by_series.insert(
                    (
                        series.method.to_owned(),
                        series.route,
                        series.status.to_string(),
                    ),
                    exemplars,
                );
            }
        }
        by_series
    }

    /// The request for `families` gathered at `now`.
    pub(crate) fn convert(
        &mut self,
        families: &[MetricFamily],
        now: u64,
    ) -> ExportMetricsServiceRequest {
        self.pending.clear();
        let metrics = families
            .iter()
            .filter_map(|family| self.metric(family, now))
            .collect();
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "readiness".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..InstrumentationScope::default()
                    }),
                    metrics,
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }],
        }
    }

    /// The collector accepted the last request: its values are what the next
    /// delta is taken from. (A refused export keeps the old ones, so its changes
    /// travel with the next.)
    pub(crate) fn accepted(&mut self, now: u64) {
        std::mem::swap(&mut self.last, &mut self.pending);
        self.pending.clear();
        self.last_time = now;
    }

    fn metric(&mut self, family: &MetricFamily, now: u64) -> Option<Metric> {
        let full = family.name();
        let bare = self
            .prefix
            .as_deref()
            .and_then(|prefix| full.strip_prefix(prefix))
            .unwrap_or(full);
        let known = semconv::family_of(bare);
        let (name, unit, instrument) = match known {
            Some(f) => (f.name.to_owned(), f.unit, f.instrument),
            None => (
                full.to_owned(),
                semconv::unit_from_suffix(full),
                Instrument::AsTyped,
            ),
        };
        let delta = match self.temporality {
            Temporality::Cumulative => false,
            Temporality::Delta => true,
            Temporality::LowMemory => instrument == Instrument::AsTyped,
        };
        let temporality = if delta {
            AggregationTemporality::Delta
        } else {
            AggregationTemporality::Cumulative
        } as i32;
        let start = if delta { self.last_time } else { self.started };
        let series = family.get_metric();
        // `url.scheme` on the `http.server.*` points: a constant of the service (the
        // builder's, else `http`, as the adapters serve plain HTTP), added here
        // rather than recorded, so the Prometheus series keep their labels and a
        // request pays nothing for it.
        let scheme = known
            .filter(|f| f.name.starts_with("http.server."))
            .map(|_| {
                let scheme = self.exemplars.as_ref().and_then(RedMetrics::url_scheme);
                string_attribute("url.scheme", scheme.unwrap_or("http"))
            });
        // Exemplars: the request-duration histogram's, the ones since the last
        // accepted export under delta.
        let mut exemplars = if bare == HTTP_SERVER_REQUEST_DURATION {
            self.duration_exemplars(start)
        } else {
            ExemplarsBySeries::new()
        };
        let mut data = match family.get_field_type() {
            MetricType::COUNTER => metric::Data::Sum(Sum {
                data_points: series
                    .iter()
                    .map(|m| {
                        let value = m.get_counter().get_value();
                        let value = self.value_delta(full, m, value, delta);
                        number_point(m, start, now, value)
                    })
                    .collect(),
                aggregation_temporality: temporality,
                is_monotonic: true,
            }),
            MetricType::GAUGE if instrument == Instrument::UpDownCounter => {
                metric::Data::Sum(Sum {
                    data_points: series
                        .iter()
                        .map(|m| number_point(m, self.started, now, m.get_gauge().get_value()))
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: false,
                })
            }
            MetricType::GAUGE => metric::Data::Gauge(Gauge {
                data_points: series
                    .iter()
                    .map(|m| number_point(m, 0, now, m.get_gauge().get_value()))
                    .collect(),
            }),
            #[allow(deprecated)]
            MetricType::UNTYPED => metric::Data::Gauge(Gauge {
                data_points: series
                    .iter()
                    .map(|m| number_point(m, 0, now, m.get_untyped().get_value()))
                    .collect(),
            }),
            MetricType::HISTOGRAM => metric::Data::Histogram(Histogram {
                data_points: series
                    .iter()
                    .map(|m| {
                        let mut point = self.histogram_point(full, m, start, now, delta);
                        if !exemplars.is_empty() {
                            let label = |name: &str| {
                                m.get_label()
                                    .iter()
                                    .find(|l| l.name() == name)
                                    .map(|l| l.value().to_owned())
                                    .unwrap_or_default()
                            };
                            let key = (
                                label(HTTP_REQUEST_METHOD),
                                label(HTTP_ROUTE),
                                label(HTTP_RESPONSE_STATUS_CODE),
                            );
                            point.exemplars = exemplars.remove(&key).unwrap_or_default();
                        }
                        point
                    })
                    .collect(),
                aggregation_temporality: temporality,
            }),
            MetricType::SUMMARY => metric::Data::Summary(Summary {
                data_points: series
                    .iter()
                    .map(|m| {
                        let summary = m.get_summary();
                        SummaryDataPoint {
                            attributes: attributes(m),
                            start_time_unix_nano: self.started,
                            time_unix_nano: now,
                            count: summary.sample_count(),
                            sum: summary.sample_sum(),
                            quantile_values: summary
                                .get_quantile()
                                .iter()
                                .map(|q| summary_data_point::ValueAtQuantile {
                                    quantile: q.quantile(),
                                    value: q.value(),
                                })
                                .collect(),
                            flags: 0,
                        }
                    })
                    .collect(),
            }),
        };
        if let Some(scheme) = scheme {
            add_attribute(&mut data, &scheme);
        }
        Some(Metric {
            name,
            description: family.help().to_owned(),
            unit: unit.to_owned(),
            data: Some(data),
            ..Metric::default()
        })
    }

    /// A counter's value, or its change since the last accepted export.
    fn value_delta(
        &mut self,
        family: &str,
        m: &prometheus::proto::Metric,
        value: f64,
        delta: bool,
    ) -> f64 {
        if !delta {
            return value;
        }
        let key = series_key(family, m);
        let before = match self.last.get(&key) {
            Some(Last::Value(before)) if *before <= value => *before,
            // New, or reset (the counter went down): all of it is new.
            _ => 0.0,
        };
        self.pending.insert(key, Last::Value(value));
        value - before
    }

    fn histogram_point(
        &mut self,
        family: &str,
        m: &prometheus::proto::Metric,
        start: u64,
        now: u64,
        delta: bool,
    ) -> HistogramDataPoint {
        let histogram = m.get_histogram();
        // Prometheus' buckets are cumulative and leave out +Inf; OTLP counts each
        // bucket on its own and has the overflow bucket last.
        let (bounds, mut cumulative): (Vec<f64>, Vec<u64>) = histogram
            .get_bucket()
            .iter()
            .filter(|b| b.upper_bound().is_finite())
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .unzip();
        let mut count = histogram.get_sample_count();
        let mut sum = histogram.get_sample_sum();
        if delta {
            let key = series_key(family, m);
            if let Some(Last::Histogram {
                count: c,
                sum: s,
                buckets,
            }) = self.last.get(&key)
            {
                if *c <= count && buckets.len() == cumulative.len() {
                    for (now, before) in cumulative.iter_mut().zip(buckets) {
                        *now = now.saturating_sub(*before);
                    }
                    count -= c;
                    sum -= s;
                }
            }
            self.pending.insert(
                key,
                Last::Histogram {
                    count: histogram.get_sample_count(),
                    sum: histogram.get_sample_sum(),
                    buckets: histogram
                        .get_bucket()
                        .iter()
                        .filter(|b| b.upper_bound().is_finite())
                        .map(|b| b.cumulative_count())
                        .collect(),
                },
            );
        }
        let mut counts = Vec::with_capacity(cumulative.len() + 1);
        let mut below = 0;
        for c in &cumulative {
            counts.push(c.saturating_sub(below));
            below = *c;
        }
        counts.push(count.saturating_sub(below));
        HistogramDataPoint {
            attributes: attributes(m),
            start_time_unix_nano: start,
            time_unix_nano: now,
            count,
            sum: Some(sum),
            bucket_counts: counts,
            explicit_bounds: bounds,
            ..HistogramDataPoint::default()
        }
    }
}

fn series_key(family: &str, m: &prometheus::proto::Metric) -> SeriesKey {
    (
        family.to_owned(),
        m.get_label()
            .iter()
            .map(|l| (l.name().to_owned(), l.value().to_owned()))
            .collect(),
    )
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

/// A series' labels as attributes, under their convention names; a 5xx status also
/// gives `error.type`, the status as text, as the HTTP conventions ask of a server
/// that knows no finer cause.
fn attributes(m: &prometheus::proto::Metric) -> Vec<KeyValue> {
    let error = m
        .get_label()
        .iter()
        .find(|label| label.name() == crate::metrics::names::HTTP_RESPONSE_STATUS_CODE)
        .map(prometheus::proto::LabelPair::value)
        .filter(|status| status.starts_with('5'))
        .map(|status| string_attribute("error.type", status));
    m.get_label()
        .iter()
        .map(|label| {
            let key = semconv::label(label.name());
            match label.value().parse::<i64>() {
                Ok(number) if semconv::INT_LABELS.contains(&label.name()) => KeyValue {
                    key: key.to_owned(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::IntValue(number)),
                    }),
                    ..KeyValue::default()
                },
                _ => string_attribute(key, label.value()),
            }
        })
        .chain(error)
        .collect()
}

/// `attribute` on every point of `data`.
fn add_attribute(data: &mut metric::Data, attribute: &KeyValue) {
    let add = |attributes: &mut Vec<KeyValue>| attributes.push(attribute.clone());
    match data {
        metric::Data::Sum(sum) => sum
            .data_points
            .iter_mut()
            .for_each(|p| add(&mut p.attributes)),
        metric::Data::Gauge(gauge) => gauge
            .data_points
            .iter_mut()
            .for_each(|p| add(&mut p.attributes)),
        metric::Data::Histogram(histogram) => histogram
            .data_points
            .iter_mut()
            .for_each(|p| add(&mut p.attributes)),
        metric::Data::Summary(summary) => summary
            .data_points
            .iter_mut()
            .for_each(|p| add(&mut p.attributes)),
        metric::Data::ExponentialHistogram(histogram) => histogram
            .data_points
            .iter_mut()
            .for_each(|p| add(&mut p.attributes)),
    }
}

fn number_point(
    m: &prometheus::proto::Metric,
    start: u64,
    now: u64,
    value: f64,
) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attributes(m),
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..NumberDataPoint::default()
    }
}

pub(crate) fn now_nanos() -> u64 {
    nanos(SystemTime::now())
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// How the requests travel: the [`Sender`] the spans and the logs use, given each
/// request encoded (over gRPC as the body of `MetricsService/Export`).
struct Transport(Sender);

impl Transport {
    fn new(
        settings: &MetricsSettings,
        endpoint: &str,
        timeout: Duration,
    ) -> Result<Self, BoxError> {
        Sender::new(settings.protocol, endpoint, &settings.headers, timeout).map(Self)
    }

    /// Sends `request`; blocks the export thread, never longer than the timeout
    /// (a refusing collector is retried within it).
    fn send(&mut self, request: &ExportMetricsServiceRequest) -> Result<(), String> {
        self.0.send(request.encode_to_vec(), METRICS_EXPORT)
    }
}

/// The export thread's state.
struct Exporter {
    registry: prometheus::Registry,
    converter: Converter,
    transport: Transport,
    counters: Arc<Counters>,
    log: ErrorLog,
    log_interval: Duration,
}

impl Exporter {
    fn export(&mut self) {
        let families = self.registry.gather();
        let now = now_nanos();
        let request = self.converter.convert(&families, now);
        match self.transport.send(&request) {
            Ok(()) => {
                self.converter.accepted(now);
                self.counters.metric_export(true);
                if let Some((failures, _)) = self.log.success() {
                    tracing::info!(
                        target: "readiness::telemetry",
                        category = "system",
                        failed_exports = failures,
                        "metrics export recovered"
                    );
                }
            }
            Err(error) => {
                self.counters.metric_export(false);
                if let Some((failures, _)) = self.log.failure(0, self.log_interval) {
                    tracing::warn!(
                        target: "readiness::telemetry",
                        category = "system",
                        error = %error,
                        failed_exports = failures,
                        next_report_s = self.log_interval.as_secs(),
                        "metrics export failing"
                    );
                }
            }
        }
    }
}

/// The running metrics export: a thread that exports every interval and once more
/// when stopped.
pub(crate) struct MetricsExport {
    stop: Option<mpsc::Sender<()>>,
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

/// What the export thread is given.
pub(crate) struct Start<'a> {
    pub(crate) registry: prometheus::Registry,
    pub(crate) namespace: Option<&'a str>,
    pub(crate) settings: &'a MetricsSettings,
    pub(crate) endpoint: &'a str,
    pub(crate) resource: &'a [(String, String)],
    pub(crate) counters: Arc<Counters>,
    pub(crate) log_interval: Duration,
    pub(crate) exemplars: Option<crate::metrics::RedMetrics>,
}

impl MetricsExport {
    pub(crate) fn start(start: Start<'_>) -> Result<Self, BoxError> {
        let settings = start.settings;
        let timeout = settings.timeout.min(settings.export_timeout);
        let transport = Transport::new(settings, start.endpoint, timeout)?;
        let mut exporter = Exporter {
            registry: start.registry,
            converter: Converter::new(
                start.namespace,
                start.resource,
                settings.temporality,
                now_nanos(),
            )
            .with_exemplars(start.exemplars),
            transport,
            counters: start.counters,
            log: ErrorLog::default(),
            log_interval: start.log_interval,
        };
        let interval = settings.interval;
        let (stop, stopped) = mpsc::channel::<()>();
        let (finished, done) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("readiness-otlp-metrics".to_owned())
            .spawn(move || {
                loop {
                    let last = !matches!(
                        stopped.recv_timeout(interval),
                        Err(mpsc::RecvTimeoutError::Timeout)
                    );
                    exporter.export();
                    if last {
                        break;
                    }
                }
                let _ = finished.send(());
            })?;
        Ok(Self {
            stop: Some(stop),
            done,
            thread: Some(thread),
        })
    }

    /// Asks for the last export; returns at once.
    pub(crate) fn stop(&mut self) {
        self.stop.take();
    }

    /// Waits for the last export until `deadline`; `false` when it is still going
    /// (the thread is left to finish on its own).
    pub(crate) fn wait(&mut self, deadline: Instant) -> bool {
        self.stop();
        let left = deadline.saturating_duration_since(Instant::now());
        let finished = self.done.recv_timeout(left).is_ok();
        if finished {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
        finished
    }

    pub(crate) fn running(&self) -> bool {
        self.thread.is_some()
    }
}

impl fmt::Debug for MetricsExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsExport")
            .field("running", &self.running())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

    use super::{Converter, Temporality};

    fn registry() -> (Registry, HistogramVec, IntCounterVec) {
        let registry = Registry::new();
        let duration = HistogramVec::new(
            HistogramOpts::new("shop_http_server_request_duration_seconds", "d")
                .buckets(vec![0.1, 1.0]),
            &[
                "http_request_method",
                "http_route",
                "http_response_status_code",
            ],
        )
        .unwrap();
        let runs = IntCounterVec::new(Opts::new("job_runs_total", "r"), &["operation"]).unwrap();
        registry.register(Box::new(duration.clone())).unwrap();
        registry.register(Box::new(runs.clone())).unwrap();
        (registry, duration, runs)
    }

    /// What one export costs the export thread: gather, convert and encode, for
    /// 300 request-duration series (100 routes, 3 statuses). Run with
    /// `cargo test --release -p readiness-core --features otel --lib export_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement"]
    fn export_cost() {
        use prost::Message as _;
        let (registry, duration, runs) = registry();
        for route in 0..100 {
            for status in ["200", "404", "500"] {
                duration
                    .with_label_values(&["GET", &format!("/r/{route}"), status])
                    .observe(0.05);
            }
        }
        runs.with_label_values(&["sync"]).inc();
        for temporality in [Temporality::Cumulative, Temporality::Delta] {
            let mut converter = Converter::new(Some("shop"), &[], temporality, 1);
            let rounds = 200;
            let started = std::time::Instant::now();
            let mut bytes = 0;
            for round in 0..rounds {
                let request = converter.convert(&registry.gather(), round + 2);
                bytes = request.encode_to_vec().len();
                converter.accepted(round + 2);
            }
            eprintln!(
                "{temporality:?}: {:?} per export of 300 series ({bytes} bytes)",
                started.elapsed() / u32::try_from(rounds).unwrap()
            );
        }
    }

    #[test]
    fn histograms_are_renamed_and_counted_per_bucket() {
        let (registry, duration, _) = registry();
        let series = duration.with_label_values(&["GET", "/items/{id}", "200"]);
        series.observe(0.05);
        series.observe(0.5);
        series.observe(0.5);
        series.observe(5.0);
        let mut converter = Converter::new(Some("shop"), &[], Temporality::Cumulative, 1);
        let request = converter.convert(&registry.gather(), 2);
        let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
        assert_eq!(metric.name, "http.server.request.duration");
        assert_eq!(metric.unit, "s");
        let Some(Data::Histogram(histogram)) = &metric.data else {
            panic!("{metric:?}")
        };
        let point = &histogram.data_points[0];
        assert_eq!(point.explicit_bounds, vec![0.1, 1.0]);
        assert_eq!(point.bucket_counts, vec![1, 2, 1]);
        assert_eq!(point.count, 4);
        let keys: Vec<&str> = point.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert!(keys.contains(&"http.response.status_code"), "{keys:?}");
        assert!(!keys.contains(&"error.type"), "a 200 is no error: {keys:?}");
    }

    #[test]
    fn a_5xx_series_says_its_error_type() {
        let (registry, duration, _) = registry();
        duration
            .with_label_values(&["GET", "/", "503"])
            .observe(0.05);
        let mut converter = Converter::new(None, &[], Temporality::Cumulative, 1);
        let request = converter.convert(&registry.gather(), 2);
        let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(Data::Histogram(histogram)) = &metric.data else {
            panic!("{metric:?}")
        };
        let error = histogram.data_points[0]
            .attributes
            .iter()
            .find(|kv| kv.key == "error.type")
            .and_then(|kv| kv.value.as_ref()?.value.clone());
        assert_eq!(
            error,
            Some(super::any_value::Value::StringValue("503".to_owned()))
        );
    }

    #[test]
    fn delta_is_the_change_since_the_last_accepted_export() {
        let (registry, duration, runs) = registry();
        let series = duration.with_label_values(&["GET", "/", "200"]);
        let counter = runs.with_label_values(&["sync"]);
        series.observe(0.05);
        counter.inc_by(3);
        let mut converter = Converter::new(None, &[], Temporality::Delta, 1);
        let _ = converter.convert(&registry.gather(), 2);
        converter.accepted(2);
        series.observe(0.5);
        counter.inc_by(2);
        // Refused: the next export carries its changes as well.
        let _ = converter.convert(&registry.gather(), 3);
        counter.inc();
        let request = converter.convert(&registry.gather(), 4);
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        for metric in metrics {
            match &metric.data {
                Some(Data::Histogram(h)) => {
                    assert_eq!(h.data_points[0].bucket_counts, vec![0, 1, 0]);
                    assert_eq!(h.data_points[0].start_time_unix_nano, 2);
                }
                Some(Data::Sum(s)) => {
                    assert_eq!(metric.name, "job_runs_total");
                    assert!(s.is_monotonic);
                    let Some(super::number_data_point::Value::AsDouble(v)) = s.data_points[0].value
                    else {
                        panic!()
                    };
                    assert!((v - 3.0).abs() < f64::EPSILON, "{v}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
