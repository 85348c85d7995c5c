//! The tower middleware that feeds [`RedMetrics`].
//!
//! `ObserveLayer` works with any tower service taking `http::Request`s (axum,
//! tonic, a hyper stack); the route template comes from a [`RouteTemplate`] the
//! framework adapter supplies (axum's `MatchedPath` in `readiness-axum`).
//!
//! The response body is wrapped in an [`ObservedBody`] that counts its bytes: a
//! request stays in flight, and its duration runs, until the last body frame is out,
//! so a streamed download or server-sent events are measured whole, with their real
//! size, like any other answer.
//!
//! ```
//! use readiness_core::observe::{ObserveLayer, RouteTemplate};
//! use readiness_core::Readiness;
//!
//! /// A stack without a router: every request counts under one template.
//! #[derive(Clone)]
//! struct OneRoute;
//! impl RouteTemplate for OneRoute {
//!     fn route<'a, B>(&self, _request: &'a http::Request<B>) -> Option<&'a str> {
//!         Some("/rpc")
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder().build()?;
//! let layer = ObserveLayer::new(readiness.red().clone(), OneRoute);
//! # let _ = layer;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::metrics::{content_length, poll_recorded, RedMetrics, RequestRecord};
use crate::request_id::{RequestId, REQUEST_ID_HEADER};

/// Where a request's route template comes from.
pub trait RouteTemplate: Clone + Send + Sync + 'static {
    /// The matched route template (`/users/{id}`), or `None` when no route matched.
    fn route<'a, B>(&self, request: &'a Request<B>) -> Option<&'a str>;

    /// The peer's address (`client.address` on the server span), when the server
    /// put it in the request's extensions. `None` by default.
    fn client<B>(&self, request: &Request<B>) -> Option<std::net::IpAddr> {
        let _ = request;
        None
    }
}

/// Records every request of the wrapped service. See the [module docs](self).
#[derive(Clone, Debug)]
#[must_use]
pub struct ObserveLayer<R> {
    metrics: RedMetrics,
    route: R,
}

impl<R> ObserveLayer<R> {
    /// A layer recording into `metrics`, taking route templates from `route`.
    pub fn new(metrics: RedMetrics, route: R) -> Self {
        Self { metrics, route }
    }
}

impl<S, R: Clone> Layer<S> for ObserveLayer<R> {
    type Service = Observe<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            metrics: self.metrics.clone(),
            route: self.route.clone(),
        }
    }
}

/// The service made by [`ObserveLayer`].
#[derive(Clone, Debug)]
pub struct Observe<S, R> {
    inner: S,
    metrics: RedMetrics,
    route: R,
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Observe<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: RouteTemplate,
    ResBody: http_body::Body,
{
    type Response = Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let size = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| content_length(v.as_bytes()));
        let route = self.route.route(&request);
        let mut record = self.metrics.start(request.method().as_str(), route, size);
        let mut span = tracing::Span::none();
        let mut request_id = None;
        if let Some(record) = record.as_mut().filter(|_| self.metrics.access_log()) {
            let headers = request.headers();
            let (id, request_span) = record.open_span(
                headers.get(REQUEST_ID_HEADER).map(|v| v.as_bytes()),
                request.method().as_str(),
                route,
                request.uri().path(),
                headers
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()),
            );
            // The caller's trace, when it sent one, is the parent of this request's.
            #[cfg(feature = "otel")]
            {
                crate::telemetry::set_remote_parent(&request_span, request.headers());
                let host = request
                    .headers()
                    .get(http::header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .or_else(|| request.uri().host());
                let client = self.route.client(&request).map(|ip| ip.to_string());
                record.server_attributes(
                    request.uri().scheme_str(),
                    host,
                    protocol_version(request.version()),
                    client.as_deref(),
                );
            }
            span = request_span;
            request.extensions_mut().insert(id.clone());
            request_id = Some(id);
        }
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        ResponseFuture {
            inner,
            record,
            span,
            request_id,
        }
    }
}

/// `network.protocol.version` of an HTTP version.
#[cfg(feature = "otel")]
fn protocol_version(version: http::Version) -> Option<&'static str> {
    Some(match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => return None,
    })
}

pin_project! {
    /// The future of [`Observe`]: hands the record to the response body when the
    /// head is ready, and records a dropped or panicking request through the record's
    /// drop guard.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        record: Option<RequestRecord>,
        span: tracing::Span,
        request_id: Option<RequestId>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: http_body::Body,
{
    type Output = Result<Response<ObservedBody<ResBody>>, E>;

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
                    record.responded(response.status().as_u16());
                }
                if let Some(id) = this.request_id.take() {
                    if let Ok(value) = http::HeaderValue::from_str(id.as_str()) {
                        response
                            .headers_mut()
                            .insert(http::HeaderName::from_static(REQUEST_ID_HEADER), value);
                    }
                }
                Ok(response.map(|body| ObservedBody {
                    inner: body,
                    record,
                }))
            }
            Err(error) => {
                // The service failed without an answer: the server will answer 500.
                if let Some(record) = record {
                    record.finish(500, None);
                }
                Err(error)
            }
        })
    }
}

pin_project! {
    /// A response body that counts its bytes for the request's record and keeps the
    /// request in flight until its last frame is out (or the body is dropped, when the
    /// server is done with it or the client went away).
    #[derive(Debug)]
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        record: Option<RequestRecord>,
    }
}

impl<B: http_body::Body> http_body::Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use bytes::Buf as _;
        let this = self.project();
        let mut inner = this.inner;
        let frame = ready!(poll_recorded(this.record, || inner.as_mut().poll_frame(cx)));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(record), Some(data)) = (this.record.as_mut(), frame.data_ref()) {
                    record.add_body(data.remaining() as u64);
                }
                if inner.is_end_stream() {
                    drop(this.record.take());
                }
            }
            // The end, or an error that ends the body: the request is over.
            Some(Err(_)) | None => drop(this.record.take()),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
