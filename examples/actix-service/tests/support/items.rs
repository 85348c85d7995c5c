//! The items API against its stores, the database away, and an upstream check.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::backends::{postgres_url, redis_url};
use super::metrics::sample;
use super::{json, request, Service};

/// Both services: items written through the API are read back, from SQLite by
/// default and from the real PostgreSQL with the real Redis as cache (the second
/// read a cache hit); each write is an audit line; a refused token a security line.
pub fn items_round_trip(exe: &str) {
    for backend in ["sqlite", "postgres"] {
        let (database, redis) = (postgres_url(), redis_url());
        let mut env = vec![
            ("API_TOKEN", "s3cret-token"),
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "0s"),
        ];
        if backend == "postgres" {
            env.push(("DATABASE_URL", database.as_str()));
            env.push(("REDIS_URL", redis.as_str()));
        }
        let mut service = Service::start(exe, &env);
        let name = format!("pen-{}-{}", backend, std::process::id());
        let body = format!("{{\"name\":\"{name}\"}}");
        let json_type = ("content-type", "application/json");
        let (status, created) = request(
            service.addr,
            "POST",
            "/items",
            &[json_type, ("authorization", "Bearer s3cret-token")],
            &body,
        );
        assert_eq!(status, 201, "{backend}: {created}");
        let created: serde_json::Value = serde_json::from_str(&created).unwrap();
        assert_eq!(created["name"], name.as_str());
        let id = created["id"].as_i64().unwrap();
        let (status, list) = service.get("/items");
        assert_eq!(status, 200);
        assert!(list.contains(&name), "{backend}: {list}");
        for _ in 0..2 {
            let (status, item) = service.get(&format!("/items/{id}"));
            assert_eq!(status, 200);
            assert!(item.contains(&name), "{backend}: {item}");
        }
        assert_eq!(service.get("/items/999999999").0, 404);
        let (status, _) = request(
            service.addr,
            "POST",
            "/items",
            &[json_type, ("authorization", "Bearer wrong")],
            &body,
        );
        assert_eq!(status, 401);

        let audit = service.wait_for_line("the audit line", |l| {
            json(l)["category"] == "audit" && json(l)["action"] == "create"
        });
        assert_eq!(json(&audit)["resource_id"], id.to_string(), "{audit}");
        let security =
            service.wait_for_line("the security line", |l| json(l)["category"] == "security");
        assert!(
            !security.contains("s3cret-token") && !security.contains("wrong\""),
            "{security}"
        );
        let (_, scrape) = service.get("/metrics");
        if backend == "postgres" {
            // First read a miss (then cached), second a hit; the cache check runs.
            assert_eq!(
                sample(
                    &scrape,
                    "cache_requests_total{cache=\"items\",result=\"miss\"}"
                ),
                Some(2.0),
                "{scrape}"
            );
            assert_eq!(
                sample(
                    &scrape,
                    "cache_requests_total{cache=\"items\",result=\"hit\"}"
                ),
                Some(1.0),
                "{scrape}"
            );
            assert_eq!(
                sample(
                    &scrape,
                    "health_check_status{check=\"cache\",critical=\"false\"}"
                ),
                Some(1.0),
                "{scrape}"
            );
        }
        assert_eq!(
            sample(
                &scrape,
                "health_check_status{check=\"db\",critical=\"true\"}"
            ),
            Some(1.0),
            "{scrape}"
        );
        service.signal("TERM");
        assert_eq!(service.wait_exit(Duration::from_secs(15)), Some(0));
    }
}

/// Both services: with the database away, reads answer 503, readiness fails on the
/// `db` check and liveness still passes.
pub fn a_database_away_fails_readiness_not_liveness(exe: &str) {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let service = Service::start(exe, &[("DATABASE_URL", &url)]);
    assert_eq!(service.get("/items").0, 503);
    assert_eq!(service.get("/livez").0, 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = service.get("/readyz");
        if status == 503 && body.contains("db") {
            break;
        }
        assert!(Instant::now() < deadline, "/readyz: {status} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Both services with `UPSTREAM_URL`: an upstream that answers passes its check;
/// one that refuses fails it while readiness holds (the check is not critical).
pub fn an_upstream_is_checked_but_not_critical(exe: &str) {
    // An upstream of the test's own: 200 to every request.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = format!("http://{}/livez", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = [0u8; 2048];
            let _ = stream.read(&mut head);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    let refused = {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/livez", closed.local_addr().unwrap())
    };
    for (url, status) in [(up.as_str(), 200), (refused.as_str(), 503)] {
        let service = Service::start(exe, &[("UPSTREAM_URL", url)]);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (got, body) = service.get("/health/upstream");
            let (ready, _) = service.get("/readyz");
            if got == status && ready == 200 {
                assert!(
                    !body.contains("127.0.0.1"),
                    "the host stays out of the body: {body}"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{url}: /health/upstream {got} {body}, /readyz {ready}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
