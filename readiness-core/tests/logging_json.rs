//! The JSON line: reserved keys, classification, redaction, caps, spans, the audit and
//! security API, the pretty format and the settings' validation.
#![cfg(feature = "logging")]

mod support;

use std::sync::{Arc, Mutex};

use support::capture::Capture;

use readiness_core::logging::{
    AuditEvent, Category, Confidential, FilteredLogLayer, Format, LogSettings, Outcome,
    SecurityEvent, SecurityKind, Severity,
};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt as _;

fn settings() -> LogSettings {
    LogSettings::new()
        .service("orders", "1.4.2")
        .format(Format::Json)
}

/// Runs `f` with `layer` as the thread's subscriber.
fn with_layer(layer: FilteredLogLayer<tracing_subscriber::Registry>, f: impl FnOnce()) {
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f);
}

fn capture(settings: LogSettings, f: impl FnOnce()) -> Vec<String> {
    let out = Capture::default();
    with_layer(settings.build(out.clone()).unwrap(), f);
    out.lines()
}

/// A line's keys and values in order, duplicates kept (serde_json's map would hide
/// a duplicate key).
fn pairs(line: &str) -> Vec<(String, Value)> {
    struct Pairs(Vec<(String, Value)>);
    impl<'de> serde::Deserialize<'de> for Pairs {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Pairs;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Pairs, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = map.next_entry::<String, Value>()? {
                        out.push((k, v));
                    }
                    Ok(Pairs(out))
                }
            }
            d.deserialize_map(V)
        }
    }
    let parsed: Pairs = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let keys: Vec<&str> = parsed.0.iter().map(|(k, _)| k.as_str()).collect();
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "duplicate key in {line}");
    parsed.0
}

fn get<'a>(pairs: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

#[test]
fn a_line_has_the_reserved_keys_first_then_the_fields() {
    let lines = capture(settings(), || {
        tracing::info!(target: "orders::api", order_id = 42_u64, paid = true, amount = 9.5, "order placed");
    });
    assert_eq!(lines.len(), 1);
    let line = pairs(&lines[0]);
    let keys: Vec<&str> = line.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "timestamp",
            "level",
            "message",
            "target",
            "service",
            "version",
            "category",
            "classification",
            "order_id",
            "paid",
            "amount"
        ]
    );
    let timestamp = get(&line, "timestamp").unwrap().as_str().unwrap();
    assert!(humantime::parse_rfc3339(timestamp).is_ok(), "{timestamp}");
    assert_eq!(
        timestamp.len(),
        "2026-11-23T10:00:00.123456Z".len(),
        "{timestamp}"
    );
    assert_eq!(get(&line, "level").unwrap(), "INFO");
    assert_eq!(get(&line, "message").unwrap(), "order placed");
    assert_eq!(get(&line, "service").unwrap(), "orders");
    assert_eq!(get(&line, "category").unwrap(), "application");
    assert_eq!(get(&line, "classification").unwrap(), "internal");
    assert_eq!(get(&line, "order_id").unwrap(), 42);
    assert_eq!(get(&line, "paid").unwrap(), true);
    assert_eq!(get(&line, "amount").unwrap(), 9.5);
}

#[test]
fn fields_named_like_reserved_keys_cannot_override_them() {
    let lines = capture(settings(), || {
        tracing::info!(
            level = "ERROR",
            timestamp = 1,
            service = "evil",
            trace_id = "forged",
            target = "x",
            "real message"
        );
    });
    let line = pairs(&lines[0]);
    assert_eq!(get(&line, "level").unwrap(), "INFO");
    assert_eq!(get(&line, "service").unwrap(), "orders");
    assert_eq!(get(&line, "field.level").unwrap(), "ERROR");
    assert_eq!(get(&line, "field.timestamp").unwrap(), 1);
    assert_eq!(get(&line, "field.service").unwrap(), "evil");
    assert_eq!(get(&line, "field.trace_id").unwrap(), "forged");
    assert!(get(&line, "trace_id").is_none());
}

