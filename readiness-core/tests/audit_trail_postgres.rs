//! The audit trail in a PostgreSQL table, against the real server: round trip and
//! restart, triggers, edits behind them found, replicas on one chain, batches,
//! strict mode.
#![cfg(all(feature = "audit-trail", feature = "postgres"))]

mod support;

use readiness_core::audit::{verify_table, Durability, PgTrail, Problem, Verdict, VerifyOptions};
use support::faults::service_url;
use support::trail::*;

async fn connect() -> sqlx::PgPool {
    let url = service_url(
        "TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await
        .expect("PostgreSQL at TEST_POSTGRES_URL")
}

/// A table of the test's own, dropped before and after.
struct Table(sqlx::PgPool, String);

impl Table {
    async fn new(pool: &sqlx::PgPool, name: &str) -> Self {
        let name = format!("trail_{name}_{}", std::process::id());
        sqlx::raw_sql(&format!("DROP TABLE IF EXISTS {name}"))
            .execute(pool)
            .await
            .unwrap();
        Self(pool.clone(), name)
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

    async fn drop(self) {
        sqlx::raw_sql(&format!(
            "DROP TABLE IF EXISTS {0}; DROP FUNCTION IF EXISTS {0}_insert_only()",
            self.1
        ))
        .execute(&self.0)
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_round_trip_through_postgres_and_verify() {
    let pool = connect().await;
    let table = Table::new(&pool, "roundtrip").await;
    let trail = PgTrail::builder(pool.clone())
        .table(&table.1)
        .durability(Durability::BlockingStrict)
        .checkpoint_every(10)
        .signing_key(key())
        .build()
        .await
        .unwrap();
    for i in 0..25 {
        trail.record(&event(i)).await.unwrap();
    }
    let last = trail.checkpoint().await.unwrap();
    // The opening checkpoint, 25 events, a checkpoint after each 10, and the
    // last one asked for.
    assert_eq!(last.seq, 28, "{last:?}");
    let options = VerifyOptions::new().key(key().verifying_key());
    assert_eq!(
        verify_table(&pool, &table.1, &options).await.unwrap(),
        Verdict::Ok {
            records: 29,
            checkpoints: 4,
            breaks: 0
        }
    );
    // The rows hold the events as given, queryable as JSON.
    let (actor, id): (String, String) = sqlx::query_as(&format!(
        "SELECT record::jsonb #>> '{{event,actor}}', record::jsonb #>> '{{event,resource_id}}' FROM {} WHERE seq = 2",
        table.1
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((actor.as_str(), id.as_str()), ("alice", "0"));

    // A restart resumes the chain from the last row.
    drop(trail);
    let trail = PgTrail::builder(pool.clone())
        .table(&table.1)
        .signing_key(key())
        .build()
        .await
        .unwrap();
    trail.record(&event(99)).await.unwrap();
    trail.checkpoint().await.unwrap();
    assert_eq!(
        verify_table(&pool, &table.1, &options).await.unwrap(),
        Verdict::Ok {
            records: 31,
            checkpoints: 5,
            breaks: 0
        }
    );

    // The table refuses changes...
    for statement in [
        format!("UPDATE {} SET record = '{{}}' WHERE seq = 3", table.1),
        format!("DELETE FROM {} WHERE seq = 3", table.1),
        format!("TRUNCATE {}", table.1),
    ] {
        let error = sqlx::query(&statement).execute(&pool).await.unwrap_err();
        assert!(
            error.to_string().contains("insert-only"),
            "{statement}: {error}"
        );
    }
    // ...and one made by someone who switched the triggers off is found.
    table
        .behind_the_triggers(&format!(
            "UPDATE {} SET record = replace(record, '\"actor\":\"alice\"', '\"actor\":\"mallory\"') WHERE seq = 5",
            table.1
        ))
        .await;
    assert_eq!(
        verify_table(&pool, &table.1, &options).await.unwrap(),
        Verdict::Bad {
            seq: 5,
            problem: Problem::Modified
        }
    );
    table
        .behind_the_triggers(&format!("DELETE FROM {} WHERE seq = 5", table.1))
        .await;
    assert_eq!(
        verify_table(&pool, &table.1, &options).await.unwrap(),
        Verdict::Bad {
            seq: 5,
            problem: Problem::Deleted { next: 6 }
        }
    );
    table.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_writing_to_one_table_keep_one_chain() {
    let pool = connect().await;
    let table = Table::new(&pool, "replicas").await;
    let mut writers = Vec::new();
    for _ in 0..3 {
        writers.push(
            PgTrail::builder(pool.clone())
                .table(&table.1)
                .checkpoint_every(7)
                .durability(Durability::BlockingStrict)
                .build()
                .await
                .unwrap(),
        );
    }
    let tasks: Vec<_> = writers
        .iter()
        .cloned()
        .map(|trail| {
            tokio::spawn(async move {
                for i in 0..40 {
                    trail.record(&event(i)).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let events: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {} WHERE kind = 'event'",
        table.1
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(events, 120);
    let verdict = verify_table(&pool, &table.1, &VerifyOptions::new())
        .await
        .unwrap();
    assert!(matches!(verdict, Verdict::Ok { .. }), "{verdict}");
    table.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_mode_inserts_in_batches_and_flush_waits_for_them() {
    let pool = connect().await;
    let table = Table::new(&pool, "batch").await;
    let registry = prometheus::Registry::new();
    let trail = PgTrail::builder(pool.clone())
        .table(&table.1)
        .durability(Durability::Batch)
        .queue(100_000)
        .registry(registry.clone(), None)
        .build()
        .await
        .unwrap();
    for i in 0..5_000 {
        trail.record(&event(i)).await.unwrap();
    }
    trail.flush().await.unwrap();
    assert_eq!(trail.stats().written, 5_000);
    assert_eq!(trail.stats().dropped, 0);
    let verdict = verify_table(&pool, &table.1, &VerifyOptions::new())
        .await
        .unwrap();
    // The opening checkpoint, 5,000 events and a checkpoint after each 1,000.
    assert_eq!(
        verdict,
        Verdict::Ok {
            records: 5_006,
            checkpoints: 6,
            breaks: 0
        }
    );
    table.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_fails_when_the_database_is_away_and_bad_names_are_refused() {
    let pool = connect().await;
    let table = Table::new(&pool, "strict").await;
    let trail = PgTrail::builder(pool.clone())
        .table(&table.1)
        .durability(Durability::BlockingStrict)
        .build()
        .await
        .unwrap();
    trail.record(&event(1)).await.unwrap();
    pool.close().await;
    assert!(trail.record(&event(2)).await.is_err());
    assert_eq!(trail.stats().failed, 1);

    let pool = connect().await;
    let table = Table(pool.clone(), table.1);
    let error = PgTrail::builder(pool.clone())
        .table("audit; DROP TABLE users")
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.field(), "audit_trail.table");
    table.drop().await;
}
