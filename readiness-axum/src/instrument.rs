//! [`instrument`]: the health routes, `/metrics` and the observation of every route,
//! finished last by construction ([`Instrumented`]); [`ObserveLayer`] for part of a
//! router.

use std::convert::Infallible;
use std::fmt;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::routing::{IntoMakeService, Route};
use axum::{BoxError, Router};
use readiness_core::observe::{self, BodyCounter, CountedBody, Observe, RouteTemplate};
use readiness_core::Readiness;
use tower_layer::Layer;
use tower_service::Service;

/// Adds the health routes and `/metrics` to `router`, and records every request of
/// it (RED metrics by method, matched route template and status, the request id, the
/// request span and the access line). See the [`metrics` docs](readiness_core::metrics)
/// for the families. Requests no route matched are recorded under `_UNMATCHED`.
///
/// It returns an [`Instrumented`] router, which serves (`axum::serve`,
/// [`serve`](crate::serve()), `oneshot`) but takes no more routes: a route added after
/// the observation is applied would go unrecorded, so adding one does not compile.
/// Add every route first, then instrument; [`Instrumented::with_state`] and
/// [`Instrumented::layer`] still work after it. To observe part of a router only,
/// use [`ObserveLayer`].
///
/// ```
/// use axum::{routing::get, Router};
/// use readiness_axum::core::Readiness;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
/// let app: Router = Router::new().route("/orders/{id}", get(|| async { "{}" }));
/// let app = readiness_axum::instrument(app, &readiness);
/// # let _ = app;
/// # Ok(()) }
/// ```
///
/// A router that serves `/metrics` (or a health path) itself conflicts with ours, and
/// axum panics on the overlap, naming the route: leave ours out with
/// [`Instrument::metrics_route`] or [`Instrument::health_routes`].
///
/// ```compile_fail
/// # use axum::{routing::get, Router};
/// # let readiness = readiness_axum::core::Readiness::builder().build().unwrap();
/// let app = readiness_axum::instrument(Router::new(), &readiness)
///     .route("/late", get(|| async { "unrecorded" })); // no method `route`
/// ```
pub fn instrument<S>(router: Router<S>, readiness: &Readiness) -> Instrumented<S>
where
    S: Clone + Send + Sync + 'static,
{
    Instrument::new(readiness).apply(router)
}

/// [`instrument`] with its routes chosen: for a router that serves `/metrics` or a
/// health path itself.
///
/// ```
/// use axum::{routing::get, Router};
/// use readiness_axum::core::Readiness;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = Readiness::builder().build()?;
/// // The service exposes its own /metrics (another exporter's): ours stays out.
/// let app: Router = Router::new().route("/metrics", get(|| async { "# other exporter" }));
/// let app = readiness_axum::Instrument::new(&readiness)
///     .metrics_route(false)
///     .apply(app);
/// # let _ = app;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Instrument {
    readiness: Readiness,
    health: bool,
    metrics: bool,
    #[cfg_attr(not(feature = "logging"), allow(dead_code))]
    log_level: bool,
}

impl Instrument {
    /// The health routes, `/metrics` and the observation of `readiness`.
    pub fn new(readiness: &Readiness) -> Self {
        Self {
            readiness: readiness.clone(),
            health: true,
            metrics: true,
            log_level: true,
        }
    }

    /// Whether `/livez`, `/readyz`, `/startupz`, `/health` and `/health/{check}` are
    /// added (default true).
    pub fn health_routes(mut self, on: bool) -> Self {
        self.health = on;
        self
    }

    /// Whether `/metrics` is added (default true). Without it, serve
    /// [`Readiness::metrics_response`] where the scrape expects it.
    pub fn metrics_route(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Whether the [log-level route](readiness_core::endpoint#the-log-level-route)
    /// is added (default true; there is none unless the service gave a
    /// [`LogFilter`](readiness_core::logging::LogFilter)). With an
    /// [admin listener](crate::admin_router) it belongs there instead.
    pub fn log_level_route(mut self, on: bool) -> Self {
        self.log_level = on;
        self
    }

    /// Adds the chosen routes to `router` and observes all of it. See [`instrument`].
    pub fn apply<S>(self, router: Router<S>) -> Instrumented<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let mut router = router;
        if self.health {
            router = router.merge(crate::health_routes(&self.readiness));
        }
        if self.metrics {
            router = router.merge(crate::metrics_route(&self.readiness));
        }
        #[cfg(feature = "logging")]
        if self.log_level {
            router = router.merge(crate::admin::log_level_route(&self.readiness));
        }
        Instrumented {
            router: router.layer(ObserveLayer::new(&self.readiness)),
        }
    }
}

/// A router whose every route is observed, made by [`instrument`]. It serves as a
/// `Router` does, and takes no more routes. See [`instrument`].
#[must_use]
pub struct Instrumented<S = ()> {
    router: Router<S>,
}

impl<S> Clone for Instrumented<S> {
    fn clone(&self) -> Self {
        Self {
            router: self.router.clone(),
        }
    }
}

impl<S> fmt::Debug for Instrumented<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented")
            .field("router", &self.router)
            .finish()
    }
}

