//! The observation of one request: in flight from its head to its last body frame,
//! then recorded once (RED metrics, the server span, the access line).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use super::access;
use super::head::{content_length, RequestHead, RequestHeader};
use crate::metrics::names::CLIENT_CLOSED_REQUEST;
use crate::metrics::{Finished, RedMetrics, Route};
use crate::request_id::RequestId;

/// Starts an [`Observation`] per request. Cheap to clone; get it from
/// [`Readiness::observer`](crate::Readiness::observer). See the [module docs](super).
#[derive(Clone)]
pub struct Observer {
    inner: Arc<Inner>,
}

struct Inner {
    red: RedMetrics,
    access_log: bool,
    /// A caller's `traceparent` is a link, not the parent (see
    /// [`ReadinessBuilder::trace_public_endpoint`](crate::ReadinessBuilder::trace_public_endpoint)).
    /// Atomic: `Setup::init` sets it from `READINESS_TRACE_PUBLIC_ENDPOINT` after
    /// the observer is built (a relaxed load per request, as cheap as a `bool`).
    public_endpoint: AtomicBool,
}

impl Observer {
    pub(crate) fn new(red: RedMetrics, access_log: bool, public_endpoint: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                red,
                access_log,
                public_endpoint: AtomicBool::new(public_endpoint),
            }),
        }
    }

    /// Whether a caller's `traceparent` becomes a link instead of the parent, for
    /// the requests that begin from now on.
    #[cfg(feature = "logging")]
    pub(crate) fn set_public_endpoint(&self, public: bool) {
        self.inner.public_endpoint.store(public, Ordering::Relaxed);
    }

    /// Starts observing the request `head`: counts it in flight and, with the access
    /// log on, gives it its id and its span. `None` for an excluded route (probes and
    /// `/metrics` by default), or, while the route is not known, an excluded path.
    #[must_use]
    #[inline]
    pub fn begin(&self, head: &RequestHead<'_>) -> Option<Observation> {
        let inner = &*self.inner;
        // One lookup: a route's entry says whether it is excluded.
        let route = if head.routed {
            let route = inner.red.route(head.route);
            if route.excluded() {
                return None;
            }
            Some(route)
        } else if inner.red.excludes(head.path) {
            return None;
        } else {
            None
        };
        // With the access log on, most of the known headers are read (the id, the
        // user agent, the trace context): all of them at once.
        let (known, spanned);
        let head = if inner.access_log {
            known = head.headers.known();
            spanned = RequestHead {
                headers: &known,
                ..*head
            };
            &spanned
        } else {
            head
        };
        let method = RedMetrics::method_index(head.method);
        inner.red.enter(method);
        let started = Instant::now();
        let request_size = head
            .header(RequestHeader::ContentLength)
            .and_then(content_length);
        let log = inner.access_log.then(|| {
            let request_id = RequestId::from_header(head.header(RequestHeader::RequestId));
            let span = access::open_span(
                &request_id,
                head,
                RedMetrics::method_label(method),
                inner.red.url_scheme(),
                inner.public_endpoint.load(Ordering::Relaxed),
            );
            Box::new(AccessLog { span, request_id })
        });
        Some(Observation {
            observer: self.clone(),
            method,
            route,
            started,
            request_size: match request_size {
                Some(size) => RequestSize::Known(size),
                None => RequestSize::Unknown,
            },
            status: 0,
            body: 0,
            unobserved: false,
            ended: false,
            log,
        })
    }

    /// Whether requests get an id, a span and an access line (see
    /// [`ReadinessBuilder::access_log`](crate::ReadinessBuilder::access_log)).
    #[inline]
    #[must_use]
    pub fn access_log(&self) -> bool {
        self.inner.access_log
    }

    /// The RED recorder the observations end in.
    #[must_use]
    pub fn red(&self) -> &RedMetrics {
        &self.inner.red
    }
}

