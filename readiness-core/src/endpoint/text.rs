//! The classic Prometheus text format (0.0.4) for the gathered families: the same
//! bytes as the `prometheus` crate's `TextEncoder`, written by hand because that
//! encoder is most of a scrape's cost once a registry holds many histograms.
//!
//! Measured on the "Scrape under load" registry (900 series of three histograms:
//! 5.5 MB of text, `benches/scrape.rs` under callgrind), the crate's encoder spends
//! about 128 M instructions a scrape against 13 M for `Registry::gather`: it formats
//! every sample's value through `f64`'s `Display` (a shortest round-trip search) and
//! every bucket bound again for each series, searches each label value for
//! characters to escape once per line (a series' labels repeat on each of its
//! bucket lines), and writes through `dyn Write` piece by piece. Here a series'
//! labels are escaped once and reused on each of its lines, a family's bucket bounds
//! are formatted once, and integral values (counts, bucket counts, most gauges) are
//! written as integers, which is what `Display` writes for them. Any value that is
//! not a whole number below 2^53 still goes through `Display`, so the text is
//! identical (the tests below compare it with the crate's encoder).
//!
//! One difference: an `untyped` family (a custom collector's), which the crate's
//! encoder refuses with a panic, is written as the text format's `untyped`.

use std::io::Write as _;

use prometheus::proto::{Metric, MetricFamily, MetricType};

/// Why the families could not be encoded (the crate's encoder fails alike).
#[derive(Debug)]
pub(crate) struct EncodeError(String);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Appends `families` to `out` in the classic text format.
pub(crate) fn encode(families: &[MetricFamily], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    encode_with(families, out, &mut |_, _| false)
}

/// As [`encode`], with histogram families whose series are kept outside the
/// registry: for each histogram family, `own` is asked first with the family's name;
/// when it writes the series (through [`HistogramLines::series`]) and answers
/// true, the family's gathered metrics (a stand-in) are not written.
pub(crate) fn encode_with(
    families: &[MetricFamily],
    out: &mut Vec<u8>,
    own: &mut dyn FnMut(&str, &mut HistogramLines<'_>) -> bool,
) -> Result<(), EncodeError> {
    // The crate refuses a family without a name or without metrics (never from a
    // registry's `gather`, which prunes empty families); so does this.
    if let Some(family) = families
        .iter()
        .find(|f| f.name().is_empty() || f.get_metric().is_empty())
    {
        return Err(EncodeError(format!(
            "metric family {:?} has no name or no metrics",
            family.name()
        )));
    }
    let mut labels = Vec::with_capacity(256);
    let mut bucket = Vec::with_capacity(256);
    let mut bounds = Bounds::default();
    for family in families {
        let name = family.name();
        let help = family.help();
        if !help.is_empty() {
            out.extend_from_slice(b"# HELP ");
            out.extend_from_slice(name.as_bytes());
            out.push(b' ');
            escape(out, help, false);
            out.push(b'\n');
        }
        let kind = family.get_field_type();
        out.extend_from_slice(b"# TYPE ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(match kind {
            MetricType::COUNTER => b" counter\n".as_slice(),
            MetricType::GAUGE => b" gauge\n",
            MetricType::SUMMARY => b" summary\n",
            MetricType::UNTYPED => b" untyped\n",
            MetricType::HISTOGRAM => b" histogram\n",
        });
        if kind == MetricType::HISTOGRAM {
            let mut lines = HistogramLines {
                out: &mut *out,
                name: name.as_bytes(),
                labels: &mut labels,
                bucket: &mut bucket,
                bounds: &mut bounds,
            };
            if own(name, &mut lines) {
                continue;
            }
        }
        for metric in family.get_metric() {
            labels.clear();
            label_pairs(&mut labels, metric);
            let sample = Sample {
                name: name.as_bytes(),
                labels: &labels,
                timestamp: metric.timestamp_ms(),
            };
            match kind {
                MetricType::COUNTER => {
                    sample.write(out, b"", None, metric.get_counter().get_value());
                }
                MetricType::GAUGE => sample.write(out, b"", None, metric.get_gauge().get_value()),
                MetricType::UNTYPED => {
                    #[allow(deprecated)]
                    let value = metric.get_untyped().get_value();
                    sample.write(out, b"", None, value);
                }
                MetricType::HISTOGRAM => {
                    let histogram = metric.get_histogram();
                    let buckets = histogram
                        .get_bucket()
                        .iter()
                        .map(|b| (b.upper_bound(), b.cumulative_count()));
                    histogram_lines(
                        out,
                        &sample,
                        (&mut bucket, &mut bounds),
                        buckets,
                        histogram.get_sample_count(),
                        histogram.get_sample_sum(),
                    );
                }
                MetricType::SUMMARY => {
                    let summary = metric.get_summary();
                    for quantile in summary.get_quantile() {
                        let q = quantile.quantile().to_string();
                        sample.write_labelled(
                            out,
                            b"",
                            (b"quantile", q.as_bytes()),
                            quantile.value(),
                        );
                    }
                    sample.write(out, b"_sum", None, summary.sample_sum());
                    sample.write(out, b"_count", None, summary.sample_count() as f64);
                }
            }
        }
    }
    Ok(())
}

