//! PostgreSQL, MariaDB and SQLite checks against the machine's real servers, with
//! faults injected by a proxy of the test's own.
#![cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]

mod support;

use std::time::{Duration, Instant};

use readiness_core::{checks, Details, Endpoint, Readiness, Status};
use support::faults::{fault_matrix, service_url, through, upstream};
use support::proxy::{Mode, Proxy};
use support::{get, json};

#[cfg(feature = "postgres")]
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
#[cfg(feature = "mysql")]
const MYSQL: &str = "mysql://root@127.0.0.1:3306/test";

#[cfg(feature = "postgres")]
fn pg_pool(url: &str, max: u32) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .connect_lazy(url)
        .expect("a valid PostgreSQL URL")
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_goes_through_the_fault_matrix() {
    let url = service_url("TEST_POSTGRES_URL", POSTGRES);
    let proxy = Proxy::start(upstream(&url).await).await;
    let pool = pg_pool(&through(&url, proxy.addr()), 4);
    fault_matrix(&proxy, checks::postgres(pool), "connection refused", true).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_goes_through_the_fault_matrix() {
    let url = service_url("TEST_MYSQL_URL", MYSQL);
    let proxy = Proxy::start(upstream(&url).await).await;
    let pool = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(4)
        .connect_lazy(&through(&url, proxy.addr()))
        .unwrap();
    fault_matrix(&proxy, checks::mysql(pool), "connection refused", true).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reports_pool_figures_and_a_custom_query() {
    let url = service_url("TEST_POSTGRES_URL", POSTGRES);
    let readiness = Readiness::builder()
        .details(Details::Full)
        .check(
            checks::sql_query(
                pg_pool(&url, 3),
                "SELECT count(*) FROM pg_catalog.pg_tables",
            )
            .name("db"),
        )
        .check(checks::sql_query(pg_pool(&url, 3), "SELECT * FROM no_such_table").name("broken"))
        .build()
        .unwrap();
    readiness.refresh().await;
    let body = json(&get(&readiness, Endpoint::Health, None).2);
    let checks = &body["checks"];
    assert_eq!(checks["db:responseTime"][0]["status"], "pass", "{body}");
    assert_eq!(checks["db:responseTime"][0]["componentType"], "datastore");
    assert_eq!(checks["db:maxConnections"][0]["observedValue"], 3.0);
    assert_eq!(checks["db:connections"][0]["observedValue"], 1.0);
    // Read while the check holds its connection.
    assert_eq!(checks["db:idleConnections"][0]["observedValue"], 0.0);
    assert_eq!(checks["broken:responseTime"][0]["status"], "fail");
    assert_eq!(checks["broken:responseTime"][0]["output"], "unavailable");
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_fails_with_that_cause_within_the_timeout() {
    let url = service_url("TEST_POSTGRES_URL", POSTGRES);
    let pool = pg_pool(&url, 1);
    let held = pool
        .acquire()
        .await
        .expect("PostgreSQL at TEST_POSTGRES_URL");
    let timeout = Duration::from_millis(500);
    let readiness = Readiness::builder()
        .details(Details::Full)
        .check(
            checks::postgres(pool.clone())
                .timeout(timeout)
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    let started = Instant::now();
    readiness.refresh().await;
    let took = started.elapsed();
    assert!(took <= timeout + Duration::from_millis(100), "{took:?}");
    let body = json(&get(&readiness, Endpoint::Check("postgres"), None).2);
    assert_eq!(
        body["checks"]["postgres:responseTime"][0]["output"],
        "pool exhausted: no free connection"
    );
    drop(held);
    readiness.refresh().await;
    assert_eq!(readiness.check_status("postgres"), Some(Status::Pass));
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_authentication_failed_and_never_shown() {
    let url = service_url("TEST_POSTGRES_URL", POSTGRES);
    // Trust auth accepts any password, so ask for a role that does not exist instead
    // when the server does not check passwords.
    let bad = url.replacen(
        "postgres://postgres@",
        "postgres://nobody_here:hunter2-secret@",
        1,
    );
    let readiness = Readiness::builder()
        .details(Details::Full)
        // Generous: the point is the cause, not the time (a loaded CI forks backends slowly).
        .check(
            checks::postgres(pg_pool(&bad, 1))
                .timeout(Duration::from_secs(5))
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    let body = get(&readiness, Endpoint::Check("postgres"), None).2;
    assert!(!body.contains("hunter2"), "{body}");
    assert!(!body.contains("nobody_here"), "{body}");
    assert_eq!(
        json(&body)["checks"]["postgres:responseTime"][0]["output"],
        "authentication failed",
        "{body}"
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_whose_database_hangs_at_start_up_still_starts() {
    let url = service_url("TEST_POSTGRES_URL", POSTGRES);
    let proxy = Proxy::start(upstream(&url).await).await;
    proxy.set(Mode::Blackhole).await;
    // Lazy pools do not connect at build time: nothing here waits on the database.
    let started = Instant::now();
    let readiness = Readiness::builder()
        .check(
            checks::postgres(pg_pool(&through(&url, proxy.addr()), 2))
                .timeout(Duration::from_secs(2))
                .interval(Duration::from_secs(3600)),
        )
        .check(
            checks::from_fn("process", || async { true })
                .liveness_only()
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(50));
    readiness.refresh().await;
    assert_eq!(
        get(&readiness, Endpoint::Livez, None).0,
        200,
        "liveness must not restart the pod"
    );
    assert_eq!(get(&readiness, Endpoint::Readyz, None).0, 503);
    assert_eq!(get(&readiness, Endpoint::Startupz, None).0, 503);
    proxy.set(Mode::Pass).await;
    readiness.refresh().await;
    assert_eq!(get(&readiness, Endpoint::Readyz, None).0, 200);
    assert_eq!(get(&readiness, Endpoint::Startupz, None).0, 200);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_passes_and_reports_an_exhausted_pool() {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_lazy("sqlite::memory:")
        .unwrap();
    let readiness = Readiness::builder()
        .details(Details::Full)
        .check(
            checks::sqlite(pool.clone())
                .timeout(Duration::from_millis(300))
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    assert_eq!(readiness.check_status("sqlite"), Some(Status::Pass));
    let held = pool.acquire().await.unwrap();
    readiness.refresh().await;
    let body = json(&get(&readiness, Endpoint::Check("sqlite"), None).2);
    assert_eq!(
        body["checks"]["sqlite:responseTime"][0]["output"],
        "pool exhausted: no free connection"
    );
    drop(held);
    readiness.refresh().await;
    assert_eq!(readiness.check_status("sqlite"), Some(Status::Pass));
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn an_empty_query_is_a_build_error() {
    let pool = sqlx::SqlitePool::connect_lazy("sqlite::memory:").unwrap();
    let err = Readiness::builder()
        .check(checks::sql_query(pool, "  ").name("db"))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "checks[db].query");
}
