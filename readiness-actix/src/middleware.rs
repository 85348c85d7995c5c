//! `Observe`: actix-web's requests and responses translated into the core
//! [`Observation`](readiness_core::observe::Observation).

use std::cell::OnceCell;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{
    forward_ready, Payload, ResourceMap, Service, ServiceRequest, ServiceResponse, Transform,
};
use actix_web::http::header::{HeaderName, HeaderValue, TRANSFER_ENCODING};
use actix_web::http::uri::PathAndQuery;
use actix_web::web::Bytes;
use actix_web::HttpMessage as _;
use futures_util::Stream;
use pin_project_lite::pin_project;
use readiness_core::observe::{
    BodyCounter, End, EndpointRoute, HeaderSource, KnownHeaders, Observation, Observer,
    RequestHead, RequestHeader,
};
use readiness_core::{Readiness, REQUEST_ID_HEADER};

/// Observes every request of the app it wraps: RED metrics by method, matched route
/// pattern and status (the same families and labels as the axum adapter), the
/// request id, the request span and the access line. See
/// [`readiness_core::observe`].
///
/// actix-web routes after its app-wide middleware, so the route is read from the
/// response (`match_pattern()`). A request that ends without a response (a handler
/// that panicked, a client gone before the answer, an `Err` from a middleware inside
/// this one) has its route matched from its path by the app's resource map. Serve
/// with [`run`](crate::run), or set `HttpServer::h1_allow_half_closed(false)`, for a
/// client that closes its connection before the answer to end its request (499),
/// as hyper and axum do.
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
    observer: Observer,
}

impl Observe {
    /// The middleware for `readiness`'s observer.
    pub fn new(readiness: &Readiness) -> Self {
        Self {
            observer: readiness.observer(),
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
            observer: self.observer.clone(),
            routes: OnceCell::new(),
        }))
    }
}

/// The service made by [`Observe`].
#[derive(Debug)]
pub struct ObserveMiddleware<S> {
    service: S,
    observer: Observer,
    /// The app's resource map, to match the route of a request that got no response.
    routes: OnceCell<Rc<ResourceMap>>,
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

    fn call(&self, mut request: ServiceRequest) -> Self::Future {
        let headers = Headers(request.headers());
        let scheme = if request.app_config().secure() {
            "https"
        } else {
            "http"
        };
        let head = RequestHead::new(request.method().as_str(), request.path(), &headers)
            .with_scheme(Some(scheme))
            .with_version(version(request.version()));
        // The peer is a server-span attribute: looked up only when there is a span.
        let head = if self.observer.access_log() {
            head.with_client(request.peer_addr().map(|addr| addr.ip()))
        } else {
            head
        };
        let mut observation = self.observer.begin(&head);
        let mut late = None;
        if let Some(observation) = &mut observation {
            if let Some(id) = observation.request_id() {
                request.extensions_mut().insert(id.clone());
            }
            // A chunked upload has no `Content-Length`: its size is counted as it is
            // read. (actix-web gives a body-less request a payload too, so the
            // header, not the payload, tells there is a body.)
            if request.headers().contains_key(TRANSFER_ENCODING) {
                if let Some(counter) = observation.count_request_body() {
                    let inner = request.take_payload();
                    request.set_payload(Payload::Stream {
                        payload: Box::pin(CountedPayload { inner, counter }),
                    });
                }
            }
            let routes = self
                .routes
                .get_or_init(|| Rc::new(request.resource_map().clone()));
            late = request.uri().path_and_query().map(|path| LateRoute {
                routes: Rc::clone(routes),
                path: path.clone(),
            });
        }
        let inner = {
            let _entered = observation.as_ref().map(|o| o.span().enter());
            self.service.call(request)
        };
        ObserveFuture {
            inner,
            observation,
            late,
        }
    }
}

/// What matches the route of a request that got no response: the app's resource
/// map and the request's path.
#[derive(Debug)]
struct LateRoute {
    routes: Rc<ResourceMap>,
    path: PathAndQuery,
}

impl LateRoute {
    fn name(late: Option<&Self>, observation: &mut Observation) {
        if let Some(late) = late.filter(|_| observation.needs_route()) {
            observation.set_route(late.routes.match_pattern(late.path.path()).as_deref());
        }
    }
}

