//! The `/metrics` answer: the registry in Prometheus' text format.

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};

use super::METRICS_PATH;
use crate::observe::EndpointRoute;

/// Every family of `registry`, encoded; a 500 (logged) if encoding fails.
pub(crate) fn scrape(registry: &prometheus::Registry) -> Response<Bytes> {
    use prometheus::Encoder as _;
    let encoder = prometheus::TextEncoder::new();
    let mut body = Vec::new();
    let (code, content_type) = match encoder.encode(&registry.gather(), &mut body) {
        Ok(()) => (StatusCode::OK, encoder.format_type().to_owned()),
        Err(error) => {
            tracing::error!(target: "readiness::metrics", error = %error, "metrics encoding failed");
            body.clear();
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8".to_owned(),
            )
        }
    };
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // A scrape stays out of the RED metrics and the access log wherever mounted.
    response
        .extensions_mut()
        .insert(EndpointRoute(METRICS_PATH));
    response
}
