//! The `/metrics` answer: the registry in Prometheus' classic text format, or in
//! OpenMetrics (with exemplars) when the scraper asks for it.

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};

use super::{openmetrics, METRICS_PATH};
use crate::metrics::RedMetrics;
use crate::observe::EndpointRoute;

/// Every family of `registry`, encoded in the format `accept` asks for (OpenMetrics
/// when it names `application/openmetrics-text`, with `red`'s duration exemplars;
/// else the classic text format); a 500 (logged) if encoding fails.
pub(crate) fn scrape(
    registry: &prometheus::Registry,
    red: &RedMetrics,
    accept: Option<&str>,
) -> Response<Bytes> {
    let families = registry.gather();
    let (code, content_type, body) = if openmetrics::wanted(accept) {
        let exemplars = openmetrics::Exemplars::new(red.duration_name(), red.duration_exemplars());
        let body = openmetrics::encode(&families, &exemplars);
        (StatusCode::OK, openmetrics::CONTENT_TYPE, body.into_bytes())
    } else {
        use prometheus::Encoder as _;
        let encoder = prometheus::TextEncoder::new();
        let mut body = Vec::new();
        match encoder.encode(&families, &mut body) {
            Ok(()) => (StatusCode::OK, prometheus::TEXT_FORMAT, body),
            Err(error) => {
                tracing::error!(target: "readiness::metrics", error = %error, "metrics encoding failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    Vec::new(),
                )
            }
        }
    };
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // A scrape stays out of the RED metrics and the access log wherever mounted.
    response
        .extensions_mut()
        .insert(EndpointRoute(METRICS_PATH));
    response
}
