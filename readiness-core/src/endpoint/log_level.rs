//! The log-level route: reads, replaces and resets the service's [`LogFilter`],
//! for the holder of the details token.

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::answer::Answers;
use super::LOG_LEVEL_PATH;
use crate::logging::{
    AuditEvent, LogFilter, LogFilterError, Outcome, SecurityEvent, SecurityKind, Severity,
};
use crate::observe::EndpointRoute;
use crate::request_id::RequestId;

/// The largest body the log-level route reads, in bytes; adapters stop reading there.
pub const LOG_LEVEL_MAX_BODY: usize = 4096;

/// A request to the [log-level route](crate::endpoint#the-log-level-route), in
/// framework-neutral terms.
///
/// ```
/// use readiness_core::endpoint::LogLevelRequest;
///
/// let request = LogLevelRequest::new("PUT", br#"{"filter":"info,orders=debug"}"#)
///     .with_authorization(Some(b"Bearer an-operator-token-0123"))
///     .with_request_id_header(Some(b"change-42"));
/// # let _ = request;
/// ```
#[derive(Clone, Copy)]
pub struct LogLevelRequest<'a> {
    method: &'a str,
    body: &'a [u8],
    authorization: Option<&'a [u8]>,
    request_id: Option<&'a RequestId>,
    request_id_header: Option<&'a [u8]>,
    too_large: bool,
}

impl<'a> LogLevelRequest<'a> {
    /// A request with the HTTP `method` and its `body` (empty for `GET`, at most
    /// [`LOG_LEVEL_MAX_BODY`] bytes: a longer one is answered `413`).
    #[must_use]
    pub fn new(method: &'a str, body: &'a [u8]) -> Self {
        Self {
            method,
            body,
            authorization: None,
            request_id: None,
            request_id_header: None,
            too_large: false,
        }
    }

    /// The body was not read whole: it is over [`LOG_LEVEL_MAX_BODY`] bytes (`413`).
    #[must_use]
    pub fn with_body_too_large(mut self) -> Self {
        self.too_large = true;
        self
    }

    /// The raw `Authorization` header value.
    #[must_use]
    pub fn with_authorization(mut self, authorization: Option<&'a [u8]>) -> Self {
        self.authorization = authorization;
        self
    }

    /// The id the observation gave the request (from its extensions), if it was
    /// observed.
    #[must_use]
    pub fn with_request_id(mut self, id: Option<&'a RequestId>) -> Self {
        self.request_id = id;
        self
    }

    /// The raw `X-Request-Id` header, for a request no observation gave an id (on
    /// an admin listener).
    #[must_use]
    pub fn with_request_id_header(mut self, header: Option<&'a [u8]>) -> Self {
        self.request_id_header = header;
        self
    }
}

impl std::fmt::Debug for LogLevelRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogLevelRequest")
            .field("method", &self.method)
            .field("body_len", &self.body.len())
            .field("authorization", &self.authorization.map(|_| "<redacted>"))
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// What `GET` and every change answer.
#[derive(Serialize)]
struct State<'a> {
    filter: &'a str,
    startup: &'a str,
}

/// A `PUT`/`POST` JSON body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    filter: Option<String>,
    #[serde(default)]
    reset: bool,
}

/// An RFC 9457 problem body.
#[derive(Serialize)]
struct Problem<'a> {
    status: u16,
    detail: &'a str,
}

const ALLOWED: &str = "GET, HEAD, PUT, POST, DELETE";

/// Answers a log-level request; `filter` is `None` when the service gave none (404).
pub(crate) fn respond(
    filter: Option<&LogFilter>,
    answers: &Answers,
    request: &LogLevelRequest<'_>,
) -> Response<Bytes> {
    let mut response = answer(filter, answers, request);
    // Like the probes: out of the RED metrics and the access log wherever mounted.
    response
        .extensions_mut()
        .insert(EndpointRoute(LOG_LEVEL_PATH));
    response
}