/// How a request ended. See [`Observation::end`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum End {
    /// The last body frame is out (or the server is done with the body): recorded
    /// with the response's status and the counted body size.
    Completed,
    /// The client went away: before the response head a 499 with no body size;
    /// during the body, the head's status with the bytes sent so far.
    ClientGone,
    /// The handler (or the body) panicked: a 500 with no body size.
    Panicked,
    /// The service answered with an error instead of a response; the server turns
    /// it into this status and body size.
    Errored {
        /// The status the server answers with.
        status: u16,
        /// The size of that answer's body, when known.
        body_size: Option<u64>,
    },
}

/// One request from its head to its end. Dropped without [`end`](Self::end), it ends
/// as [`End::Completed`] once a response head was seen, else as [`End::Panicked`]
/// while unwinding or [`End::ClientGone`]. See the [module docs](super).
#[must_use = "dropping the observation ends the request (499 before a response)"]
pub struct Observation {
    observer: Observer,
    method: u8,
    /// `None` until routed (`_UNMATCHED` if it never is).
    route: Option<Route>,
    started: Instant,
    request_size: RequestSize,
    /// The status of the response head, 0 before it.
    status: u16,
    /// Response body bytes counted so far.
    body: u64,
    unobserved: bool,
    ended: bool,
    /// With the access log on: the request's id and span. Boxed: the observation
    /// is moved from future to body on every request, and stays small without it.
    log: Option<Box<AccessLog>>,
}

struct AccessLog {
    span: access::RequestSpan,
    request_id: RequestId,
}

/// The span of a request without one (the access log off).
static NO_SPAN: tracing::Span = tracing::Span::none();

impl Observation {
    /// The request's id (with the access log on): the caller's `X-Request-Id` when
    /// safe, else a new one. Adapters put it in the request's extensions and echo it
    /// in the response's `X-Request-Id`.
    #[inline]
    #[must_use]
    pub fn request_id(&self) -> Option<&RequestId> {
        self.log.as_ref().map(|log| &log.request_id)
    }

    /// The request's span (target `readiness::request`; the server span with
    /// OpenTelemetry), disabled when the access log is off. Run the handler in it.
    #[inline]
    #[must_use]
    pub fn span(&self) -> &tracing::Span {
        self.log.as_ref().map_or(&NO_SPAN, |log| &log.span.span)
    }

    /// Names the route once the server has routed the request: the matched template,
    /// or `None` when no route matched. An excluded route leaves the request
    /// unrecorded.
    pub fn set_route(&mut self, route: Option<&str>) {
        let entry = self.observer.inner.red.route(route);
        if entry.excluded() {
            self.unobserved = true;
            return;
        }
        self.route = Some(entry);
        if let (Some(log), Some(route)) = (&self.log, route) {
            log.span
                .routed(RedMetrics::method_label(self.method), route);
        }
    }

    /// Whether the route is still to be named with [`set_route`](Self::set_route).
    #[inline]
    #[must_use]
    pub fn needs_route(&self) -> bool {
        self.route.is_none() && !self.unobserved
    }

    /// The answer came from the library route `route` (its
    /// [`EndpointRoute`](super::EndpointRoute)): the request is left out of the
    /// metrics and the access log when that route is excluded.
    pub fn answered_by(&mut self, route: &str) {
        if self.observer.inner.red.excludes(route) {
            self.unobserved = true;
        }
    }

    /// Whether the request is left out (an excluded route).
    #[inline]
    #[must_use]
    pub fn is_excluded(&self) -> bool {
        self.unobserved
    }

    /// A counter for the request body's frames, when the body's size is not known
    /// from `Content-Length` (a chunked upload): wrap the request body so each frame
    /// adds its length, and the request is recorded with the bytes received. `None`
    /// when `Content-Length` gave the size.
    pub fn count_request_body(&mut self) -> Option<BodyCounter> {
        if let RequestSize::Known(_) = self.request_size {
            return None;
        }
        let counter = BodyCounter::default();
        self.request_size = RequestSize::Counted(counter.clone());
        Some(counter)
    }

    /// The response head is ready with `status`; the body follows.
    #[inline]
    pub fn responded(&mut self, status: u16) {
        self.status = status;
    }

