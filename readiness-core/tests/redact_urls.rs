//! Credentials in URLs never reach an output: the scanner's properties, and every
//! place the library writes a text (log lines, check outputs and errors in `/health`,
//! panic messages).

mod support;

use proptest::prelude::*;
use readiness_core::redact::{redact_urls, UrlRedactor, SENSITIVE_QUERY_PARAMS};

const CANARY: &str = "CaNaRy7Q9Z";

/// Characters a userinfo may hold (RFC 3986: unreserved, sub-delims, `:`, `%`), and
/// `@`, which a password holds when it was not encoded.
const USERINFO: &str = "[A-Za-z0-9._~!$&'()*+,;=:%@-]{0,12}";
/// Characters of a query value: anything but the `&` and `#` that end it, and
/// whitespace.
const VALUE: &str = "[A-Za-z0-9._~!$'()*+,;=:%@/?-]{0,12}";

fn name_with_random_case() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(SENSITIVE_QUERY_PARAMS),
        any::<u64>(),
    )
        .prop_map(|(name, bits)| {
            name.chars()
                .enumerate()
                .map(|(i, c)| {
                    if bits >> (i % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect()
        })
}

proptest! {
    /// Whatever surrounds it, a URL's userinfo is gone.
    #[test]
    fn no_canary_in_userinfo_survives(
        prefix in "(?s).{0,20}",
        scheme in "[a-z][a-z0-9+.-]{0,8}",
        user in USERINFO,
        before in USERINFO,
        after in USERINFO,
        host in "[a-z0-9.-]{0,12}(:[0-9]{1,5})?",
        rest in "(/[^ ]{0,12})?",
        suffix in "(?s)( .{0,20})?",
    ) {
        let text = format!("{prefix}{scheme}://{user}:{before}{CANARY}{after}@{host}{rest}{suffix}");
        let redacted = redact_urls(&text);
        prop_assert!(!redacted.contains(CANARY), "{text} -> {redacted}");
        prop_assert!(redacted.contains("://REDACTED:REDACTED@"), "{redacted}");
        prop_assert_eq!(redact_urls(&redacted), redacted.clone(), "not idempotent");
    }

    /// Whatever surrounds it, the value of a listed parameter is gone, in any case.
    #[test]
    fn no_canary_in_a_listed_parameter_survives(
        prefix in "(?s).{0,20}",
        url in "(https?://[a-z.]{1,10}(/[a-z]{0,5})?)?",
        others in "([a-z]{1,5}=[a-z0-9]{0,5}&){0,3}",
        name in name_with_random_case(),
        before in VALUE,
        after in VALUE,
        tail in "(&[a-z]{1,5}=[a-z0-9]{0,5}){0,2}(#[a-z]{0,5})?",
        suffix in "(?s)( .{0,20})?",
    ) {
        let text = format!("{prefix}{url}?{others}{name}={before}{CANARY}{after}{tail}{suffix}");
        let redacted = redact_urls(&text);
        prop_assert!(!redacted.contains(CANARY), "{text} -> {redacted}");
        prop_assert_eq!(redact_urls(&redacted), redacted.clone(), "not idempotent");
    }

    /// A text without URLs or parameters comes back unchanged, and not copied.
    #[test]
    fn text_without_urls_is_unchanged(text in "(?s).{0,200}") {
        let lower = text.to_ascii_lowercase();
        let has_param = SENSITIVE_QUERY_PARAMS
            .iter()
            .any(|name| lower.contains(&format!("{}=", name.to_ascii_lowercase())));
        prop_assume!(!text.contains("://") && !has_param);
        prop_assert!(matches!(redact_urls(&text), std::borrow::Cow::Borrowed(t) if t == text));
    }

    /// Names added to a redactor are redacted as the defaults are.
    #[test]
    fn added_names_are_redacted(value in "[a-z0-9]{1,12}") {
        let redactor = UrlRedactor::new().with_query_params(["Session"]);
        let text = format!("/cb?x=1&session={value}{CANARY}");
        prop_assert_eq!(redactor.redact(&text), "/cb?x=1&session=REDACTED");
    }
}

#[cfg(feature = "logging")]
mod logs {
    use super::support::capture::Capture;
    use super::CANARY;
    use readiness_core::logging::{Format, LogSettings};
    use tracing_subscriber::layer::SubscriberExt as _;

    fn capture(settings: LogSettings, f: impl FnOnce()) -> String {
        let out = Capture::default();
        let layer = settings
            .format(Format::Json)
            .build::<_, tracing_subscriber::Registry>(out.clone())
            .unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        out.text()
    }

    /// Every text value of a line, message, field or span field, plain or
    /// `Debug`, whatever its name, and in the pretty format too.
    #[test]
    fn no_line_holds_a_url_credential() {
        for format in [Format::Json, Format::Pretty] {
            let text = capture(
                LogSettings::new()
                    .format(format)
                    .redact_query_params(["otp"]),
                || {
                    let url = format!("postgres://app:{CANARY}@db:5432/items?sslmode=off");
                    let span = tracing::info_span!("job", target_url = %format!("https://h/?sig={CANARY}"));
                    span.in_scope(|| {
                        tracing::warn!(
                            url = %url,
                            query = %format!("access_token={CANARY}&x=1"),
                            error = ?format!("connect redis://:{CANARY}@cache/0 refused"),
                            callback = %format!("/cb?otp={CANARY}"),
                            "cannot reach {url}"
                        );
                    });
                },
            );
            assert!(!text.contains(CANARY), "{text}");
            assert!(
                text.contains("postgres://REDACTED:REDACTED@db:5432/items?sslmode=off"),
                "{text}"
            );
            assert!(text.contains("sig=REDACTED"), "{text}");
            assert!(text.contains("/cb?otp=REDACTED"), "{text}");
        }
    }

    /// A text without URL credentials is written as it was.
    #[test]
    fn plain_values_are_kept() {
        let text = capture(LogSettings::new(), || {
            tracing::info!(path = "/items?page=2", who = "bob@example.com", "a=b c@d");
        });
        assert!(text.contains(r#""path":"/items?page=2""#), "{text}");
        assert!(text.contains(r#""who":"bob@example.com""#), "{text}");
        assert!(text.contains(r#""message":"a=b c@d""#), "{text}");
    }
}

/// Check outputs, errors and panics: no credential in any `/health` body, whatever
/// the detail level.
mod health {
    use super::CANARY;
    use readiness_core::{checks, CheckOutcome, Endpoint, ProbeRequest, Readiness};

    #[tokio::test]
    async fn no_health_body_holds_a_url_credential() {
        const TOKEN: &str = "operator-token-0123456789";
        let readiness = Readiness::builder()
            .details_token(TOKEN)
            .check(checks::from_fn("output", || async {
                CheckOutcome::fail(format!("cannot reach https://u:{CANARY}@h/?token={CANARY}"))
            }))
            .check(checks::from_fn("error", || async {
                Err::<(), _>(format!("connect to amqp://guest:{CANARY}@mq:5672/ failed"))
            }))
            .check(checks::from_fn("panic", || async {
                if CANARY.is_empty() {
                    return;
                }
                panic!("bad url mysql://root:{CANARY}@db/x?password={CANARY}");
            }))
            .check(checks::from_fn("warn", || async {
                CheckOutcome::warn(format!("slow: https://h/x?X-Amz-Signature={CANARY}"))
            }))
            .build()
            .unwrap();
        readiness.refresh().await;
        let bearer = format!("Bearer {TOKEN}");
        for query in [None, Some("verbose")] {
            for authorization in [None, Some(bearer.as_bytes())] {
                for endpoint in [
                    Endpoint::Health,
                    Endpoint::Readyz,
                    Endpoint::Check("output"),
                ] {
                    let answer = readiness.respond(
                        &ProbeRequest::new(endpoint, "GET")
                            .with_query(query)
                            .with_authorization(authorization),
                    );
                    let body = String::from_utf8_lossy(answer.body()).into_owned();
                    assert!(!body.contains(CANARY), "{endpoint:?} {query:?}: {body}");
                }
            }
        }
        let full = readiness.respond(
            &ProbeRequest::new(Endpoint::Health, "GET").with_authorization(Some(bearer.as_bytes())),
        );
        let body = String::from_utf8_lossy(full.body()).into_owned();
        assert!(
            body.contains("https://REDACTED:REDACTED@h/?token=REDACTED"),
            "{body}"
        );
        assert!(body.contains("X-Amz-Signature=REDACTED"), "{body}");
    }
}
