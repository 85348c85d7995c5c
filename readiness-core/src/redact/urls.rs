//! Credentials in URLs, wherever a URL sits in a text: userinfo and the values of
//! sensitive query parameters, replaced as OpenTelemetry's conventions say
//! (`https://REDACTED:REDACTED@host/?sig=REDACTED`).
//!
//! A hand-written scanner, not the `url` crate: the URLs to find sit inside longer
//! texts (a driver's error `connecting to postgres://app:pw@db/items: refused`), and
//! a parser takes one whole URL, not a text to search.

use std::borrow::Cow;

/// What replaces userinfo and a sensitive parameter's value: OpenTelemetry's marker.
pub const URL_REDACTED: &str = "REDACTED";

/// What replaces a URL's userinfo, user and password alike.
const USERINFO_REDACTED: &str = "REDACTED:REDACTED";

/// Query parameters whose values are redacted by default, matched without ASCII
/// case: OpenTelemetry's list for `url.query` (`AWSAccessKeyId`, `Signature`, `sig`,
/// `X-Goog-Signature`) with OAuth's tokens and the usual password, key and
/// signature names.
pub const SENSITIVE_QUERY_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "key",
    "auth",
    "sig",
    "signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "X-Goog-Signature",
    "X-Goog-Credential",
    "AWSAccessKeyId",
];

/// Redacts the credentials of every URL in a text. See the [module docs](super).
///
/// - **Userinfo**: whatever sits between `://` and the last `@` of the authority
///   (which ends at `/`, `?`, `#`, whitespace, `"`, `<`, `>`, `` ` `` or `\`)
///   becomes `REDACTED:REDACTED`, user and password alike, as OpenTelemetry asks.
/// - **Query parameters**: the value of a parameter named in
///   [`SENSITIVE_QUERY_PARAMS`] (or added with
///   [`with_query_params`](Self::with_query_params)), that starts the text or
///   follows `?` or `&`, becomes `REDACTED`, up to the next `&`, `#`, whitespace,
///   `"`, `<`, `>` or `` ` ``. Names are compared as written, without ASCII case
///   (a percent-encoded name is not decoded first).
///
/// A value is never cut short of its end: a text the scanner is unsure of loses a
/// little more (a closing `)` after a URL's sensitive value), never less.
///
/// ```
/// use readiness_core::redact::UrlRedactor;
///
/// let redactor = UrlRedactor::new();
/// assert_eq!(
///     redactor.redact("cannot reach postgres://app:hunter2@db:5432/items: refused"),
///     "cannot reach postgres://REDACTED:REDACTED@db:5432/items: refused",
/// );
/// assert_eq!(
///     redactor.redact("GET https://s3.example.com/f?X-Amz-Signature=abc123&part=2"),
///     "GET https://s3.example.com/f?X-Amz-Signature=REDACTED&part=2",
/// );
/// // Text without credentials comes back as it was, without a copy.
/// assert!(matches!(redactor.redact("GET /items 200"), std::borrow::Cow::Borrowed(_)));
///
/// // More names, on top of the defaults.
/// let redactor = UrlRedactor::new().with_query_params(["session"]);
/// assert_eq!(redactor.redact("/cb?session=s3cr3t"), "/cb?session=REDACTED");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct UrlRedactor {
    /// Names beyond [`SENSITIVE_QUERY_PARAMS`].
    extra: Vec<String>,
}

impl UrlRedactor {
    /// The defaults: userinfo and [`SENSITIVE_QUERY_PARAMS`].
    pub const fn new() -> Self {
        Self { extra: Vec::new() }
    }

