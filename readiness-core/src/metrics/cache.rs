//! Cache hits and misses by cache name, for hit-rate alerts.

use prometheus::{IntCounter, IntCounterVec};

use super::names::{CACHE, CACHE_REQUESTS, RESULT};

/// Counts lookups of one cache as `cache_requests_total{cache, result}`; get it from
/// [`Readiness::cache`](crate::Readiness::cache). Cheap to clone; keep it beside the
/// cache rather than asking for it per lookup.
///
/// ```
/// use readiness_core::Readiness;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = Readiness::builder().build()?;
/// let users = readiness.cache("users");
/// users.hit();
/// users.miss();
/// users.record(true);
/// let text = String::from_utf8(readiness.metrics_response().body().to_vec())?;
/// assert!(text.contains(r#"cache_requests_total{cache="users",result="hit"} 2"#));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct CacheMetrics {
    hits: IntCounter,
    misses: IntCounter,
}

impl CacheMetrics {
    /// Counts a hit.
    pub fn hit(&self) {
        self.hits.inc();
    }

    /// Counts a miss.
    pub fn miss(&self) {
        self.misses.inc();
    }

    /// Counts a hit when `hit` is true, else a miss.
    pub fn record(&self, hit: bool) {
        if hit {
            self.hit();
        } else {
            self.miss();
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct CacheFamily(IntCounterVec);

impl CacheFamily {
    pub(crate) fn register(
        registry: &super::registrar::Registrar<'_>,
        namespace: Option<&str>,
    ) -> prometheus::Result<Self> {
        let opts = super::opts(
            namespace,
            CACHE_REQUESTS,
            "Cache lookups by cache and result (hit, miss).",
        );
        let family = IntCounterVec::new(opts, &[CACHE, RESULT])?;
        registry.register(&family)?;
        Ok(Self(family))
    }

    pub(crate) fn cache(&self, name: &str) -> CacheMetrics {
        CacheMetrics {
            hits: self.0.with_label_values(&[name, "hit"]),
            misses: self.0.with_label_values(&[name, "miss"]),
        }
    }
}
