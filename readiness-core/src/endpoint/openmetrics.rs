//! The OpenMetrics 1.0 text format for the gathered families, with the exemplars of
//! the request-duration histogram (the `prometheus` crate writes only the classic
//! format, without exemplars).
//!
//! Differences from the classic format: a counter's family is named without
//! `_total` and its sample with it, untyped families are `unknown`, timestamps are in
//! seconds, and `# EOF` ends the exposition. The bucket lines of one family carry
//! `# {trace_id="…",span_id="…"} value timestamp`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use prometheus::proto::{Metric, MetricFamily, MetricType};

use crate::metrics::names::{HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE};
use crate::metrics::{hex, Exemplar, SeriesExemplars};

/// The content type of an OpenMetrics exposition.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether a scraper's `Accept` asks for OpenMetrics (Prometheus lists it first).
pub(crate) fn wanted(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| accept.contains("application/openmetrics-text"))
}

/// The exemplars of one family, by series.
pub(crate) struct Exemplars<'a> {
    family: &'a str,
    /// By route, then method and status.
    series: HashMap<String, Vec<(&'static str, u16, Vec<(f64, Exemplar)>)>>,
}

impl<'a> Exemplars<'a> {
    /// The exemplars of the request-duration family `family`.
    pub(crate) fn new(family: &'a str, all: Vec<SeriesExemplars>) -> Self {
        let mut series: HashMap<_, Vec<_>> = HashMap::new();
        for s in all {
            series
                .entry(s.route)
                .or_default()
                .push((s.method, s.status, s.buckets));
        }
        Self { family, series }
    }

    fn of(&self, family: &str, metric: &Metric) -> Option<&[(f64, Exemplar)]> {
        if family != self.family || self.series.is_empty() {
            return None;
        }
        let label = |name: &str| {
            metric
                .get_label()
                .iter()
                .find(|pair| pair.name() == name)
                .map(|pair| pair.value())
        };
        let method = label(HTTP_REQUEST_METHOD)?;
        let route = label(HTTP_ROUTE)?;
        let status: u16 = label(HTTP_RESPONSE_STATUS_CODE)?.parse().ok()?;
        self.series
            .get(route)?
            .iter()
            .find(|(m, s, _)| *m == method && *s == status)
            .map(|(_, _, buckets)| buckets.as_slice())
    }
}

