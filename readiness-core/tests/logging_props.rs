//! Property tests of the JSON line over arbitrary values: every line parses, is one
//! line, holds no raw control character, and no configured secret ever appears,
//! whatever field, span, message or header it was put in.
#![cfg(feature = "logging")]

mod support;

use support::capture::Capture;

use proptest::prelude::*;
use readiness_core::logging::{Format, LogSettings, RequestId};
use tracing_subscriber::layer::SubscriberExt as _;

/// Any text: control characters, quotes, backslashes, multi-byte characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        proptest::collection::vec(any::<char>(), 0..40).prop_map(|c| c.into_iter().collect()),
        "[\\x00-\\x1f\"\\\\{}:,]{0,20}",
    ]
}

/// `text` with `secret` spliced in at `at` (a character position).
fn splice(text: &str, secret: &str, at: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = at % (chars.len() + 1);
    let mut out: String = chars[..at].iter().collect();
    out.push_str(secret);
    out.extend(&chars[at..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_line_is_one_json_object_without_secrets(
        message in text(),
        value in text(),
        span_value in text(),
        header in text(),
        secret in "[a-z0-9]{8,16}",
        at in 0usize..64,
        place in 0usize..4,
        pretty in any::<bool>(),
    ) {
        let out = Capture::default();
        let format = if pretty { Format::Pretty } else { Format::Json };
        let layer = LogSettings::new()
            .format(format)
            .secret_values([secret.clone()])
            .max_field_bytes(64)
            .build(out.clone())
            .unwrap();
        // The secret goes into one of the places a value can come from.
        let with = |i: usize, s: &str| if place == i { splice(s, &secret, at) } else { s.to_owned() };
        let (message, value, span_value, header) =
            (with(0, &message), with(1, &value), with(2, &span_value), with(3, &header));
        let request_id = RequestId::from_header(Some(header.as_bytes()));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id = %request_id,
                user_agent = header.as_str(),
                note = span_value.as_str(),
            );
            span.in_scope(|| {
                tracing::info!(field = value.as_str(), debug = ?value, "{message}");
            });
        });
        let text = out.text();
        prop_assert!(text.ends_with('\n'));
        let lines: Vec<&str> = text.lines().collect();
        prop_assert_eq!(lines.len(), 1, "{:?}", text);
        let line = lines[0];
        prop_assert!(!line.bytes().any(|b| b < 0x20), "raw control character in {:?}", line);
        prop_assert!(!line.contains(&secret), "secret {} in {:?}", secret, line);
        if !pretty {
            let parsed: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
            prop_assert!(parsed.is_object());
        }
    }
}
