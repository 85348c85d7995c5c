//! The `/metrics` answer: the registry in Prometheus' classic text format, or in
//! OpenMetrics (with exemplars) when the scraper asks for it.
//!
//! A large registry takes milliseconds to render (900 request series of three
//! histograms are 5.5 MB of text), so the adapters' route renders through
//! [`Scrapes::respond_shared`]: on tokio's blocking pool, where it does not hold up
//! the requests queued on the worker that received the scrape, and once for every
//! scrape that arrives while a rendering of the same format is under way (a scrape
//! flood costs one rendering at a time, not one blocking thread each).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt as _, Shared};
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};

use super::{openmetrics, text, METRICS_PATH};
use crate::metrics::RedMetrics;
use crate::observe::EndpointRoute;

/// The two expositions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text = 0,
    OpenMetrics = 1,
}

impl Format {
    fn of(accept: Option<&str>) -> Self {
        if openmetrics::wanted(accept) {
            Self::OpenMetrics
        } else {
            Self::Text
        }
    }
}

/// A finished rendering, shared by the scrapes that waited for it.
#[derive(Clone)]
struct Rendered {
    code: StatusCode,
    content_type: &'static str,
    body: Bytes,
    /// How long the rendering took (gathering and encoding, not the wait for a
    /// blocking thread nor the transfer).
    took: Duration,
}

/// The response header that tells how long the rendering took (W3C Server Timing:
/// `render;dur=1.862`, in milliseconds): what a scraper's own timing cannot tell
/// apart from the transfer of a large body.
const SERVER_TIMING: &str = "server-timing";

impl Rendered {
    fn into_response(self) -> Response<Bytes> {
        let mut response = Response::new(self.body);
        *response.status_mut() = self.code;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let timing = format!("render;dur={:.3}", self.took.as_secs_f64() * 1e3);
        if let Ok(timing) = HeaderValue::try_from(timing) {
            headers.insert(http::HeaderName::from_static(SERVER_TIMING), timing);
        }
        // A scrape stays out of the RED metrics and the access log wherever mounted.
        response
            .extensions_mut()
            .insert(EndpointRoute(METRICS_PATH));
        response
    }

    fn failed(took: Duration) -> Self {
        Self {
            code: StatusCode::INTERNAL_SERVER_ERROR,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::new(),
            took,
        }
    }
}

type Running = Shared<BoxFuture<'static, Rendered>>;

/// The renderings under way, by format, and the buffers of finished ones.
#[derive(Default)]
pub(crate) struct Scrapes {
    running: Mutex<[Option<Running>; 2]>,
    buffers: Arc<Buffers>,
}

/// The classic renderings' buffers, handed back once every answer that carried one
/// has been sent and dropped, and the length of the last rendering. A buffer is
/// written again rather than allocated: a fresh multi-megabyte allocation is mapped
/// from the system page by page as it is first written (a page fault per 4 KiB),
/// and unmapped when the answer is dropped. At most [`KEPT`] are kept, of up to
/// [`KEPT_SIZE`] each.
#[derive(Default)]
struct Buffers {
    free: Mutex<Vec<Vec<u8>>>,
    last: AtomicUsize,
}

const KEPT: usize = 2;
const KEPT_SIZE: usize = 64 * 1024 * 1024;

impl Buffers {
    /// An empty buffer with room for about the last rendering.
    fn take(&self) -> Vec<u8> {
        let last = self.last.load(Ordering::Relaxed);
        let hint = (last + last / 8).clamp(16 * 1024, KEPT_SIZE);
        let kept = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut buffer = kept.unwrap_or_default();
        buffer.clear();
        buffer.reserve(hint);
        buffer
    }

    /// `buffer` as a body that comes back here once the last answer holding it drops.
    fn body(self: &Arc<Self>, buffer: Vec<u8>) -> Bytes {
        self.last.store(buffer.len(), Ordering::Relaxed);
        Bytes::from_owner(Pooled {
            buffer,
            home: Arc::downgrade(self),
        })
    }
}

/// A rendering's buffer while answers hold it.
struct Pooled {
    buffer: Vec<u8>,
    home: Weak<Buffers>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(home) = self.home.upgrade() else {
            return;
        };
        if self.buffer.capacity() <= KEPT_SIZE {
            let mut free = home.free.lock().unwrap_or_else(|e| e.into_inner());
            if free.len() < KEPT {
                free.push(std::mem::take(&mut self.buffer));
            }
        }
    }
}

