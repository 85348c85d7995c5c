//! The audit trail's live integrity check, against real files in a temporary
//! directory and the real PostgreSQL: a clean trail passes and counts exactly the
//! records new since the last pass; an edit, a deletion or a cut turns it failing
//! and the gauge 0; a line still being written is not a failure; the metrics are
//! there before the first record.
#![cfg(feature = "audit-trail")]

mod support;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use readiness_core::audit::{AuditTrail, Durability, FileTrail, IntegrityCheck};
use readiness_core::logging::LogSettings;
use readiness_core::{Check as _, CheckOutcome, Readiness, Status};
use support::capture::Capture;
use support::trail::*;
use tracing_subscriber::layer::SubscriberExt as _;

const GAUGE: &str = "audit_trail_integrity_status";
const COUNTER: &str = "audit_trail_verified_records_total";

/// Every log line of this binary (one subscriber for all its tests: a call site's
/// interest is then never cached as off by a test without one).
fn logs() -> &'static Capture {
    static LOGS: OnceLock<Capture> = OnceLock::new();
    LOGS.get_or_init(|| {
        let out = Capture::default();
        let layer = LogSettings::new().build(out.clone()).unwrap();
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .unwrap();
        out
    })
}

/// The value of the metric `name` on `registry`, `None` when it is not there.
fn metric(registry: &prometheus::Registry, name: &str) -> Option<f64> {
    let families = registry.gather();
    let family = families.iter().find(|f| f.name() == name)?;
    let m = &family.get_metric()[0];
    Some(match family.get_field_type() {
        prometheus::proto::MetricType::GAUGE => m.get_gauge().get_value(),
        _ => m.get_counter().get_value(),
    })
}

/// A blocking, unsynced file trail at `path` counted on `registry`.
fn file_trail(path: &Path, registry: &prometheus::Registry) -> FileTrail {
    FileTrail::builder(path)
        .durability(Durability::Blocking)
        .sync(false)
        .checkpoint_every(10)
        .signing_key(key())
        .registry(registry.clone(), None)
        .build()
        .unwrap()
}

fn line_count(path: &Path) -> u64 {
    lines(&std::fs::read(path).unwrap()).len() as u64
}

async fn run(check: &IntegrityCheck) -> CheckOutcome {
    check.check().await.unwrap()
}

/// Rewrites line `k` (0-based) of the file with `edit`.
fn edit_line(path: &Path, k: usize, edit: impl FnOnce(&mut [u8])) {
    let mut all = lines(&std::fs::read(path).unwrap());
    let before = all[k].clone();
    edit(&mut all[k]);
    assert_ne!(before, all[k], "the edit changes bytes");
    std::fs::write(path, join(&all)).unwrap();
}

/// Changes the first `alice` of a line to `mallo`: same length, another actor.
fn forge_actor(line: &mut [u8]) {
    let at = line
        .windows(5)
        .position(|w| w == b"alice")
        .expect("an event");
    line[at..at + 5].copy_from_slice(b"mallo");
}

#[tokio::test]
async fn the_metrics_exist_before_the_first_record() {
    logs();
    let path = temp("integrity-fresh");
    let registry = prometheus::Registry::new();
    let trail = file_trail(&path, &registry);
    assert_eq!(metric(&registry, GAUGE), Some(1.0));
    assert_eq!(metric(&registry, COUNTER), Some(0.0));
    let scrape = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(
        scrape.contains("audit_trail_integrity_status 1"),
        "{scrape}"
    );
    assert_eq!(run(&trail.integrity()).await.status(), Status::Pass);
    // With a namespace, both carry it.
    let path2 = temp("integrity-namespaced");
    let other = prometheus::Registry::new();
    let _trail = FileTrail::builder(&path2)
        .registry(other.clone(), Some("shop".into()))
        .build()
        .unwrap();
    assert_eq!(
        metric(&other, "shop_audit_trail_integrity_status"),
        Some(1.0)
    );
    assert_eq!(
        metric(&other, "shop_audit_trail_verified_records_total"),
        Some(0.0)
    );
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&path2);
}

