//! The audit trail: writes recorded and verified, a write refused when it cannot be
//! recorded, and a trail kept in PostgreSQL.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use super::backends::postgres_url;
use super::metrics::sample;
use super::{json, request, temp_file, Service};

/// `POST /items` with `body` and the audit tests' token: the status and the body.
fn post_item(addr: SocketAddr, body: &str) -> (u16, String) {
    request(
        addr,
        "POST",
        "/items",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer audit-t0ken"),
        ],
        body,
    )
}

/// Runs `exe audit-verify ARGS`: the exit code and what it printed.
pub fn audit_verify(exe: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(exe)
        .arg("audit-verify")
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Both services: every write is a record of a signed trail; the shutdown hook
/// checkpoints it; `audit-verify` passes it, names the record an edit changed, and
/// with the checkpoints of the log stream finds a trail cut short.
pub fn writes_are_recorded_in_a_trail_that_verifies(exe: &str) {
    let seed = "11".repeat(32);
    let mut service = Service::start(
        exe,
        &[
            ("API_TOKEN", "audit-t0ken"),
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "0s"),
            ("AUDIT_SIGNING_KEY", &seed),
        ],
    );
    let key_line = service.wait_for_line("the public key", |l| {
        json(l)["message"] == "audit trail checkpoints are signed"
    });
    let key = json(&key_line)["public_key"].as_str().unwrap().to_owned();
    assert!(!key_line.contains(&seed), "the seed is never logged");
    // Before any traffic, the series the integrity alert selects is there, and
    // the trail (new and empty) verifies.
    let (_, scrape) = service.get("/metrics");
    assert_eq!(
        sample(&scrape, "audit_trail_integrity_status"),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "audit_trail_verified_records_total"),
        Some(0.0),
        "{scrape}"
    );
    for n in 0..3 {
        let (status, body) = post_item(service.addr, &format!("{{\"name\":\"audited-{n}\"}}"));
        assert_eq!(status, 201, "{body}");
    }
    let (_, scrape) = service.get("/metrics");
    assert_eq!(
        sample(&scrape, "audit_records_total{result=\"written\"}"),
        Some(3.0),
        "{scrape}"
    );
    service.signal("TERM");
    assert_eq!(service.wait_exit(Duration::from_secs(15)), Some(0));
    let trail = service.trail.to_str().unwrap().to_owned();
    let text = std::fs::read_to_string(&trail).unwrap();
    assert_eq!(
        text.lines().count(),
        5,
        "the opening checkpoint, 3 events and the shutdown's checkpoint:\n{text}"
    );
    assert!(text.lines().all(|l| json(l)["hash"].is_string()));

    let (code, out) = audit_verify(exe, &[&trail, "--key", &key]);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!("{trail}: OK: 5 records, 2 checkpoints, 0 chain breaks").as_str()
        )
    );
    // Another key: the checkpoint's signature does not hold.
    let other = audit_verify(exe, &[&trail, "--key", &"ab".repeat(32)]);
    assert_ne!(other.0, 0, "{}", other.1);

    // The log stream's checkpoints, kept apart from the trail.
    let anchors = temp_file("anchors.log");
    std::fs::write(&anchors, service.lines().join("\n")).unwrap();
    let anchors = anchors.to_str().unwrap().to_owned();

    // An edit of the second record.
    let edited_text = {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut record = json(&lines[1]);
        record["event"]["actor"] = serde_json::json!("mallory");
        lines[1] = record.to_string();
        lines.join("\n") + "\n"
    };
    std::fs::write(&trail, &edited_text).unwrap();
    let (code, out) = audit_verify(exe, &[&trail, "--key", &key]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BAD at seq 2: modified"), "{out}");

    // Cut to its first two records: consistent in itself, found with the anchors.
    let cut: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&trail, cut).unwrap();
    assert_eq!(audit_verify(exe, &[&trail]).0, 0);
    let (code, out) = audit_verify(exe, &[&trail, "--anchors", &anchors]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BAD at seq 3: truncated"), "{out}");

    assert_eq!(audit_verify(exe, &["/nonexistent/trail"]).0, 2);
    assert_eq!(audit_verify(exe, &[]).0, 2);
}

/// Both services, `blocking-strict` with a trail that cannot be written: the write
/// answers 503, the item is not kept, the failure is counted.
pub fn strict_mode_refuses_a_write_it_cannot_record(exe: &str) {
    let service = Service::start(
        exe,
        &[
            ("API_TOKEN", "audit-t0ken"),
            ("AUDIT_TRAIL", "/dev/full"),
            ("AUDIT_DURABILITY", "blocking-strict"),
        ],
    );
    let name = format!("unrecorded-{}", std::process::id());
    let (status, body) = post_item(service.addr, &format!("{{\"name\":\"{name}\"}}"));
    assert_eq!(status, 503, "{body}");
    let (status, list) = service.get("/items");
    assert_eq!(status, 200);
    assert!(
        !list.contains(&name),
        "the unrecorded write took effect: {list}"
    );
    let (_, scrape) = service.get("/metrics");
    assert_eq!(
        sample(&scrape, "audit_records_total{result=\"failed\"}"),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "audit_records_total{result=\"written\"}"),
        Some(0.0),
        "{scrape}"
    );
}

/// Both services with `AUDIT_TRAIL=postgres`: the records go to the database's
/// `audit_trail` table, and `audit-verify --table` passes it.
pub fn the_trail_can_live_in_postgres(exe: &str) {
    let database = postgres_url();
    // A table of the test's own (the database outlives test runs).
    let table = format!("audit_trail_example_{}", std::process::id());
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .args([database.as_str(), "-q", "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let drop_table =
        format!("DROP TABLE IF EXISTS {table}; DROP FUNCTION IF EXISTS {table}_insert_only()");
    psql(&drop_table);
    let mut service = Service::start(
        exe,
        &[
            ("API_TOKEN", "audit-t0ken"),
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "0s"),
            ("DATABASE_URL", &database),
            ("AUDIT_TRAIL", "postgres"),
            ("AUDIT_TABLE", &table),
        ],
    );
    let (status, body) = post_item(service.addr, "{\"name\":\"in-the-table\"}");
    assert_eq!(status, 201, "{body}");
    service.signal("TERM");
    assert_eq!(service.wait_exit(Duration::from_secs(15)), Some(0));
    let out = Command::new(exe)
        .args(["audit-verify", "--table", &table])
        .env("DATABASE_URL", &database)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.trim(),
        format!("table {table}: OK: 3 records, 2 checkpoints, 0 chain breaks"),
        "the opening checkpoint, the write and the shutdown's checkpoint"
    );
    psql(&drop_table);
}
