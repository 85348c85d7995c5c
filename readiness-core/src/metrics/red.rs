//! The RED recorder: rate, errors and duration per method, route and status.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{IntGauge, IntGaugeVec};

use super::exemplar::{SeriesExemplars, Slots};
use super::histogram::Counts;
use super::names::*;

/// The methods kept as label values; any other becomes `_OTHER`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The `http_server_*` families: one record per finished request. Cheap to clone.
///
/// Requests reach it through an [`Observation`](crate::observe::Observation) (the
/// adapters' middleware, or an adapter of your own); this type only answers what is
/// in flight.
#[derive(Clone)]
pub struct RedMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    /// The three histogram families (duration, request size, response size), in
    /// that order: their names, help texts and bucket bounds.
    families: [Family; 3],
    /// Set once a registry renamed or relabelled the families (a prefix or common
    /// labels of `Registry::new_custom`): `/metrics` then gathers them as protobufs.
    gather_only: AtomicBool,
    /// Resolved once per method: the in-flight gauge is touched twice per request.
    active: Vec<IntGauge>,
    /// The distinct routes seen, each with the series it has recorded so far. Keyed
    /// by templates (never raw paths), so a fast hash needs no flood resistance.
    routes: RwLock<Routes>,
    unmatched: Arc<RouteEntry>,
    other: Arc<RouteEntry>,
    max_routes: usize,
    /// Route templates never recorded (probes and `/metrics` by default); before
    /// routing, paths.
    excluded: HashSet<Box<str>, FastHash>,
    /// `url.scheme` as the builder set it (see [`url_scheme`](RedMetrics::url_scheme)).
    url_scheme: Option<&'static str>,
}

/// The routes seen: the templates counted against the cap, and the excluded ones
/// (known by their entry, so a request looks its route up once).
#[derive(Default)]
struct Routes {
    map: HashMap<Arc<str>, Arc<RouteEntry>, FastHash>,
    counted: usize,
}

/// foldhash: a few instructions per short key where std's SipHash takes a hundred.
type FastHash = foldhash::fast::RandomState;

pub(crate) struct RedSettings {
    pub(crate) namespace: Option<String>,
    pub(crate) buckets: Vec<f64>,
    pub(crate) max_routes: usize,
    pub(crate) excluded: Vec<String>,
    /// `http` or `https` when the builder was told (field `url_scheme`).
    pub(crate) url_scheme: Option<String>,
}

/// `url.scheme` from a setting: `http` or `https`, any case.
pub(crate) fn url_scheme(value: &str) -> Result<&'static str, crate::BuildError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "http" => Ok("http"),
        "https" => Ok("https"),
        _ => Err(crate::BuildError::new(
            "url_scheme",
            format!("must be `http` or `https`, got {value:?}"),
        )),
    }
}

impl RedSettings {
    /// Checks the settings (fields `metrics_namespace`, `duration_buckets`,
    /// `max_routes`).
    pub(crate) fn validate(&self) -> Result<(), crate::BuildError> {
        use crate::BuildError;
        if let Some(namespace) = &self.namespace {
            super::validate_namespace(namespace)?;
        }
        let buckets = &self.buckets;
        if buckets.is_empty()
            || buckets.iter().any(|b| !b.is_finite() || *b <= 0.0)
            || buckets.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(BuildError::new(
                "duration_buckets",
                "must be positive, finite and strictly increasing, and not empty",
            ));
        }
        if !(1..=10_000).contains(&self.max_routes) {
            return Err(BuildError::new(
                "max_routes",
                format!("must be between 1 and 10000, got {}", self.max_routes),
            ));
        }
        if let Some(scheme) = &self.url_scheme {
            url_scheme(scheme)?;
        }
        Ok(())
    }
}

