//! HTTP upstreams through `reqwest` (rustls).

use std::fmt;
use std::ops::RangeInclusive;

use reqwest::redirect::Policy;
use reqwest::{Client, Method, Url};

use crate::checks::cause::Cause;
use crate::error::BoxError;
use crate::health::runner::error_chain;
use crate::health::{Check, CheckOutcome, CheckSpec, ComponentType};

/// Redirects followed before the check fails with `too many redirects`.
const MAX_REDIRECTS: usize = 5;
/// The most of a body read to look for [`HttpCheck::body_contains`].
const MAX_BODY: usize = 64 * 1024;

/// What an HTTP check sends and expects; turn it into a check with [`http()`].
///
/// Defaults: `GET`, any `2xx` status, any body, at most 5 redirects. An idempotent
/// request that meets a pooled connection the upstream has closed is sent once more.
///
/// ```
/// use readiness_core::checks::{self, HttpCheck};
/// use std::time::Duration;
///
/// let spec = checks::http(
///     HttpCheck::get("https://api.example.com/healthz")
///         .expect_status(200..=299)
///         .body_contains("ok"),
/// )
/// .name("payments")
/// .non_critical()
/// .timeout(Duration::from_millis(500));
/// # let _ = spec;
/// ```
#[derive(Clone)]
#[must_use]
pub struct HttpCheck {
    method: Method,
    url: String,
    expect: RangeInclusive<u16>,
    body_contains: Option<String>,
}

impl HttpCheck {
    /// A `GET` of `url` (`http://` or `https://`).
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    /// A request with any method (`HEAD`, `OPTIONS`, ...) to `url`.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            expect: 200..=299,
            body_contains: None,
        }
    }

    /// The statuses that count as healthy (default `200..=299`).
    pub fn expect_status(mut self, statuses: RangeInclusive<u16>) -> Self {
        self.expect = statuses;
        self
    }

    /// Also require this text in the first 64 KiB of the body.
    pub fn body_contains(mut self, text: impl Into<String>) -> Self {
        self.body_contains = Some(text.into());
        self
    }
}

impl fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCheck")
            .field("method", &self.method)
            .field("url", &redacted_str(&self.url))
            .field("expect", &self.expect)
            .field("body_contains", &self.body_contains)
            .finish()
    }
}

/// A `GET` of `url` that passes on any `2xx`. Named `http`. See [`HttpCheck`].
///
/// ```
/// use readiness_core::checks;
/// let spec = checks::http_get("http://pricing:8080/livez").name("pricing");
/// # let _ = spec;
/// ```
pub fn http_get(url: impl Into<String>) -> CheckSpec {
    http(HttpCheck::get(url))
}

/// An HTTP check of an upstream. Named `http`.
///
/// The URL is checked when the check is made: one that does not parse or is not
/// `http`/`https` is an error at [`build`](crate::ReadinessBuilder::build) naming
/// the check. Credentials and query strings of the URL never reach a log line or a
/// health body; failures read `connection refused`, `unexpected status 502`,
/// `too many redirects` and the like.
pub fn http(check: HttpCheck) -> CheckSpec {
    let url = Url::parse(&check.url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"));
    let client = Client::builder()
        .redirect(Policy::limited(MAX_REDIRECTS))
        .build();
    let (problem, url) = match (url, client) {
        (None, _) => (
            Some((
                "url",
                "must be an absolute http:// or https:// URL".to_owned(),
            )),
            None,
        ),
        (Some(_), Err(error)) => (
            Some((
                "client",
                format!("the HTTP client could not be built: {error}"),
            )),
            None,
        ),
        (Some(url), Ok(client)) => (None, Some((url, client))),
    };
    if let Some((field, message)) = problem {
        return CheckSpec::new("http", Invalid).deferred_error(field, message);
    }
    if check.expect.is_empty() || *check.expect.start() < 100 || *check.expect.end() > 599 {
        return CheckSpec::new("http", Invalid).deferred_error(
            "expect_status",
            format!("must be a range within 100..=599, got {:?}", check.expect),
        );
    }
    let (url, client) = url.unwrap_or_else(|| unreachable!("set above"));
    CheckSpec::new(
        "http",
        Http {
            log_url: redacted(&url),
            url,
            client,
            method: check.method,
            expect: check.expect,
            body_contains: check.body_contains,
        },
    )
    .component_type(ComponentType::Component)
}

/// Stands in for a check whose settings were rejected; `build()` never runs it.
#[derive(Debug)]
struct Invalid;

impl Check for Invalid {
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        Err("invalid check settings".into())
    }
}

#[derive(Debug)]
struct Http {
    url: Url,
    /// Scheme, host, port and path: no user, password, query or fragment.
    log_url: String,
    client: Client,
    method: Method,
    expect: RangeInclusive<u16>,
    body_contains: Option<String>,
}

impl Check for Http {
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        let send = || {
            self.client
                .request(self.method.clone(), self.url.clone())
                .send()
        };
        let mut sent = send().await;
        if let Err(error) = &sent {
            // A pooled keep-alive connection the other end has closed says nothing
            // about the upstream now: an idempotent request goes once more, on a new one.
            if self.method.is_idempotent() && cause(error) == Cause::Reset {
                sent = send().await;
            }
        }
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Ok(self.failed(error)),
        };
        let status = response.status().as_u16();
        if !self.expect.contains(&status) {
            return Ok(
                CheckOutcome::fail(Cause::UnexpectedStatus(status).output()).with_detail(format!(
                    "{} {} answered {status}",
                    self.method, self.log_url
                )),
            );
        }
        let Some(needle) = &self.body_contains else {
            return Ok(CheckOutcome::pass());
        };
        let mut response = response;
        let mut body = Vec::new();
        while body.len() < MAX_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(error) => return Ok(self.failed(error)),
            }
        }
        body.truncate(MAX_BODY);
        if String::from_utf8_lossy(&body).contains(needle.as_str()) {
            Ok(CheckOutcome::pass())
        } else {
            Ok(
                CheckOutcome::fail(Cause::UnexpectedBody.output()).with_detail(format!(
                    "{} {}: the first {} bytes of the body lack the expected text",
                    self.method,
                    self.log_url,
                    body.len()
                )),
            )
        }
    }
}

impl Http {
    fn failed(&self, error: reqwest::Error) -> CheckOutcome {
        let cause = cause(&error);
        // reqwest puts the whole URL in its messages: drop it, name the redacted one.
        let error = error.without_url();
        CheckOutcome::fail(cause.output()).with_detail(format!(
            "{} {}: {}",
            self.method,
            self.log_url,
            error_chain(&error)
        ))
    }
}

fn cause(error: &reqwest::Error) -> Cause {
    if error.is_redirect() {
        Cause::TooManyRedirects
    } else if error.is_timeout() {
        Cause::TimedOut
    } else if let Some(cause) = Cause::from_io_chain(error) {
        cause
    } else if error_chain(error).contains("connection closed") {
        // hyper's "connection closed before message completed": a pooled
        // connection the server (or something between) dropped.
        Cause::Reset
    } else {
        Cause::Unavailable
    }
}

/// Scheme, host, port and path of `url`; never its user, password, query or fragment.
fn redacted(url: &Url) -> String {
    let mut text = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        text.push_str(&format!(":{port}"));
    }
    text.push_str(url.path());
    text
}

fn redacted_str(url: &str) -> String {
    Url::parse(url).map_or_else(|_| "<invalid url>".to_owned(), |url| redacted(&url))
}
