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

    /// Every [`RequestHeader`] at once, for an observation that reads most of them
    /// (one with the access log on). By default one [`header`](Self::header) call
    /// each; a source that can walk its headers once more cheaply than it can look
    /// each up offers them to [`KnownHeaders::offer`] instead.
    fn known(&self) -> KnownHeaders<'_> {
        KnownHeaders::looked_up(self)
    }
}

impl RequestHeader {
    /// Every header, in the order of their values in [`KnownHeaders`].
    const ALL: [Self; 7] = [
        Self::ContentLength,
        Self::UserAgent,
        Self::Host,
        Self::RequestId,
        Self::TraceParent,
        Self::TraceState,
        Self::Baggage,
    ];

    /// The header named `name` (lower case, as `http` and actix-web keep names).
    fn named(name: &str) -> Option<Self> {
        // By length first: one comparison of text at most.
        let header = match name.len() {
            4 => Self::Host,
            7 => Self::Baggage,
            10 if name.as_bytes()[0] == b'u' => Self::UserAgent,
            10 => Self::TraceState,
            11 => Self::TraceParent,
            12 => Self::RequestId,
            14 => Self::ContentLength,
            _ => return None,
        };
        (name == header.name()).then_some(header)
    }
}

/// The value of each [`RequestHeader`], read at once: see [`HeaderSource::known`].
///
/// ```
/// use readiness_core::observe::{HeaderSource, KnownHeaders, RequestHeader};
///
/// let mut known = KnownHeaders::default();
/// known.offer("accept", b"*/*");
/// known.offer("x-request-id", b"abc-1");
/// known.offer("x-request-id", b"second"); // the first value counts
/// assert_eq!(known.header(RequestHeader::RequestId), Some(&b"abc-1"[..]));
/// assert_eq!(known.header(RequestHeader::UserAgent), None);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct KnownHeaders<'a> {
    values: [Option<&'a [u8]>; RequestHeader::ALL.len()],
}

impl<'a> KnownHeaders<'a> {
    /// Each header looked up in `source`, one [`HeaderSource::header`] call each.
    fn looked_up<S: HeaderSource + ?Sized>(source: &'a S) -> Self {
        let mut known = Self::default();
        for header in RequestHeader::ALL {
            known.values[header as usize] = source.header(header);
        }
        known
    }

    /// A request header as sent, `name` in lower case: kept when it is one of
    /// [`RequestHeader`] not offered before (the first value counts, as
    /// [`HeaderSource::header`] says), ignored otherwise.
    #[inline]
    pub fn offer(&mut self, name: &str, value: &'a [u8]) {
        if let Some(header) = RequestHeader::named(name) {
            let slot = &mut self.values[header as usize];
            if slot.is_none() {
                *slot = Some(value);
            }
        }
    }
}

impl HeaderSource for KnownHeaders<'_> {
    #[inline]
    fn header(&self, header: RequestHeader) -> Option<&[u8]> {
        self.values[header as usize]
    }
}

/// Up to this many headers, walking them once costs less than looking each known
/// one up (a hash of its name, then a probe).
const WALKED_HEADERS: usize = 16;

impl HeaderSource for http::HeaderMap {
    fn known(&self) -> KnownHeaders<'_> {
        if self.len() > WALKED_HEADERS {
            return KnownHeaders::looked_up(self);
        }
        let mut known = KnownHeaders::default();
        for (name, value) in self {
            known.offer(name.as_str(), value.as_bytes());
        }
        known
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk over a small map and the lookups of a large one both give each
    /// header's first value, as `header` does.
    #[test]
    fn known_headers_are_the_first_values() {
        for fillers in [0, 3, WALKED_HEADERS + 1] {
            let mut headers = http::HeaderMap::new();
            for i in 0..fillers {
                headers.insert(
                    http::HeaderName::try_from(format!("x-filler-{i}")).unwrap(),
                    http::HeaderValue::from_static("1"),
                );
            }
            for header in RequestHeader::ALL {
                let name = http::HeaderName::from_static(header.name());
                headers.append(&name, http::HeaderValue::from_static("first"));
                headers.append(&name, http::HeaderValue::from_static("second"));
            }
            // Names of the same lengths that are not ours.
            headers.insert("user-agenz", http::HeaderValue::from_static("no"));
            headers.insert("tracestatf", http::HeaderValue::from_static("no"));
            let known = headers.known();
            for header in RequestHeader::ALL {
                assert_eq!(known.header(header), Some(&b"first"[..]), "{header:?}");
                assert_eq!(known.header(header), headers.header(header));
            }
        }
        let empty = http::HeaderMap::new();
        let empty = empty.known();
        assert!(RequestHeader::ALL
            .iter()
            .all(|h| empty.header(*h).is_none()));
        // The default: one lookup each.
        assert!(RequestHeader::ALL
            .iter()
            .all(|h| ().known().header(*h).is_none()));
    }
}
