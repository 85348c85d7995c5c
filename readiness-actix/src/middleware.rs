//! `Observe`: the RED middleware for actix-web, feeding the core recorder.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, USER_AGENT};
use actix_web::web::Bytes;
use actix_web::HttpMessage as _;
use pin_project_lite::pin_project;
use readiness_core::metrics::{content_length, poll_recorded, RedMetrics, RequestRecord};
use readiness_core::{Readiness, RequestId, REQUEST_ID_HEADER};

/// Records every request of the app it wraps: RED metrics by method, matched route
/// pattern (`req.match_pattern()`) and status, the same families and labels as the
/// axum adapter. The route is read from the response, once actix has routed the
/// request: reading it before would walk the whole routing table a second time for
/// every request. The price is that a request that ends without a response is
/// recorded under `_UNMATCHED`: a handler that panicked (500; actix itself does not
/// catch panics), a client that left before the answer (499), and an `Err` from a
/// middleware inside this one (handlers' errors arrive as responses and keep their
/// route). Requests no route matched are `_UNMATCHED` too. The response body is
/// wrapped in an [`ObservedBody`] that counts its bytes and keeps the request in
/// flight, and its duration running, until the last chunk is out.
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use readiness_actix::core::Readiness;
///
/// # #[actix_web::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
/// let app = App::new()
///     .wrap(readiness_actix::Observe::new(&readiness))
///     .route("/orders/{id}", web::get().to(|| async { HttpResponse::Ok().body("{}") }))
///     .configure(readiness_actix::configure(&readiness));
/// # let _ = app;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Observe {
    metrics: RedMetrics,
}

impl Observe {
    /// The middleware for `readiness`'s recorder.
    pub fn new(readiness: &Readiness) -> Self {
        Self {
            metrics: readiness.red().clone(),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Observe
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<ObservedBody<B>>;
    type Error = actix_web::Error;
    type Transform = ObserveMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ObserveMiddleware {
            service,
            metrics: self.metrics.clone(),
        }))
    }
}

/// The service made by [`Observe`].
#[derive(Debug)]
pub struct ObserveMiddleware<S> {
    service: S,
    metrics: RedMetrics,
}

impl<S, B> Service<ServiceRequest> for ObserveMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<ObservedBody<B>>;
    type Error = actix_web::Error;
    type Future = ObserveFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let size = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| content_length(v.as_bytes()));
        // The route is read once the app has routed the request: before routing,
        // `match_pattern()` has to match the path against every resource itself. A
        // path that is an excluded route as it stands (`/readyz`, `/metrics`) is
        // left out at once, so a scrape does not count itself in flight.
        let mut record = (!self.metrics.excludes(request.path()))
            .then(|| self.metrics.start_unrouted(request.method().as_str(), size));
        let mut span = tracing::Span::none();
        let mut request_id = None;
        if let Some(record) = record.as_mut().filter(|_| self.metrics.access_log()) {
            let headers = request.headers();
            let (id, request_span) = record.open_span(
                headers.get(REQUEST_ID_HEADER).map(|v| v.as_bytes()),
                request.method().as_str(),
                None,
                request.path(),
                headers.get(USER_AGENT).and_then(|v| v.to_str().ok()),
            );
            // The caller's trace, when it sent one, is the parent of this request's.
            #[cfg(feature = "otel")]
            {
                remote_parent(&request_span, headers);
                let connection = request.connection_info();
                let version = match request.version() {
                    actix_web::http::Version::HTTP_10 => Some("1.0"),
                    actix_web::http::Version::HTTP_11 => Some("1.1"),
                    actix_web::http::Version::HTTP_2 => Some("2"),
                    _ => None,
                };
                let peer = request.peer_addr().map(|addr| addr.ip().to_string());
                record.server_attributes(
                    Some(connection.scheme()),
                    Some(connection.host()),
                    version,
                    peer.as_deref(),
                );
            }
            span = request_span;
            request.extensions_mut().insert(id.clone());
            request_id = Some(id);
        }
        let inner = {
            let _entered = span.enter();
            self.service.call(request)
        };
        ObserveFuture {
            inner,
            record,
            span,
            request_id,
        }
    }
}

pin_project! {
    /// The future of [`ObserveMiddleware`]: hands the record to the response body when
    /// the head is ready; a dropped request (client gone) is recorded by the record's
    /// guard as 499.
    #[derive(Debug)]
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        record: Option<RequestRecord>,
        span: tracing::Span,
        request_id: Option<RequestId>,
    }
}

impl<F, B> Future for ObserveFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody,
{
    type Output = Result<ServiceResponse<ObservedBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let result = {
            let _entered = this.span.enter();
            ready!(poll_recorded(this.record, || inner.poll(cx)))
        };
        let mut record = this.record.take();
        Poll::Ready(match result {
            Ok(mut response) => {
                if let Some(record) = &mut record {
                    // Also names the route in the request's span.
                    record.set_route(response.request().match_pattern().as_deref());
                    record.responded(response.status().as_u16());
                }
                if let Some(id) = this.request_id.take() {
                    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
                        response
                            .headers_mut()
                            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
                    }
                }
                Ok(response.map_body(|_, body| ObservedBody {
                    inner: body,
                    record,
                }))
            }
            Err(error) => {
                // An `Err` comes from a middleware inside this one, before any route
                // answered (handlers' errors arrive as responses): recorded under
                // `_UNMATCHED`, with the status and size of the answer actix makes of
                // it after us, by the same call.
                if let Some(record) = record {
                    let response = error.as_response_error().error_response();
                    let size = match response.body().size() {
                        BodySize::Sized(n) => Some(n),
                        BodySize::None => Some(0),
                        BodySize::Stream => None,
                    };
                    record.finish(response.status().as_u16(), size);
                }
                Err(error)
            }
        })
    }
}

pin_project! {
    /// A response body that counts its bytes for the request's record and keeps the
    /// request in flight until its last chunk is out (or the body is dropped, when the
    /// server is done with it or the client went away).
    #[derive(Debug)]
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        record: Option<RequestRecord>,
    }
}

impl<B: MessageBody> MessageBody for ObservedBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let chunk = ready!(poll_recorded(this.record, || inner.as_mut().poll_next(cx)));
        match &chunk {
            Some(Ok(bytes)) => {
                if let Some(record) = this.record.as_mut() {
                    record.add_body(bytes.len() as u64);
                }
            }
            // The end, or an error that ends the body: the request is over.
            Some(Err(_)) | None => drop(this.record.take()),
        }
        Poll::Ready(chunk)
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let Self { inner, mut record } = self;
        match inner.try_into_bytes() {
            Ok(bytes) => {
                if let Some(record) = &mut record {
                    record.add_body(bytes.len() as u64);
                }
                Ok(bytes)
            }
            Err(inner) => Err(Self { inner, record }),
        }
    }
}

/// Hands the W3C trace context headers (actix's header types) to the core.
#[cfg(feature = "otel")]
fn remote_parent(span: &tracing::Span, headers: &actix_web::http::header::HeaderMap) {
    let mut carrier = http::HeaderMap::new();
    for name in ["traceparent", "tracestate", "baggage"] {
        if let Some(value) = headers
            .get(name)
            .and_then(|v| http::HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            carrier.insert(name, value);
        }
    }
    readiness_core::telemetry::set_remote_parent(span, &carrier);
}
