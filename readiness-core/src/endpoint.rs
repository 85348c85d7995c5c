//! Framework-neutral answers for the probe and health routes.
//!
//! Adapters turn their request into a [`ProbeRequest`] and the returned
//! `http::Response<Bytes>` into theirs, so every framework answers byte for byte the
//! same.
//!
//! | path | what it answers |
//! |---|---|
//! | `/livez` | liveness checks |
//! | `/readyz` | readiness checks, the startup gate and the manual switch |
//! | `/startupz` | `pass` once every critical readiness and startup check passed once |
//! | `/health` | every check, the service's identity and uptime |
//! | `/health/{check}` | one check; 404 for an unknown name |
//!
//! `200` for `pass` and `warn`, `503` for `fail`, `405` for methods other than GET
//! and HEAD, `400` for a `?tag=` no check carries. HEAD is answered like GET, body
//! included, so the server can state its length; hyper (axum) and actix-web drop the
//! body when they write a HEAD response. Query parameters follow
//! Kubernetes: `?verbose` answers a plain-text list (`[+]db ok`), `?exclude=NAME`
//! (repeatable) leaves a check out; `?tag=NAME` keeps only the checks with that tag.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};

use crate::health::report::{self, Body};
use crate::health::snapshot::Snapshot;
use crate::health::{validate_name, CheckInfo, Probe, Status};
use crate::observe::EndpointRoute;
use crate::readiness::{Details, Readiness};

/// The path of the liveness probe.
pub const LIVEZ_PATH: &str = "/livez";
/// The path of the readiness probe.
pub const READYZ_PATH: &str = "/readyz";
/// The path of the startup probe.
pub const STARTUPZ_PATH: &str = "/startupz";
/// The path of the whole health report.
pub const HEALTH_PATH: &str = "/health";
/// The prefix of the one-check reports, `/health/{check}`.
pub const HEALTH_CHECK_PREFIX: &str = "/health/";
/// The route template of the one-check reports; the parameter is `check`.
pub const CHECK_PATH: &str = "/health/{check}";
/// The path of the Prometheus scrape endpoint.
pub const METRICS_PATH: &str = "/metrics";
/// The media type of health bodies.
pub const HEALTH_JSON: &str = "application/health+json";

/// Which health route a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint<'a> {
    /// `/livez`
    Livez,
    /// `/readyz`
    Readyz,
    /// `/startupz`
    Startupz,
    /// `/health`
    Health,
    /// `/health/{check}`
    Check(&'a str),
}

impl Endpoint<'_> {
    /// The route template the endpoint is served under, at the root.
    #[must_use]
    pub fn route(&self) -> &'static str {
        match self {
            Self::Livez => LIVEZ_PATH,
            Self::Readyz => READYZ_PATH,
            Self::Startupz => STARTUPZ_PATH,
            Self::Health => HEALTH_PATH,
            Self::Check(_) => CHECK_PATH,
        }
    }
}

impl<'a> Endpoint<'a> {
    /// The endpoint served at `path`, if any.
    ///
    /// ```
    /// use readiness_core::Endpoint;
    /// assert_eq!(Endpoint::from_path("/health/db"), Some(Endpoint::Check("db")));
    /// assert_eq!(Endpoint::from_path("/orders"), None);
    /// ```
    #[must_use]
    pub fn from_path(path: &'a str) -> Option<Self> {
        match path {
            LIVEZ_PATH => Some(Self::Livez),
            READYZ_PATH => Some(Self::Readyz),
            STARTUPZ_PATH => Some(Self::Startupz),
            HEALTH_PATH => Some(Self::Health),
            _ => path
                .strip_prefix(HEALTH_CHECK_PREFIX)
                .filter(|name| !name.is_empty() && !name.contains('/'))
                .map(Self::Check),
        }
    }

    fn label(self) -> &'a str {
        match self {
            Self::Livez => "livez",
            Self::Readyz => "readyz",
            Self::Startupz => "startupz",
            Self::Health => "health",
            Self::Check(name) => name,
        }
    }
}

/// A request to a health route, in framework-neutral terms.
///
/// ```
/// use readiness_core::{Endpoint, ProbeRequest};
///
/// let request = ProbeRequest::new(Endpoint::Readyz, "GET")
///     .with_query(Some("verbose&exclude=cache"))
///     .with_authorization(Some(b"Bearer 0123456789abcdef"));
/// # let _ = request;
/// ```
#[derive(Clone, Copy)]
pub struct ProbeRequest<'a> {
    endpoint: Endpoint<'a>,
    method: &'a str,
    query: Option<&'a str>,
    authorization: Option<&'a [u8]>,
}

impl<'a> ProbeRequest<'a> {
    /// A request for `endpoint` with the HTTP `method` (`GET`, `HEAD`, ...).
    #[must_use]
    pub fn new(endpoint: Endpoint<'a>, method: &'a str) -> Self {
        Self {
            endpoint,
            method,
            query: None,
            authorization: None,
        }
    }

