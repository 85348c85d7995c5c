//! What an adapter hands the observation about a request, in neutral types.

use std::fmt;
use std::net::IpAddr;

/// The request headers an observation reads: a closed set, so an adapter can look
/// each up by its framework's constant, with no name to parse per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestHeader {
    /// `content-length`: the request body's size.
    ContentLength,
    /// `user-agent`.
    UserAgent,
    /// `host`: `server.address` on the server span.
    Host,
    /// `x-request-id`: the caller's request id.
    RequestId,
    /// `traceparent` (W3C Trace Context).
    TraceParent,
    /// `tracestate` (W3C Trace Context).
    TraceState,
    /// `baggage` (W3C Baggage).
    Baggage,
}

impl RequestHeader {
    /// The header's name, in lower case.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ContentLength => "content-length",
            Self::UserAgent => "user-agent",
            Self::Host => "host",
            Self::RequestId => crate::request_id::REQUEST_ID_HEADER,
            Self::TraceParent => "traceparent",
            Self::TraceState => "tracestate",
            Self::Baggage => "baggage",
        }
    }
}

/// Read access to a request's headers, whatever the framework's header type.
///
/// Implemented for `http::HeaderMap` (tower, axum, hyper, tonic) and `()` (no
/// headers); an adapter implements it on a wrapper of its framework's header map.
///
/// ```
/// use readiness_core::observe::{HeaderSource, RequestHeader};
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-request-id", "abc-1".parse().unwrap());
/// assert_eq!(headers.header(RequestHeader::RequestId), Some(&b"abc-1"[..]));
/// assert_eq!(().header(RequestHeader::RequestId), None);
/// ```
pub trait HeaderSource {
    /// The first value of `header`, as sent.
    fn header(&self, header: RequestHeader) -> Option<&[u8]>;
}

impl HeaderSource for http::HeaderMap {
    fn header(&self, header: RequestHeader) -> Option<&[u8]> {
        use http::header::{HeaderName, CONTENT_LENGTH, HOST, USER_AGENT};
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
        };
        self.get(name).map(http::HeaderValue::as_bytes)
    }
}

impl HeaderSource for () {
    fn header(&self, _header: RequestHeader) -> Option<&[u8]> {
        None
    }
}

/// A request as it arrives, in the framework-neutral terms the observation needs.
/// Borrowed: building one copies nothing. See the [module docs](super).
///
/// ```
/// use readiness_core::observe::RequestHead;
///
/// let headers = http::HeaderMap::new();
/// let head = RequestHead::new("GET", "/orders/7", &headers)
///     .with_route(Some("/orders/{id}"))
///     .with_version(http::Version::HTTP_11)
///     .with_client("10.0.0.7".parse().ok());
/// assert_eq!(head.route(), Some("/orders/{id}"));
/// ```
#[derive(Clone, Copy)]
pub struct RequestHead<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) route: Option<&'a str>,
    pub(crate) routed: bool,
    pub(crate) scheme: Option<&'a str>,
    pub(crate) host: Option<&'a str>,
    pub(crate) version: Option<&'static str>,
    pub(crate) client: Option<IpAddr>,
    pub(crate) headers: &'a dyn HeaderSource,
}

impl<'a> RequestHead<'a> {
    /// A request for `path` (without the query string) by `method`, as sent. Its
    /// route is not known yet (see [`with_route`](Self::with_route)); `Host`,
    /// `User-Agent`, `Content-Length`, `X-Request-Id` and the W3C trace context
    /// are read from `headers` when needed.
    #[inline]
    pub fn new(method: &'a str, path: &'a str, headers: &'a dyn HeaderSource) -> Self {
        Self {
            method,
            path,
            route: None,
            routed: false,
            scheme: None,
            host: None,
            version: None,
            client: None,
            headers,
        }
    }

    /// The route template the router matched (`/orders/{id}`), or `None` when no
    /// route matched. A server that routes after its middleware leaves it out and
    /// names it later with [`Observation::set_route`](super::Observation::set_route).
    #[inline]
    #[must_use]
    pub fn with_route(mut self, route: Option<&'a str>) -> Self {
        self.route = route;
        self.routed = true;
        self
    }

    /// `url.scheme` (`http`, `https`), when the server knows it.
    #[inline]
    #[must_use]
    pub fn with_scheme(mut self, scheme: Option<&'a str>) -> Self {
        self.scheme = scheme;
        self
    }

    /// `server.address`, when it is not the `Host` header (HTTP/2's `:authority`).
    #[inline]
    #[must_use]
    pub fn with_host(mut self, host: Option<&'a str>) -> Self {
        self.host = host;
        self
    }

    /// The HTTP version (`network.protocol.version`).
    #[inline]
    #[must_use]
    pub fn with_version(mut self, version: http::Version) -> Self {
        self.version = version_str(version);
        self
    }

    /// The peer's address (`client.address`), when the server knows it.
    #[inline]
    #[must_use]
    pub fn with_client(mut self, client: Option<IpAddr>) -> Self {
        self.client = client;
        self
    }

    /// The matched route template, when known.
    #[inline]
    #[must_use]
    pub fn route(&self) -> Option<&'a str> {
        self.route
    }

    #[inline]
    pub(crate) fn header(&self, header: RequestHeader) -> Option<&'a [u8]> {
        self.headers.header(header)
    }

    #[inline]
    pub(crate) fn header_str(&self, header: RequestHeader) -> Option<&'a str> {
        self.header(header)
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}

impl fmt::Debug for RequestHead<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestHead")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("route", &self.route)
            .field("routed", &self.routed)
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("version", &self.version)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// A response extension naming the library route that answered (`/readyz`,
/// `/health/{check}`, `/metrics`), whatever prefix it is mounted under
/// (`Router::nest`, an actix-web `scope`). The observation leaves the request out
/// of the RED metrics and the access log when that route is excluded (see
/// [`ReadinessBuilder::exclude_routes`](crate::ReadinessBuilder::exclude_routes)),
/// as it does for the route at the root. The library's own answers carry it; an
/// operational endpoint of your own can too.
///
/// ```
/// use readiness_core::observe::EndpointRoute;
///
/// let mut response = http::Response::new(());
/// response.extensions_mut().insert(EndpointRoute("/readyz"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointRoute(pub &'static str);

/// `Content-Length` as a number, if it is one.
pub(crate) fn content_length(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// `network.protocol.version` of an HTTP version.
#[inline]
pub(crate) fn version_str(version: http::Version) -> Option<&'static str> {
    match version {
        http::Version::HTTP_09 => Some("0.9"),
        http::Version::HTTP_10 => Some("1.0"),
        http::Version::HTTP_11 => Some("1.1"),
        http::Version::HTTP_2 => Some("2"),
        http::Version::HTTP_3 => Some("3"),
        _ => None,
    }
}
