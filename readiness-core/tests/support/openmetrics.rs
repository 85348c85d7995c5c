//! A strict OpenMetrics parse: the official Python client's parser
//! (`prometheus_client.openmetrics.parser`, PyPI `prometheus-client`, pinned and
//! installed by `bash .ci/tools prometheus-client`). It refuses what promtool's
//! classic parser never sees: a missing `# EOF`, a malformed exemplar, an exemplar
//! off a bucket or counter, a counter sample without `_total`, a unit the name does
//! not end with, buckets out of order, a `_count` unlike the `+Inf` bucket.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// Reads the exposition on stdin; prints each exemplar as one JSON line, or the
/// parser's complaint on stderr with exit status 1 (2 when the module is missing).
const SCRIPT: &str = r#"
import json, sys
try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError as error:
    print(f"{error}: install it with `bash .ci/tools prometheus-client`", file=sys.stderr)
    sys.exit(2)
text = sys.stdin.buffer.read().decode("utf-8")
try:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.exemplar is not None:
                print(json.dumps({"sample": sample.name, "labels": sample.labels,
                                  "exemplar": sample.exemplar.labels,
                                  "value": sample.exemplar.value}))
except Exception as error:
    print(f"{type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(1)
"#;

/// An exemplar as the parser read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedExemplar {
    /// The sample's name (`…_bucket`).
    pub sample: String,
    /// The sample's labels (`le` included).
    pub labels: BTreeMap<String, String>,
    /// The exemplar's own labels (`trace_id`, `span_id`).
    pub exemplar: BTreeMap<String, String>,
    /// The exemplar's value.
    pub value: f64,
}

/// Parses `text` as OpenMetrics: every exemplar in it, or the parser's message.
/// Panics when `python3` or the module is missing (a set-up error, not a verdict).
pub fn parse(text: &str) -> Result<Vec<ParsedExemplar>, String> {
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 not found: the OpenMetrics parser runs under it");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => {}
        Some(1) => return Err(format!("OpenMetrics parser: {}", stderr.trim_end())),
        _ => panic!("the OpenMetrics parser did not run: {stderr}"),
    }
    let labels = |value: &serde_json::Value| -> BTreeMap<String, String> {
        value
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    };
    Ok(String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            ParsedExemplar {
                sample: value["sample"].as_str().unwrap().to_owned(),
                labels: labels(&value["labels"]),
                exemplar: labels(&value["exemplar"]),
                value: value["value"].as_f64().unwrap(),
            }
        })
        .collect())
}

/// Panics unless `parse` refuses a broken exposition with the parser's message, so
/// a passing parse means something.
pub fn assert_refuses_broken() {
    let good = "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.05 1.5\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.05\nh_count 1\n# EOF\n";
    let parsed = parse(good).unwrap();
    assert_eq!(parsed.len(), 1, "{parsed:?}");
    assert_eq!(
        parsed[0].exemplar["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    for (broken, said) in [
        (good.trim_end_matches("# EOF\n").to_owned(), "Missing # EOF"),
        (good.replace("# {trace_id", "#{trace_id"), "Invalid line"),
        (
            good.replace("h_count 1", "h_count 2"),
            "Count does not match",
        ),
        ("# TYPE c counter\nc 1\n# EOF\n".to_owned(), "Clashing name"),
        (
            good.replace("histogram", "gauge")
                .replace("h_bucket{le=\"0.1\"}", "h"),
            "can have exemplars",
        ),
    ] {
        let error = parse(&broken).expect_err(&broken);
        assert!(error.contains(said), "{said}: {error}");
    }
}