impl<S> Instrumented<S>
where
    S: Clone + Send + Sync + 'static,
{
    /// Provides the state, as [`Router::with_state`].
    pub fn with_state<S2>(self, state: S) -> Instrumented<S2> {
        Instrumented {
            router: self.router.with_state(state),
        }
    }

    /// Wraps every route in `layer`, as [`Router::layer`]. It runs outside the
    /// observation: what it answers by itself (a timeout, a refusal) is not seen
    /// by it.
    pub fn layer<L>(self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        Self {
            router: self.router.layer(layer),
        }
    }

    /// The router itself, to nest or merge into another one (whose own routes
    /// [`instrument`] did not see). Routes added to it are not recorded.
    pub fn into_router(self) -> Router<S> {
        self.router
    }
}

impl Instrumented {
    /// As [`Router::into_make_service`].
    pub fn into_make_service(self) -> IntoMakeService<Router> {
        self.router.into_make_service()
    }

    /// As [`Router::into_make_service_with_connect_info`]: with the peer's
    /// address, for `client.address` on the request's span. Needs axum's `tokio`
    /// feature, which the `serve` and `otel` features turn on.
    #[cfg(any(feature = "serve", feature = "otel"))]
    pub fn into_make_service_with_connect_info<C>(
        self,
    ) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, C> {
        self.router.into_make_service_with_connect_info()
    }
}

impl<B> Service<Request<B>> for Instrumented
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture<Infallible>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<Request<B>>::poll_ready(&mut self.router, cx)
    }

    #[inline]
    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.router.call(request)
    }
}

/// `axum::serve(listener, instrumented)`, as with a `Router`.
#[cfg(feature = "serve")]
impl<L> Service<axum::serve::IncomingStream<'_, L>> for Instrumented
where
    L: axum::serve::Listener,
{
    type Response = Router;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Router, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _stream: axum::serve::IncomingStream<'_, L>) -> Self::Future {
        std::future::ready(Ok(self.router.clone()))
    }
}

/// Observes the requests of the routes it wraps, as [`instrument`] does for a whole
/// router: for part of a router, with [`Router::route_layer`] (or
/// [`Router::layer`]) on it.
///
/// ```
/// use axum::{routing::get, Router};
/// use readiness_axum::core::Readiness;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = Readiness::builder().build()?;
/// let api: Router = Router::new()
///     .route("/orders/{id}", get(|| async { "{}" }))
///     .route_layer(readiness_axum::ObserveLayer::new(&readiness));
/// let app: Router = Router::new()
///     .nest("/api", api)                            // recorded as /api/orders/{id}
///     .route("/internal", get(|| async { "ok" }))   // not recorded
///     .merge(readiness_axum::routes(&readiness));   // probes and /metrics, not recorded
/// # let _ = app;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ObserveLayer {
    inner: observe::ObserveLayer<MatchedRoute>,
}

impl ObserveLayer {
    /// The layer for `readiness`'s observer.
    pub fn new(readiness: &Readiness) -> Self {
        Self {
            inner: observe::ObserveLayer::new(readiness.observer(), MatchedRoute),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S, MatchedRoute>;

    #[inline]
    fn layer(&self, inner: S) -> Self::Service {
        self.inner.layer(inner)
    }
}

/// What axum's router knows of a request, for [`ObserveLayer`]: the route template
/// it matched (`MatchedPath`), the peer from `ConnectInfo`, and its body type, in
/// which a chunked upload is counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct MatchedRoute;

impl RouteTemplate<Body> for MatchedRoute {
    #[inline]
    fn route<'a>(&self, request: &'a Request) -> Option<&'a str> {
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
    }

    /// From `ConnectInfo<SocketAddr>`, there when the app is served with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    #[cfg(feature = "otel")]
    fn client(&self, request: &Request) -> Option<std::net::IpAddr> {
        request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip())
    }

    fn count_body(&self, body: &mut Body, counter: BodyCounter) {
        *body = Body::new(CountedBody::new(std::mem::take(body), counter));
    }

    /// The layer wraps axum's `Route` (`Router::layer` and `route_layer` wrap each
    /// route), whose `call` defers the handler to the first poll.
    #[inline]
    fn call_is_deferred(&self) -> bool {
        true
    }
}
