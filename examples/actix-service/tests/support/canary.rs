//! Secrets never reach an output: random canaries in the request headers that carry
//! credentials, in sensitive query parameters and in the userinfo of the URLs the
//! service is configured with, then no trace of any in the logs, the health answers
//! (with and without the details token), `/metrics` or the exported spans.

use std::net::TcpListener;
use std::time::{Duration, Instant, SystemTime};

use super::{json, request, OtlpSink, Service};

/// A port nothing listens on: a check of it fails with "connection refused".
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `text` as a URL would carry it: every byte but the unreserved ones as `%XX`.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Both services: every canary is absent from every output.
pub fn no_secret_reaches_an_output(exe: &str) {
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        ^ u128::from(std::process::id());
    // Random, distinct, and each with a character a URL encodes.
    let canary = |what: &str| format!("{what}-{seed:x}!k");
    let authorization = canary("authorization");
    let cookie = canary("cookie");
    let proxy = canary("proxy");
    let api_key = canary("apikey");
    let token = canary("token");
    let access_token = canary("accesstoken");
    let password = canary("password");
    let sig = canary("sig");
    let upstream_user = canary("upuser");
    let upstream_password = canary("uppassword");
    let upstream_token = canary("uptoken");
    let redis_password = canary("redispassword");
    let details_token = format!("details-{seed:x}");
    let api_token = format!("api-{seed:x}");

    let sink = OtlpSink::start();
    let endpoint = format!("http://{}", sink.addr);
    let upstream = format!(
        "http://{}:{}@127.0.0.1:{}/status?token={}",
        percent_encoded(&upstream_user),
        percent_encoded(&upstream_password),
        closed_port(),
        percent_encoded(&upstream_token),
    );
    let redis = format!(
        "redis://default:{}@127.0.0.1:{}/0",
        percent_encoded(&redis_password),
        closed_port()
    );
    let mut service = Service::start(
        exe,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("UPSTREAM_URL", &upstream),
            ("REDIS_URL", &redis),
            ("HEALTH_DETAILS_TOKEN", &details_token),
            ("API_TOKEN", &api_token),
            ("RUST_LOG", "debug"),
        ],
    );

    let query = format!(
        "token={}&access_token={}&password={}&sig={}",
        percent_encoded(&token),
        percent_encoded(&access_token),
        percent_encoded(&password),
        percent_encoded(&sig)
    );
    let bearer = format!("Bearer {authorization}");
    let cookie_header = format!("session={cookie}");
    let proxy_header = format!("Basic {proxy}");
    let secret_headers: [(&str, &str); 4] = [
        ("authorization", &bearer),
        ("cookie", &cookie_header),
        ("proxy-authorization", &proxy_header),
        ("x-api-key", &api_key),
    ];
    let mut bodies = Vec::new();
    // What is kept of each answer names the request without its secrets.
    for (method, path) in [
        ("GET", "/items"),
        ("GET", "/no-such-route"),
        ("POST", "/items"),
        ("GET", "/items/1"),
    ] {
        let (status, body) = request(
            service.addr,
            method,
            &format!("{path}?{query}"),
            &secret_headers,
            r#"{"name":"n"}"#,
        );
        bodies.push(format!("{method} {path} -> {status}: {body}"));
    }
    // A write with the right token: an audit line.
    let good = format!("Bearer {api_token}");
    let (status, _) = request(
        service.addr,
        "POST",
        &format!("/items?{query}"),
        &[
            ("authorization", &good),
            ("content-type", "application/json"),
        ],
        r#"{"name":"canary"}"#,
    );
    bodies.push(format!("POST /items with the token -> {status}"));

    // The upstream and cache checks have failed and say so to an operator.
    let operator = format!("Bearer {details_token}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = request(
            service.addr,
            "GET",
            "/health",
            &[("authorization", &operator)],
            "",
        );
        let health = json(&body);
        let failed =
            |check: &str| health["checks"][format!("{check}:responseTime")][0]["status"] == "fail";
        if failed("upstream") && failed("cache") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the upstream and cache checks never failed: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for path in [
        "/health",
        "/health?verbose",
        "/readyz?verbose",
        "/livez?verbose",
        "/health/upstream",
        "/health/cache?verbose",
        "/metrics",
    ] {
        for (who, auth) in [
            ("anonymous", None),
            ("operator", Some(operator.as_str())),
            ("a wrong token", Some(bearer.as_str())),
        ] {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| ("authorization", a)).into_iter().collect();
            let (status, body) = request(service.addr, "GET", path, &headers, "");
            bodies.push(format!("GET {path} ({who}) -> {status}: {body}"));
        }
    }
    // The details token works: the operator's answer names the failure.
    assert!(
        bodies.iter().any(|b| b.contains("connection refused")),
        "no check output shown with the details token:\n{}",
        bodies.join("\n")
    );

    // The request's span has reached the collector; SIGTERM flushes the rest.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sink.holds(b"GET /items") {
        assert!(Instant::now() < deadline, "no span exported");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(service.terminate(Duration::from_secs(30)), Some(0));
    let logs = service.lines().join("\n");
    assert!(logs.contains("request finished"), "no access line:\n{logs}");
    assert!(
        logs.contains("health check status changed"),
        "no check failure logged:\n{logs}"
    );

    for secret in [
        &authorization,
        &cookie,
        &proxy,
        &api_key,
        &token,
        &access_token,
        &password,
        &sig,
        &upstream_user,
        &upstream_password,
        &upstream_token,
        &redis_password,
        &details_token,
        &api_token,
    ] {
        for form in [secret.clone(), percent_encoded(secret)] {
            assert!(!logs.contains(&form), "{form} in the logs:\n{logs}");
            for body in &bodies {
                assert!(!body.contains(&form), "{form} in an answer: {body}");
            }
            assert!(!sink.holds(form.as_bytes()), "{form} in an exported span");
        }
    }
}
