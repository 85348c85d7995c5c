//! Log injection fuzz: arbitrary bytes (CR, LF, NUL, ESC, DEL, C1, U+2028/2029,
//! invalid UTF-8, 1 MiB strings) in the path, query, user agent, request id,
//! message and field values, and fields named like the library's keys or twice.
//! Every line parses, strictly (no key twice), as exactly one JSON object; as many
//! lines as events; no raw control character; values and lines within their caps,
//! a cut one marked; the library's keys hold the library's values.
//!
//! `READINESS_FUZZ_CASES` sets the number of cases (3,000 by default);
//! `benches/fuzz/hostile.sh` runs 1,000,000 in release and prints the figures.
#![cfg(feature = "logging")]

#[path = "support/strict.rs"]
mod strict;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use readiness_core::logging::{Format, LogSettings, RequestId};
use serde_json::{Map, Value};
use tracing_subscriber::layer::SubscriberExt as _;

const MAX_FIELD: usize = 4096;
const MAX_LINE: usize = 32 * 1024;
const MARKER: &str = "…[truncated]";

/// A log destination the fuzz loop empties after each case.
#[derive(Clone, Default)]
struct Out(Arc<Mutex<Vec<u8>>>);

impl Out {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Out {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// xorshift64*: reproducible cases from a seed, without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The byte sequences an attacker reaches for.
const NASTY: &[&[u8]] = &[
    b"\r",
    b"\n",
    b"\r\n",
    b"\0",
    b"\x1b[31m",
    b"\x1b]0;x\x07",
    b"\x7f",
    b"\t",
    b"\x08",
    b"\x0c",
    "\u{85}".as_bytes(),
    "\u{9b}".as_bytes(),
    "\u{2028}".as_bytes(),
    "\u{2029}".as_bytes(),
    "\u{feff}".as_bytes(),
    b"\"",
    b"\\",
    b"\\u0000",
    b"{",
    b"}",
    b":",
    b",",
    b"\",\"level\":\"ERROR",
    b"\n{\"level\":\"ERROR\"}\n",
    b"\xff",
    b"\xc3",
    b"\xe2\x80",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"a",
    b" ",
    b"%0d%0a",
    b"=",
    b"@",
    "é".as_bytes(),
    "😀".as_bytes(),
];

/// Hostile bytes: nasty pieces, uniform bytes, near-cap runs, or (1 case in 500)
/// a 1 MiB string.
fn bytes(rng: &mut Rng) -> Vec<u8> {
    match rng.below(1000) {
        0 | 1 => {
            let piece = NASTY[rng.below(NASTY.len() as u64) as usize];
            piece.iter().copied().cycle().take(1 << 20).collect()
        }
        2..=40 => {
            let len = MAX_FIELD - 16 + rng.below(64) as usize;
            let piece = NASTY[rng.below(NASTY.len() as u64) as usize];
            piece.iter().copied().cycle().take(len).collect()
        }
        41..=400 => (0..rng.below(48)).map(|_| rng.next() as u8).collect(),
        _ => {
            let mut out = Vec::new();
            for _ in 0..rng.below(12) {
                out.extend_from_slice(NASTY[rng.below(NASTY.len() as u64) as usize]);
            }
            out
        }
    }
}

/// What a log field can hold: text (invalid UTF-8 arrives replaced, as the
/// adapters hand it on).
fn text(rng: &mut Rng) -> String {
    String::from_utf8_lossy(&bytes(rng)).into_owned()
}

/// The figures of a run.
#[derive(Debug, Default)]
struct Figures {
    cases: u64,
    events: u64,
    lines: u64,
    cut_values: u64,
    cut_lines: u64,
    longest_line: usize,
    failures: Vec<String>,
}

/// Checks one line; `expect` is the event's own values, the line's keys.
fn check_line(line: &[u8], figures: &mut Figures) -> Result<Map<String, Value>, String> {
    figures.longest_line = figures.longest_line.max(line.len());
    if line.len() > MAX_LINE {
        return Err(format!("line of {} bytes", line.len()));
    }
    if let Some(b) = line.iter().find(|&&b| b < 0x20 || b == 0x7f) {
        return Err(format!("raw control byte {b:#x}"));
    }
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8: {e}"))?;
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(format!("raw {c:?}"));
    }
    let object = strict::object(text)?;
    for (key, value) in &object {
        if let Value::String(s) = value {
            if s.len() > MAX_FIELD + MARKER.len() {
                return Err(format!("{key}: value of {} bytes", s.len()));
            }
            if s.ends_with(MARKER) {
                figures.cut_values += 1;
            }
        }
    }
    if object.get("truncated") == Some(&Value::Bool(true)) {
        figures.cut_lines += 1;
    }
    Ok(object)
}

/// `written` is `sent`, or `sent` cut with the marker (or left out of a cut line).
fn same_or_cut(object: &Map<String, Value>, key: &str, sent: &str) -> Result<(), String> {
    let Some(written) = object.get(key) else {
        return if object.get("truncated") == Some(&Value::Bool(true)) {
            Ok(())
        } else {
            Err(format!("{key} missing from a line not cut"))
        };
    };
    let written = written.as_str().ok_or(format!("{key} is not a string"))?;
    if written == sent {
        return Ok(());
    }
    match written.strip_suffix(MARKER) {
        Some(head) if sent.starts_with(head) && sent.len() > head.len() => Ok(()),
        _ => Err(format!("{key}: wrote {written:.80?}, sent {sent:.80?}")),
    }
}

fn run_case(rng: &mut Rng, out: &Out, figures: &mut Figures) -> Result<(), String> {
    let header = bytes(rng);
    let request_id = RequestId::from_header(Some(&header));
    let given = request_id.as_bytes() == header.as_slice();
    if !given
        && (request_id.as_str().len() != 32
            || !request_id.as_str().bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(format!("unvalidated request id {:?}", request_id.as_str()));
    }
    let [path, query, agent, message, value, own_id, user_level, user_field_level, first, second] =
        std::array::from_fn(|_| text(rng));
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        url.path = path.as_str(),
        url.query = query.as_str(),
        user_agent.original = agent.as_str(),
        timestamp = value.as_str(),
        target = value.as_str(),
    );
    span.in_scope(|| {
        tracing::warn!(
            level = user_level.as_str(),
            "field.level" = user_field_level.as_str(),
            message = message.as_str(),
            trace_id = value.as_str(),
            span_id = value.as_str(),
            category = value.as_str(),
            classification = value.as_str(),
            truncated = value.as_str(),
            request_id = own_id.as_str(),
            twice = first.as_str(),
            twice = second.as_str(),
            value = value.as_str(),
        );
        tracing::info!("{message}");
    });
    tracing::error!(value = value.as_str(), "outside {}", path);
    figures.events += 3;
    let written = out.take();
    if written.last() != Some(&b'\n') {
        return Err("output does not end with a newline".into());
    }
    let lines: Vec<&[u8]> = written[..written.len() - 1]
        .split(|&b| b == b'\n')
        .collect();
    figures.lines += lines.len() as u64;
    if lines.len() != 3 {
        return Err(format!("{} lines for 3 events", lines.len()));
    }
    let mut objects = Vec::new();
    for line in &lines {
        objects.push(check_line(line, figures)?);
    }
    // The library's keys hold the library's values.
    for (object, level) in objects.iter().zip(["WARN", "INFO", "ERROR"]) {
        if object["level"] != level || object["target"] != module_path!() {
            return Err(format!("level or target replaced: {object:?}"));
        }
        let stamp = object["timestamp"].as_str().unwrap_or_default();
        if humantime::parse_rfc3339(stamp).is_err() {
            return Err(format!("timestamp replaced: {stamp:?}"));
        }
        for key in ["trace_id", "span_id", "service", "version"] {
            if object.contains_key(key) {
                return Err(format!("{key} forged"));
            }
        }
        // Naming a known category or class is the documented way to set one.
        let category = object["category"].as_str().unwrap_or_default();
        let class = object["classification"].as_str().unwrap_or_default();
        let categories = ["application", "audit", "security", "performance", "system"];
        if !categories.contains(&category)
            || !["public", "internal", "confidential"].contains(&class)
        {
            return Err(format!("category or class replaced: {category} {class}"));
        }
    }
    let event = &objects[0];
    let id = request_id.as_str();
    same_or_cut(event, "request_id", id)?;
    same_or_cut(&objects[1], "request_id", id)?;
    if objects[2].contains_key("request_id") {
        return Err("a request id outside the request".into());
    }
    if own_id != id {
        same_or_cut(event, "field.request_id", &own_id)?;
    }
    same_or_cut(event, "field.level", &user_level)?;
    same_or_cut(event, "field.field.level", &user_field_level)?;
    same_or_cut(event, "field.truncated", &value)?;
    same_or_cut(event, "twice", &second)?;
    same_or_cut(event, "url.path", &path)?;
    same_or_cut(event, "user_agent.original", &agent)?;
    same_or_cut(event, "message", &message)?;
    same_or_cut(&objects[1], "message", &message)?;
    same_or_cut(&objects[2], "value", &value)?;
    Ok(())
}