pin_project! {
    /// The future of [`ObserveMiddleware`]: hands the observation to the response body
    /// once the head is ready.
    #[derive(Debug)]
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        observation: Option<Observation>,
        late: Option<LateRoute>,
    }

    impl<F> PinnedDrop for ObserveFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the answer (the client went away): keep the route.
            let this = this.project();
            if let Some(observation) = this.observation {
                LateRoute::name(this.late.as_ref(), observation);
            }
        }
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
        let late = this.late.as_ref();
        let result = ready!(Observation::poll_handler(
            this.observation,
            |observation| LateRoute::name(late, observation),
            || inner.poll(cx)
        ));
        let mut observation = this.observation.take();
        Poll::Ready(match result {
            Ok(mut response) => {
                if let Some(observation) = &mut observation {
                    observation.set_route(response.request().match_pattern().as_deref());
                    let endpoint = response.response().extensions().get().copied();
                    if let Some(EndpointRoute(route)) = endpoint {
                        observation.answered_by(route);
                    }
                    let id = observation
                        .request_id()
                        .filter(|_| !observation.is_excluded());
                    if let Some(value) =
                        id.and_then(|id| HeaderValue::from_bytes(id.as_bytes()).ok())
                    {
                        const REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
                        response.headers_mut().insert(REQUEST_ID, value);
                    }
                    observation.responded(response.status().as_u16());
                }
                Ok(response.map_body(|_, body| ObservedBody {
                    inner: body,
                    observation,
                }))
            }
            Err(error) => {
                // An `Err` from a middleware inside this one: recorded with the status
                // and size of the answer actix makes of it after us, by the same call.
                if let Some(mut observation) = observation {
                    LateRoute::name(late, &mut observation);
                    let response = error.as_response_error().error_response();
                    let body_size = match response.body().size() {
                        BodySize::Sized(n) => Some(n),
                        BodySize::None => Some(0),
                        BodySize::Stream => None,
                    };
                    observation.end(End::Errored {
                        status: response.status().as_u16(),
                        body_size,
                    });
                }
                Err(error)
            }
        })
    }
}

pin_project! {
    /// A response body that counts its bytes for the observation and keeps the
    /// request in flight until its last chunk is out (or the body is dropped, when
    /// the server is done with it or the client went away).
    #[derive(Debug)]
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        observation: Option<Observation>,
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
        let chunk = ready!(Observation::poll_body(this.observation, || inner
            .as_mut()
            .poll_next(cx)));
        match &chunk {
            Some(Ok(bytes)) => {
                if let Some(observation) = this.observation.as_mut() {
                    observation.frame(bytes.len() as u64);
                }
            }
            // The end, or an error that ends the body: the request is over.
            Some(Err(_)) | None => {
                if let Some(observation) = this.observation.take() {
                    observation.end(End::Completed);
                }
            }
        }
        Poll::Ready(chunk)
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let Self { inner, observation } = self;
        match inner.try_into_bytes() {
            Ok(bytes) => {
                if let Some(mut observation) = observation {
                    observation.frame(bytes.len() as u64);
                    observation.end(End::Completed);
                }
                Ok(bytes)
            }
            Err(inner) => Err(Self { inner, observation }),
        }
    }
}

pin_project! {
    /// A request payload of unknown length (a chunked upload), counted as it is read.
    struct CountedPayload {
        #[pin]
        inner: Payload,
        counter: BodyCounter,
    }
}

impl Stream for CountedPayload {
    type Item = <Payload as Stream>::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let item = ready!(this.inner.poll_next(cx));
        if let Some(Ok(bytes)) = &item {
            this.counter.add(bytes.len() as u64);
        }
        Poll::Ready(item)
    }
}

/// actix-web's header map (the `http` 0.2 types), read by the observation.
struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl HeaderSource for Headers<'_> {
    fn header(&self, header: RequestHeader) -> Option<&[u8]> {
        use actix_web::http::header::{CONTENT_LENGTH, HOST, USER_AGENT};
        const REQUEST_ID: HeaderName = HeaderName::from_static(RequestHeader::RequestId.name());
        const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
        const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
        const BAGGAGE: HeaderName = HeaderName::from_static("baggage");
        let name = match header {
            RequestHeader::ContentLength => &CONTENT_LENGTH,
            RequestHeader::UserAgent => &USER_AGENT,
            RequestHeader::Host => &HOST,
            RequestHeader::RequestId => &REQUEST_ID,
            RequestHeader::TraceParent => &TRACEPARENT,
            RequestHeader::TraceState => &TRACESTATE,
            RequestHeader::Baggage => &BAGGAGE,
            _ => return None,
        };
        self.0.get(name).map(HeaderValue::as_bytes)
    }

    /// One walk over the map: each lookup hashes its name.
    fn known(&self) -> KnownHeaders<'_> {
        let mut known = KnownHeaders::default();
        for (name, value) in self.0 {
            known.offer(name.as_str(), value.as_bytes());
        }
        known
    }
}

/// actix-web's HTTP version (`http` 0.2) as the `http` 1.x one.
fn version(version: actix_web::http::Version) -> http::Version {
    match version {
        actix_web::http::Version::HTTP_09 => http::Version::HTTP_09,
        actix_web::http::Version::HTTP_10 => http::Version::HTTP_10,
        actix_web::http::Version::HTTP_2 => http::Version::HTTP_2,
        actix_web::http::Version::HTTP_3 => http::Version::HTTP_3,
        _ => http::Version::HTTP_11,
    }
}