impl RedMetrics {
    pub(crate) fn register(
        registry: &super::registrar::Registrar<'_>,
        settings: &RedSettings,
    ) -> prometheus::Result<Self> {
        let opts = |name: &str, help: &str| super::opts(settings.namespace.as_deref(), name, help);
        let labels = [HTTP_REQUEST_METHOD, HTTP_ROUTE, HTTP_RESPONSE_STATUS_CODE];
        let size_buckets = prometheus::exponential_buckets(64.0, 4.0, 10)?;
        let family = |name: &str, help: &str, bounds: &[f64]| {
            Family::new(&opts(name, help), &labels, bounds)
        };
        let families = [
            family(
                HTTP_SERVER_REQUEST_DURATION,
                "Duration of HTTP server requests.",
                &settings.buckets,
            )?,
            family(
                HTTP_SERVER_REQUEST_BODY_SIZE,
                "Size of HTTP server request bodies.",
                &size_buckets,
            )?,
            family(
                HTTP_SERVER_RESPONSE_BODY_SIZE,
                "Size of HTTP server response bodies.",
                &size_buckets,
            )?,
        ];
        let active_vec = IntGaugeVec::new(
            opts(
                HTTP_SERVER_ACTIVE_REQUESTS,
                "Number of HTTP server requests in flight.",
            ),
            &[HTTP_REQUEST_METHOD],
        )?;
        let active = METHODS
            .iter()
            .chain(std::iter::once(&OTHER))
            .map(|method| active_vec.with_label_values(&[*method]))
            .collect();
        let red = Self {
            inner: Arc::new(Inner {
                families,
                gather_only: AtomicBool::new(false),
                active,
                routes: RwLock::new(Routes::default()),
                unmatched: Arc::new(RouteEntry::new(UNMATCHED_ROUTE, false)),
                other: Arc::new(RouteEntry::new(OTHER, false)),
                max_routes: settings.max_routes,
                excluded: settings
                    .excluded
                    .iter()
                    .map(|route| route.as_str().into())
                    .collect(),
                url_scheme: settings
                    .url_scheme
                    .as_deref()
                    .and_then(|scheme| url_scheme(scheme).ok()),
            }),
        };
        registry.register(&RedFamilies(Arc::clone(&red.inner)))?;
        registry.register(&active_vec)?;
        Ok(red)
    }