#[tokio::test]
async fn a_clean_trail_passes_and_each_pass_verifies_only_the_new_records() {
    logs();
    let path = temp("integrity-clean");
    let registry = prometheus::Registry::new();
    let trail = file_trail(&path, &registry);
    let check = trail.integrity();
    let mut counted = 0.0;
    for (round, events) in [3u64, 7, 25, 1].into_iter().enumerate() {
        for i in 0..events {
            trail.record(&event(i)).unwrap();
        }
        let outcome = run(&check).await;
        assert_eq!(outcome.status(), Status::Pass, "{outcome:?}");
        assert_eq!(metric(&registry, GAUGE), Some(1.0));
        // Exactly the records written since the last pass: the file's lines in
        // all, so no record was verified twice.
        let total = line_count(&path) as f64;
        let now = metric(&registry, COUNTER).unwrap();
        assert_eq!(now, total, "round {round}");
        assert!(now > counted);
        counted = now;
    }
    // Nothing new: nothing read, nothing counted.
    assert_eq!(run(&check).await.status(), Status::Pass);
    assert_eq!(metric(&registry, COUNTER), Some(counted));
    drop(check);
    drop(trail);

    // Opened again, the first pass starts at the file's last checkpoint, not at
    // its start.
    let registry = prometheus::Registry::new();
    let all = lines(&std::fs::read(&path).unwrap());
    let last_checkpoint = all
        .iter()
        .rposition(|l| parse(l)["kind"] == "checkpoint")
        .unwrap();
    let trail = file_trail(&path, &registry);
    let from_checkpoint = (all.len() - last_checkpoint) as f64;
    assert!(from_checkpoint < all.len() as f64);
    assert_eq!(metric(&registry, COUNTER), Some(from_checkpoint));
    assert_eq!(metric(&registry, GAUGE), Some(1.0));
    trail.record(&event(99)).unwrap();
    assert_eq!(run(&trail.integrity()).await.status(), Status::Pass);
    // The chain's new opening checkpoint and the event.
    assert_eq!(metric(&registry, COUNTER), Some(from_checkpoint + 2.0));
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn an_edit_after_the_verified_point_fails_the_check_and_zeroes_the_gauge() {
    logs();
    let path = temp("integrity-edit-new");
    let registry = prometheus::Registry::new();
    let trail = file_trail(&path, &registry);
    let check = trail.integrity();
    for i in 0..4 {
        trail.record(&event(i)).unwrap();
    }
    assert_eq!(run(&check).await.status(), Status::Pass);
    let verified = metric(&registry, COUNTER).unwrap();
    for i in 4..8 {
        trail.record(&event(i)).unwrap();
    }
    // Line 7 is seq 7, written after the last pass.
    edit_line(&path, 6, forge_actor);
    let outcome = run(&check).await;
    assert_eq!(outcome.status(), Status::Fail);
    let output = outcome.output().unwrap();
    assert_eq!(
        output,
        "audit trail integrity: BAD at seq 7: modified: its content does not match its hash"
    );
    assert!(!output.contains("mallo") && !output.contains("alice"));
    assert_eq!(metric(&registry, GAUGE), Some(0.0));
    // The good record before it was verified, and counted.
    assert_eq!(metric(&registry, COUNTER), Some(verified + 1.0));
    // It stays failing, pass after pass.
    assert_eq!(run(&check).await.status(), Status::Fail);
    assert_eq!(metric(&registry, GAUGE), Some(0.0));
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn an_edit_of_the_last_verified_record_or_checkpoint_is_caught() {
    logs();
    // The last verified record.
    let path = temp("integrity-edit-verified");
    let registry = prometheus::Registry::new();
    let trail = file_trail(&path, &registry);
    for i in 0..5 {
        trail.record(&event(i)).unwrap();
    }
    let check = trail.integrity();
    assert_eq!(run(&check).await.status(), Status::Pass);
    let last = line_count(&path) as usize - 1;
    edit_line(&path, last, forge_actor);
    let outcome = run(&check).await;
    assert_eq!(
        outcome.output(),
        Some("audit trail integrity: BAD at seq 6: modified: its content does not match its hash")
    );
    assert_eq!(metric(&registry, GAUGE), Some(0.0));
    drop((check, trail));
    let _ = std::fs::remove_file(&path);

    // The last verified checkpoint (seq 12, after 10 events), records after it.
    let path = temp("integrity-edit-checkpoint");
    let registry = prometheus::Registry::new();
    let trail = file_trail(&path, &registry);
    for i in 0..13 {
        trail.record(&event(i)).unwrap();
    }
    let check = trail.integrity();
    assert_eq!(run(&check).await.status(), Status::Pass);
    assert_eq!(
        parse(&lines(&std::fs::read(&path).unwrap())[11])["kind"],
        "checkpoint"
    );
    // Its `every` rewritten, same length.
    edit_line(&path, 11, |line: &mut [u8]| {
        let at = line.windows(10).position(|w| w == b"\"every\":10").unwrap();
        line[at + 8..at + 10].copy_from_slice(b"99");
    });
    let outcome = run(&check).await;
    assert_eq!(outcome.status(), Status::Fail);
    assert!(
        outcome
            .output()
            .unwrap()
            .contains("BAD at seq 12: modified"),
        "{outcome:?}"
    );
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn truncating_or_deleting_records_is_caught() {
    logs();
    // The file cut before the last verified record.
    let path = temp("integrity-truncate");
    let registry = prometheus::Registry::new();
    let trail = file_trail(&path, &registry);
    for i in 0..6 {
        trail.record(&event(i)).unwrap();
    }
    let check = trail.integrity();
    assert_eq!(run(&check).await.status(), Status::Pass);
    let all = lines(&std::fs::read(&path).unwrap());
    std::fs::write(&path, join(&all[..all.len() - 2])).unwrap();
    let outcome = run(&check).await;
    assert_eq!(outcome.status(), Status::Fail);
    assert!(
        outcome
            .output()
            .unwrap()
            .contains("BAD at seq 7: truncated"),
        "{outcome:?}"
    );
    assert_eq!(metric(&registry, GAUGE), Some(0.0));
    drop((check, trail));
    let _ = std::fs::remove_file(&path);

    // A record deleted among those new since the last pass.
    let path = temp("integrity-delete");
    let registry = prometheus::Registry::new();
    let trail = file_trail(&path, &registry);
    trail.record(&event(0)).unwrap();
    let check = trail.integrity();
    assert_eq!(run(&check).await.status(), Status::Pass);
    for i in 1..5 {
        trail.record(&event(i)).unwrap();
    }
    let mut all = lines(&std::fs::read(&path).unwrap());
    all.remove(3); // seq 4
    std::fs::write(&path, join(&all)).unwrap();
    let outcome = run(&check).await;
    assert_eq!(
        outcome.output(),
        Some("audit trail integrity: BAD at seq 4: deleted: records missing up to seq 5")
    );
    assert_eq!(metric(&registry, GAUGE), Some(0.0));
    drop((check, trail));

    // The whole file deleted.
    std::fs::remove_file(&path).unwrap();
    let registry = prometheus::Registry::new();
    let trail = file_trail(&path, &registry);
    trail.record(&event(0)).unwrap();
    let check = trail.integrity();
    assert_eq!(run(&check).await.status(), Status::Pass);
    std::fs::remove_file(&path).unwrap();
    let outcome = run(&check).await;
    assert_eq!(outcome.status(), Status::Fail);
    assert!(
        outcome.output().unwrap().contains("truncated"),
        "{outcome:?}"
    );
    assert_eq!(metric(&registry, GAUGE), Some(0.0));
}

#[tokio::test]
async fn a_half_written_last_line_is_not_a_failure() {
    logs();
    let path = temp("integrity-partial");
    let registry = prometheus::Registry::new();
    let trail = file_trail(&path, &registry);
    for i in 0..3 {
        trail.record(&event(i)).unwrap();
    }
    let check = trail.integrity();
    assert_eq!(run(&check).await.status(), Status::Pass);
    let verified = metric(&registry, COUNTER).unwrap();
    trail.record(&event(3)).unwrap();
    // The record as a reader may see it while it is being written: cut short,
    // without its newline.
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, &whole[..whole.len() - 40]).unwrap();
    let outcome = run(&check).await;
    assert_eq!(outcome.status(), Status::Pass, "{outcome:?}");
    assert_eq!(metric(&registry, GAUGE), Some(1.0));
    assert_eq!(metric(&registry, COUNTER), Some(verified));
    // Written out, it is verified on the next pass.
    std::fs::write(&path, &whole).unwrap();
    assert_eq!(run(&check).await.status(), Status::Pass);
    assert_eq!(metric(&registry, COUNTER), Some(verified + 1.0));
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn corruption_is_logged_once_as_a_critical_security_event() {
    let logs = logs();
    let path = temp("integrity-security");
    let registry = prometheus::Registry::new();
    let trail = file_trail(&path, &registry);
    for i in 0..45 {
        trail.record(&event(i)).unwrap();
    }
    let check = trail.integrity();
    assert_eq!(run(&check).await.status(), Status::Pass);
    trail.record(&event(45)).unwrap();
    // The line of seq 51 (45 events and 5 checkpoints before it, 1 opening).
    let all = lines(&std::fs::read(&path).unwrap());
    let k = all.iter().position(|l| parse(l)["seq"] == 51).unwrap();
    let original = std::fs::read(&path).unwrap();
    edit_line(&path, k, forge_actor);
    let marker = "BAD at seq 51: modified";
    let events = || {
        logs.lines()
            .iter()
            .filter(|l| l.contains(marker) && l.contains("readiness::security"))
            .count()
    };
    for _ in 0..3 {
        assert_eq!(run(&check).await.status(), Status::Fail);
    }
    assert_eq!(events(), 1, "{}", logs.text());
    let line = logs
        .lines()
        .into_iter()
        .find(|l| l.contains(marker))
        .unwrap();
    assert!(line.contains("critical"), "{line}");
    assert!(!line.contains("mallo"), "{line}");
    // Put right, it passes; broken again, it is logged again.
    std::fs::write(&path, &original).unwrap();
    assert_eq!(run(&check).await.status(), Status::Pass);
    edit_line(&path, k, forge_actor);
    assert_eq!(run(&check).await.status(), Status::Fail);
    assert_eq!(events(), 2);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_a_registered_check_it_turns_failing_within_one_interval() {
    logs();
    let path = temp("integrity-readiness");
    let registry = prometheus::Registry::new();
    let trail: AuditTrail = file_trail(&path, &registry).into();
    let readiness = Readiness::builder()
        .registry(registry.clone())
        .check(
            trail
                .integrity_check()
                .interval(Duration::from_millis(100))
                .timeout(Duration::from_millis(100)),
        )
        .build()
        .unwrap();
    for i in 0..3 {
        trail.record(&event(i)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        readiness.check_status(IntegrityCheck::NAME),
        Some(Status::Pass)
    );
    assert_eq!(
        readiness.status(readiness_core::Probe::Readiness),
        Status::Pass
    );
    trail.record(&event(3)).await.unwrap();
    let last = line_count(&path) as usize - 1;
    edit_line(&path, last, forge_actor);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        readiness.check_status(IntegrityCheck::NAME),
        Some(Status::Fail)
    );
    assert_eq!(metric(&registry, GAUGE), Some(0.0));
    // Non-critical: the pods stay in the load balancer, the alert pages.
    assert_eq!(
        readiness.status(readiness_core::Probe::Readiness),
        Status::Warn
    );
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_trail_written_to_a_writer_has_no_integrity_check() {
    let registry = prometheus::Registry::new();
    let trail = FileTrail::to_writer(Vec::new())
        .registry(registry.clone(), None)
        .build()
        .unwrap();
    // No gauge that could page, and a check that says why at build.
    assert_eq!(metric(&registry, GAUGE), None);
    let error = Readiness::builder()
        .check(trail.integrity_check())
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("cannot be read back"), "{error}");
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use readiness_core::audit::PgTrail;
    use support::faults::service_url;

    async fn connect() -> sqlx::PgPool {
        let url = service_url(
            "TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        );
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .expect("PostgreSQL at TEST_POSTGRES_URL")
    }

    /// A table of the test's own, dropped before and after.
    struct Table(sqlx::PgPool, String);

    impl Table {
        async fn new(pool: &sqlx::PgPool, name: &str) -> Self {
            let name = format!("trail_{name}_{}", std::process::id());
            let table = Self(pool.clone(), name);
            table.drop_it().await;
            table
        }

        /// Runs `statement` with the table's triggers off, as its owner could.
        async fn behind_the_triggers(&self, statement: &str) {
            sqlx::raw_sql(&format!(
                "ALTER TABLE {0} DISABLE TRIGGER USER; {statement}; ALTER TABLE {0} ENABLE TRIGGER USER",
                self.1
            ))
            .execute(&self.0)
            .await
            .unwrap();
        }

        async fn rows(&self) -> f64 {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", self.1))
                .fetch_one(&self.0)
                .await
                .unwrap();
            n as f64
        }

        async fn drop_it(&self) {
            sqlx::raw_sql(&format!(
                "DROP TABLE IF EXISTS {0}; DROP FUNCTION IF EXISTS {0}_insert_only()",
                self.1
            ))
            .execute(&self.0)
            .await
            .unwrap();
        }
    }

    async fn pg_trail(
        pool: &sqlx::PgPool,
        table: &Table,
        registry: &prometheus::Registry,
    ) -> PgTrail {
        PgTrail::builder(pool.clone())
            .table(&table.1)
            .durability(Durability::BlockingStrict)
            .checkpoint_every(10)
            .signing_key(key())
            .registry(registry.clone(), None)
            .build()
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_table_is_verified_incrementally_and_edits_behind_the_triggers_are_caught() {
        logs();
        let pool = connect().await;
        let table = Table::new(&pool, "integrity").await;
        let registry = prometheus::Registry::new();
        let trail = pg_trail(&pool, &table, &registry).await;
        // There before the first record.
        assert_eq!(metric(&registry, GAUGE), Some(1.0));
        assert_eq!(metric(&registry, COUNTER), Some(0.0));
        let check = trail.integrity();
        for events in [4u64, 12, 1] {
            for i in 0..events {
                trail.record(&event(i)).await.unwrap();
            }
            assert_eq!(run(&check).await.status(), Status::Pass);
            // Every row once, none twice.
            assert_eq!(metric(&registry, COUNTER), Some(table.rows().await));
        }
        assert_eq!(metric(&registry, GAUGE), Some(1.0));
        // A new row edited behind the triggers.
        for i in 0..3 {
            trail.record(&event(i)).await.unwrap();
        }
        let last: i64 = sqlx::query_scalar(&format!(
            "SELECT max(seq) FROM {} WHERE kind = 'event'",
            table.1
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        table
            .behind_the_triggers(&format!(
                "UPDATE {0} SET record = replace(record, 'alice', 'mallo') WHERE seq = {last}",
                table.1
            ))
            .await;
        let outcome = run(&check).await;
        assert_eq!(
            outcome.output(),
            Some(&*format!(
                "audit trail integrity: BAD at seq {last}: modified: its content does not match its hash"
            ))
        );
        assert_eq!(metric(&registry, GAUGE), Some(0.0));
        drop((check, trail));
        table.drop_it().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_verified_row_deleted_or_edited_is_caught_and_a_reopened_trail_starts_at_its_last_checkpoint(
    ) {
        logs();
        let pool = connect().await;
        let table = Table::new(&pool, "integrity_del").await;
        let registry = prometheus::Registry::new();
        let trail = pg_trail(&pool, &table, &registry).await;
        for i in 0..13 {
            trail.record(&event(i)).await.unwrap();
        }
        drop(trail);
        // Reopened: the first pass reads from the last checkpoint (seq 12) on.
        let registry = prometheus::Registry::new();
        let trail = pg_trail(&pool, &table, &registry).await;
        let rows = table.rows().await;
        assert_eq!(rows, 15.0);
        assert_eq!(metric(&registry, COUNTER), Some(rows - 11.0));
        let check = trail.integrity();
        assert_eq!(run(&check).await.status(), Status::Pass);
        // The last verified row deleted.
        table
            .behind_the_triggers(&format!("DELETE FROM {0} WHERE seq = 15", table.1))
            .await;
        let outcome = run(&check).await;
        assert_eq!(
            outcome.output(),
            Some("audit trail integrity: BAD at seq 15: truncated: missing, though a checkpoint kept outside covers it")
        );
        assert_eq!(metric(&registry, GAUGE), Some(0.0));
        drop((check, trail));
        table.drop_it().await;
    }
}
