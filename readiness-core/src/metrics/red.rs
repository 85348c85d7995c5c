//! The RED recorder: rate, errors and duration per method, route and status.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntGauge, IntGaugeVec};

use super::names::*;
use crate::request_id::RequestId;

/// The methods kept as label values; any other becomes `_OTHER`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Records requests into the `http_server_*` families. Cheap to clone.
///
/// Frameworks reach it through their adapter's middleware; other servers can call
/// [`start`](Self::start) and [`RequestRecord::finish`] themselves.
#[derive(Clone)]
pub struct RedMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    duration: HistogramVec,
    request_size: HistogramVec,
    response_size: HistogramVec,
    /// Resolved once per method: the in-flight gauge is touched twice per request.
    active: Vec<IntGauge>,
    /// The distinct routes seen, each with the series it has recorded so far. Keyed
    /// by templates (never raw paths), so a fast hash needs no flood resistance.
    routes: RwLock<HashMap<Arc<str>, Arc<RouteEntry>, FastHash>>,
    unmatched: Arc<RouteEntry>,
    other: Arc<RouteEntry>,
    max_routes: usize,
    excluded: HashSet<String, FastHash>,
    access_log: bool,
}

/// foldhash: a few instructions per short key where std's SipHash takes a hundred.
type FastHash = foldhash::fast::RandomState;

pub(crate) struct RedSettings {
    pub(crate) namespace: Option<String>,
    pub(crate) buckets: Vec<f64>,
    pub(crate) max_routes: usize,
    pub(crate) excluded: HashSet<String>,
    pub(crate) access_log: bool,
}