    /// Redacts the values of these query parameters too (matched without ASCII case).
    pub fn with_query_params<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra
            .extend(names.into_iter().map(Into::into).filter(|n| !n.is_empty()));
        self
    }

    /// Whether `text` may hold something to redact: an `@` (userinfo) or an `=` (a
    /// parameter). One vectorized scan, so callers can skip the rest for plain text.
    #[inline]
    #[must_use]
    pub fn may_redact(text: &str) -> bool {
        let bytes = text.as_bytes();
        // Most values asked (methods, routes, paths, ids) are short: eight bytes at a
        // time in a register beats memchr's set-up there.
        if bytes.len() > 64 {
            return memchr::memchr2(b'@', b'=', bytes).is_some();
        }
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        // A high bit in each byte of `x` equal to `b` (and maybe in a byte after
        // one: only whether any is set is read).
        let equal = |x: u64, b: u8| {
            let y = x ^ (ONES * u64::from(b));
            y.wrapping_sub(ONES) & !y
        };
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let x = u64::from_le_bytes(word);
            if (equal(x, b'@') | equal(x, b'=')) & HIGHS != 0 {
                return true;
            }
        }
        chunks.remainder().iter().any(|&b| b == b'@' || b == b'=')
    }

    /// `text` with the credentials of every URL in it redacted; borrowed when there
    /// were none.
    #[must_use]
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !Self::may_redact(text) {
            return Cow::Borrowed(text);
        }
        let bytes = text.as_bytes();
        let mut out: Option<String> = None;
        // `text[copied..]` is not in `out` yet.
        let mut copied = 0;
        let mut replace = |out: &mut Option<String>, from: usize, to: usize, with: &str| {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len() + 16));
            out.push_str(&text[copied..from]);
            out.push_str(with);
            copied = to;
        };
        let mut i = 0;
        // A parameter may start the text (a `url.query` value on its own).
        let mut param_start = true;
        while i < bytes.len() {
            if param_start {
                param_start = false;
                if let Some((from, to)) = self.sensitive_value(bytes, i) {
                    if &text[from..to] != URL_REDACTED {
                        replace(&mut out, from, to, URL_REDACTED);
                    }
                    i = to;
                    continue;
                }
            }
            match bytes[i] {
                b'?' | b'&' => param_start = true,
                b':' if bytes[i + 1..].starts_with(b"//") => {
                    let start = i + 3;
                    let end = start
                        + bytes[start..]
                            .iter()
                            .position(|&b| ends_authority(b))
                            .unwrap_or(bytes.len() - start);
                    if let Some(at) = memchr::memrchr(b'@', &bytes[start..end]) {
                        let at = start + at;
                        if &text[start..at] != USERINFO_REDACTED {
                            replace(&mut out, start, at, USERINFO_REDACTED);
                        }
                        i = at + 1;
                        continue;
                    }
                    i = start;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        match out {
            None => Cow::Borrowed(text),
            Some(mut out) => {
                out.push_str(&text[copied..]);
                Cow::Owned(out)
            }
        }
    }

    /// The value's range when a sensitive `name=value` starts at `at`.
    fn sensitive_value(&self, bytes: &[u8], at: usize) -> Option<(usize, usize)> {
        let rest = &bytes[at..];
        let eq = rest
            .iter()
            .take(64)
            .position(|&b| b == b'=' || ends_value(b))?;
        if rest[eq] != b'=' || !self.is_sensitive(&rest[..eq]) {
            return None;
        }
        let from = at + eq + 1;
        let len = bytes[from..]
            .iter()
            .position(|&b| ends_value(b))
            .unwrap_or(bytes.len() - from);
        (len > 0).then_some((from, from + len))
    }

    fn is_sensitive(&self, name: &[u8]) -> bool {
        SENSITIVE_QUERY_PARAMS
            .iter()
            .copied()
            .chain(self.extra.iter().map(String::as_str))
            .any(|sensitive| sensitive.as_bytes().eq_ignore_ascii_case(name))
    }
}

/// Redacts the credentials of every URL in `text` with the default names (see
/// [`UrlRedactor`]).
///
/// ```
/// assert_eq!(
///     readiness_core::redact::redact_urls("redis://:pw@cache:6379/0?token=t"),
///     "redis://REDACTED:REDACTED@cache:6379/0?token=REDACTED",
/// );
/// ```
#[must_use]
pub fn redact_urls(text: &str) -> Cow<'_, str> {
    const DEFAULT: UrlRedactor = UrlRedactor::new();
    DEFAULT.redact(text)
}

