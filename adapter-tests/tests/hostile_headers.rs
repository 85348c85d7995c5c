//! Hostile request heads over real sockets, on both adapters: fuzzed `x-request-id`,
//! `traceparent`, `tracestate`, user agent, path and query, raw bytes (CR, LF, NUL,
//! ESC, DEL, invalid UTF-8, long values). Response headers never carry CR, LF or an
//! unvalidated request id; a valid `traceparent` is continued and an invalid one
//! starts a new root trace; the `tracestate` handed on keeps to the W3C limits (32
//! members, keys and values of their grammar, 512 characters); every log line parses
//! strictly as one JSON object; the server keeps answering.
//!
//! `READINESS_FUZZ_REQUESTS` sets the requests per adapter (200 by default);
//! `benches/fuzz/hostile.sh` sends 10,000 to each.
#![cfg(feature = "otel")]

#[allow(dead_code, unreachable_pub)]
#[path = "../../readiness-core/tests/support/capture.rs"]
mod capture;
#[path = "../../readiness-core/tests/support/strict.rs"]
mod strict;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use capture::Capture;
use readiness_core::logging::LogSettings;
use readiness_core::telemetry::{inject_context, OtelSettings, Telemetry};
use readiness_core::Readiness;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tracing_subscriber::layer::SubscriberExt as _;

/// What the handler would send onwards: `traceparent` and `tracestate`, one a line.
fn onward() -> String {
    tracing::info!("in the handler");
    let mut headers = http::HeaderMap::new();
    inject_context(&mut headers);
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    format!("{}\n{}", header("traceparent"), header("tracestate"))
}

async fn serve_axum(readiness: &Readiness) -> SocketAddr {
    let router = axum::Router::new().route("/echo", axum::routing::get(|| async { onward() }));
    let app = readiness_axum::instrument(router, readiness);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn serve_actix(readiness: &Readiness) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let readiness = readiness.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(readiness_actix::Observe::new(&readiness))
            .route(
                "/echo",
                web::get().to(|| async { HttpResponse::Ok().body(onward()) }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    addr
}

/// xorshift64*: reproducible requests from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const NASTY: &[&[u8]] = &[
    b"\r",
    b"\n",
    b"\0",
    b"\x1b[31m",
    b"\x7f",
    b"\t",
    b"\xff",
    b"\xc3",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b",",
    b"=",
    b"-",
    b" ",
    b"%0d%0a",
    "\u{2028}".as_bytes(),
    b"a",
    b"z9",
    b"00",
    b"01",
    b"ff",
    b"4bf92f3577b34da6a3ce929d0e0e4736",
    b"00f067aa0ba902b7",
];

/// Fuzzed bytes; three times in four without those HTTP/1.1 refuses in a header
/// value (CR, LF, NUL and the other controls but tab, DEL), so most requests reach
/// the middleware, and the rest test the servers' own refusal.
fn fuzz(rng: &mut Rng, max: usize) -> Vec<u8> {
    let mut bytes = raw(rng, max);
    if rng.below(4) != 0 {
        bytes.retain(|&b| b >= 0x20 && b != 0x7f || b == b'\t');
    }
    bytes
}

/// A query: percent-encoded three times in four.
fn query(rng: &mut Rng) -> Vec<u8> {
    let bytes = raw(rng, 100);
    if rng.below(4) == 0 {
        return bytes;
    }
    bytes
        .iter()
        .flat_map(|b| {
            if b.is_ascii_alphanumeric() {
                vec![*b]
            } else {
                format!("%{b:02X}").into_bytes()
            }
        })
        .collect()
}

fn raw(rng: &mut Rng, max: usize) -> Vec<u8> {
    match rng.below(10) {
        0 => (0..rng.below(max)).map(|_| rng.next() as u8).collect(),
        1 => b"x".repeat(rng.below(4 * max)),
        _ => {
            let mut out = Vec::new();
            for _ in 0..rng.below(12) {
                out.extend_from_slice(NASTY[rng.below(NASTY.len())]);
            }
            out
        }
    }
}

/// A valid traceparent (sometimes), or one with a fuzzed part.
fn traceparent(rng: &mut Rng) -> Vec<u8> {
    let hex = |rng: &mut Rng, n: usize| -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[rng.below(16)]))
            .collect()
    };
    let valid = format!("00-{}-{}-0{}", hex(rng, 32), hex(rng, 16), rng.below(2));
    match rng.below(4) {
        0 => valid.into_bytes(),
        1 => {
            let mut bytes = valid.into_bytes();
            let at = rng.below(bytes.len());
            bytes[at] = NASTY[rng.below(NASTY.len())][0];
            bytes
        }
        _ => fuzz(rng, 80),
    }
}