    /// `bytes` more of the response body went out.
    #[inline]
    pub fn frame(&mut self, bytes: u64) {
        self.body = self.body.saturating_add(bytes);
    }

    /// Ends the request: recorded once, in the RED metrics, the server span and the
    /// access line.
    #[inline]
    pub fn end(mut self, end: End) {
        self.finish(end);
    }

    /// Polls the handler's future for the observation in `slot`, inside the
    /// request's span: a panic while polling ends it as [`End::Panicked`] (after
    /// `before_panic`, where a server that routes late names the route) and then
    /// goes on unwinding, since whoever catches it drops the future only after the
    /// unwinding.
    pub fn poll_handler<T>(
        slot: &mut Option<Self>,
        before_panic: impl FnOnce(&mut Self),
        poll: impl FnOnce() -> Poll<T>,
    ) -> Poll<T> {
        let polled = {
            let _entered = slot.as_ref().map(|observation| observation.span().enter());
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(poll))
        };
        Self::settle(slot, before_panic, polled)
    }

    /// Polls the response body for the observation in `slot` (outside the span): a
    /// panic while polling ends it as [`End::Panicked`] and goes on unwinding.
    pub fn poll_body<T>(slot: &mut Option<Self>, poll: impl FnOnce() -> Poll<T>) -> Poll<T> {
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(poll));
        Self::settle(slot, |_| {}, polled)
    }

    fn settle<T>(
        slot: &mut Option<Self>,
        before_panic: impl FnOnce(&mut Self),
        polled: std::thread::Result<Poll<T>>,
    ) -> Poll<T> {
        match polled {
            Ok(poll) => poll,
            Err(panic) => {
                if let Some(mut observation) = slot.take() {
                    before_panic(&mut observation);
                    observation.end(End::Panicked);
                }
                std::panic::resume_unwind(panic);
            }
        }
    }

    #[inline]
    fn finish(&mut self, end: End) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let red = &self.observer.inner.red;
        if self.unobserved {
            red.leave(self.method);
            return;
        }
        let (status, response_size) = match end {
            End::Completed if self.status != 0 => (self.status, Some(self.body)),
            End::Completed | End::Panicked => (500, None),
            End::ClientGone if self.status != 0 => (self.status, Some(self.body)),
            End::ClientGone => (CLIENT_CLOSED_REQUEST, None),
            End::Errored { status, body_size } => (status, body_size),
        };
        let finished = Finished {
            status,
            seconds: self.started.elapsed().as_secs_f64(),
            request_size: match &self.request_size {
                RequestSize::Unknown => None,
                RequestSize::Known(size) => Some(*size),
                RequestSize::Counted(counter) => Some(counter.get()),
            },
            response_size,
            trace: self.log.as_ref().and_then(|log| log.span.exemplar()),
        };
        let unrouted;
        let route = match &self.route {
            Some(route) => route,
            None => {
                unrouted = red.route(None);
                &unrouted
            }
        };
        red.record(self.method, route, &finished);
        if let Some(log) = &self.log {
            log.span.finished(&finished);
        }
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let end = if self.status != 0 {
            End::Completed
        } else if std::thread::panicking() {
            End::Panicked
        } else {
            End::ClientGone
        };
        self.finish(end);
    }
}

/// The size of the request body: from `Content-Length`, counted from its frames
/// (no `Content-Length`), or not known (no body).
enum RequestSize {
    Unknown,
    Known(u64),
    Counted(BodyCounter),
}

/// Counts a request body's bytes for its observation. See
/// [`Observation::count_request_body`].
#[derive(Clone, Debug, Default)]
pub struct BodyCounter(Arc<AtomicU64>);

impl BodyCounter {
    /// `bytes` more of the request body arrived.
    pub fn add(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer")
            .field("access_log", &self.inner.access_log)
            .field(
                "public_endpoint",
                &self.inner.public_endpoint.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observation")
            .field("method", &RedMetrics::method_label(self.method))
            .field("route", &self.route)
            .field("status", &self.status)
            .field("body", &self.body)
            .field("request_id", &self.request_id())
            .finish_non_exhaustive()
    }
}
