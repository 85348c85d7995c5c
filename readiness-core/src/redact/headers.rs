//! A `HeaderMap` as it may be logged: an allow-list shown, every other value hidden.

use std::fmt;

use http::HeaderMap;

use super::urls::redact_urls;

/// What stands for a hidden header value.
const HIDDEN: &str = "[REDACTED]";

/// Headers [`SafeHeaders`] shows in full by default: those that describe a request
/// without carrying a credential.
pub const DEFAULT_SHOWN_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "content-encoding",
    "content-length",
    "content-type",
    "host",
    "origin",
    "traceparent",
    "user-agent",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-request-id",
];

/// Headers whose values are never shown, even when allowed.
pub const ALWAYS_HIDDEN_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Words that hide a header whatever the allow-list says (`x-auth-token`,
/// `x-amz-security-token`, `x-session-id`).
const HIDDEN_WORDS: &[&str] = &[
    "auth",
    "cookie",
    "token",
    "secret",
    "password",
    "api-key",
    "apikey",
    "session",
    "signature",
    "credential",
];

/// A [`HeaderMap`] safe to log: allowed headers (by default
/// [`DEFAULT_SHOWN_HEADERS`]) show their values, with any URL in them redacted
/// (see [`UrlRedactor`](super::UrlRedactor)); every other header shows its name and
/// `[REDACTED]`, so a log still says which headers came. [`ALWAYS_HIDDEN_HEADERS`]
/// (`Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`, `X-Api-Key`) and
/// any name holding `auth`, `cookie`, `token`, `secret`, `password`, `api-key`,
/// `session`, `signature` or `credential` stay hidden even when allowed.
///
/// `Display` and `Debug` print the same map, values escaped as Rust string
/// literals (no control character reaches the line), in the `HeaderMap`'s order:
/// log it with `%` or `?`.
///
/// ```
/// use http::{header, HeaderMap, HeaderValue};
/// use readiness_core::redact::SafeHeaders;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::USER_AGENT, HeaderValue::from_static("curl/8.5"));
/// headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3cr3t"));
/// headers.insert("x-tenant", HeaderValue::from_static("acme"));
///
/// assert_eq!(
///     SafeHeaders::new(&headers).to_string(),
///     r#"{"user-agent": "curl/8.5", "authorization": "[REDACTED]", "x-tenant": "[REDACTED]"}"#,
/// );
/// // More headers shown; `authorization` stays hidden even when allowed.
/// let shown = SafeHeaders::new(&headers).allow(&["x-tenant", "authorization"]);
/// assert_eq!(
///     shown.to_string(),
///     r#"{"user-agent": "curl/8.5", "authorization": "[REDACTED]", "x-tenant": "acme"}"#,
/// );
/// tracing::info!(headers = %shown, "request received");
/// ```
#[derive(Clone, Copy)]
#[must_use]
pub struct SafeHeaders<'a> {
    headers: &'a HeaderMap,
    allowed: &'a [&'a str],
    defaults: bool,
}

impl<'a> SafeHeaders<'a> {
    /// `headers`, showing [`DEFAULT_SHOWN_HEADERS`].
    pub fn new(headers: &'a HeaderMap) -> Self {
        Self {
            headers,
            allowed: &[],
            defaults: true,
        }
    }

    /// Shows these headers too (names without ASCII case).
    pub fn allow(mut self, names: &'a [&'a str]) -> Self {
        self.allowed = names;
        self
    }

    /// Shows only the headers given to [`allow`](Self::allow), not the defaults.
    pub fn without_defaults(mut self) -> Self {
        self.defaults = false;
        self
    }

    fn shown(&self, name: &str) -> bool {
        // `HeaderName`s are lower case.
        if ALWAYS_HIDDEN_HEADERS.contains(&name) || HIDDEN_WORDS.iter().any(|w| name.contains(w)) {
            return false;
        }
        (self.defaults && DEFAULT_SHOWN_HEADERS.contains(&name))
            || self.allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for SafeHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.headers {
            let name = name.as_str();
            if !self.shown(name) {
                map.entry(&name, &HIDDEN);
                continue;
            }
            match value.to_str() {
                Ok(text) => map.entry(&name, &redact_urls(text)),
                Err(_) => map.entry(&name, &"[not visible ASCII]"),
            };
        }
        map.finish()
    }
}

impl fmt::Debug for SafeHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn credentials_stay_hidden_whatever_is_allowed() {
        let mut headers = HeaderMap::new();
        for name in ALWAYS_HIDDEN_HEADERS
            .iter()
            .chain(&["x-auth-token", "x-session-id"])
        {
            headers.insert(*name, HeaderValue::from_static("CANARY"));
        }
        headers.append("set-cookie", HeaderValue::from_static("CANARY2"));
        headers.insert(
            "referer",
            HeaderValue::from_static("http://u:CANARY@h/?sig=CANARY"),
        );
        let names: Vec<&str> = headers.keys().map(http::HeaderName::as_str).collect();
        let shown = SafeHeaders::new(&headers).allow(&names).to_string();
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(
            shown.contains(r#""referer": "http://REDACTED:REDACTED@h/?sig=REDACTED""#),
            "{shown}"
        );
        assert_eq!(shown.matches(HIDDEN).count(), 8, "{shown}");
    }

    #[test]
    fn values_are_escaped() {
        let mut headers = HeaderMap::new();
        headers.insert("user-agent", HeaderValue::from_static("a\"b\tc"));
        assert_eq!(
            SafeHeaders::new(&headers).to_string(),
            r#"{"user-agent": "a\"b\tc"}"#
        );
        assert_eq!(format!("{:?}", SafeHeaders::new(&HeaderMap::new())), "{}");
    }
}
