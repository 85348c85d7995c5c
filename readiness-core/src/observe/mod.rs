//! One request, one observation: RED metrics, the request id, the request span
//! (the server span with OpenTelemetry) and the access line, written once for every
//! framework.
//!
//! An adapter translates its framework's request into a [`RequestHead`] and calls
//! [`Observer::begin`]. The [`Observation`] it gets back counts the request in flight
//! and carries its id and span; the adapter then reports the response head
//! ([`Observation::responded`]), each body frame ([`Observation::frame`]) and the
//! end ([`Observation::end`]: completed, client gone, panicked, errored). The request
//! is recorded once, at its end, in the metrics, the span and the access line. A
//! dropped observation ends by itself (client gone, or completed once a head was
//! seen), so an adapter needs no bookkeeping of its own on cancellation.
//!
//! The shipped adapters are [`ObserveLayer`] (tower: axum, tonic, hyper stacks; used
//! by `readiness-axum`) and `readiness-actix`'s `Observe`. Another framework needs
//! only the same translation.
//!
//! # Default: the tower layer
//!
//! ```
//! use readiness_core::observe::{ObserveLayer, RouteTemplate};
//! use readiness_core::Readiness;
//!
//! /// A stack without a router: every request counts under one template.
//! #[derive(Clone)]
//! struct OneRoute;
//! impl<B> RouteTemplate<B> for OneRoute {
//!     fn route<'a>(&self, _request: &'a http::Request<B>) -> Option<&'a str> {
//!         Some("/rpc")
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder().build()?;
//! let layer = ObserveLayer::new(readiness.observer(), OneRoute);
//! # let _ = layer;
//! # Ok(()) }
//! ```
//!
//! # Customized: an adapter of your own
//!
//! A server this library does not ship an adapter for observes its requests the
//! same way: begin with the head, report the answer, end.
//!
//! ```
//! use readiness_core::observe::{End, RequestHead};
//! use readiness_core::Readiness;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder().build()?;
//! let observer = readiness.observer();
//!
//! // A request arrives; the router matched `/orders/{id}`.
//! let headers = http::HeaderMap::new();
//! let head = RequestHead::new("GET", "/orders/7", &headers).with_route(Some("/orders/{id}"));
//! let mut observation = observer.begin(&head).expect("not an excluded route");
//! let _request_id = observation.request_id().cloned(); // echo it in `X-Request-Id`
//! {
//!     let _entered = observation.span().enter();
//!     // ... run the handler inside the request's span ...
//! }
//! observation.responded(200);
//! observation.frame(2); // each body frame written
//! observation.end(End::Completed);
//!
//! let text = String::from_utf8(readiness.metrics_response().body().to_vec())?;
//! assert!(text.contains(r#"http_server_response_body_size_bytes_sum{http_request_method="GET",http_response_status_code="200",http_route="/orders/{id}"} 2"#));
//! # Ok(()) }
//! ```

mod access;
mod head;
mod observation;
mod tower;

pub use head::{EndpointRoute, HeaderSource, KnownHeaders, RequestHead, RequestHeader};
pub use observation::{BodyCounter, End, Observation, Observer};
pub use tower::{CountedBody, Observe, ObserveLayer, ResponseBody, ResponseFuture, RouteTemplate};