impl Scrapes {
    /// Every family of `registry` in the format `accept` asks for, rendered here.
    pub(crate) fn respond(
        &self,
        registry: &prometheus::Registry,
        red: &RedMetrics,
        accept: Option<&str>,
    ) -> Response<Bytes> {
        render(registry, red, Format::of(accept), &self.buffers).into_response()
    }

    /// As [`respond`](Self::respond), rendered on tokio's blocking pool (here when
    /// there is no tokio runtime), and shared: a scrape that arrives while a
    /// rendering of its format is under way answers that rendering.
    pub(crate) fn respond_shared(
        &self,
        registry: &prometheus::Registry,
        red: &RedMetrics,
        accept: Option<&str>,
    ) -> impl Future<Output = Response<Bytes>> + Send + 'static {
        let format = Format::of(accept);
        let running = {
            let mut slots = self.running.lock().unwrap_or_else(|e| e.into_inner());
            let slot = &mut slots[format as usize];
            match slot {
                // A rendering under way; a finished one is not served again.
                Some(running) if running.peek().is_none() => running.clone(),
                _ => {
                    let running = offload(registry.clone(), red.clone(), format, &self.buffers);
                    *slot = Some(running.clone());
                    running
                }
            }
        };
        async move { running.await.into_response() }
    }
}

/// A rendering on the blocking pool, as a future any number of scrapes can await.
fn offload(
    registry: prometheus::Registry,
    red: RedMetrics,
    format: Format,
    buffers: &Arc<Buffers>,
) -> Running {
    let buffers = Arc::clone(buffers);
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        let rendered = render(&registry, &red, format, &buffers);
        return futures_util::future::ready(rendered).boxed().shared();
    };
    let task = runtime.spawn_blocking(move || render(&registry, &red, format, &buffers));
    async move {
        task.await.unwrap_or_else(|error| {
            // The rendering panicked, or the runtime is shutting down.
            tracing::error!(target: "readiness::metrics", error = %error, "metrics rendering failed");
            Rendered::failed(Duration::ZERO)
        })
    }
    .boxed()
    .shared()
}