    /// `url.scheme` of the requests, when the builder was told
    /// ([`ReadinessBuilder::url_scheme`](crate::ReadinessBuilder::url_scheme)): an
    /// attribute of the server span and of the OTLP `http.server.*` points, never a
    /// label of the Prometheus families.
    pub(crate) fn url_scheme(&self) -> Option<&'static str> {
        self.inner.url_scheme
    }

    /// Requests in flight right now (excluded routes are not counted): what a
    /// graceful shutdown waits for.
    ///
    /// ```
    /// use readiness_core::observe::RequestHead;
    ///
    /// let readiness = readiness_core::Readiness::builder().build().unwrap();
    /// let head = RequestHead::new("GET", "/orders/7", &()).with_route(Some("/orders/{id}"));
    /// let observation = readiness.observer().begin(&head);
    /// assert_eq!(readiness.red().in_flight(), 1);
    /// drop(observation);
    /// assert_eq!(readiness.red().in_flight(), 0);
    /// ```
    #[must_use]
    pub fn in_flight(&self) -> u64 {
        let total: i64 = self.inner.active.iter().map(IntGauge::get).sum();
        u64::try_from(total).unwrap_or(0)
    }

    /// The index of `method` among the kept methods; any other is `_OTHER`.
    #[inline]
    pub(crate) fn method_index(method: &str) -> u8 {
        // The nine standard methods and `_OTHER`: an index fits a byte.
        let index = METHODS
            .iter()
            .position(|m| *m == method)
            .unwrap_or(METHODS.len());
        index as u8
    }

    /// The label value of a method index.
    pub(crate) fn method_label(method: u8) -> &'static str {
        METHODS.get(usize::from(method)).copied().unwrap_or(OTHER)
    }

    /// One more request of `method` in flight.
    #[inline]
    pub(crate) fn enter(&self, method: u8) {
        self.inner.active[usize::from(method)].inc();
    }

    /// One request of `method` fewer in flight, recorded nowhere (an excluded route).
    pub(crate) fn leave(&self, method: u8) {
        self.inner.active[usize::from(method)].dec();
    }

    /// Records a finished request and takes it out of flight.
    #[inline]
    pub(crate) fn record(&self, method: u8, route: &Route, finished: &Finished) {
        let inner = &*self.inner;
        inner.active[usize::from(method)].dec();
        let series = route.0.series(inner, method, finished.status);
        let [duration, request_size, response_size] = &series.counts;
        let [duration_family, request_family, response_family] = &inner.families;
        duration.observe(&duration_family.bounds, finished.seconds);
        if let Some(ids) = finished.trace {
            series
                .exemplars
                .offer(&duration_family.bounds, ids, finished.seconds);
        }
        if let Some(size) = finished.request_size {
            request_size.observe(&request_family.bounds, size as f64);
        }
        if let Some(size) = finished.response_size {
            response_size.observe(&response_family.bounds, size as f64);
        }
    }

    /// The latest exemplar of each bucket of `http_server_request_duration_seconds`,
    /// per series: a request that ended inside a sampled server span leaves its trace
    /// and span ids on the bucket it fell in (the latest one wins). `/metrics` writes
    /// them in the OpenMetrics format; an OTLP metrics exporter reads them here.
    ///
    /// ```
    /// use readiness_core::observe::{End, RequestHead};
    ///
    /// let readiness = readiness_core::Readiness::builder().build().unwrap();
    /// let head = RequestHead::new("GET", "/orders/7", &()).with_route(Some("/orders/{id}"));
    /// if let Some(mut observation) = readiness.observer().begin(&head) {
    ///     observation.responded(200);
    ///     observation.end(End::Completed);
    /// }
    /// // No OpenTelemetry layer traced the request: no exemplar.
    /// assert!(readiness.red().duration_exemplars().is_empty());
    /// ```
    #[must_use]
    pub fn duration_exemplars(&self) -> Vec<SeriesExemplars> {
        let bounds = &self.inner.families[0].bounds;
        Self::all_series(&self.inner)
            .into_iter()
            .filter_map(|one| {
                let buckets = one.series.exemplars.read(bounds);
                (!buckets.is_empty()).then(|| SeriesExemplars {
                    method: Self::method_label(one.method),
                    route: one.entry.name.to_string(),
                    status: one.status,
                    buckets,
                })
            })
            .collect()
    }

    /// The name of the request-duration family, with the namespace if any.
    pub(crate) fn duration_name(&self) -> &str {
        &self.inner.families[0].name
    }

    /// Whether `route` (a template, or before routing a path) is excluded.
    pub(crate) fn excludes(&self, route: &str) -> bool {
        self.inner.excluded.contains(route)
    }

    /// The route's entry: the template while the set of distinct routes is under
    /// the cap, `_OTHER` beyond it, `_UNMATCHED` when no route matched; an excluded
    /// template has an entry of its own that says so ([`Route::excluded`]).
    pub(crate) fn route(&self, route: Option<&str>) -> Route {
        let Some(route) = route else {
            return Route(Arc::clone(&self.inner.unmatched));
        };
        let routes = &self.inner.routes;
        if let Some(entry) = routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .get(route)
        {
            return Route(Arc::clone(entry));
        }
        let mut routes = routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = routes.map.get(route) {
            return Route(Arc::clone(entry));
        }
        let excluded = self.excludes(route);
        if !excluded && routes.counted >= self.inner.max_routes {
            return Route(Arc::clone(&self.inner.other));
        }
        let entry = Arc::new(RouteEntry::new(route, excluded));
        routes.map.insert(route.into(), Arc::clone(&entry));
        routes.counted += usize::from(!excluded);
        Route(entry)
    }
}

/// What a finished request is recorded with.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) status: u16,
    pub(crate) seconds: f64,
    pub(crate) request_size: Option<u64>,
    pub(crate) response_size: Option<u64>,
    /// The trace and span ids of a request its server span sampled: its exemplar.
    pub(crate) trace: Option<([u8; 16], [u8; 8])>,
}

/// A resolved route label: the template, `_UNMATCHED` or `_OTHER`.
#[derive(Clone)]
pub(crate) struct Route(Arc<RouteEntry>);

impl Route {
    pub(crate) fn label(&self) -> &str {
        &self.0.name
    }