    /// The raw query string, without the `?`.
    #[must_use]
    pub fn with_query(mut self, query: Option<&'a str>) -> Self {
        self.query = query;
        self
    }

    /// The raw `Authorization` header value.
    #[must_use]
    pub fn with_authorization(mut self, authorization: Option<&'a [u8]>) -> Self {
        self.authorization = authorization;
        self
    }
}

impl std::fmt::Debug for ProbeRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeRequest")
            .field("endpoint", &self.endpoint)
            .field("method", &self.method)
            .field("query", &self.query)
            .field("authorization", &self.authorization.map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Default)]
struct Query {
    verbose: bool,
    exclude: Vec<String>,
    tag: Option<String>,
}

impl Query {
    fn parse(query: Option<&str>) -> Self {
        let mut parsed = Self::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*key {
                "verbose" => parsed.verbose = value != "false" && value != "0",
                "exclude" => parsed.exclude.extend(
                    value
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                ),
                "tag" => parsed.tag = Some(value.into_owned()),
                _ => {}
            }
        }
        parsed
    }
}

impl Readiness {
    /// Answers a health request from the cached results: no I/O, no waiting on checks.
    ///
    /// ```
    /// use readiness_core::{checks, Endpoint, ProbeRequest, Readiness};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = Readiness::builder()
    ///     .check(checks::from_fn("queue", || async { true }))
    ///     .build()?;
    /// readiness.refresh().await;
    /// let response = readiness.respond(&ProbeRequest::new(Endpoint::Readyz, "GET"));
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(response.headers()["content-type"], "application/health+json");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn respond(&self, request: &ProbeRequest<'_>) -> Response<Bytes> {
        let mut response = self.answer(request);
        // Probes stay out of the RED metrics and the access log wherever mounted.
        response
            .extensions_mut()
            .insert(EndpointRoute(request.endpoint.route()));
        response
    }

    fn answer(&self, request: &ProbeRequest<'_>) -> Response<Bytes> {
        match request.method {
            "GET" | "HEAD" => {}
            _ => {
                let mut response = Response::new(Bytes::new());
                *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
                return response;
            }
        };
        let inner = &self.inner;
        let infos = &inner.shared.infos;
        let snapshot = inner.shared.snapshot.load();
        let query = Query::parse(request.query);
        // A misspelt tag in a probe's URL must not turn it into one that always passes.
        if let Some(tag) = &query.tag {
            if !infos.iter().any(|info| info.tags.contains(tag)) {
                return problem(StatusCode::BAD_REQUEST, "unknown tag");
            }
        }
        let details = if self.token_matches(request.authorization) {
            Details::Full
        } else {
            inner.details
        };

        let selected = |probe: Option<Probe>| -> Vec<usize> {
            infos
                .iter()
                .enumerate()
                .filter(|(_, info)| probe.is_none_or(|p| info.has_probe(p)))
                .filter(|(_, info)| !query.exclude.contains(&info.name))
                .filter(|(_, info)| query.tag.as_ref().is_none_or(|tag| info.tags.contains(tag)))
                .map(|(i, _)| i)
                .collect()
        };
        let unready = self.unready_reason();
        let (indices, status, output, own_status) = match request.endpoint {
            Endpoint::Livez => {
                let indices = selected(Some(Probe::Liveness));
                let status = aggregate(&snapshot, infos, &indices);
                (indices, status, None, false)
            }
            Endpoint::Readyz => {
                let indices = selected(Some(Probe::Readiness));
                let (status, output) = if let Some(reason) = &unready {
                    (Status::Fail, Some(format!("not ready: {reason}")))
                } else if !snapshot.started {
                    (Status::Fail, Some(STARTING.to_owned()))
                } else {
                    (aggregate(&snapshot, infos, &indices), None)
                };
                (indices, status, output, false)
            }
            Endpoint::Startupz => {
                let indices: Vec<usize> = selected(None)
                    .into_iter()
                    .filter(|&i| {
                        infos[i].has_probe(Probe::Startup)
                            || (infos[i].critical && infos[i].has_probe(Probe::Readiness))
                    })
                    .collect();
                if snapshot.started {
                    (indices, Status::Pass, None, false)
                } else {
                    (indices, Status::Fail, Some(STARTING.to_owned()), false)
                }
            }
            Endpoint::Health => {
                let indices = selected(None);
                let status = aggregate(&snapshot, infos, &indices);
                (indices, status, None, false)
            }
            Endpoint::Check(name) => {
                let Some(index) = infos.iter().position(|info| info.name == name) else {
                    return problem(StatusCode::NOT_FOUND, "unknown check");
                };
                let status = snapshot.results[index]
                    .as_ref()
                    .map_or(Status::Warn, |r| r.status);
                (vec![index], status, None, true)
            }
        };

        let code = if status.is_healthy() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        // HEAD renders the GET body too: servers drop it but state its length.
        let (content_type, body) = if query.verbose {
            let text = verbose(
                request.endpoint,
                &snapshot,
                infos,
                &indices,
                status,
                output.as_deref(),
                details,
                own_status,
                &query.exclude,
            );
            ("text/plain; charset=utf-8", Bytes::from(text))
        } else {
            let mut checks = BTreeMap::new();
            if details != Details::StatusOnly {
                for &i in &indices {
                    report::add_check(&mut checks, &infos[i], &snapshot, i, details);
                }
                if request.endpoint == Endpoint::Health {
                    checks.insert("uptime".to_owned(), vec![report::uptime(self.uptime())]);
                }
            }
            let full = details == Details::Full;
            let shown = details != Details::StatusOnly;
            let body = Body {
                status,
                version: inner.version.as_deref().filter(|_| full),
                release_id: inner.release_id.as_deref().filter(|_| full),
                service_id: inner.service.as_deref().filter(|_| shown),
                description: inner.description.as_deref().filter(|_| shown),
                output: output.as_deref().filter(|_| shown),
                checks,
            };
            // Serialising plain strings, numbers and maps cannot fail.
            let json = serde_json::to_vec(&body).unwrap_or_default();
            (HEALTH_JSON, Bytes::from(json))
        };
        let mut response = Response::new(body);
        *response.status_mut() = code;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    fn token_matches(&self, authorization: Option<&[u8]>) -> bool {
        let (Some(token), Some(header)) = (self.inner.token.as_deref(), authorization) else {
            return false;
        };
        let Some(prefix) = header.get(..7) else {
            return false;
        };
        prefix.eq_ignore_ascii_case(b"bearer ") && constant_time_eq(&header[7..], token.as_bytes())
    }
}

const STARTING: &str = "starting: waiting for every critical check to pass once";

fn aggregate(snapshot: &Snapshot, infos: &[CheckInfo], indices: &[usize]) -> Status {
    snapshot.aggregate(infos, |i, _| indices.contains(&i))
}

/// Compares with no early exit and with work that depends on the secret's length
/// only, so timing reveals neither how much of a guess matched nor its length.
fn constant_time_eq(given: &[u8], secret: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != secret.len());
    for (i, byte) in secret.iter().enumerate() {
        diff |= given.get(i).copied().unwrap_or(0) ^ byte;
    }
    diff == 0
}

