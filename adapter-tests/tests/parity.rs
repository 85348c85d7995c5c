//! The same scenario through both adapters: same codes, same headers, the same bytes.

use std::time::Duration;

use actix_web::test::{call_service, init_service, read_body, TestRequest};
use actix_web::App;
use http_body_util::BodyExt as _;
use readiness_core::{checks, CheckOutcome, Details, Measurement, Readiness};
use tower::ServiceExt as _;

const TOKEN: &str = "operator-token-0123456789";

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn readiness(details: Details) -> Readiness {
    let long = Duration::from_secs(3600);
    let readiness = Readiness::builder()
        .service("orders", "1.4.2")
        .details(details)
        .details_token(TOKEN)
        .check(
            checks::from_fn("db", || async {
                CheckOutcome::pass().with_measurement(Measurement::new(
                    "connections",
                    3.0,
                    "connections",
                ))
            })
            .interval(long)
            .tag("storage"),
        )
        .check(
            checks::from_fn("cache", || async {
                CheckOutcome::fail("refused by cache.internal:6379")
            })
            .interval(long)
            .non_critical(),
        )
        .check(
            checks::from_fn("heap", || async { true })
                .interval(long)
                .liveness_only(),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    readiness
}

fn header_list<'a>(headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> Vec<(String, String)> {
    let mut list: Vec<_> = headers
        .filter(|(name, _)| *name != "date" && *name != "content-length")
        .map(|(name, value)| (name.to_owned(), String::from_utf8_lossy(value).into_owned()))
        .collect();
    list.sort();
    list
}

async fn via_axum(readiness: &Readiness, method: &str, uri: &str, auth: Option<&str>) -> Answer {
    let router: axum::Router = readiness_axum::routes(readiness);
    let mut request = axum::http::Request::builder().method(method).uri(uri);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = router
        .oneshot(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = header_list(
        response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes())),
    );
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn via_actix(readiness: &Readiness, method: &str, uri: &str, auth: Option<&str>) -> Answer {
    let app = init_service(App::new().configure(readiness_actix::configure(readiness))).await;
    let mut request = TestRequest::default()
        .method(actix_web::http::Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri);
    if let Some(auth) = auth {
        request = request.insert_header(("authorization", auth));
    }
    let response = call_service(&app, request.to_request()).await;
    let status = response.status().as_u16();
    let headers = header_list(
        response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes())),
    );
    let body = read_body(response).await.to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// `/health` carries the uptime, which moves between two calls: cut that one entry.
fn without_uptime(body: &[u8]) -> String {
    let text = String::from_utf8(body.to_vec()).unwrap();
    match text.find(r#""uptime":["#) {
        Some(start) => {
            let end = start + text[start..].find(']').unwrap() + 1;
            format!("{}{}", &text[..start], &text[end..])
        }
        None => text,
    }
}

#[actix_web::test]
async fn both_adapters_answer_alike() {
    let bearer = format!("Bearer {TOKEN}");
    // (details, method, uri, authorization, expected status, a piece of the body or "")
    let cases: &[(Details, &str, &str, Option<&str>, u16, &str)] = &[
        (
            Details::Components,
            "GET",
            "/livez",
            None,
            200,
            r#""heap:responseTime""#,
        ),
        (
            Details::Components,
            "GET",
            "/readyz",
            None,
            200,
            r#""status":"warn""#,
        ),
        (
            Details::Components,
            "GET",
            "/startupz",
            None,
            200,
            r#""db:responseTime""#,
        ),
        (
            Details::Components,
            "GET",
            "/health",
            None,
            200,
            r#""uptime""#,
        ),
        (
            Details::Components,
            "GET",
            "/health/db",
            None,
            200,
            r#""db:responseTime""#,
        ),
        (
            Details::Components,
            "GET",
            "/health/cache",
            None,
            503,
            r#""status":"fail""#,
        ),
        (
            Details::Components,
            "GET",
            "/health/nope",
            None,
            404,
            "unknown check",
        ),
        (Details::Components, "HEAD", "/readyz", None, 200, ""),
        (Details::Components, "HEAD", "/health/cache", None, 503, ""),
        (Details::Components, "HEAD", "/health/nope", None, 404, ""),
        (Details::Components, "POST", "/readyz", None, 405, ""),
        (
            Details::Components,
            "GET",
            "/readyz?verbose",
            None,
            200,
            "[-]cache failed (non-critical): reason withheld\n",
        ),
        (
            Details::Components,
            "GET",
            "/readyz?exclude=cache",
            None,
            200,
            r#""status":"pass""#,
        ),
        (
            Details::Components,
            "GET",
            "/health?tag=none",
            None,
            400,
            "unknown tag",
        ),
        (
            Details::Components,
            "GET",
            "/readyz?tag=storage",
            None,
            200,
            r#""db:responseTime""#,
        ),
        (
            Details::Components,
            "GET",
            "/health/%FF",
            None,
            404,
            "unknown check",
        ),
        (
            Details::Components,
            "GET",
            "/health/%64b",
            None,
            200,
            r#""db:responseTime""#,
        ),
        (
            Details::StatusOnly,
            "GET",
            "/readyz",
            None,
            200,
            r#"{"status":"warn"}"#,
        ),
        (
            Details::StatusOnly,
            "GET",
            "/health",
            Some(bearer.as_str()),
            200,
            "refused by cache.internal:6379",
        ),
        (
            Details::StatusOnly,
            "GET",
            "/health",
            Some("Bearer wrong-token-0123456789"),
            200,
            r#"{"status":"warn"}"#,
        ),
        (
            Details::Components,
            "GET",
            "/health",
            None,
            200,
            r#""serviceId":"orders""#,
        ),
        (
            Details::Full,
            "GET",
            "/health",
            None,
            200,
            r#""db:connections""#,
        ),
        (
            Details::Full,
            "GET",
            "/health/cache?verbose",
            None,
            503,
            "[-]cache failed: refused by cache.internal:6379\n",
        ),
    ];
    for &(details, method, uri, auth, status, piece) in cases {
        let readiness = readiness(details).await;
        let axum = via_axum(&readiness, method, uri, auth).await;
        let actix = via_actix(&readiness, method, uri, auth).await;
        let case = format!("{details:?} {method} {uri}");
        assert_eq!(axum.status, status, "axum: {case}");
        assert_eq!(actix.status, status, "actix: {case}");
        assert_eq!(axum.headers, actix.headers, "{case}");
        // For HEAD both adapters hand the server GET's body so it can state its
        // length; axum's router drops it here, actix-web's server when it writes
        // (see `tests/routes.rs` of both crates, over real sockets).
        if method == "HEAD" {
            assert!(axum.body.is_empty(), "{case}");
        } else {
            assert_eq!(
                without_uptime(&axum.body),
                without_uptime(&actix.body),
                "{case}"
            );
        }
        let body = String::from_utf8(actix.body).unwrap();
        assert!(body.contains(piece), "{case}: {body:?} lacks {piece:?}");
        if details != Details::Full && auth.is_none() {
            assert!(
                !body.contains("cache.internal"),
                "{case}: details leaked: {body}"
            );
            assert!(!body.contains("1.4.2"), "{case}: version leaked: {body}");
        }
        if status != 405 {
            assert!(
                axum.headers
                    .contains(&("cache-control".into(), "no-store".into())),
                "{case}"
            );
        } else {
            assert!(
                axum.headers.contains(&("allow".into(), "GET, HEAD".into())),
                "{case}"
            );
        }
    }
}
