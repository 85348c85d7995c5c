//! The tower middleware: [`ObserveLayer`] translates `http` requests and responses
//! into an [`Observation`], for any tower service (axum, tonic, a hyper stack).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{BodyCounter, End, EndpointRoute, Observation, Observer, RequestHead};
use crate::request_id::REQUEST_ID_HEADER;

/// What the router knows about a request, for [`ObserveLayer`]: its matched route
/// template and, optionally, its peer and a way to count a body of unknown length.
pub trait RouteTemplate<B>: Clone + Send + Sync + 'static {
    /// The matched route template (`/users/{id}`), or `None` when no route matched.
    fn route<'a>(&self, request: &'a Request<B>) -> Option<&'a str>;

    /// The peer's address (`client.address` on the server span), when the server
    /// put it in the request's extensions. `None` by default.
    fn client(&self, request: &Request<B>) -> Option<IpAddr> {
        let _ = request;
        None
    }

    /// Wraps, in place, a request body of unknown length (no `Content-Length`: a
    /// chunked upload) so that each frame adds to `counter`, for the request-size
    /// histogram (a [`CountedBody`], boxed into `B`). By default the body is left as
    /// it is, and such requests have no size.
    fn count_body(&self, body: &mut B, counter: BodyCounter) {
        let _ = (body, counter);
    }

    /// Whether the wrapped service's `call` only sets its work up for the first
    /// poll, running none of the application's code (axum's `Route`: its `call` is
    /// a `oneshot` that calls the handler's service when polled). Then `call` runs
    /// outside the request's span, which saves entering and leaving it once; the
    /// polls run inside it either way. `false` by default: a service whose `call`
    /// logs has those lines in the span.
    fn call_is_deferred(&self) -> bool {
        false
    }
}

/// Observes every request of the wrapped service. See the [module docs](super).
#[derive(Clone, Debug)]
#[must_use]
pub struct ObserveLayer<R> {
    observer: Observer,
    route: R,
}

impl<R> ObserveLayer<R> {
    /// A layer observing with `observer`, taking route templates from `route`.
    pub fn new(observer: Observer, route: R) -> Self {
        Self { observer, route }
    }
}

impl<S, R: Clone> Layer<S> for ObserveLayer<R> {
    type Service = Observe<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            observer: self.observer.clone(),
            route: self.route.clone(),
        }
    }
}

/// The service made by [`ObserveLayer`].
#[derive(Clone, Debug)]
pub struct Observe<S, R> {
    inner: S,
    observer: Observer,
    route: R,
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Observe<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: RouteTemplate<ReqBody>,
    ReqBody: http_body::Body,
    ResBody: http_body::Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let uri = request.uri();
        // The connection's side (scheme, host, version, peer) is for the server span
        // only: read when there is one. Built in place (the fields are the crate's
        // own): `RequestHead`'s setters would copy it once each on this path.
        let spanned = self.observer.access_log();
        let head = RequestHead {
            method: request.method().as_str(),
            path: uri.path(),
            route: self.route.route(&request),
            routed: true,
            scheme: if spanned { uri.scheme_str() } else { None },
            host: if spanned { uri.host() } else { None },
            version: if spanned {
                super::head::version_str(request.version())
            } else {
                None
            },
            #[cfg(feature = "otel")]
            client: if spanned {
                self.route.client(&request)
            } else {
                None
            },
            #[cfg(not(feature = "otel"))]
            client: None,
            headers: request.headers(),
        };
        let mut observation = self.observer.begin(&head);
        if let Some(observation) = &mut observation {
            if let Some(id) = observation.request_id() {
                request.extensions_mut().insert(id.clone());
            }
            if !request.body().is_end_stream() {
                if let Some(counter) = observation.count_request_body() {
                    self.route.count_body(request.body_mut(), counter);
                }
            }
        }
        let inner = if self.route.call_is_deferred() {
            self.inner.call(request)
        } else {
            let _entered = observation.as_ref().map(|o| o.span().enter());
            self.inner.call(request)
        };
        ResponseFuture { inner, observation }
    }
}

pin_project! {
    /// The future of [`Observe`]: hands the observation to the response body once the
    /// head is ready; a dropped future is a client gone, a panic a 500.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        observation: Option<Observation>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: http_body::Body,
{
    type Output = Result<Response<ResponseBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let result = ready!(Observation::poll_handler(
            this.observation,
            |_| {},
            || inner.poll(cx)
        ));
        let mut observation = this.observation.take();
        Poll::Ready(match result {
            Ok(mut response) => {
                if let Some(observation) = &mut observation {
                    if let Some(EndpointRoute(route)) = response.extensions().get() {
                        observation.answered_by(route);
                    }
                    let id = observation
                        .request_id()
                        .filter(|_| !observation.is_excluded());
                    if let Some(value) =
                        id.and_then(|id| http::HeaderValue::from_bytes(id.as_bytes()).ok())
                    {
                        const REQUEST_ID: http::HeaderName =
                            http::HeaderName::from_static(REQUEST_ID_HEADER);
                        response.headers_mut().insert(REQUEST_ID, value);
                    }
                    observation.responded(response.status().as_u16());
                }
                Ok(response.map(|body| ResponseBody {
                    inner: body,
                    observation,
                }))
            }
            Err(error) => {
                // The service failed without an answer: the server will answer 500.
                if let Some(observation) = observation {
                    observation.end(End::Errored {
                        status: 500,
                        body_size: None,
                    });
                }
                Err(error)
            }
        })
    }
}

pin_project! {
    /// A response body that counts its bytes for the observation and keeps the
    /// request in flight until its last frame is out (or the body is dropped, when
    /// the server is done with it or the client went away).
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        observation: Option<Observation>,
    }
}

impl<B: http_body::Body> http_body::Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use bytes::Buf as _;
        let this = self.project();
        let mut inner = this.inner;
        let frame = ready!(Observation::poll_body(this.observation, || inner
            .as_mut()
            .poll_frame(cx)));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(observation), Some(data)) =
                    (this.observation.as_mut(), frame.data_ref())
                {
                    observation.frame(data.remaining() as u64);
                }
                if inner.is_end_stream() {
                    if let Some(observation) = this.observation.take() {
                        observation.end(End::Completed);
                    }
                }
            }
            // The end, or an error that ends the body: the request is over.
            Some(Err(_)) | None => {
                if let Some(observation) = this.observation.take() {
                    observation.end(End::Completed);
                }
            }
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

pin_project! {
    /// A request body whose frames add to a [`BodyCounter`]: what a
    /// [`RouteTemplate::count_body`] wraps a chunked upload in.
    #[derive(Debug)]
    pub struct CountedBody<B> {
        #[pin]
        inner: B,
        counter: BodyCounter,
    }
}

impl<B> CountedBody<B> {
    /// `inner`, counted into `counter`.
    pub fn new(inner: B, counter: BodyCounter) -> Self {
        Self { inner, counter }
    }
}

impl<B: http_body::Body> http_body::Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use bytes::Buf as _;
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()?.data_ref()) {
            this.counter.add(data.remaining() as u64);
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