/// Every family of `registry` in `format` (OpenMetrics with `red`'s duration
/// exemplars); a 500 (logged) if encoding fails.
fn render(
    registry: &prometheus::Registry,
    red: &RedMetrics,
    format: Format,
    buffers: &Arc<Buffers>,
) -> Rendered {
    let started = Instant::now();
    match format {
        Format::OpenMetrics => {
            let families = registry.gather();
            let exemplars =
                openmetrics::Exemplars::new(red.duration_name(), red.duration_exemplars());
            let body = openmetrics::encode(&families, &exemplars);
            Rendered {
                code: StatusCode::OK,
                content_type: openmetrics::CONTENT_TYPE,
                body: body.into(),
                took: started.elapsed(),
            }
        }
        Format::Text => {
            let mut body = buffers.take();
            // The request histograms written from their counts where the registry
            // gathered a stand-in (most of a large registry's series), the rest
            // from what it gathered.
            let encoded = match red.gather_standing_in(registry) {
                Some((families, series)) => {
                    text::encode_with(&families, &mut body, &mut |name, lines| {
                        red.each_series(name, &series, |labels, bounds, cumulative, sum| {
                            lines.series(labels, bounds, cumulative, sum);
                        })
                    })
                }
                None => text::encode(&registry.gather(), &mut body),
            };
            match encoded {
                Ok(()) => Rendered {
                    code: StatusCode::OK,
                    content_type: prometheus::TEXT_FORMAT,
                    body: buffers.body(body),
                    took: started.elapsed(),
                },
                Err(error) => {
                    tracing::error!(target: "readiness::metrics", error = %error, "metrics encoding failed");
                    Rendered::failed(started.elapsed())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Finished, RedSettings, Registrar};
    use prometheus::{IntCounterVec, Opts, Registry};

    /// A registry with families sorting before, between and after the request
    /// histograms, and requests on hostile routes, methods and statuses.
    fn service(registry: &Registry) -> RedMetrics {
        for name in [
            "aaa_first_total",
            "http_server_request_c_total",
            "zzz_last_total",
        ] {
            let family =
                IntCounterVec::new(Opts::new(name, "a family of the service"), &["k"]).unwrap();
            family.with_label_values(&["v\"\\\n"]).inc();
            registry.register(Box::new(family)).unwrap();
        }
        let settings = RedSettings {
            namespace: None,
            buckets: vec![0.005, 0.1, 1.0, 2.5],
            max_routes: 100,
            excluded: vec!["/metrics".to_owned()],
            url_scheme: None,
        };
        let red = RedMetrics::register(&Registrar::new(registry), &settings).unwrap();
        let routes = [
            Some("/b/{id}"),
            Some("/a"),
            Some("/quote\"back\\slash\nline"),
            None,
        ];
        for (i, route) in routes.iter().enumerate() {
            let route = red.route(*route);
            let statuses = [
                ("POST", 201),
                ("GET", 200),
                ("PURGE", 503),
                ("GET", 404),
                ("GET", 1000),
            ];
            for (j, (method, status)) in statuses.into_iter().enumerate() {
                let method = RedMetrics::method_index(method);
                red.enter(method);
                let finished = Finished {
                    status,
                    seconds: 0.001 * (i * 7 + j * 300) as f64,
                    request_size: (j % 2 == 0).then_some(100 * i as u64),
                    response_size: Some(7 + 1000 * j as u64),
                    trace: None,
                };
                red.record(method, &route, &finished);
            }
        }
        red
    }

    fn classic(registry: &Registry, red: &RedMetrics) -> String {
        let buffers = Arc::new(Buffers::default());
        let rendered = render(registry, red, Format::Text, &buffers);
        assert_eq!(rendered.code, StatusCode::OK);
        String::from_utf8(rendered.body.to_vec()).unwrap()
    }

    fn gathered(registry: &Registry) -> String {
        let mut expected = Vec::new();
        text::encode(&registry.gather(), &mut expected).unwrap();
        String::from_utf8(expected).unwrap()
    }

    #[test]
    fn the_request_histograms_from_their_counts_read_as_gathered() {
        let registry = Registry::new();
        let red = service(&registry);
        // Written from the counts, not gathered.
        assert!(red.gather_standing_in(&registry).is_some());
        let text = classic(&registry, &red);
        assert!(text.contains("http_server_request_duration_seconds_bucket{http_request_method=\"GET\",http_response_status_code=\"404\",http_route=\"_UNMATCHED\",le=\"+Inf\"} 1\n"), "{text}");
        assert!(text.contains("http_route=\"/quote\\\"back\\\\slash\\nline\""));
        assert_eq!(text, gathered(&registry));
        // No stand-in left behind for the registry's other readers.
        let families = registry.gather();
        let duration = families
            .iter()
            .find(|family| family.name() == "http_server_request_duration_seconds")
            .unwrap();
        assert_eq!(duration.get_metric().len(), 20);
    }

    #[test]
    fn a_registry_that_renames_what_it_gathers_is_gathered_whole() {
        let labels = std::collections::HashMap::from([("zone".to_owned(), "eu".to_owned())]);
        for (prefix, labels) in [(Some("shop".to_owned()), None), (None, Some(labels))] {
            let registry = Registry::new_custom(prefix, labels).unwrap();
            let red = service(&registry);
            let text = classic(&registry, &red);
            assert!(red.gather_standing_in(&registry).is_none());
            assert_eq!(text, gathered(&registry));
            assert!(text.contains("http_server_request_duration_seconds_count{"));
        }
    }

    /// Each answer says how long its rendering took, in both formats.
    #[test]
    fn the_answer_tells_its_render_time() {
        let registry = Registry::new();
        let red = service(&registry);
        let scrapes = Scrapes::default();
        for accept in [None, Some("application/openmetrics-text; version=1.0.0")] {
            let response = scrapes.respond(&registry, &red, accept);
            let timing = response.headers()[SERVER_TIMING].to_str().unwrap();
            let millis: f64 = timing.strip_prefix("render;dur=").unwrap().parse().unwrap();
            assert!((0.0..60_000.0).contains(&millis), "{timing}");
        }
    }
}