impl RedMetrics {
    pub(crate) fn register(
        registry: &super::registrar::Registrar<'_>,
        settings: RedSettings,
    ) -> prometheus::Result<Self> {
        let opts = |name: &str, help: &str| super::opts(settings.namespace.as_deref(), name, help);
        let labels = [HTTP_REQUEST_METHOD, HTTP_ROUTE, HTTP_RESPONSE_STATUS_CODE];
        let duration = HistogramVec::new(
            HistogramOpts::from(opts(
                HTTP_SERVER_REQUEST_DURATION,
                "Duration of HTTP server requests.",
            ))
            .buckets(settings.buckets.clone()),
            &labels,
        )?;
        let size_buckets = prometheus::exponential_buckets(64.0, 4.0, 10)?;
        let request_size = HistogramVec::new(
            HistogramOpts::from(opts(
                HTTP_SERVER_REQUEST_BODY_SIZE,
                "Size of HTTP server request bodies.",
            ))
            .buckets(size_buckets.clone()),
            &labels,
        )?;
        let response_size = HistogramVec::new(
            HistogramOpts::from(opts(
                HTTP_SERVER_RESPONSE_BODY_SIZE,
                "Size of HTTP server response bodies.",
            ))
            .buckets(size_buckets),
            &labels,
        )?;
        let active_vec = IntGaugeVec::new(
            opts(
                HTTP_SERVER_ACTIVE_REQUESTS,
                "Number of HTTP server requests in flight.",
            ),
            &[HTTP_REQUEST_METHOD],
        )?;
        registry.register(&duration)?;
        registry.register(&request_size)?;
        registry.register(&response_size)?;
        registry.register(&active_vec)?;
        let active = METHODS
            .iter()
            .chain(std::iter::once(&OTHER))
            .map(|method| active_vec.with_label_values(&[*method]))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                duration,
                request_size,
                response_size,
                active,
                routes: RwLock::new(HashMap::default()),
                unmatched: Arc::new(RouteEntry::new(UNMATCHED_ROUTE)),
                other: Arc::new(RouteEntry::new(OTHER)),
                max_routes: settings.max_routes,
                excluded: settings.excluded.into_iter().collect(),
                access_log: settings.access_log,
            }),
        })
    }

    /// Starts recording a request: `method` as sent, `route` the matched template
    /// (`None` when no route matched), `request_size` from `Content-Length`. `None`
    /// for an excluded route (probes and `/metrics` by default).
    ///
    /// The returned record counts the request in flight until it is finished or
    /// dropped; dropped before [`responded`](RequestRecord::responded) it is recorded
    /// as 499 (the client went away), or as 500 when dropped by a panic.
    #[must_use]
    pub fn start(
        &self,
        method: &str,
        route: Option<&str>,
        request_size: Option<u64>,
    ) -> Option<RequestRecord> {
        if route.is_some_and(|route| self.inner.excluded.contains(route)) {
            return None;
        }
        let mut record = self.start_unrouted(method, request_size);
        if route.is_some() {
            record.route = self.route_entry(route);
        }
        Some(record)
    }

    /// Whether the middleware gives each recorded request an id, a `request` span
    /// and an access line (see [`ReadinessBuilder::access_log`](crate::ReadinessBuilder::access_log)).
    #[must_use]
    pub fn access_log(&self) -> bool {
        self.inner.access_log
    }

    /// Requests in flight right now (excluded routes are not counted): what a
    /// graceful shutdown waits for.
    ///
    /// ```
    /// let readiness = readiness_core::Readiness::builder().build().unwrap();
    /// let red = readiness.red();
    /// let record = red.start("GET", Some("/orders/{id}"), None);
    /// assert_eq!(red.in_flight(), 1);
    /// drop(record);
    /// assert_eq!(red.in_flight(), 0);
    /// ```
    #[must_use]
    pub fn in_flight(&self) -> u64 {
        let total: i64 = self.inner.active.iter().map(IntGauge::get).sum();
        u64::try_from(total).unwrap_or(0)
    }

    /// Whether `route` is one of the excluded routes (probes and `/metrics` by
    /// default), which [`start`](Self::start) does not record.
    #[must_use]
    pub fn excludes(&self, route: &str) -> bool {
        self.inner.excluded.contains(route)
    }

    /// Starts recording a request whose route is not known yet, for servers that
    /// route after their middleware runs (actix-web's app-wide middleware): the
    /// request counts in flight at once, and [`RequestRecord::set_route`] names its
    /// route once routing is done. A request never given a route is recorded as
    /// `_UNMATCHED`; one whose route turns out excluded (a probe) is not recorded,
    /// though it counted in flight while it ran.
    ///
    /// ```
    /// use readiness_core::Readiness;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = Readiness::builder().build()?;
    /// let mut record = readiness.red().start_unrouted("GET", None);
    /// // ... the router matches `/orders/{id}` ...
    /// record.set_route(Some("/orders/{id}"));
    /// record.finish(200, Some(2));
    /// let text = String::from_utf8(readiness.metrics_response().body().to_vec())?;
    /// assert!(text.contains(r#"http_route="/orders/{id}""#));
    /// # Ok(()) }
    /// ```
    pub fn start_unrouted(&self, method: &str, request_size: Option<u64>) -> RequestRecord {
        let method = METHODS
            .iter()
            .position(|m| *m == method)
            .unwrap_or(METHODS.len());
        self.inner.active[method].inc();
        RequestRecord {
            metrics: self.clone(),
            method,
            route: Arc::clone(&self.inner.unmatched),
            request_size,
            started: Instant::now(),
            status: 0,
            body: 0,
            excluded: false,
            span: None,
            done: false,
        }
    }

    /// The route's entry: the template while the set of distinct routes is under
    /// the cap, `_OTHER` beyond it, `_UNMATCHED` when no route matched.
    fn route_entry(&self, route: Option<&str>) -> Arc<RouteEntry> {
        let Some(route) = route else {
            return Arc::clone(&self.inner.unmatched);
        };
        let routes = &self.inner.routes;
        if let Some(entry) = routes.read().unwrap_or_else(|e| e.into_inner()).get(route) {
            return Arc::clone(entry);
        }
        let mut routes = routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = routes.get(route) {
            return Arc::clone(entry);
        }
        if routes.len() < self.inner.max_routes {
            let entry = Arc::new(RouteEntry::new(route));
            routes.insert(route.into(), Arc::clone(&entry));
            entry
        } else {
            Arc::clone(&self.inner.other)
        }
    }
}

/// A route and the series recorded under it, resolved once per method and status
/// so a request does not hash its label values again.
struct RouteEntry {
    name: Box<str>,
    series: RwLock<Vec<(u16, u16, Arc<Series>)>>,
}

struct Series {
    duration: Histogram,
    request_size: Histogram,
    response_size: Histogram,
}