/// A tracestate: many members (valid and not), or fuzzed bytes.
fn tracestate(rng: &mut Rng) -> Vec<u8> {
    if rng.below(2) == 0 {
        return fuzz(rng, 600);
    }
    let members: Vec<String> = (0..rng.below(60))
        .map(|i| match rng.below(5) {
            0 => format!("k{i}={}", "v".repeat(rng.below(300))),
            1 => format!("{}=x", "k".repeat(rng.below(300))),
            _ => format!("vendor{i}@tenant=value{i}"),
        })
        .collect();
    members.join(",").into_bytes()
}

fn is_valid_traceparent(value: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(value).ok()?;
    let parts: Vec<&str> = text.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    // A version after `00` may carry more parts (W3C: parse what is known).
    let ok = parts.len() >= 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && (parts.len() == 4 || parts[0] != "00")
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0');
    ok.then(|| (parts[1].to_owned(), parts[2].to_owned()))
}

/// The W3C limits on a `tracestate` handed on.
fn check_tracestate(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    let members: Vec<&str> = value.split(',').collect();
    if members.len() > 32 {
        return Err(format!("{} tracestate members", members.len()));
    }
    if value.len() > 512 {
        return Err(format!("tracestate of {} characters", value.len()));
    }
    for member in members {
        let (key, val) = member.split_once('=').ok_or(format!("member {member:?}"))?;
        let key_ok = !key.is_empty()
            && key.len() <= 256
            && key
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/' | b'@'));
        let val_ok = !val.is_empty()
            && val.len() <= 256
            && val
                .bytes()
                .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=');
        if !key_ok || !val_ok {
            return Err(format!("member {member:?}"));
        }
    }
    Ok(())
}

/// Figures of one adapter's run.
#[derive(Debug, Default)]
struct Figures {
    requests: usize,
    answered: usize,
    rejected_400: usize,
    ids_kept: usize,
    ids_replaced: usize,
    continued: usize,
    new_roots: usize,
    failures: Vec<String>,
}

/// Sends one raw request; gives the response head and body.
async fn send(addr: SocketAddr, request: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut client = TcpStream::connect(addr).await.ok()?;
    client.write_all(request).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = response[..end].to_vec();
    // One response: a head split by the fuzz may have made a second request.
    let length = String::from_utf8_lossy(&head)
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(response.len() - end - 4);
    let body = response[end + 4..].iter().take(length).copied().collect();
    Some((head, body))
}

