//! What happens to a value before it is written: deny-listed names are redacted,
//! confidential names masked or hashed, known secret values scrubbed wherever they
//! appear, and `secrecy` types kept as the marker.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::RwLock;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// What replaces a restricted value.
pub const REDACTED: &str = "[REDACTED]";

/// Field names whose values are never written, matched without case and ignoring `_`,
/// `-` and `.`, anywhere in the name (`db_password`, `X-Api-Key`, `set-cookie`).
pub const DEFAULT_DENY_LIST: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "cookie",
    "privatekey",
    "credential",
    "sessionid",
];

/// How a confidential field is shown. See
/// [`LogSettings::confidential`](crate::logging::LogSettings::confidential).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Confidential {
    /// All but the last 4 characters replaced: `****1234`.
    Mask,
    /// A keyed hash (HMAC-SHA-256, first 16 bytes in hex, `hmac:` prefix): the same
    /// value gives the same hash, so lines can be joined, without revealing it.
    Hash,
}

/// The rule for one field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    Keep,
    Redact,
    Confidential(Confidential),
}

pub(crate) struct Redactor {
    deny: Vec<String>,
    confidential: Vec<(String, Confidential)>,
    hash_key: Option<Vec<u8>>,
    secrets: Vec<String>,
    /// Credentials in URLs, redacted in every text value.
    urls: crate::redact::UrlRedactor,
    /// Field names are `&'static str`: their rule is worked out once per name.
    rules: RwLock<HashMap<(usize, usize), Rule, foldhash::fast::RandomState>>,
}

/// Lower case without `_`, `-`, `.` and spaces: `X-Api-Key` -> `xapikey`.
fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

impl Redactor {
    pub(crate) fn new(
        deny: &[String],
        confidential: &[(String, Confidential)],
        hash_key: Option<Vec<u8>>,
        secrets: Vec<String>,
        urls: crate::redact::UrlRedactor,
    ) -> Self {
        Self {
            deny: deny.iter().map(|n| normalize(n)).collect(),
            confidential: confidential
                .iter()
                .map(|(n, how)| (normalize(n), *how))
                .collect(),
            hash_key,
            secrets,
            urls,
            rules: RwLock::new(HashMap::default()),
        }
    }

    /// The rule for a field name known for the life of the program.
    pub(crate) fn rule_static(&self, name: &'static str) -> Rule {
        let key = (name.as_ptr() as usize, name.len());
        if let Some(rule) = self
            .rules
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return *rule;
        }
        let rule = self.rule(name);
        self.rules
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, rule);
        rule
    }

    /// The rule for any name (header names, say).
    pub(crate) fn rule(&self, name: &str) -> Rule {
        let name = normalize(name);
        if self.deny.iter().any(|word| name.contains(word.as_str())) {
            return Rule::Redact;
        }
        self.confidential
            .iter()
            .find(|(field, _)| *field == name)
            .map_or(Rule::Keep, |(_, how)| Rule::Confidential(*how))
    }

    /// Whether any secret value is configured to be scrubbed from texts.
    pub(crate) fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// `value` with every configured secret value replaced by the marker, and the
    /// credentials of the URLs in it redacted.
    pub(crate) fn scrub<'a>(&self, value: &'a str) -> Cow<'a, str> {
        let mut value = match self.urls.redact(value) {
            Cow::Borrowed(_) => Cow::Borrowed(value),
            Cow::Owned(redacted) => Cow::Owned(redacted),
        };
        for secret in &self.secrets {
            if value.contains(secret.as_str()) {
                value = Cow::Owned(value.replace(secret.as_str(), REDACTED));
            }
        }
        value
    }

    /// A confidential value as configured.
    pub(crate) fn confidential(&self, value: &str, how: Confidential) -> String {
        match how {
            Confidential::Mask => {
                let count = value.chars().count();
                let tail: String = value.chars().skip(count.saturating_sub(4)).collect();
                if count <= 4 {
                    "****".to_owned()
                } else {
                    format!("****{tail}")
                }
            }
            Confidential::Hash => {
                // Validated at build: a hash rule comes with a key.
                let Some(key) = &self.hash_key else {
                    return REDACTED.to_owned();
                };
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
                    return REDACTED.to_owned();
                };
                mac.update(value.as_bytes());
                let digest = mac.finalize().into_bytes();
                let mut out = String::with_capacity(5 + 32);
                out.push_str("hmac:");
                for byte in &digest[..16] {
                    use std::fmt::Write as _;
                    let _ = write!(out, "{byte:02x}");
                }
                out
            }
        }
    }
}

/// Whether a `Debug` rendering is that of a `secrecy` secret (which prints
/// `SecretBox<str>([REDACTED])`): it is written as the marker.
pub(crate) fn is_secret_debug(rendered: &str) -> bool {
    rendered.starts_with("SecretBox<") || rendered.starts_with("SecretString(")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(
            &DEFAULT_DENY_LIST
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<_>>(),
            &[
                ("email".to_owned(), Confidential::Hash),
                ("card_last".to_owned(), Confidential::Mask),
            ],
            Some(b"0123456789abcdef".to_vec()),
            vec!["hunter2-hunter2".to_owned()],
            crate::redact::UrlRedactor::new(),
        )
    }

    #[test]
    fn names_are_matched_without_case_or_separators() {
        let r = redactor();
        for name in [
            "password",
            "db_password",
            "X-Api-Key",
            "set-cookie",
            "Authorization",
            "access_token",
        ] {
            assert_eq!(r.rule(name), Rule::Redact, "{name}");
        }
        assert_eq!(r.rule("user"), Rule::Keep);
        assert_eq!(r.rule("E-Mail"), Rule::Confidential(Confidential::Hash));
        assert_eq!(
            r.rule_static("email"),
            Rule::Confidential(Confidential::Hash)
        );
        assert_eq!(
            r.rule_static("email"),
            Rule::Confidential(Confidential::Hash)
        );
    }

    #[test]
    fn masks_hashes_and_scrubs() {
        let r = redactor();
        assert_eq!(
            r.confidential("4111111111111111", Confidential::Mask),
            "****1111"
        );
        assert_eq!(r.confidential("abc", Confidential::Mask), "****");
        let a = r.confidential("ada@example.com", Confidential::Hash);
        assert_eq!(a, r.confidential("ada@example.com", Confidential::Hash));
        assert_ne!(a, r.confidential("bob@example.com", Confidential::Hash));
        assert!(a.starts_with("hmac:") && a.len() == 37, "{a}");
        assert!(!a.contains("ada"));
        assert_eq!(
            r.scrub("login with hunter2-hunter2 ok"),
            "login with [REDACTED] ok"
        );
        assert!(matches!(r.scrub("nothing here"), Cow::Borrowed(_)));
        assert_eq!(
            r.scrub("to redis://u:hunter2-hunter2@h/?token=t"),
            "to redis://REDACTED:REDACTED@h/?token=REDACTED"
        );
    }
}