/// `families` in the OpenMetrics text format, `# EOF` last.
pub(crate) fn encode(families: &[MetricFamily], exemplars: &Exemplars<'_>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for family in families {
        let metrics = family.get_metric();
        if metrics.is_empty() {
            continue;
        }
        let name = family.name();
        let kind = family.get_field_type();
        // A counter's family has no `_total`; its sample has.
        let family_name = match kind {
            MetricType::COUNTER => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        let type_name = match kind {
            MetricType::COUNTER => "counter",
            MetricType::GAUGE => "gauge",
            MetricType::HISTOGRAM => "histogram",
            MetricType::SUMMARY => "summary",
            MetricType::UNTYPED => "unknown",
        };
        let _ = writeln!(out, "# TYPE {family_name} {type_name}");
        if !family.help().is_empty() {
            out.push_str("# HELP ");
            out.push_str(family_name);
            out.push(' ');
            escape(&mut out, family.help());
            out.push('\n');
        }
        for metric in metrics {
            match kind {
                MetricType::COUNTER => {
                    let sample = Sample::new(family_name, "_total", metric);
                    sample.write(&mut out, None, metric.get_counter().get_value(), None);
                }
                MetricType::GAUGE => {
                    let sample = Sample::new(family_name, "", metric);
                    sample.write(&mut out, None, metric.get_gauge().get_value(), None);
                }
                MetricType::UNTYPED => {
                    // A collector of the service's own may hand one in; the crate's
                    // own types never do (its text encoder refuses them).
                    #[allow(deprecated)]
                    let value = metric.get_untyped().get_value();
                    Sample::new(family_name, "", metric).write(&mut out, None, value, None);
                }
                MetricType::SUMMARY => {
                    let summary = metric.get_summary();
                    let sample = Sample::new(family_name, "", metric);
                    for quantile in summary.get_quantile() {
                        let q = quantile.quantile().to_string();
                        sample.write(&mut out, Some(("quantile", &q)), quantile.value(), None);
                    }
                    Sample::new(family_name, "_sum", metric).write(
                        &mut out,
                        None,
                        summary.sample_sum(),
                        None,
                    );
                    Sample::new(family_name, "_count", metric).write(
                        &mut out,
                        None,
                        summary.sample_count() as f64,
                        None,
                    );
                }
                MetricType::HISTOGRAM => {
                    histogram(&mut out, family_name, metric, exemplars.of(name, metric));
                }
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

fn histogram(out: &mut String, name: &str, metric: &Metric, exemplars: Option<&[(f64, Exemplar)]>) {
    let histogram = metric.get_histogram();
    let bucket = Sample::new(name, "_bucket", metric);
    let exemplar_of = |bound: f64| {
        exemplars.and_then(|list| {
            list.iter()
                .find(|(b, _)| *b == bound)
                .map(|(_, exemplar)| exemplar)
        })
    };
    let mut inf_seen = false;
    for b in histogram.get_bucket() {
        let bound = b.upper_bound();
        inf_seen |= bound == f64::INFINITY;
        let le = if bound == f64::INFINITY {
            "+Inf".to_owned()
        } else {
            // As the classic encoder writes it, so both formats name the same series.
            bound.to_string()
        };
        bucket.write(
            out,
            Some(("le", &le)),
            b.cumulative_count() as f64,
            exemplar_of(bound),
        );
    }
    if !inf_seen {
        bucket.write(
            out,
            Some(("le", "+Inf")),
            histogram.get_sample_count() as f64,
            exemplar_of(f64::INFINITY),
        );
    }
    Sample::new(name, "_sum", metric).write(out, None, histogram.get_sample_sum(), None);
    Sample::new(name, "_count", metric).write(out, None, histogram.get_sample_count() as f64, None);
}

/// One sample line's name and labels.
struct Sample<'a> {
    name: &'a str,
    suffix: &'a str,
    metric: &'a Metric,
}

impl<'a> Sample<'a> {
    fn new(name: &'a str, suffix: &'a str, metric: &'a Metric) -> Self {
        Self {
            name,
            suffix,
            metric,
        }
    }

    fn write(
        &self,
        out: &mut String,
        extra: Option<(&str, &str)>,
        value: f64,
        exemplar: Option<&Exemplar>,
    ) {
        out.push_str(self.name);
        out.push_str(self.suffix);
        let labels = self.metric.get_label();
        if !labels.is_empty() || extra.is_some() {
            let mut separator = '{';
            let pairs = labels
                .iter()
                .map(|pair| (pair.name(), pair.value()))
                .chain(extra);
            for (name, value) in pairs {
                out.push(separator);
                out.push_str(name);
                out.push_str("=\"");
                escape(out, value);
                out.push('"');
                separator = ',';
            }
            out.push('}');
        }
        out.push(' ');
        number(out, value);
        let timestamp = self.metric.timestamp_ms();
        if timestamp != 0 {
            let _ = write!(out, " {}", timestamp as f64 / 1000.0);
        }
        if let Some(exemplar) = exemplar {
            out.push_str(" # {trace_id=\"");
            out.push_str(&hex(&exemplar.trace_id()));
            out.push_str("\",span_id=\"");
            out.push_str(&hex(&exemplar.span_id()));
            out.push_str("\"} ");
            number(out, exemplar.value());
            if let Ok(since) = exemplar.time().duration_since(UNIX_EPOCH) {
                let _ = write!(out, " {}.{:03}", since.as_secs(), since.subsec_millis());
            }
        }
        out.push('\n');
    }
}

/// A number as OpenMetrics writes it: `+Inf`, `-Inf`, `NaN`, or Rust's shortest
/// round-trip form.
fn number(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{value}");
    }
}

/// A label value or help text, with `\`, `"` and line feeds escaped.
fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn families() -> Vec<MetricFamily> {
        let registry = prometheus::Registry::new();
        let counter = prometheus::IntCounterVec::new(
            prometheus::Opts::new("jobs_total", "Jobs \"run\".\nSecond line."),
            &["queue"],
        )
        .unwrap();
        counter.with_label_values(&["a\\b\"c"]).inc_by(3);
        registry.register(Box::new(counter)).unwrap();
        let plain = prometheus::IntCounter::new("retries", "Retries.").unwrap();
        plain.inc();
        registry.register(Box::new(plain)).unwrap();
        let gauge = prometheus::Gauge::new("temperature", "Temperature.").unwrap();
        gauge.set(f64::NEG_INFINITY);
        registry.register(Box::new(gauge)).unwrap();
        registry.gather()
    }

    #[test]
    fn counters_gauges_and_escapes() {
        let text = encode(&families(), &Exemplars::new("none", Vec::new()));
        let expected = "\
# TYPE jobs counter
# HELP jobs Jobs \\\"run\\\".\\nSecond line.
jobs_total{queue=\"a\\\\b\\\"c\"} 3
# TYPE retries counter
# HELP retries Retries.
retries_total 1
# TYPE temperature gauge
# HELP temperature Temperature.
temperature -Inf
# EOF
";
        assert_eq!(text, expected);
    }

    #[test]
    fn negotiation_follows_accept() {
        assert!(wanted(Some(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(!wanted(Some("text/plain;version=0.0.4")));
        assert!(!wanted(None));
    }
}