/// A histogram's lines: a line per bucket (`+Inf` added when the buckets end below
/// it), then `_sum` and `_count`. `scratch` holds the `name_bucket{labels,le="`
/// prefix and the bounds' texts.
fn histogram_lines(
    out: &mut Vec<u8>,
    sample: &Sample<'_>,
    scratch: (&mut Vec<u8>, &mut Bounds),
    buckets: impl Iterator<Item = (f64, u64)>,
    count: u64,
    sum: f64,
) {
    let (bucket, bounds) = scratch;
    // `name_bucket{labels,le="`, once for all the series' buckets.
    bucket.clear();
    bucket.extend_from_slice(sample.name);
    bucket.extend_from_slice(b"_bucket");
    bucket.extend_from_slice(sample.labels);
    bucket.push(if sample.labels.is_empty() { b'{' } else { b',' });
    bucket.extend_from_slice(b"le=\"");
    let mut inf_seen = false;
    for (i, (bound, cumulative)) in buckets.enumerate() {
        inf_seen |= bound.is_sign_positive() && bound.is_infinite();
        out.extend_from_slice(bucket);
        out.extend_from_slice(bounds.text(i, bound));
        out.extend_from_slice(b"\"}");
        sample.value(out, cumulative as f64);
    }
    let count = count as f64;
    if !inf_seen {
        sample.write(out, b"_bucket", Some(b"+Inf"), count);
    }
    sample.write(out, b"_sum", None, sum);
    sample.write(out, b"_count", None, count);
}

/// Where [`encode_with`]'s caller writes the series of a histogram family kept
/// outside the registry, in the same format as a gathered one's.
pub(crate) struct HistogramLines<'a> {
    out: &'a mut Vec<u8>,
    name: &'a [u8],
    labels: &'a mut Vec<u8>,
    bucket: &'a mut Vec<u8>,
    bounds: &'a mut Bounds,
}

impl HistogramLines<'_> {
    /// One series: its label pairs (sorted by name, as a registry gives them), its
    /// finite bucket bounds, the cumulative count of each and of `+Inf` (last: the
    /// series' count), and its sum.
    pub(crate) fn series(
        &mut self,
        labels: &[(&str, &str)],
        bounds: &[f64],
        cumulative: &[u64],
        sum: f64,
    ) {
        self.labels.clear();
        let mut separator = b'{';
        for (name, value) in labels {
            self.labels.push(separator);
            self.labels.extend_from_slice(name.as_bytes());
            self.labels.extend_from_slice(b"=\"");
            escape(self.labels, value, true);
            self.labels.push(b'"');
            separator = b',';
        }
        let sample = Sample {
            name: self.name,
            labels: self.labels,
            timestamp: 0,
        };
        let count = cumulative.last().copied().unwrap_or(0);
        let buckets = bounds.iter().copied().zip(cumulative.iter().copied());
        histogram_lines(
            self.out,
            &sample,
            (self.bucket, self.bounds),
            buckets,
            count,
            sum,
        );
    }
}

/// `{name="value",…` for a metric's label pairs (no closing brace), values escaped;
/// nothing for a metric without labels.
fn label_pairs(out: &mut Vec<u8>, metric: &Metric) {
    let mut separator = b'{';
    for pair in metric.get_label() {
        out.push(separator);
        out.extend_from_slice(pair.name().as_bytes());
        out.extend_from_slice(b"=\"");
        escape(out, pair.value(), true);
        out.push(b'"');
        separator = b',';
    }
}