/// An answer for a request that names no known check or tag: the name is not echoed.
fn problem(code: StatusCode, output: &'static str) -> Response<Bytes> {
    let body = Body {
        status: Status::Fail,
        version: None,
        release_id: None,
        service_id: None,
        description: None,
        output: Some(output),
        checks: BTreeMap::new(),
    };
    let mut response = Response::new(Bytes::from(serde_json::to_vec(&body).unwrap_or_default()));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(HEALTH_JSON));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The Kubernetes-style plain-text answer: one `[+]`/`[-]` line per check, then a verdict.
#[allow(clippy::too_many_arguments)]
fn verbose(
    endpoint: Endpoint<'_>,
    snapshot: &Snapshot,
    infos: &[CheckInfo],
    indices: &[usize],
    status: Status,
    output: Option<&str>,
    details: Details,
    own_status: bool,
    exclude: &[String],
) -> String {
    let mut text = String::new();
    if details != Details::StatusOnly {
        for &i in indices {
            let info = &infos[i];
            let result = snapshot.results[i].as_deref();
            let check_status = result.map_or(Status::Warn, |r| r.status);
            let (mark, word) = match check_status {
                Status::Fail if own_status || info.critical => ('-', "failed"),
                Status::Fail => ('-', "failed (non-critical)"),
                Status::Warn => ('+', "warn"),
                Status::Pass => ('+', "ok"),
            };
            let _ = write!(text, "[{mark}]{} {word}", info.name);
            if check_status != Status::Pass {
                let reason = if details == Details::Full {
                    result
                        .and_then(|r| r.output.as_deref())
                        .unwrap_or("not checked yet")
                } else {
                    "reason withheld"
                };
                let _ = write!(text, ": {reason}");
            }
            text.push('\n');
        }
        // The service's own words (starting, not ready: REASON), shown like the JSON `output`.
        if let Some(output) = output {
            let _ = writeln!(text, "[-]{} failed: {output}", endpoint.label());
        }
        let unknown: Vec<&str> = exclude
            .iter()
            .filter(|name| !infos.iter().any(|info| info.name == **name))
            // Echo only well-formed names: a decoded newline must not forge a line.
            .map(|name| {
                if validate_name(name).is_ok() {
                    name.as_str()
                } else {
                    "<invalid name>"
                }
            })
            .collect();
        if !unknown.is_empty() {
            let _ = writeln!(
                text,
                "warn: some health checks cannot be excluded: no matches for {}",
                unknown.join(", ")
            );
        }
    }
    let verdict = if status.is_healthy() {
        "passed"
    } else {
        "failed"
    };
    let _ = writeln!(text, "{} check {verdict}", endpoint.label());
    text
}
