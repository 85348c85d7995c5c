//! The request histograms' counts, kept where a scrape can read them directly.
//!
//! Written by hand because the `prometheus` crate hands a histogram's buckets out
//! only as protobuf copies (`Histogram::proto`, through `Registry::gather`): on a
//! registry of 900 request series of three histograms, gathering them was 12.6 M of a
//! scrape's 28.9 M instructions, and freeing the copies another 4.3 M (callgrind,
//! `benches/scrape.rs`). The `/metrics` text answer reads these counts instead; the
//! families still reach the registry's `gather` (OTLP export, OpenMetrics, the
//! service's own uses) through [`RedMetrics`](super::RedMetrics)' collector.

use std::sync::atomic::{AtomicU64, Ordering};

/// One histogram series: a count per bucket, the last one above every bound
/// (`+Inf`), and the sum of the observed values.
///
/// The total is the sum of the buckets, so a reader always sees cumulative counts
/// that end at the total, even while requests are recorded; the sum is read apart
/// and may lag the counts by the observations under way at that instant (the
/// `prometheus` crate avoids that with two shards and a lock per collect, paying
/// for it on every scrape).
pub(crate) struct Counts {
    buckets: Box<[AtomicU64]>,
    /// The sum's `f64` bits.
    sum: AtomicU64,
}

impl Counts {
    /// Counts for `bounds` finite, increasing bucket bounds (and `+Inf`).
    pub(crate) fn new(bounds: usize) -> Self {
        Self {
            buckets: (0..=bounds).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Records `value` in the first bucket whose bound is at least `value` (`+Inf`
    /// when none is, or the value is not a number), as the `prometheus` crate does.
    #[inline]
    pub(crate) fn observe(&self, bounds: &[f64], value: f64) {
        let i = bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(bounds.len());
        if let Some(bucket) = self.buckets.get(i) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        // One writer at a time wins each step; losers retry with the new sum.
        let mut current = self.sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + value).to_bits();
            match self.sum.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
    }

    /// The cumulative count of each bucket into `cumulative` (one per bucket, `+Inf`
    /// last: its value is the total), and the sum.
    pub(crate) fn read(&self, cumulative: &mut Vec<u64>) -> f64 {
        cumulative.clear();
        let mut total = 0u64;
        for bucket in self.buckets.iter() {
            total += bucket.load(Ordering::Relaxed);
            cumulative.push(total);
        }
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    /// The series as the `prometheus` crate's protobuf (finite buckets only, as the
    /// crate's own histograms give them).
    pub(crate) fn proto(
        &self,
        bounds: &[f64],
        cumulative: &mut Vec<u64>,
    ) -> prometheus::proto::Histogram {
        let sum = self.read(cumulative);
        let mut histogram = prometheus::proto::Histogram::default();
        histogram.set_sample_count(cumulative.last().copied().unwrap_or(0));
        histogram.set_sample_sum(sum);
        let buckets = bounds
            .iter()
            .zip(cumulative.iter())
            .map(|(bound, count)| {
                let mut bucket = prometheus::proto::Bucket::default();
                bucket.set_upper_bound(*bound);
                bucket.set_cumulative_count(*count);
                bucket
            })
            .collect();
        histogram.set_bucket(buckets);
        histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_at_or_above_them() {
        let bounds = [0.1, 0.5, 1.0];
        let counts = Counts::new(bounds.len());
        for value in [0.05, 0.1, 0.3, 1.0, 2.0, f64::NAN] {
            counts.observe(&bounds, value);
        }
        let mut cumulative = Vec::new();
        let sum = counts.read(&mut cumulative);
        assert_eq!(cumulative, [2, 3, 4, 6]);
        assert!(sum.is_nan());
        let counts = Counts::new(bounds.len());
        counts.observe(&bounds, 0.25);
        counts.observe(&bounds, 0.5);
        assert_eq!(counts.read(&mut cumulative), 0.75);
        assert_eq!(cumulative, [0, 2, 2, 2]);
    }

    #[test]
    fn the_same_protobuf_as_the_crates_histogram() {
        let bounds = vec![0.005, 0.01, 0.25, 1.0, 10.0];
        let theirs = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new("h", "h").buckets(bounds.clone()),
        )
        .unwrap();
        let ours = Counts::new(bounds.len());
        for value in [0.001, 0.005, 0.007, 0.3, 0.3, 4.0, 11.0, 250.0] {
            theirs.observe(value);
            ours.observe(&bounds, value);
        }
        let mut cumulative = Vec::new();
        use prometheus::core::Metric as _;
        assert_eq!(
            &ours.proto(&bounds, &mut cumulative),
            theirs.metric().get_histogram()
        );
    }

    #[test]
    fn concurrent_observations_are_all_counted() {
        let bounds = [0.5];
        let counts = std::sync::Arc::new(Counts::new(1));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counts = std::sync::Arc::clone(&counts);
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        counts.observe(&bounds, f64::from(i % 2));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut cumulative = Vec::new();
        assert_eq!(counts.read(&mut cumulative), 20_000.0);
        assert_eq!(cumulative, [20_000, 40_000]);
    }
}
