//! The health answers: probes, the report, the verbose text and the problem
//! bodies, read from the checks' cached results.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};

use super::report::{self, Body};
use super::{Details, Endpoint, ProbeRequest, HEALTH_JSON};
use crate::error::BuildError;
use crate::health::runner::Shared;
use crate::health::snapshot::Snapshot;
use crate::health::{validate_name, CheckInfo, Probe, Status};
use crate::observe::EndpointRoute;

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

/// What the health answers disclose and say of the service; kept by the facade.
#[derive(Debug)]
pub(crate) struct Answers {
    pub(crate) identity: Identity,
    details: Details,
    token: Option<String>,
    /// The filter the log-level route reads and replaces, if the service gave one:
    /// set once, by the builder or by `Setup::init`.
    #[cfg(feature = "logging")]
    pub(crate) log_filter: std::sync::OnceLock<crate::logging::LogFilter>,
}

/// The service's identity, as health bodies show it.
#[derive(Debug, Default)]
pub(crate) struct Identity {
    pub(crate) service: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) release_id: Option<String>,
    pub(crate) description: Option<String>,
}

/// The state of the checks an answer is read from.
pub(crate) struct State<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) unready: Option<String>,
    pub(crate) uptime: std::time::Duration,
}

impl Answers {
    /// Checks the settings of the health answers (fields `service.name`,
    /// `service.version`, `release_id`, `description`, `details_token`); the release
    /// is the version unless set.
    pub(crate) fn new(
        mut identity: Identity,
        details: Details,
        token: Option<String>,
    ) -> Result<Self, BuildError> {
        for (field, value) in [
            ("service.name", &identity.service),
            ("service.version", &identity.version),
            ("release_id", &identity.release_id),
            ("description", &identity.description),
        ] {
            if let Some(value) = value {
                validate_text(field, value)?;
            }
        }
        if let Some(token) = &token {
            if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(BuildError::new(
                    "details_token",
                    "must be at least 16 visible ASCII characters (no spaces)",
                ));
            }
        }
        if identity.release_id.is_none() {
            identity.release_id.clone_from(&identity.version);
        }
        Ok(Self {
            identity,
            details,
            token,
            #[cfg(feature = "logging")]
            log_filter: std::sync::OnceLock::new(),
        })
    }

    /// The detail level anonymous callers get.
    pub(crate) fn details(&self) -> Details {
        self.details
    }

    /// Whether a details token is set.
    pub(crate) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Answers a health request from the cached results: no I/O, no waiting on checks.
    pub(crate) fn respond(&self, state: &State<'_>, request: &ProbeRequest<'_>) -> Response<Bytes> {
        let mut response = self.answer(state, request);
        // Probes stay out of the RED metrics and the access log wherever mounted.
        response
            .extensions_mut()
            .insert(EndpointRoute(request.endpoint.route()));
        response
    }

    fn answer(&self, state: &State<'_>, request: &ProbeRequest<'_>) -> Response<Bytes> {
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
        let inner = self;
        let infos = &state.shared.infos;
        let snapshot = state.shared.snapshot.load();
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
        let unready = state.unready.clone();
        let (indices, status, output, own_status) = match request.endpoint {
            Endpoint::Livez => {
                let indices = selected(Some(Probe::Liveness));
                let status = aggregate(&snapshot, infos, true, &indices);
                (indices, status, None, false)
            }
            Endpoint::Readyz => {
                let indices = selected(Some(Probe::Readiness));
                let (status, output) = if let Some(reason) = &unready {
                    (Status::Fail, Some(format!("not ready: {reason}")))
                } else if !snapshot.started {
                    (Status::Fail, Some(STARTING.to_owned()))
                } else {
                    (aggregate(&snapshot, infos, false, &indices), None)
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
                let status = aggregate(&snapshot, infos, false, &indices);
                (indices, status, None, false)
            }
            Endpoint::Check(name) => {
                let Some(index) = infos.iter().position(|info| info.name == name) else {
                    return problem(StatusCode::NOT_FOUND, "unknown check");
                };
                // Pending (no status reported yet): 503, saying so.
                let output = snapshot.is_pending(index).then(|| {
                    report::pending_output(&snapshot, index, details == Details::Full).into_owned()
                });
                (vec![index], snapshot.check_status(index), output, true)
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
                    checks.insert("uptime".to_owned(), vec![report::uptime(state.uptime)]);
                }
            }
            let full = details == Details::Full;
            let shown = details != Details::StatusOnly;
            let body = Body {
                status,
                version: inner.identity.version.as_deref().filter(|_| full),
                release_id: inner.identity.release_id.as_deref().filter(|_| full),
                service_id: inner.identity.service.as_deref().filter(|_| shown),
                description: inner.identity.description.as_deref().filter(|_| shown),
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

    /// Whether `authorization` is `Bearer` and the details token; the one check of
    /// the token, for the full health details and the log-level route.
    pub(crate) fn token_matches(&self, authorization: Option<&[u8]>) -> bool {
        let (Some(token), Some(header)) = (self.token.as_deref(), authorization) else {
            return false;
        };
        let Some(prefix) = header.get(..7) else {
            return false;
        };
        prefix.eq_ignore_ascii_case(b"bearer ") && constant_time_eq(&header[7..], token.as_bytes())
    }
}

const STARTING: &str = "starting: waiting for every critical check to pass once";

fn aggregate(
    snapshot: &Snapshot,
    infos: &[CheckInfo],
    liveness: bool,
    indices: &[usize],
) -> Status {
    snapshot.aggregate(infos, liveness, |i, _| indices.contains(&i))
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

/// `text` on one line of the plain-text answer: line breaks, the Unicode line and
/// paragraph separators and every other control character written as escapes
/// (`\n`, `\u{2028}`), so a check's output cannot forge a line of its own.
fn one_line(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
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
            if snapshot.is_pending(i) {
                let pending = report::pending_output(snapshot, i, details == Details::Full);
                let _ = writeln!(text, "[-]{} {pending}", info.name);
                continue;
            }
            let result = snapshot.results[i].as_deref();
            let check_status = snapshot.check_status(i);
            let (mark, word) = match check_status {
                Status::Fail if own_status || info.critical => ('-', "failed"),
                Status::Fail => ('-', "failed (non-critical)"),
                Status::Warn => ('+', "warn"),
                Status::Pass => ('+', "ok"),
            };
            let _ = write!(text, "[{mark}]{} {word}", info.name);
            if check_status != Status::Pass {
                let reason = if details == Details::Full {
                    result.and_then(|r| r.output.as_deref()).unwrap_or("failed")
                } else {
                    "reason withheld"
                };
                text.push_str(": ");
                one_line(reason, &mut text);
            }
            text.push('\n');
        }
        // The service's own words (starting, not ready: REASON), shown like the JSON `output`.
        if let Some(output) = output {
            let _ = write!(text, "[-]{} failed: ", endpoint.label());
            one_line(output, &mut text);
            text.push('\n');
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

fn validate_text(field: &'static str, value: &str) -> Result<(), BuildError> {
    if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
        return Err(BuildError::new(
            field,
            format!("must be 1 to 256 characters without control characters, got {value:?}"),
        ));
    }
    Ok(())
}