#[test]
fn hostile_values_stay_on_one_line() {
    let hostile = "a\n{\"level\":\"ERROR\",\"message\":\"forged\"}\r\n\u{1b}[31mred\u{0}\u{7f}\"\\";
    let lines = capture(settings(), || {
        tracing::warn!(input = hostile, debug = ?hostile, "{hostile}");
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(!lines[0].bytes().any(|b| b < 0x20), "{:?}", lines[0]);
    let line = pairs(&lines[0]);
    assert_eq!(get(&line, "message").unwrap(), hostile);
    assert_eq!(get(&line, "input").unwrap(), hostile);
}

#[test]
fn categories_come_from_fields_targets_and_spans() {
    let lines = capture(
        settings().target_category("orders::billing", Category::Audit),
        || {
            tracing::info!("plain");
            tracing::info!(category = "security", "marked");
            tracing::info!(target: "security::scanner", "by target");
            tracing::info!(target: "orders::billing::invoices", "by a configured target");
            tracing::info!(target: "orders::billingx", "a prefix is not a parent");
            tracing::info!(target: "readiness::health", "the library's own");
            let span = tracing::info_span!("job", category = "performance");
            span.in_scope(|| tracing::info!("in a span"));
            span.in_scope(|| tracing::info!(category = "audit", "the event wins"));
            tracing::info!(category = "nonsense", "unknown category: a plain field");
        },
    );
    let categories: Vec<String> = lines
        .iter()
        .map(|l| {
            get(&pairs(l), "category")
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        categories,
        [
            "application",
            "security",
            "security",
            "audit",
            "application",
            "system",
            "performance",
            "audit",
            "application"
        ]
    );
    assert_eq!(
        get(&pairs(&lines[8]), "field.category").unwrap(),
        "nonsense"
    );
}

#[test]
fn restricted_events_keep_keys_but_no_values() {
    let lines = capture(settings(), || {
        tracing::info!(
            classification = "restricted",
            pan = "4111111111111111",
            n = 7,
            "card {}",
            "4111111111111111"
        );
        let span = tracing::info_span!("payment", classification = "confidential");
        span.in_scope(|| tracing::info!(amount = 5, "inside"));
    });
    let line = pairs(&lines[0]);
    assert_eq!(get(&line, "classification").unwrap(), "restricted");
    assert_eq!(get(&line, "message").unwrap(), "[REDACTED]");
    assert_eq!(get(&line, "pan").unwrap(), "[REDACTED]");
    assert_eq!(get(&line, "n").unwrap(), "[REDACTED]");
    assert!(!lines[0].contains("4111"));
    assert_eq!(
        get(&pairs(&lines[1]), "classification").unwrap(),
        "confidential"
    );
}

#[test]
fn secrets_never_reach_a_line() {
    let password = secrecy::SecretString::from("s3cr3t-in-a-box".to_owned());
    let lines = capture(
        settings()
            .secret_values(["db-pass-w0rd"])
            .confidential("email", Confidential::Hash)
            .confidential("card", Confidential::Mask)
            .hash_key(b"0123456789abcdef0123".to_vec())
            .deny_fields(["iban"]),
        || {
            let span = tracing::info_span!("request", api_key = "span-key-123456", user = "ada");
            span.in_scope(|| {
                tracing::info!(
                    password = "hunter2",
                    db_password = "x1",
                    authorization = "Bearer abcdef",
                    set_cookie = "sid=1",
                    customer_iban = "DE00123",
                    boxed = ?password,
                    email = "ada@example.com",
                    card = "4111111111111111",
                    url = "postgres://app:db-pass-w0rd@db/orders",
                    "connecting with db-pass-w0rd"
                );
            });
        },
    );
    let text = lines.join("\n");
    for secret in [
        "hunter2",
        "x1\"",
        "abcdef",
        "sid=1",
        "DE00123",
        "s3cr3t",
        "span-key",
        "db-pass-w0rd",
        "ada@example.com",
        "4111111111111111",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let line = pairs(&lines[0]);
    for key in [
        "password",
        "db_password",
        "authorization",
        "set_cookie",
        "customer_iban",
        "boxed",
        "api_key",
    ] {
        assert_eq!(get(&line, key).unwrap(), "[REDACTED]", "{key}");
    }
    assert_eq!(get(&line, "card").unwrap(), "****1111");
    let email = get(&line, "email").unwrap().as_str().unwrap();
    assert!(email.starts_with("hmac:"), "{email}");
    // The userinfo goes whole, as OpenTelemetry's conventions say.
    assert_eq!(
        get(&line, "url").unwrap(),
        "postgres://REDACTED:REDACTED@db/orders"
    );
    assert_eq!(get(&line, "message").unwrap(), "connecting with [REDACTED]");
    assert_eq!(get(&line, "user").unwrap(), "ada"); // the span's fields follow
}

#[test]
fn the_same_confidential_value_hashes_alike_so_lines_join() {
    let lines = capture(
        settings()
            .confidential("email", Confidential::Hash)
            .hash_key(b"0123456789abcdef".to_vec()),
        || {
            tracing::info!(email = "ada@example.com", "a");
            tracing::info!(email = "ada@example.com", "b");
            tracing::info!(email = "bob@example.com", "c");
        },
    );
    let hashes: Vec<Value> = lines
        .iter()
        .map(|l| get(&pairs(l), "email").unwrap().clone())
        .collect();
    assert_eq!(hashes[0], hashes[1]);
    assert_ne!(hashes[0], hashes[2]);
}

#[test]
fn long_values_and_lines_are_cut_visibly() {
    let long = "x".repeat(10_000);
    let lines = capture(settings().max_field_bytes(100).max_line_bytes(2048), || {
        tracing::info!(long = long.as_str(), "one long value");
        let many: Vec<String> = (0..100)
            .map(|i| format!("value number {i:03} {}", "y".repeat(40)))
            .collect();
        let span = tracing::info_span!(
            "wide",
            a0 = many[0].as_str(),
            a1 = many[1].as_str(),
            a2 = many[2].as_str(),
            a3 = many[3].as_str(),
            a4 = many[4].as_str(),
            a5 = many[5].as_str(),
            a6 = many[6].as_str(),
            a7 = many[7].as_str(),
            a8 = many[8].as_str(),
            a9 = many[9].as_str(),
            b0 = many[10].as_str(),
            b1 = many[11].as_str(),
            b2 = many[12].as_str(),
            b3 = many[13].as_str(),
            b4 = many[14].as_str(),
            b5 = many[15].as_str(),
            b6 = many[16].as_str(),
            b7 = many[17].as_str(),
            b8 = many[18].as_str(),
            b9 = many[19].as_str(),
            c0 = many[20].as_str(),
            c1 = many[21].as_str(),
            c2 = many[22].as_str(),
            c3 = many[23].as_str(),
            c4 = many[24].as_str(),
            c5 = many[25].as_str(),
            c6 = many[26].as_str(),
            c7 = many[27].as_str(),
            c8 = many[28].as_str(),
            c9 = many[29].as_str(),
            d0 = many[30].as_str(),
            d1 = many[31].as_str()
        );
        span.in_scope(|| tracing::info!("many fields"));
    });
    let first = pairs(&lines[0]);
    let value = get(&first, "long").unwrap().as_str().unwrap();
    assert_eq!(value, format!("{}…[truncated]", "x".repeat(100)));
    assert!(lines[1].len() <= 2048, "{}", lines[1].len());
    let second = pairs(&lines[1]);
    assert_eq!(get(&second, "truncated").unwrap(), true);
    assert!(get(&second, "a0").is_some() && get(&second, "d1").is_none());
}

#[test]
fn spans_give_request_ids_and_fields_innermost_first() {
    let lines = capture(settings(), || {
        let outer = tracing::info_span!(
            "request",
            request_id = "req-1",
            route = "/orders/{id}",
            user = "outer"
        );
        outer.in_scope(|| {
            let inner = tracing::info_span!("db", user = "inner", table = "orders");
            inner.in_scope(|| tracing::info!(table = "event", "query"));
        });
        tracing::info!(request_id = "explicit", "own id");
    });
    let line = pairs(&lines[0]);
    assert_eq!(get(&line, "request_id").unwrap(), "req-1");
    assert_eq!(get(&line, "table").unwrap(), "event");
    assert_eq!(get(&line, "user").unwrap(), "inner");
    assert_eq!(get(&line, "route").unwrap(), "/orders/{id}");
    let keys: Vec<&str> = line.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(&keys[8..], ["request_id", "table", "user", "route"]);
    assert_eq!(get(&pairs(&lines[1]), "request_id").unwrap(), "explicit");
}

#[test]
fn audit_and_security_events_are_typed_and_counted() {
    let registry = prometheus::Registry::new();
    let lines = capture(settings().registry(registry.clone(), None), || {
        AuditEvent::new("user:42", "update", "invoice", Outcome::Success)
            .resource_id("inv-1")
            .tenant("acme")
            .source_ip("203.0.113.7".parse().unwrap())
            .emit();
        SecurityEvent::new(SecurityKind::AuthenticationFailure, Severity::Medium)
            .reason("token expired")
            .emit();
        SecurityEvent::new(SecurityKind::AuthenticationFailure, Severity::Medium).emit();
        SecurityEvent::new(SecurityKind::AccessDenied, Severity::Critical)
            .actor("user:7")
            .resource("/admin")
            .emit();
        tracing::warn!(
            category = "security",
            kind = "made-up",
            "a hand-written one"
        );
    });
    let audit = pairs(&lines[0]);
    assert_eq!(get(&audit, "category").unwrap(), "audit");
    assert_eq!(get(&audit, "target").unwrap(), "readiness::audit");
    assert_eq!(get(&audit, "actor").unwrap(), "user:42");
    assert_eq!(get(&audit, "action").unwrap(), "update");
    assert_eq!(get(&audit, "resource_type").unwrap(), "invoice");
    assert_eq!(get(&audit, "resource_id").unwrap(), "inv-1");
    assert_eq!(get(&audit, "outcome").unwrap(), "success");
    assert_eq!(get(&audit, "source_ip").unwrap(), "203.0.113.7");
    assert!(
        get(&audit, "reason").is_none(),
        "unset optional fields are left out"
    );
    let security = pairs(&lines[1]);
    assert_eq!(get(&security, "category").unwrap(), "security");
    assert_eq!(get(&security, "level").unwrap(), "WARN");
    assert_eq!(get(&security, "kind").unwrap(), "authentication_failure");
    assert_eq!(get(&pairs(&lines[3]), "level").unwrap(), "ERROR");

    let mut text = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &registry.gather(),
        &mut text,
    )
    .unwrap();
    let text = String::from_utf8(text).unwrap();
    for line in [
        r#"security_events_total{kind="authentication_failure",severity="medium"} 2"#,
        r#"security_events_total{kind="access_denied",severity="critical"} 1"#,
        r#"security_events_total{kind="other",severity="other"} 1"#,
        // Known kinds and severities are there from the start, at zero.
        r#"security_events_total{kind="rate_limited",severity="low"} 0"#,
        r#"security_events_total{kind="access_denied",severity="medium"} 0"#,
    ] {
        assert!(text.contains(line), "no {line} in\n{text}");
    }
    let series = text
        .lines()
        .filter(|l| l.starts_with("security_events_total{"))
        .count();
    assert_eq!(
        series,
        5 * 4 + 1,
        "every kind by every severity, and the other"
    );
}

#[test]
fn the_pretty_format_is_one_escaped_line() {
    let lines = capture(settings().format(Format::Pretty), || {
        tracing::info!(
            category = "audit",
            user = "a\nb",
            password = "x",
            "hello\u{1b}[2J"
        );
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.contains(" INFO "), "{line}");
    assert!(line.contains(r"hello\u{1b}[2J"), "{line}");
    assert!(line.contains(r"user=a\nb"), "{line}");
    assert!(line.contains("password=[REDACTED]"), "{line}");
    assert!(line.contains("category=audit"), "{line}");
}

#[test]
fn settings_are_validated_naming_the_field() {
    let cases = [
        (settings().max_field_bytes(10), "logging.max_field_bytes"),
        (settings().max_line_bytes(10), "logging.max_line_bytes"),
        (
            settings().secret_values(["abc"]),
            "logging.secret_values[0]",
        ),
        (
            settings().confidential("email", Confidential::Hash),
            "logging.hash_key",
        ),
        (settings().hash_key(vec![1; 4]), "logging.hash_key"),
        (
            settings().target_category("", Category::Audit),
            "logging.target_category[8]",
        ),
    ];
    for (settings, field) in cases {
        let err = settings
            .build::<_, tracing_subscriber::Registry>(std::io::sink)
            .unwrap_err();
        assert_eq!(err.field(), field, "{err}");
    }
}

/// Counts the events a layer of the service's own gets.
struct Count(Arc<Mutex<usize>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        *self.0.lock().unwrap() += 1;
    }
}

#[test]
fn the_level_filters_our_lines_only() {
    let out = Capture::default();
    let seen = Arc::new(Mutex::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(settings().build(out.clone()).unwrap())
        .with(Count(Arc::clone(&seen)));
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!("for the other layer");
        tracing::trace!("for the other layer too");
        tracing::info!("for both");
    });
    assert_eq!(out.lines().len(), 1, "{:?}", out.lines());
    assert_eq!(
        *seen.lock().unwrap(),
        3,
        "our level must not filter other layers"
    );
    let verbose = Capture::default();
    let subscriber = tracing_subscriber::registry().with(
        settings()
            .level(tracing::level_filters::LevelFilter::DEBUG)
            .build(verbose.clone())
            .unwrap(),
    );
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!("now written");
        tracing::trace!("still not");
    });
    assert_eq!(verbose.lines().len(), 1);
}