impl RouteEntry {
    fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            series: RwLock::new(Vec::new()),
        }
    }

    fn series(&self, inner: &Inner, method: usize, status: u16) -> Arc<Series> {
        let method_key = method as u16;
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
        let mut buffer = [0u8; 3];
        let labels = [
            METHODS.get(method).copied().unwrap_or(OTHER),
            &*self.name,
            format_status(&mut buffer, status),
        ];
        let series = Arc::new(Series {
            duration: inner.duration.with_label_values(&labels),
            request_size: inner.request_size.with_label_values(&labels),
            response_size: inner.response_size.with_label_values(&labels),
        });
        list.push((method_key, status, Arc::clone(&series)));
        series
    }
}

/// One request being recorded. See [`RedMetrics::start`].
///
/// Either [`finish`](Self::finish) it in one step when the whole answer is known, or
/// follow a streamed answer: [`responded`](Self::responded) when the head is ready,
/// [`add_body`](Self::add_body) per chunk written, and the request is recorded (its
/// duration up to the last chunk, its counted body size) when the record is dropped.
///
/// ```
/// use readiness_core::Readiness;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = Readiness::builder().build()?;
/// let mut record = readiness.red().start("GET", Some("/export"), None).unwrap();
/// record.responded(200); // still counted in flight
/// for chunk in [&b"id,name\n"[..], &b"1,Ada\n"[..]] {
///     record.add_body(chunk.len() as u64);
/// }
/// drop(record); // the last chunk is out: recorded as 200 with a 14-byte body
/// let text = String::from_utf8(readiness.metrics_response().body().to_vec())?;
/// assert!(text.contains(r#"http_server_response_body_size_bytes_sum{http_request_method="GET",http_response_status_code="200",http_route="/export"} 14"#));
/// # Ok(()) }
/// ```
#[must_use = "dropping the record counts the request as abandoned (499)"]
pub struct RequestRecord {
    metrics: RedMetrics,
    method: usize,
    route: Arc<RouteEntry>,
    request_size: Option<u64>,
    started: Instant,
    /// The status of the head once [`responded`](Self::responded), else 0.
    status: u16,
    /// Body bytes counted by [`add_body`](Self::add_body).
    body: u64,
    /// Its route turned out to be excluded: only the in-flight gauge is kept.
    excluded: bool,
    /// The request's span: the access line is written inside it.
    span: Option<tracing::Span>,
    done: bool,
}

impl RequestRecord {
    /// Records the answer: its status and, when known, its body size.
    pub fn finish(mut self, status: u16, response_size: Option<u64>) {
        self.record(status, response_size);
    }

    /// Names the route of a request started with
    /// [`RedMetrics::start_unrouted`]: the matched template, or `None` when no route
    /// matched. An excluded route leaves the request unrecorded.
    pub fn set_route(&mut self, route: Option<&str>) {
        let metrics = &self.metrics;
        if route.is_some_and(|route| metrics.inner.excluded.contains(route)) {
            self.excluded = true;
        } else {
            self.route = metrics.route_entry(route);
            if let (Some(span), Some(route)) = (&self.span, route) {
                span.record("route", route);
                #[cfg(feature = "otel")]
                crate::telemetry::server_span_routed(
                    span,
                    METHODS.get(self.method).copied().unwrap_or(OTHER),
                    route,
                );
            }
        }
    }

    /// The response head is ready with `status`; the body follows. The request stays
    /// in flight until the record is dropped, and is then recorded with this status
    /// (even when the client goes away during the body) and the counted body size.
    pub fn responded(&mut self, status: u16) {
        self.status = status;
    }