async fn one(addr: SocketAddr, rng: &mut Rng, figures: &mut Figures) -> Result<(), String> {
    let id = fuzz(rng, 160);
    let parent = traceparent(rng);
    let state = tracestate(rng);
    let agent = fuzz(rng, 300);
    let query = query(rng);
    let mut request = b"GET /echo?q=".to_vec();
    request.extend_from_slice(&query);
    request.extend_from_slice(b" HTTP/1.1\r\nhost: test\r\nconnection: close\r\nx-request-id: ");
    request.extend_from_slice(&id);
    request.extend_from_slice(b"\r\ntraceparent: ");
    request.extend_from_slice(&parent);
    request.extend_from_slice(b"\r\ntracestate: ");
    request.extend_from_slice(&state);
    request.extend_from_slice(b"\r\nuser-agent: ");
    request.extend_from_slice(&agent);
    request.extend_from_slice(b"\r\n\r\n");
    figures.requests += 1;
    let Some((head, body)) = send(addr, &request).await else {
        // A head the server refused to read may be closed without an answer; the
        // server must still answer the next one (checked after the run).
        return Ok(());
    };
    figures.answered += 1;
    let head = String::from_utf8(head).map_err(|_| "response head not UTF-8".to_owned())?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_owned();
    let mut echoed = None;
    for line in lines {
        if line.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
            return Err(format!("control byte in response header {line:?}"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(format!("header line {line:?}"))?;
        if name.eq_ignore_ascii_case("x-request-id") {
            echoed = Some(value.trim().to_owned());
        }
    }
    if !status.contains(" 200 ") {
        if status.contains(" 400 ") || status.contains(" 431 ") {
            figures.rejected_400 += 1;
        }
        return Ok(());
    }
    let echoed = echoed.ok_or("no x-request-id on a 200")?;
    // The id the server saw may be a part of what was sent (trimmed, or cut where a
    // bare LF ended the header): kept only when it is safe and was sent, else new.
    let safe = (1..=128).contains(&echoed.len())
        && echoed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b));
    let sent_it = id
        .windows(echoed.len().max(1))
        .any(|w| w == echoed.as_bytes());
    if safe && sent_it {
        figures.ids_kept += 1;
    } else if echoed.len() == 32 && echoed.bytes().all(|b| b.is_ascii_hexdigit()) {
        figures.ids_replaced += 1;
    } else {
        return Err(format!("unvalidated request id echoed: {echoed:?}"));
    }
    // A head with a control byte in it may have ended early (a bare LF): which
    // trace headers the server read is then unknown.
    let clean = [&id, &parent, &state, &agent, &query]
        .iter()
        .all(|v| v.iter().all(|&b| b >= 0x20 && b != 0x7f || b == b'\t'));
    let body = String::from_utf8_lossy(&body).into_owned();
    let (onward, state_on) = body.split_once('\n').unwrap_or((&body, ""));
    let (trace, _) = is_valid_traceparent(onward.as_bytes())
        .ok_or(format!("no valid traceparent handed on: {onward:?}"))?;
    let sent = std::str::from_utf8(&parent)
        .ok()
        .map(str::trim)
        .and_then(|p| is_valid_traceparent(p.as_bytes()));
    match &sent {
        Some((sent_trace, _)) if *sent_trace == trace => figures.continued += 1,
        Some((sent_trace, _)) if clean => {
            return Err(format!(
                "valid traceparent {sent_trace} not continued: {trace}"
            ));
        }
        _ => figures.new_roots += 1,
    }
    if sent.is_none() && clean && !state_on.is_empty() {
        return Err(format!(
            "tracestate kept without a parent {:?}: {state_on:?}",
            String::from_utf8_lossy(&parent)
        ));
    }
    check_tracestate(state_on)
}

async fn run(name: &str, addr: SocketAddr, requests: usize, seed: u64) -> Figures {
    let mut rng = Rng(seed);
    let mut figures = Figures::default();
    for i in 0..requests {
        if let Err(e) = one(addr, &mut rng, &mut figures).await {
            figures.failures.push(format!("{name} request {i}: {e}"));
        }
    }
    // Still answering.
    let (head, _) = send(
        addr,
        b"GET /echo HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    )
    .await
    .expect("the server still answers");
    assert!(head.starts_with(b"HTTP/1.1 200"), "{name}");
    figures
}

#[actix_web::test]
async fn hostile_heads_on_both_adapters() {
    let requests = std::env::var("READINESS_FUZZ_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed = std::env::var("READINESS_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0xF00D_u64);
    let out = Capture::default();
    let (otel, _guard) = Telemetry::from_settings(OtelSettings::from_lookup(|_| None).unwrap())
        .build()
        .unwrap();
    let logs = LogSettings::new().build(out.clone()).unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel).with(logs))
        .unwrap();
    let readiness = Readiness::builder().build().unwrap();
    let axum = run("axum", serve_axum(&readiness).await, requests, seed).await;
    let actix = run("actix", serve_actix(&readiness), requests, seed).await;
    let text = out.text();
    let mut lines = 0;
    let mut bad = Vec::new();
    for line in text.lines() {
        lines += 1;
        let clean = !line
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'));
        if let Err(e) =
            strict::object(line).and_then(|_| clean.then_some(()).ok_or("raw control".into()))
        {
            bad.push(format!("{e}: {line:.200}"));
        }
    }
    for (name, figures) in [("axum", &axum), ("actix", &actix)] {
        eprintln!(
            "request fuzz, {name}: {} requests, {} answered ({} refused as 400/431), request ids kept {} / replaced {}, traces continued {} / new roots {}, {} failing",
            figures.requests,
            figures.answered,
            figures.rejected_400,
            figures.ids_kept,
            figures.ids_replaced,
            figures.continued,
            figures.new_roots,
            figures.failures.len(),
        );
    }
    eprintln!(
        "request fuzz logs: {lines} lines, {} not one strict JSON object",
        bad.len()
    );
    let failures: Vec<&String> = axum.failures.iter().chain(&actix.failures).collect();
    assert!(
        failures.is_empty(),
        "{} failing: {:#?}",
        failures.len(),
        &failures[..failures.len().min(8)]
    );
    assert!(bad.is_empty(), "{:#?}", &bad[..bad.len().min(5)]);
}
