//! The framework-neutral answers: codes, headers, bodies, query parameters, details.

mod support;

use std::time::Duration;

use readiness_core::{
    CheckOutcome, CheckSpec, Details, Endpoint, Measurement, ProbeRequest, Readiness,
};
use support::{fail, get, json, pass, request, Scripted, Step};

const TOKEN: &str = "operator-token-0123456789";
const LONG: Duration = Duration::from_secs(3600);

async fn service(details: Details) -> Readiness {
    let measured = Step::Outcome(CheckOutcome::pass().with_measurement(Measurement::new(
        "connections",
        7.0,
        "connections",
    )));
    let readiness = Readiness::builder()
        .service("orders", "1.4.2")
        .release_id("1.4.2-abc123")
        .description("order service")
        .details(details)
        .details_token(TOKEN)
        .check(
            CheckSpec::new("db", Scripted::new([measured]))
                .interval(LONG)
                .tag("storage"),
        )
        .check(
            CheckSpec::new(
                "cache",
                Scripted::new([fail("connection refused by cache.internal")]),
            )
            .interval(LONG)
            .non_critical()
            .tag("storage"),
        )
        .check(
            CheckSpec::new("heap", Scripted::new([pass()]))
                .interval(LONG)
                .liveness_only(),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    readiness
}

#[tokio::test]
async fn every_endpoint_answers_health_json_without_caching() {
    let readiness = service(Details::Components).await;
    for (endpoint, code) in [
        (Endpoint::Livez, 200),
        (Endpoint::Readyz, 200),
        (Endpoint::Startupz, 200),
        (Endpoint::Health, 200),
        (Endpoint::Check("db"), 200),
        (Endpoint::Check("cache"), 503),
    ] {
        let response = readiness.respond(&ProbeRequest::new(endpoint, "GET"));
        assert_eq!(response.status(), code, "{endpoint:?}");
        assert_eq!(
            response.headers()["content-type"],
            "application/health+json"
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
        json(std::str::from_utf8(response.body()).unwrap());
    }
}

#[tokio::test]
async fn readyz_body_follows_health_json() {
    let readiness = service(Details::Components).await;
    let body = json(&get(&readiness, Endpoint::Readyz, None).2);
    assert_eq!(body["status"], "warn");
    assert_eq!(body["serviceId"], "orders");
    assert_eq!(body["description"], "order service");
    let db = &body["checks"]["db:responseTime"][0];
    assert_eq!(db["componentType"], "component");
    assert_eq!(db["status"], "pass");
    assert_eq!(db["observedUnit"], "ms");
    assert!(db["observedValue"].as_f64().unwrap() >= 0.0);
    assert!(db["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["checks"]["cache:responseTime"][0]["status"], "fail");
    // Liveness-only checks are not part of readiness.
    assert!(body["checks"].get("heap:responseTime").is_none());
}

#[tokio::test]
async fn health_has_every_check_and_uptime() {
    let readiness = service(Details::Full).await;
    let body = json(&get(&readiness, Endpoint::Health, None).2);
    let checks = body["checks"].as_object().unwrap();
    for key in [
        "db:responseTime",
        "cache:responseTime",
        "heap:responseTime",
        "uptime",
        "db:connections",
    ] {
        assert!(checks.contains_key(key), "{key} missing from {body}");
    }
    assert_eq!(body["checks"]["uptime"][0]["observedUnit"], "s");
    assert_eq!(body["version"], "1.4.2");
    assert_eq!(body["releaseId"], "1.4.2-abc123");
}

#[tokio::test]
async fn details_default_hides_outputs_and_version() {
    let readiness = service(Details::Components).await;
    let text = get(&readiness, Endpoint::Health, None).2;
    assert!(!text.contains("cache.internal"), "{text}");
    assert!(!text.contains("1.4.2"), "{text}");
    assert!(!text.contains("db:connections"), "{text}");
    let body = json(&text);
    assert!(body["checks"]["cache:responseTime"][0]
        .get("output")
        .is_none());
}

#[tokio::test]
async fn status_only_shows_the_status_alone() {
    let readiness = service(Details::StatusOnly).await;
    let (code, _, body) = get(&readiness, Endpoint::Readyz, None);
    assert_eq!(code, 200);
    assert_eq!(body, r#"{"status":"warn"}"#);
}

#[tokio::test]
async fn the_bearer_token_unlocks_everything() {
    let readiness = service(Details::StatusOnly).await;
    let bearer = format!("Bearer {TOKEN}");
    let (_, _, text) = request(&readiness, Endpoint::Health, "GET", None, Some(&bearer));
    let body = json(&text);
    assert_eq!(
        body["checks"]["cache:responseTime"][0]["output"],
        "connection refused by cache.internal"
    );
    assert_eq!(body["version"], "1.4.2");
    // The scheme is case-insensitive; a wrong or partial token unlocks nothing.
    let lower = format!("bearer {TOKEN}");
    assert!(
        request(&readiness, Endpoint::Health, "GET", None, Some(&lower))
            .2
            .contains("cache.internal")
    );
    for wrong in [
        "Bearer operator-token-012345678".to_owned(),
        format!("Bearer {TOKEN}x"),
        TOKEN.to_owned(),
        format!("Basic {TOKEN}"),
    ] {
        let (_, _, text) = request(&readiness, Endpoint::Health, "GET", None, Some(&wrong));
        assert_eq!(text, r#"{"status":"warn"}"#, "{wrong}");
    }
}

#[tokio::test]
async fn head_answers_like_get_for_the_server_to_strip() {
    let readiness = service(Details::Full).await;
    for (endpoint, query) in [
        (Endpoint::Readyz, None),
        (Endpoint::Readyz, Some("verbose")),
        (Endpoint::Check("cache"), None),
        (Endpoint::Check("nope"), None),
    ] {
        let (head_code, head_type, head_body) = request(&readiness, endpoint, "HEAD", query, None);
        let (get_code, get_type, get_body) = request(&readiness, endpoint, "GET", query, None);
        assert_eq!(head_code, get_code, "{endpoint:?}");
        assert_eq!(head_type, get_type, "{endpoint:?}");
        assert_eq!(head_body.len(), get_body.len(), "{endpoint:?}");
    }
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let readiness = service(Details::Full).await;
    let response = readiness.respond(&ProbeRequest::new(Endpoint::Readyz, "POST"));
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
}

#[tokio::test]
async fn an_unknown_check_is_404() {
    let readiness = service(Details::Full).await;
    let (code, _, body) = get(&readiness, Endpoint::Check("nope"), None);
    assert_eq!(code, 404);
    assert_eq!(json(&body)["status"], "fail");
    assert!(!body.contains("nope"));
}

#[tokio::test]
async fn verbose_lists_checks_like_kubernetes() {
    let readiness = service(Details::Components).await;
    let (code, content_type, body) = get(&readiness, Endpoint::Readyz, Some("verbose"));
    assert_eq!(code, 200);
    assert_eq!(content_type, "text/plain; charset=utf-8");
    assert_eq!(
        body,
        "[+]db ok\n[-]cache failed (non-critical): reason withheld\nreadyz check passed\n"
    );
    let bearer = format!("Bearer {TOKEN}");
    let (_, _, body) = request(
        &readiness,
        Endpoint::Readyz,
        "GET",
        Some("verbose=1"),
        Some(&bearer),
    );
    assert!(
        body.contains("[-]cache failed (non-critical): connection refused by cache.internal\n"),
        "{body}"
    );
}

#[tokio::test]
async fn verbose_says_why_readiness_fails() {
    let readiness = service(Details::Components).await;
    readiness.mark_unready("maintenance");
    let (code, _, body) = get(&readiness, Endpoint::Readyz, Some("verbose"));
    assert_eq!(code, 503);
    assert!(
        body.ends_with("[-]readyz failed: not ready: maintenance\nreadyz check failed\n"),
        "{body}"
    );
}

#[tokio::test]
async fn exclude_leaves_a_check_out_of_one_request() {
    let readiness = service(Details::Components).await;
    let body = json(&get(&readiness, Endpoint::Readyz, Some("exclude=cache")).2);
    assert_eq!(body["status"], "pass");
    assert!(body["checks"].get("cache:responseTime").is_none());
    // The next request sees it again.
    assert_eq!(
        json(&get(&readiness, Endpoint::Readyz, None).2)["status"],
        "warn"
    );
    let (_, _, text) = get(
        &readiness,
        Endpoint::Readyz,
        Some("verbose&exclude=cache&exclude=nosuch&exclude=%0Aforged"),
    );
    assert_eq!(
        text,
        "[+]db ok\nwarn: some health checks cannot be excluded: no matches for nosuch, <invalid name>\nreadyz check passed\n"
    );
}

#[tokio::test]
async fn tag_keeps_only_tagged_checks() {
    let readiness = service(Details::Components).await;
    let body = json(&get(&readiness, Endpoint::Health, Some("tag=storage")).2);
    let checks = body["checks"].as_object().unwrap();
    assert!(checks.contains_key("db:responseTime"));
    assert!(checks.contains_key("cache:responseTime"));
    assert!(!checks.contains_key("heap:responseTime"));
}

/// A critical check whose first run is still going.
fn not_run_yet(details: Details) -> Readiness {
    Readiness::builder()
        .details(details)
        .check(
            CheckSpec::new(
                "slow",
                Scripted::new([Step::Sleep(Duration::from_secs(60))]),
            )
            .timeout(Duration::from_secs(5)),
        )
        .check(
            CheckSpec::new(
                "heap",
                Scripted::new([Step::Sleep(Duration::from_secs(60))]),
            )
            .timeout(Duration::from_secs(5))
            .liveness_only(),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_check_that_has_not_run_yet_is_pending_and_never_200() {
    let readiness = not_run_yet(Details::Components);
    // Its own endpoint: 503, saying pending (a deployment's `curl -f` fails).
    let (code, _, body) = get(&readiness, Endpoint::Check("slow"), None);
    assert_eq!(code, 503);
    let body = json(&body);
    assert_eq!(body["status"], "fail");
    assert_eq!(body["output"], "pending: not checked yet");
    let component = &body["checks"]["slow:responseTime"][0];
    assert_eq!(component["status"], "fail");
    assert_eq!(component["output"], "pending: not checked yet");
    assert!(component.get("time").is_none());
    assert_eq!(readiness.is_pending("slow"), Some(true));
    assert_eq!(
        readiness.check_status("slow"),
        Some(readiness_core::Status::Fail)
    );

    // Readiness waits for it; so does the whole report.
    let (code, _, body) = get(&readiness, Endpoint::Readyz, None);
    assert_eq!(code, 503);
    assert_eq!(
        json(&body)["checks"]["slow:responseTime"][0]["output"],
        "pending: not checked yet"
    );
    assert_eq!(get(&readiness, Endpoint::Health, None).0, 503);
    // Liveness does not: a check that has not run is no reason to restart.
    let (code, _, body) = get(&readiness, Endpoint::Livez, None);
    assert_eq!(code, 200);
    assert_eq!(json(&body)["status"], "warn");

    // The plain-text lists say pending.
    let (code, _, text) = get(&readiness, Endpoint::Readyz, Some("verbose"));
    assert_eq!(code, 503);
    assert!(
        text.starts_with("[-]slow pending: not checked yet\n"),
        "{text}"
    );
    assert!(text.ends_with("readyz check failed\n"), "{text}");
    let (code, _, text) = get(&readiness, Endpoint::Check("slow"), Some("verbose"));
    assert_eq!(code, 503);
    assert!(
        text.starts_with("[-]slow pending: not checked yet\n"),
        "{text}"
    );
    let (code, _, text) = get(&readiness, Endpoint::Livez, Some("verbose"));
    assert_eq!(code, 200);
    assert_eq!(
        text,
        "[-]heap pending: not checked yet\nlivez check passed\n"
    );
}

#[tokio::test]
async fn status_only_hides_why_a_pending_check_fails() {
    let readiness = not_run_yet(Details::StatusOnly);
    let (code, _, body) = get(&readiness, Endpoint::Check("slow"), None);
    assert_eq!(code, 503);
    assert_eq!(body, r#"{"status":"fail"}"#);
}

#[tokio::test]
async fn a_check_below_its_failure_threshold_is_pending() {
    let readiness = Readiness::builder()
        .details(Details::Components)
        .details_token(TOKEN)
        .check(CheckSpec::new("db", Scripted::new([pass()])).interval(LONG))
        .check(
            CheckSpec::new("cache", Scripted::new([fail("refused by cache.internal")]))
                .interval(LONG)
                .no_retry()
                .failure_threshold(3)
                .non_critical(),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    assert_eq!(readiness.is_pending("cache"), Some(true));

    // Its own endpoint: 503 pending, the reason only with full details.
    let (code, _, body) = get(&readiness, Endpoint::Check("cache"), None);
    assert_eq!(code, 503);
    assert!(!body.contains("cache.internal"), "{body}");
    let body = json(&body);
    assert_eq!(body["output"], "pending");
    assert_eq!(body["checks"]["cache:responseTime"][0]["status"], "fail");
    assert_eq!(body["checks"]["cache:responseTime"][0]["output"], "pending");
    let bearer = format!("Bearer {TOKEN}");
    let (_, _, text) = request(
        &readiness,
        Endpoint::Check("cache"),
        "GET",
        None,
        Some(&bearer),
    );
    assert_eq!(
        json(&text)["output"],
        "pending: refused by cache.internal (failure 1 of 3)"
    );

    // Non-critical: pending makes /readyz warn, as its failure would.
    let (code, _, body) = get(&readiness, Endpoint::Readyz, None);
    assert_eq!(code, 200);
    assert_eq!(json(&body)["status"], "warn");
    let (_, _, text) = get(&readiness, Endpoint::Readyz, Some("verbose"));
    assert_eq!(text, "[+]db ok\n[-]cache pending\nreadyz check passed\n");
    let (_, _, text) = request(
        &readiness,
        Endpoint::Readyz,
        "GET",
        Some("verbose"),
        Some(&bearer),
    );
    assert!(
        text.contains("\n[-]cache pending: refused by cache.internal (failure 1 of 3)\n"),
        "{text}"
    );
}

#[test]
fn endpoints_map_from_paths() {
    assert_eq!(Endpoint::from_path("/livez"), Some(Endpoint::Livez));
    assert_eq!(Endpoint::from_path("/readyz"), Some(Endpoint::Readyz));
    assert_eq!(Endpoint::from_path("/startupz"), Some(Endpoint::Startupz));
    assert_eq!(Endpoint::from_path("/health"), Some(Endpoint::Health));
    assert_eq!(
        Endpoint::from_path("/health/db"),
        Some(Endpoint::Check("db"))
    );
    assert_eq!(Endpoint::from_path("/health/"), None);
    assert_eq!(Endpoint::from_path("/health/a/b"), None);
}

#[tokio::test]
async fn an_unknown_tag_is_400_so_a_typo_never_passes() {
    let readiness = service(Details::Components).await;
    for endpoint in [Endpoint::Livez, Endpoint::Readyz, Endpoint::Health] {
        let (code, _, body) = get(&readiness, endpoint, Some("tag=stroage"));
        assert_eq!(code, 400, "{endpoint:?}");
        assert_eq!(json(&body)["output"], "unknown tag");
        assert!(!body.contains("stroage"));
    }
}

#[tokio::test]
async fn a_wrong_token_of_the_right_length_unlocks_nothing() {
    let readiness = service(Details::StatusOnly).await;
    let mut wrong = TOKEN.as_bytes().to_vec();
    for i in [0, TOKEN.len() / 2, TOKEN.len() - 1] {
        wrong.copy_from_slice(TOKEN.as_bytes());
        wrong[i] ^= 1;
        let bearer = format!("Bearer {}", String::from_utf8(wrong.clone()).unwrap());
        let (_, _, text) = request(&readiness, Endpoint::Health, "GET", None, Some(&bearer));
        assert_eq!(text, r#"{"status":"warn"}"#, "{bearer}");
    }
}

#[tokio::test]
async fn a_measurement_cannot_take_the_latency_key() {
    let outcome = CheckOutcome::pass()
        .with_measurement(Measurement::new("responseTime", 999_999.0, "ms"))
        .with_measurement(Measurement::new("a:b", 1.0, "x"))
        .with_measurement(Measurement::new("depth", 3.0, "items"));
    let readiness = Readiness::builder()
        .details(Details::Full)
        .check(CheckSpec::new("queue", Scripted::new([Step::Outcome(outcome)])).interval(LONG))
        .build()
        .unwrap();
    readiness.refresh().await;
    let body = json(&get(&readiness, Endpoint::Health, None).2);
    let checks = body["checks"].as_object().unwrap();
    assert!(
        checks["queue:responseTime"][0]["observedValue"]
            .as_f64()
            .unwrap()
            < 999_999.0
    );
    assert!(!checks.contains_key("queue:a:b"), "{body}");
    assert_eq!(checks["queue:depth"][0]["observedValue"], 3.0);
}