    /// Gives the request its id and its `request` span (target `readiness::request`:
    /// `request_id`, `method`, `route` (when known; record it later otherwise),
    /// `path` without the query, `user_agent`), and writes its access line inside
    /// that span when the request is recorded: target `readiness::access`, with
    /// `status`, `duration_ms`, `request_bytes` and `response_bytes`; `WARN` for 5xx,
    /// else `INFO`. `id_header` is the raw `X-Request-Id`, kept when safe (see
    /// [`RequestId`]). Framework adapters call it when
    /// [`RedMetrics::access_log`] is on, and run the handler inside the span.
    pub fn open_span(
        &mut self,
        id_header: Option<&[u8]>,
        method: &str,
        route: Option<&str>,
        path: &str,
        user_agent: Option<&str>,
    ) -> (RequestId, tracing::Span) {
        let id = RequestId::from_header(id_header);
        #[cfg(not(feature = "otel"))]
        let span = tracing::info_span!(
            target: "readiness::request",
            "request",
            request_id = %id,
            method,
            route,
            path,
            user_agent,
        );
        // With OpenTelemetry, the span is the request's server span: named
        // `{method} {route}`, kind server, with the HTTP semantic-convention
        // attributes (`otel.*` fields steer tracing-opentelemetry and are not logged).
        #[cfg(feature = "otel")]
        let span = {
            let span = tracing::info_span!(
                target: "readiness::request",
                "request",
                request_id = %id,
                method,
                route,
                path,
                user_agent,
                "otel.name" = %crate::telemetry::span_name(method, route),
                "otel.kind" = "server",
            );
            crate::telemetry::server_span_started(&span, method, route, path, user_agent);
            span
        };
        self.span = Some(span.clone());
        (id, span)
    }

    /// With OpenTelemetry (the `otel` feature), adds the connection's side of the
    /// HTTP conventions to the request's server span: `url.scheme`, `server.address`
    /// (the `Host` the client asked for), `network.protocol.version` (`1.1`, `2`) and
    /// `client.address` when the server knows the peer. Without it, or before
    /// [`open_span`](Self::open_span), it does nothing.
    #[cfg_attr(not(feature = "otel"), allow(unused_variables))]
    pub fn server_attributes(
        &self,
        scheme: Option<&str>,
        host: Option<&str>,
        protocol_version: Option<&str>,
        client: Option<&str>,
    ) {
        #[cfg(feature = "otel")]
        if let Some(span) = &self.span {
            crate::telemetry::server_span_connection(span, scheme, host, protocol_version, client);
        }
    }
    /// Counts `bytes` more of the response body.
    pub fn add_body(&mut self, bytes: u64) {
        self.body = self.body.saturating_add(bytes);
    }

    fn record(&mut self, status: u16, response_size: Option<u64>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let inner = &self.metrics.inner;
        inner.active[self.method].dec();
        if self.excluded {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let series = self.route.series(inner, self.method, status);
        series.duration.observe(elapsed);
        if let Some(size) = self.request_size {
            series.request_size.observe(size as f64);
        }
        if let Some(size) = response_size {
            series.response_size.observe(size as f64);
        }
        if let Some(span) = self.span.take() {
            #[cfg(feature = "otel")]
            crate::telemetry::server_span_finished(&span, status);
            access_line(&span, status, elapsed, self.request_size, response_size);
        }
    }
}

/// The access line of a finished request, inside its span.
fn access_line(
    span: &tracing::Span,
    status: u16,
    elapsed: f64,
    request_bytes: Option<u64>,
    response_bytes: Option<u64>,
) {
    let _entered = span.enter();
    let duration_ms = (elapsed * 1e6).round() / 1e3;
    if status >= 500 {
        tracing::warn!(
            target: "readiness::access",
            status,
            duration_ms,
            request_bytes,
            response_bytes,
            "request finished"
        );
    } else {
        tracing::info!(
            target: "readiness::access",
            status,
            duration_ms,
            request_bytes,
            response_bytes,
            "request finished"
        );
    }
}

/// Polls a request's future (or its streamed body) for `record`: a panic while
/// polling is recorded as a 500 on the way out and then resumed, since whoever catches
/// it drops the future only after the unwinding. Middleware of any framework calls it
/// from its `poll`.
pub fn poll_recorded<T>(
    record: &mut Option<RequestRecord>,
    poll: impl FnOnce() -> std::task::Poll<T>,
) -> std::task::Poll<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(poll)) {
        Ok(poll) => poll,
        Err(panic) => {
            if let Some(record) = record.take() {
                record.finish(500, None);
            }
            std::panic::resume_unwind(panic);
        }
    }
}

/// A `Content-Length` header value as a number, if it is one.
#[must_use]
pub fn content_length(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.status != 0 {
            self.record(self.status, Some(self.body));
        } else if std::thread::panicking() {
            self.record(500, None);
        } else {
            self.record(CLIENT_CLOSED_REQUEST, None);
        }
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
            .field("excluded", &self.inner.excluded)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RequestRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestRecord")
            .field("route", &&*self.route.name)
            .field("status", &self.status)
            .field("body", &self.body)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