/// One series' lines: its name and its labels, written once, reused per line.
struct Sample<'a> {
    name: &'a [u8],
    labels: &'a [u8],
    timestamp: i64,
}

impl Sample<'_> {
    /// `name+suffix{labels,le="…"} value [timestamp]`.
    fn write(&self, out: &mut Vec<u8>, suffix: &[u8], le: Option<&[u8]>, value: f64) {
        match le {
            Some(le) => self.write_labelled(out, suffix, (b"le", le), value),
            None => {
                out.extend_from_slice(self.name);
                out.extend_from_slice(suffix);
                if !self.labels.is_empty() {
                    out.extend_from_slice(self.labels);
                    out.push(b'}');
                }
                self.value(out, value);
            }
        }
    }

    /// A line with one more label, after the series' own (its value needs no
    /// escaping: a number or `+Inf`).
    fn write_labelled(&self, out: &mut Vec<u8>, suffix: &[u8], extra: (&[u8], &[u8]), value: f64) {
        out.extend_from_slice(self.name);
        out.extend_from_slice(suffix);
        out.extend_from_slice(self.labels);
        out.push(if self.labels.is_empty() { b'{' } else { b',' });
        out.extend_from_slice(extra.0);
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(extra.1);
        out.extend_from_slice(b"\"}");
        self.value(out, value);
    }

    fn value(&self, out: &mut Vec<u8>, value: f64) {
        out.push(b' ');
        number(out, value);
        if self.timestamp != 0 {
            out.push(b' ');
            integer(out, self.timestamp);
        }
        out.push(b'\n');
    }
}

/// The text of each bucket bound, by position, formatted when it differs from the
/// previous series' (the series of one family share their bounds).
#[derive(Default)]
struct Bounds {
    bits: Vec<u64>,
    text: Vec<Vec<u8>>,
}

impl Bounds {
    fn text(&mut self, i: usize, bound: f64) -> &[u8] {
        if self.bits.len() <= i {
            self.bits.resize(i + 1, 0);
            self.text.resize(i + 1, Vec::new());
        }
        if self.bits[i] != bound.to_bits() || self.text[i].is_empty() {
            self.bits[i] = bound.to_bits();
            self.text[i].clear();
            let _ = write!(self.text[i], "{bound}");
        }
        &self.text[i]
    }
}

/// The largest magnitude below which every whole `f64` is its own shortest
/// round-trip text, so `Display` writes it as the integer.
const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

/// `value` as `f64`'s `Display` writes it (`NaN`, `inf`, `-inf`, `-0`, no exponent).
fn number(out: &mut Vec<u8>, value: f64) {
    if value.fract() == 0.0 && value.abs() < EXACT && !(value == 0.0 && value.is_sign_negative()) {
        // Whole and exact: the conversion neither rounds nor saturates.
        #[allow(clippy::cast_possible_truncation)]
        integer(out, value as i64);
    } else {
        let _ = write!(out, "{value}");
    }
}

