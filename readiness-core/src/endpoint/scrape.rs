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
}

impl Rendered {
    fn into_response(self) -> Response<Bytes> {
        let mut response = Response::new(self.body);
        *response.status_mut() = self.code;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        // A scrape stays out of the RED metrics and the access log wherever mounted.
        response
            .extensions_mut()
            .insert(EndpointRoute(METRICS_PATH));
        response
    }

    fn failed() -> Self {
        Self {
            code: StatusCode::INTERNAL_SERVER_ERROR,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::new(),
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
            Rendered::failed()
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
    let families = registry.gather();
    match format {
        Format::OpenMetrics => {
            let exemplars =
                openmetrics::Exemplars::new(red.duration_name(), red.duration_exemplars());
            let body = openmetrics::encode(&families, &exemplars);
            Rendered {
                code: StatusCode::OK,
                content_type: openmetrics::CONTENT_TYPE,
                body: body.into(),
            }
        }
        Format::Text => {
            let mut body = buffers.take();
            match text::encode(&families, &mut body) {
                Ok(()) => Rendered {
                    code: StatusCode::OK,
                    content_type: prometheus::TEXT_FORMAT,
                    body: buffers.body(body),
                },
                Err(error) => {
                    tracing::error!(target: "readiness::metrics", error = %error, "metrics encoding failed");
                    Rendered::failed()
                }
            }
        }
    }
}