fn answer(
    filter: Option<&LogFilter>,
    answers: &Answers,
    request: &LogLevelRequest<'_>,
) -> Response<Bytes> {
    let Some(filter) = filter else {
        return problem(StatusCode::NOT_FOUND, "no log filter is configured");
    };
    let id = match request.request_id {
        Some(id) => id.clone(),
        None => RequestId::from_header(request.request_id_header),
    };
    // Events below carry the request's id, on an admin listener too.
    let span =
        tracing::info_span!(target: "readiness::audit", "log_level", request_id = id.as_str());
    let _entered = span.enter();

    // The same check, and the same token, as the full health details.
    if !answers.has_token() {
        refused("no details token is configured");
        return problem(
            StatusCode::FORBIDDEN,
            "the log level can be changed only with a details token, and none is configured",
        );
    }
    if !answers.token_matches(request.authorization) {
        let reason = if request.authorization.is_some() {
            "wrong bearer token"
        } else {
            "no bearer token"
        };
        refused(reason);
        let mut response = problem(
            StatusCode::UNAUTHORIZED,
            "send the details token as `Authorization: Bearer TOKEN`",
        );
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }

    let change = match request.method {
        "GET" | "HEAD" => None,
        "DELETE" => Some(None),
        "PUT" | "POST" => {
            if request.too_large || request.body.len() > LOG_LEVEL_MAX_BODY {
                return problem(StatusCode::PAYLOAD_TOO_LARGE, "the body is over 4096 bytes");
            }
            match parse_body(request.body) {
                Ok(change) => Some(change),
                Err(detail) => return problem(StatusCode::BAD_REQUEST, &detail),
            }
        }
        _ => {
            let mut response = problem(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(ALLOWED));
            return response;
        }
    };
    if let Some(new) = change {
        let from = filter.current().unwrap_or_default();
        let result = match &new {
            Some(directives) => crate::logging::filter::parse(directives),
            None => Ok(filter.startup_targets().clone()),
        };
        let targets = match result {
            Ok(targets) => targets,
            Err(error) => return problem(StatusCode::BAD_REQUEST, &error.to_string()),
        };
        let to = targets.to_string();
        let action = if new.is_some() { "update" } else { "reset" };
        // The audit line goes out under whichever filter lets it through: before
        // the change when the new one would hide it (`off`), after it otherwise.
        let shown_after = targets.would_enable("readiness::audit", &tracing::Level::INFO);
        if !shown_after {
            audit(action, &from, &to);
        }
        if let Err(error) = filter.replace(targets) {
            return match error {
                LogFilterError::Gone => {
                    problem(StatusCode::SERVICE_UNAVAILABLE, &error.to_string())
                }
                LogFilterError::Invalid(_) => problem(StatusCode::BAD_REQUEST, &error.to_string()),
            };
        }
        if shown_after {
            audit(action, &from, &to);
        }
    }
    let Some(current) = filter.current() else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            &LogFilterError::Gone.to_string(),
        );
    };
    let startup = filter.startup();
    let body = State {
        filter: &current,
        startup: &startup,
    };
    let mut response = Response::new(Bytes::from(serde_json::to_vec(&body).unwrap_or_default()));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `{"filter": "..."}`, `{"reset": true}` or the directives as plain text: the new
/// directives, or `None` to reset.
fn parse_body(body: &[u8]) -> Result<Option<String>, String> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Err("the body is not UTF-8".to_owned());
    };
    let text = text.trim();
    if !text.starts_with('{') {
        return Ok(Some(text.to_owned()));
    }
    let change: Change = serde_json::from_str(text).map_err(|error| {
        format!(r#"expected {{"filter": "DIRECTIVES"}} or {{"reset": true}}: {error}"#)
    })?;
    match (change.filter, change.reset) {
        (Some(filter), false) => Ok(Some(filter)),
        (None, true) => Ok(None),
        _ => Err(r#"expected {"filter": "DIRECTIVES"} or {"reset": true}"#.to_owned()),
    }
}

fn audit(action: &str, from: &str, to: &str) {
    // `from` and `to` ride on a span of their own, after the event's fields.
    let span = tracing::info_span!(target: "readiness::audit", "log_filter_change", from, to);
    let _entered = span.enter();
    AuditEvent::new("details-token", action, "log_filter", Outcome::Success)
        .resource_id(LOG_LEVEL_PATH)
        .emit();
}

fn refused(reason: &str) {
    SecurityEvent::new(SecurityKind::AuthenticationFailure, Severity::Medium)
        .resource(LOG_LEVEL_PATH)
        .reason(reason)
        .emit();
}

fn problem(code: StatusCode, detail: &str) -> Response<Bytes> {
    let body = Problem {
        status: code.as_u16(),
        detail,
    };
    let mut response = Response::new(Bytes::from(serde_json::to_vec(&body).unwrap_or_default()));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