/// A signed integer in decimal.
fn integer(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    let mut n = value.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// `text` with `\` and line feeds escaped, and `"` when `quote` (label values; help
/// texts keep their quotes), as the crate's encoder does.
fn escape(out: &mut Vec<u8>, text: &str, quote: bool) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quote => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::core::Collector as _;
    use prometheus::Encoder as _;

    fn crate_encoder(families: &[MetricFamily]) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(families, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn ours(families: &[MetricFamily]) -> String {
        let mut out = Vec::new();
        encode(families, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Every kind of family, awkward label values and help texts, and values that
    /// take each branch of `number`.
    fn registry() -> prometheus::Registry {
        let registry = prometheus::Registry::new();
        let counter = prometheus::CounterVec::new(
            prometheus::Opts::new("jobs_total", "Jobs \"run\" \\ here.\nSecond line."),
            &["queue", "kind"],
        )
        .unwrap();
        counter.with_label_values(&["a\\b\"c", "x\ny"]).inc_by(3.0);
        counter.with_label_values(&["plain", "é ü 🦀"]).inc_by(0.1);
        counter.with_label_values(&["big", "2^53"]).inc_by(EXACT);
        counter
            .with_label_values(&["bigger", "2^60"])
            .inc_by(2f64.powi(60));
        counter.with_label_values(&["huge", "1e300"]).inc_by(1e300);
        registry.register(Box::new(counter)).unwrap();
        let gauge = prometheus::GaugeVec::new(
            prometheus::Opts::new("temperature", "Temperature."),
            &["at"],
        )
        .unwrap();
        for (at, value) in [
            ("neg-inf", f64::NEG_INFINITY),
            ("inf", f64::INFINITY),
            ("nan", f64::NAN),
            ("neg-zero", -0.0),
            ("zero", 0.0),
            ("neg", -42.0),
            ("small", 1e-7),
            ("frac", -2.5),
            ("below", EXACT - 1.0),
            ("neg-big", -EXACT),
        ] {
            gauge.with_label_values(&[at]).set(value);
        }
        registry.register(Box::new(gauge)).unwrap();
        let plain = prometheus::IntGauge::new("up", "Up.").unwrap();
        plain.set(1);
        registry.register(Box::new(plain)).unwrap();
        let histogram = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new("latency_seconds", "Latency.")
                .buckets(vec![0.005, 0.01, 0.1, 1.0, 2.5, 10.0]),
            &["route"],
        )
        .unwrap();
        for (i, route) in ["/a", "/b\\", "/c\"d"].iter().enumerate() {
            for v in [0.001, 0.02, 0.3, 3.0, 30.0] {
                histogram
                    .with_label_values(&[route])
                    .observe(v * (i + 1) as f64);
            }
        }
        registry.register(Box::new(histogram)).unwrap();
        let sizes = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new("size_bytes", "Sizes.")
                .buckets(prometheus::exponential_buckets(64.0, 4.0, 10).unwrap()),
        )
        .unwrap();
        sizes.observe(100.0);
        sizes.observe(1e9);
        registry.register(Box::new(sizes)).unwrap();
        registry
    }

    #[test]
    fn the_same_bytes_as_the_crate_encoder() {
        let families = registry().gather();
        let expected = crate_encoder(&families);
        assert_eq!(ours(&families), expected);
        // Each branch of `number` was taken.
        for line in [
            "temperature{at=\"neg-inf\"} -inf",
            "temperature{at=\"nan\"} NaN",
            "temperature{at=\"neg-zero\"} -0",
            "temperature{at=\"small\"} 0.0000001",
            "temperature{at=\"below\"} 9007199254740991",
            "jobs_total{kind=\"2^60\",queue=\"bigger\"} 1152921504606847000",
            "jobs_total{kind=\"x\\ny\",queue=\"a\\\\b\\\"c\"} 3",
            "latency_seconds_bucket{route=\"/c\\\"d\",le=\"+Inf\"} 5",
            "size_bytes_bucket{le=\"16777216\"} 1",
        ] {
            assert!(expected.contains(line), "{line} in\n{expected}");
        }
    }

    #[test]
    fn summaries_and_timestamps_as_the_crate_writes_them() {
        use prometheus::proto::{LabelPair, Quantile, Summary};
        let mut quantile = Quantile::default();
        quantile.set_quantile(0.99);
        quantile.set_value(0.25);
        let mut summary = Summary::default();
        summary.set_sample_count(7);
        summary.set_sample_sum(1.75);
        summary.set_quantile(vec![quantile]);
        let mut label = LabelPair::default();
        label.set_name("job".to_owned());
        label.set_value("x\"y".to_owned());
        let mut metric = Metric::default();
        metric.set_summary(summary);
        metric.set_timestamp_ms(-1_700_000_000_123);
        metric.set_label(vec![label]);
        let mut family = MetricFamily::default();
        family.set_name("rpc_seconds".to_owned());
        family.set_field_type(MetricType::SUMMARY);
        family.mut_metric().push(metric.clone());
        metric.set_label(Vec::new());
        family.mut_metric().push(metric);
        let families = [family];
        assert_eq!(ours(&families), crate_encoder(&families));
    }

    #[test]
    fn a_family_without_metrics_or_name_is_refused() {
        let empty = prometheus::IntCounterVec::new(prometheus::Opts::new("n", "h"), &["l"])
            .unwrap()
            .collect();
        assert!(encode(&empty, &mut Vec::new()).is_err());
        let mut nameless = registry().gather();
        nameless[0].clear_name();
        assert!(encode(&nameless, &mut Vec::new()).is_err());
    }
}