fn cases() -> u64 {
    std::env::var("READINESS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

#[test]
fn hostile_bytes_never_forge_break_or_overgrow_a_line() {
    let cases = cases();
    let seed = std::env::var("READINESS_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_CAFE_F00D_u64);
    let out = Out::default();
    let layer = LogSettings::new()
        .format(Format::Json)
        .max_field_bytes(MAX_FIELD)
        .max_line_bytes(MAX_LINE)
        .build(out.clone())
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    let mut rng = Rng(seed);
    let mut figures = Figures::default();
    let started = Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        for case in 0..cases {
            figures.cases += 1;
            let state = rng.0;
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_case(&mut rng, &out, &mut figures)
            }));
            let failed = match run {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(_) => "panic".to_owned(),
            };
            out.take();
            if figures.failures.len() < 5 {
                figures
                    .failures
                    .push(format!("case {case} (rng state {state:#x}): {failed}"));
            } else {
                figures.failures.push(String::new());
            }
        }
    });
    let failed = figures.failures.len();
    eprintln!(
        "log fuzz: {} cases, {} events, {} lines, {failed} failing; {} values and {} lines cut with a marker; longest line {} bytes (cap {MAX_LINE}); seed {seed:#x}; {:.1} s",
        figures.cases,
        figures.events,
        figures.lines,
        figures.cut_values,
        figures.cut_lines,
        figures.longest_line,
        started.elapsed().as_secs_f64(),
    );
    assert_eq!(failed, 0, "{:#?}", &figures.failures[..failed.min(5)]);
    assert_eq!(figures.lines, figures.events);
}
