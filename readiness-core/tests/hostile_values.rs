//! Hostile label and detail values (quotes, backslashes, newlines, braces, a forged
//! exposition line) in check outputs, details and measurements and in the user's own
//! registry families: every classic scrape passes `promtool check metrics`, every
//! OpenMetrics one the official Python client's strict parser, every JSON health
//! body parses strictly (no duplicate key, nothing after the value), and the
//! `?verbose` text keeps one line per check.

#[path = "support/openmetrics.rs"]
mod openmetrics;
#[path = "support/strict.rs"]
mod strict;
mod support;

use std::time::Duration;

use readiness_core::{
    CheckOutcome, CheckSpec, Details, Endpoint, Measurement, ProbeRequest, Readiness,
};
use support::{Scripted, Step};

const TOKEN: &str = "operator-token-0123456789";
const LONG: Duration = Duration::from_secs(3600);

/// Texts that break naive encoders: quotes, backslashes, line breaks (including the
/// ones JSON readers split on), braces, and a whole forged exposition line.
const HOSTILE: [&str; 6] = [
    "a\"b\\c",
    "line one\nline two\r\nline three",
    "}{\"level\":\"error\",\"x\":\"{",
    "evil_total{job=\"x\"} 1\n# EOF",
    "sep\u{2028}and\u{2029}para\u{85}nel",
    "tab\tnul\0esc\u{1b}[31m",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_keep_every_scrape_and_body_well_formed() {
    let registry = prometheus::Registry::new();
    let own = prometheus::IntCounterVec::new(
        prometheus::Opts::new("orders_hostile_total", "A help text with \\ and \n and \"."),
        &["reason"],
    )
    .unwrap();
    registry.register(Box::new(own.clone())).unwrap();
    for (i, value) in HOSTILE.iter().enumerate() {
        own.with_label_values(&[value]).inc_by(i as u64 + 1);
    }
    let mut builder = Readiness::builder()
        .service("orders", "1.4.2")
        .registry(registry)
        .details(Details::StatusOnly)
        .details_token(TOKEN)
        .system_metrics(false);
    for (i, value) in HOSTILE.iter().enumerate() {
        let outcome = if i % 2 == 0 {
            CheckOutcome::fail(*value)
        } else {
            CheckOutcome::warn(*value)
        }
        .with_detail(*value)
        .with_measurement(Measurement::new(*value, 1.5, *value));
        builder = builder.check(
            CheckSpec::new(format!("check{i}"), Scripted::new([Step::Outcome(outcome)]))
                .interval(LONG)
                .non_critical(),
        );
    }
    let readiness = builder.build().unwrap();
    readiness.refresh().await;
    // Names and tags are the service's own, checked at build: a hostile one is an
    // error naming the field, never a body to escape.
    let error = Readiness::builder()
        .check(CheckSpec::new("db", Scripted::new([])).tag(HOSTILE[0]))
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "checks[db].tags");

    // The scrape: Prometheus' own parser and linter accept it.
    let scrape = String::from_utf8(readiness.metrics_response().body().to_vec()).unwrap();
    assert!(scrape.contains("orders_hostile_total"), "{scrape}");
    assert!(scrape.contains("health_check_observed_value"), "{scrape}");
    let (ok, said) = promtool_check(&scrape);
    assert!(ok, "promtool check metrics: {said}\n{scrape}");
    // The OpenMetrics answer (what Prometheus asks for): the strict parser accepts it.
    let open = readiness.metrics_response_for(Some("application/openmetrics-text;version=1.0.0"));
    let open = String::from_utf8(open.body().to_vec()).unwrap();
    assert!(open.contains("orders_hostile_total"), "{open}");
    assert!(open.ends_with("\n# EOF\n"), "{open}");
    let exemplars = openmetrics::parse(&open).unwrap_or_else(|e| panic!("{e}\n{open}"));
    assert!(exemplars.is_empty(), "{exemplars:?}");
    // And it does refuse a broken one, so the parse above can fail.
    openmetrics::assert_refuses_broken();
    // No forged line: every line is a comment or starts with a family name.
    for line in scrape.lines().chain(open.lines()) {
        assert!(
            line.starts_with('#')
                || line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'),
            "a line no family wrote: {line:?}"
        );
        assert!(!line.starts_with("evil_total"), "{line}");
    }

    // Every JSON answer, with and without the details token, parses strictly.
    let mut endpoints = vec![
        Endpoint::Livez,
        Endpoint::Readyz,
        Endpoint::Startupz,
        Endpoint::Health,
    ];
    let names: Vec<String> = (0..HOSTILE.len()).map(|i| format!("check{i}")).collect();
    endpoints.extend(names.iter().map(|name| Endpoint::Check(name)));
    for endpoint in endpoints {
        for token in [None, Some(TOKEN)] {
            let authorization = token.map(|t| format!("Bearer {t}"));
            let request = ProbeRequest::new(endpoint, "GET")
                .with_authorization(authorization.as_deref().map(str::as_bytes));
            let response = readiness.respond(&request);
            let body = String::from_utf8(response.body().to_vec()).unwrap();
            strict::parse(&body).unwrap_or_else(|e| {
                panic!("{endpoint:?} (token: {}): {e}\n{body}", token.is_some())
            });
            // A detail meant for the log never reaches a body.
            assert!(!body.contains("line two\r"), "{body}");
        }
        // `?verbose`: one line per check and one verdict, whatever the outputs hold.
        if matches!(endpoint, Endpoint::Readyz) {
            for token in [None, Some(TOKEN)] {
                let authorization = token.map(|t| format!("Bearer {t}"));
                let request = ProbeRequest::new(endpoint, "GET")
                    .with_query(Some("verbose"))
                    .with_authorization(authorization.as_deref().map(str::as_bytes));
                let body = String::from_utf8(readiness.respond(&request).body().to_vec()).unwrap();
                let lines: Vec<&str> = body.lines().filter(|l| !l.is_empty()).collect();
                // The checks are listed for the token only (`Details::StatusOnly`).
                let checks = if token.is_some() { HOSTILE.len() } else { 0 };
                assert_eq!(lines.len(), checks + 1, "a forged verbose line:\n{body}");
                // No raw control character reaches the text (escaped as `\n`, `\u{1b}`).
                assert!(
                    !body
                        .trim_end()
                        .chars()
                        .any(|c| c.is_control() && c != '\n' || c == '\u{2028}' || c == '\u{2029}'),
                    "{body:?}"
                );
                for line in &lines[..checks] {
                    assert!(
                        line.starts_with("[+]") || line.starts_with("[-]"),
                        "{line:?}\n{body}"
                    );
                }
            }
        }
    }
}

/// Runs `promtool check metrics` on a scrape.
fn promtool_check(text: &str) -> (bool, String) {
    use std::io::Write as _;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: install Debian's `prometheus` package (`bash .ci/test` does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), said)
}