/// `redact_urls` of an owned or static text, kept as it was when nothing changed.
pub(crate) fn redact_urls_in(text: Cow<'static, str>) -> Cow<'static, str> {
    match redact_urls(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(redacted) => Cow::Owned(redacted),
    }
}

/// `redact_urls` of an owned text.
pub(crate) fn redact_urls_owned(text: String) -> String {
    match redact_urls(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(redacted) => redacted,
    }
}

/// A byte that ends a URL's authority (where userinfo is looked for).
fn ends_authority(b: u8) -> bool {
    matches!(b, b'/' | b'?' | b'#' | b'"' | b'<' | b'>' | b'`' | b'\\') || b <= b' ' || b == 0x7f
}

/// A byte that ends a parameter's name or value.
fn ends_value(b: u8) -> bool {
    matches!(b, b'&' | b'#' | b'"' | b'<' | b'>' | b'`') || b <= b' ' || b == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn may_redact_finds_an_at_or_equals_sign_anywhere() {
        let naive = |text: &str| text.contains('@') || text.contains('=');
        for len in 0..80 {
            let base: String = "aé\u{7f}Z/?9".chars().cycle().take(len).collect();
            assert_eq!(UrlRedactor::may_redact(&base), naive(&base), "{base:?}");
            for at in 0..base.len() {
                if !base.is_char_boundary(at) {
                    continue;
                }
                for sign in ["@", "="] {
                    let text = format!("{}{sign}{}", &base[..at], &base[at..]);
                    assert!(UrlRedactor::may_redact(&text), "{text:?}");
                }
            }
        }
        // Bytes next to the signs, and `?` (0x3f) and `<` (0x3c), near but not them.
        assert!(!UrlRedactor::may_redact("???<<<>>>AAAA"));
        assert!(!UrlRedactor::may_redact("\u{80}\u{ff}ÀÁ"));
    }

    #[test]
    fn userinfo_and_parameters_are_redacted_in_longer_texts() {
        let r = UrlRedactor::new();
        for (text, redacted) in [
            (
                "error connecting to postgres://user:pw@host/db (refused)",
                "error connecting to postgres://REDACTED:REDACTED@host/db (refused)",
            ),
            ("redis://u@h", "redis://REDACTED:REDACTED@h"),
            ("amqp://u:p@ss@h:5672/%2f", "amqp://REDACTED:REDACTED@h:5672/%2f"),
            ("http://h/p?a=1&TOKEN=x&b=2#f", "http://h/p?a=1&TOKEN=REDACTED&b=2#f"),
            ("token=abc&x=1", "token=REDACTED&x=1"),
            ("https://h/?sig=a%2Bb", "https://h/?sig=REDACTED"),
            (
                "'https://u:p@h/x?access_token=q' and http://h2/y?password=z",
                "'https://REDACTED:REDACTED@h/x?access_token=REDACTED and http://h2/y?password=REDACTED",
            ),
            (
                "?token=http://u:p@h/",
                "?token=REDACTED",
            ),
        ] {
            assert_eq!(r.redact(text), redacted, "{text}");
            // Redacting again changes nothing.
            assert_eq!(r.redact(redacted), redacted, "{redacted}");
        }
    }

    #[test]
    fn plain_text_is_left_alone() {
        let r = UrlRedactor::new();
        for text in [
            "",
            "GET /items 200",
            "mail bob@example.com",
            "http://host/path@v2 ok",
            "see http://h/a and b@c",
            "x=1 y=2",
            "a?tokens=1&mytoken=2&token",
            "http://h/?token=",
        ] {
            assert!(
                matches!(r.redact(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }
}