    /// An excluded route: its requests are not recorded.
    pub(crate) fn excluded(&self) -> bool {
        self.0.excluded
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A route and the series recorded under it, resolved once per method and status
/// so a request does not hash its label values again.
struct RouteEntry {
    name: Box<str>,
    excluded: bool,
    series: RwLock<Vec<(u16, u16, Arc<Series>)>>,
}

struct Series {
    /// Duration, request size and response size, as [`Inner::families`].
    counts: [Counts; 3],
    /// The status code as its label value, for scrapes.
    status: Box<str>,
    exemplars: Slots,
}

impl RouteEntry {
    fn new(name: &str, excluded: bool) -> Self {
        Self {
            name: name.into(),
            excluded,
            series: RwLock::new(Vec::new()),
        }
    }

    #[inline]
    fn series(&self, inner: &Inner, method: u8, status: u16) -> Arc<Series> {
        let method_key = u16::from(method);
        let find = |list: &[(u16, u16, Arc<Series>)]| {
            list.iter()
                .find(|(m, s, _)| *m == method_key && *s == status)
                .map(|(_, _, series)| Arc::clone(series))
        };
        if let Some(series) = find(&self.series.read().unwrap_or_else(|e| e.into_inner())) {
            return series;
        }
        let mut list = self.series.write().unwrap_or_else(|e| e.into_inner());
        if let Some(series) = find(&list) {
            return series;
        }
        let series = Arc::new(Series {
            status: format_status(&mut [0u8; 3], status).into(),
            counts: inner
                .families
                .each_ref()
                .map(|family| Counts::new(family.bounds.len())),
            exemplars: Slots::new(&inner.families[0].bounds),
        });
        list.push((method_key, status, Arc::clone(&series)));
        series
    }
}

/// One of the request histogram families: what its collector describes to the
/// registry, and its bucket bounds.
struct Family {
    name: String,
    help: String,
    bounds: Box<[f64]>,
    desc: Desc,
}

impl Family {
    fn new(
        opts: &prometheus::Opts,
        labels: &[&str; 3],
        bounds: &[f64],
    ) -> prometheus::Result<Self> {
        let name = opts.fq_name();
        let desc = Desc::new(
            name.clone(),
            opts.help.clone(),
            labels.iter().map(|label| (*label).to_owned()).collect(),
            HashMap::new(),
        )?;
        Ok(Self {
            name,
            help: opts.help.clone(),
            bounds: bounds.into(),
            desc,
        })
    }

    fn proto(&self) -> MetricFamily {
        let mut family = MetricFamily::default();
        family.set_name(self.name.clone());
        family.set_help(self.help.clone());
        family.set_field_type(MetricType::HISTOGRAM);
        family
    }
}

/// A recorded series and its labels, in the order `gather` sorts series.
pub(crate) struct SeriesRef {
    entry: Arc<RouteEntry>,
    method: u8,
    status: u16,
    series: Arc<Series>,
}

impl SeriesRef {
    /// The label pairs, sorted by name as the registry writes them.
    fn labels(&self) -> [(&'static str, &str); 3] {
        let mut labels = [
            (HTTP_REQUEST_METHOD, RedMetrics::method_label(self.method)),
            (HTTP_ROUTE, &*self.entry.name),
            (HTTP_RESPONSE_STATUS_CODE, &*self.series.status),
        ];
        labels.sort_unstable_by_key(|(name, _)| *name);
        labels
    }
}

thread_local! {
    /// Set while `/metrics` gathers the registry for the text format: the request
    /// histograms then hand the registry a stand-in each (one empty series), which
    /// marks where they go, and the answer writes them from their counts.
    static STAND_IN: Cell<bool> = const { Cell::new(false) };
}

/// The request histograms as a collector on the service's registry.
#[derive(Clone)]
struct RedFamilies(Arc<Inner>);

impl Collector for RedFamilies {
    fn desc(&self) -> Vec<&Desc> {
        self.0.families.iter().map(|family| &family.desc).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let inner = &*self.0;
        if STAND_IN.get() {
            return inner
                .families
                .iter()
                .map(|family| {
                    let mut proto = family.proto();
                    proto.set_metric(vec![Metric::default()]);
                    proto
                })
                .collect();
        }
        // Unsorted: the registry's `gather` sorts every family's series.
        let series = RedMetrics::all_series(inner);
        let mut cumulative = Vec::new();
        inner
            .families
            .iter()
            .enumerate()
            .map(|(i, family)| {
                let mut proto = family.proto();
                let metrics = series
                    .iter()
                    .map(|one| {
                        let labels = one
                            .labels()
                            .iter()
                            .map(|(name, value)| {
                                let mut pair = LabelPair::default();
                                pair.set_name((*name).to_owned());
                                pair.set_value((*value).to_owned());
                                pair
                            })
                            .collect();
                        let mut metric = Metric::from_label(labels);
                        metric.set_histogram(
                            one.series.counts[i].proto(&family.bounds, &mut cumulative),
                        );
                        metric
                    })
                    .collect();
                proto.set_metric(metrics);
                proto
            })
            .collect()
    }
}

impl RedMetrics {
    /// Every recorded series, in no particular order.
    fn all_series(inner: &Inner) -> Vec<SeriesRef> {
        let mut all = Vec::new();
        let routes = inner.routes.read().unwrap_or_else(|e| e.into_inner());
        for entry in routes.map.values().chain([&inner.unmatched, &inner.other]) {
            let series = entry.series.read().unwrap_or_else(|e| e.into_inner());
            for (method, status, one) in series.iter() {
                all.push(SeriesRef {
                    entry: Arc::clone(entry),
                    method: u8::try_from(*method).unwrap_or(u8::MAX),
                    status: *status,
                    series: Arc::clone(one),
                });
            }
        }
        all
    }

    /// Every recorded series, sorted by its label values as `Registry::gather`
    /// sorts them (by route, then method, then status: the labels in name order).
    fn sorted(inner: &Inner) -> Vec<SeriesRef> {
        let mut all = Self::all_series(inner);
        all.sort_by(|a, b| {
            let a = a.labels().map(|(_, value)| value);
            let b = b.labels().map(|(_, value)| value);
            a.cmp(&b)
        });
        all
    }

    /// `registry` gathered with the request histograms as stand-ins (one empty
    /// series each, where the family goes), and the series to write in their
    /// place, sorted; `None` when the registry renames or relabels what it
    /// gathers (then gather it as a whole).
    pub(crate) fn gather_standing_in(
        &self,
        registry: &prometheus::Registry,
    ) -> Option<(Vec<MetricFamily>, Vec<SeriesRef>)> {
        let inner = &*self.inner;
        if inner.gather_only.load(Ordering::Relaxed) {
            return None;
        }
        /// Ends the stand-in however the gathering ends (a user's collector may panic).
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                STAND_IN.set(false);
            }
        }
        let reset = Reset;
        STAND_IN.set(true);
        let families = registry.gather();
        drop(reset);
        let stood_in = inner.families.iter().all(|family| {
            families
                .iter()
                .find(|gathered| gathered.name() == family.name)
                .is_some_and(|gathered| {
                    let metrics = gathered.get_metric();
                    metrics.len() == 1 && metrics[0].get_label().is_empty()
                })
        });
        if !stood_in {
            inner.gather_only.store(true, Ordering::Relaxed);
            return None;
        }
        Some((families, Self::sorted(inner)))
    }

    /// Calls `write` with each series of the request histogram family `name` (its
    /// labels sorted by name, its bucket bounds, cumulative counts ending with
    /// `+Inf`'s, and sum), in `series`' order; false if `name` is not one of them.
    pub(crate) fn each_series(
        &self,
        name: &str,
        series: &[SeriesRef],
        mut write: impl FnMut(&[(&str, &str)], &[f64], &[u64], f64),
    ) -> bool {
        let Some(i) = self
            .inner
            .families
            .iter()
            .position(|family| family.name == name)
        else {
            return false;
        };
        let bounds = &self.inner.families[i].bounds;
        let mut cumulative = Vec::with_capacity(bounds.len() + 1);
        for one in series {
            let sum = one.series.counts[i].read(&mut cumulative);
            write(&one.labels(), bounds, &cumulative, sum);
        }
        true
    }
}

/// A status code as text without allocating (100 to 999; anything else reads `0`).
fn format_status(buffer: &mut [u8; 3], status: u16) -> &str {
    if !(100..=999).contains(&status) {
        return "0";
    }
    buffer[0] = b'0' + (status / 100) as u8;
    buffer[1] = b'0' + (status / 10 % 10) as u8;
    buffer[2] = b'0' + (status % 10) as u8;
    std::str::from_utf8(buffer).unwrap_or("0")
}

impl fmt::Debug for RedMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedMetrics")
            .field("max_routes", &self.inner.max_routes)
            .field("url_scheme", &self.inner.url_scheme)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}
