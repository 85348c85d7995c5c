//! Exemplars of the request-duration histogram: the latest sampled request per
//! bucket, kept as raw ids and hexed only when read (a scrape, an OTLP export).

use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

/// A sampled request that landed in a bucket of `http_server_request_duration_seconds`:
/// its trace and span ids, its duration and when it ended. It leads from a slow bucket
/// to the trace that explains it.
///
/// Read them with [`RedMetrics::duration_exemplars`](crate::metrics::RedMetrics::duration_exemplars);
/// `/metrics` writes them in the OpenMetrics format.
#[derive(Clone, Copy, PartialEq)]
pub struct Exemplar {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    value: f64,
    time: SystemTime,
}

impl Exemplar {
    /// The request's trace id, as raw bytes (OTLP's form).
    #[must_use]
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The request's server span id, as raw bytes (OTLP's form).
    #[must_use]
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// The trace id as 32 lower-case hex digits (W3C's and OpenMetrics' form).
    #[must_use]
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The span id as 16 lower-case hex digits.
    #[must_use]
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }

    /// The request's duration in seconds.
    #[must_use]
    pub fn value(&self) -> f64 {
        self.value
    }

    /// When the request ended.
    #[must_use]
    pub fn time(&self) -> SystemTime {
        self.time
    }
}

impl fmt::Debug for Exemplar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exemplar")
            .field("trace_id", &self.trace_id_hex())
            .field("span_id", &self.span_id_hex())
            .field("value", &self.value)
            .field("time", &self.time)
            .finish()
    }
}

/// The exemplars of one request-duration series (one method, route and status).
/// See [`RedMetrics::duration_exemplars`](crate::metrics::RedMetrics::duration_exemplars).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SeriesExemplars {
    /// `http_request_method`.
    pub method: &'static str,
    /// `http_route`.
    pub route: String,
    /// `http_response_status_code`.
    pub status: u16,
    /// Each bucket that holds an exemplar, by its upper bound (`le`; the last bucket's
    /// is `f64::INFINITY`), in increasing order.
    pub buckets: Vec<(f64, Exemplar)>,
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

/// One slot per bucket (and one for `+Inf`): the latest exemplar, behind a lock
/// taken only for a sampled request.
pub(crate) struct Slots(Box<[Mutex<Option<Exemplar>>]>);

impl Slots {
    /// Slots for `bounds` (the finite upper bounds) and `+Inf`.
    pub(crate) fn new(bounds: &[f64]) -> Self {
        Self((0..=bounds.len()).map(|_| Mutex::new(None)).collect())
    }

    /// Keeps the request with `ids` and duration `value` as its bucket's exemplar:
    /// the smallest bucket whose bound is at least `value`, as Prometheus counts.
    #[inline]
    pub(crate) fn offer(&self, bounds: &[f64], ids: ([u8; 16], [u8; 8]), value: f64) {
        let index = bounds.partition_point(|bound| *bound < value);
        let exemplar = Exemplar {
            trace_id: ids.0,
            span_id: ids.1,
            value,
            time: SystemTime::now(),
        };
        if let Some(slot) = self.0.get(index) {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(exemplar);
        }
    }

    /// The exemplars held, by bucket upper bound.
    pub(crate) fn read(&self, bounds: &[f64]) -> Vec<(f64, Exemplar)> {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                let exemplar = (*slot.lock().unwrap_or_else(|e| e.into_inner()))?;
                Some((bounds.get(i).copied().unwrap_or(f64::INFINITY), exemplar))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_lands_in_the_smallest_bucket_that_counts_it() {
        let bounds = [0.1, 0.5, 1.0];
        let slots = Slots::new(&bounds);
        slots.offer(&bounds, ([1; 16], [2; 8]), 0.1);
        slots.offer(&bounds, ([3; 16], [4; 8]), 0.7);
        slots.offer(&bounds, ([5; 16], [6; 8]), 9.0);
        let read = slots.read(&bounds);
        let bounds_read: Vec<f64> = read.iter().map(|(b, _)| *b).collect();
        assert_eq!(bounds_read, [0.1, 1.0, f64::INFINITY]);
        assert_eq!(read[1].1.trace_id_hex(), "03".repeat(16));
        assert_eq!(read[1].1.span_id_hex(), "04".repeat(8));
        assert!((read[1].1.value() - 0.7).abs() < f64::EPSILON);
        // The latest wins.
        slots.offer(&bounds, ([7; 16], [8; 8]), 0.05);
        assert_eq!(slots.read(&bounds)[0].1.trace_id(), [7; 16]);
    }
}
