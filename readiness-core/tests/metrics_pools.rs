//! Database pool metrics against the machine's real PostgreSQL and MariaDB: gauges
//! at zero from registration that follow real acquisitions, the wait-time
//! histogram fed by timed acquires, names validated, the namespace respected.
#![cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]

#[path = "support/openmetrics.rs"]
mod openmetrics;
mod support;

use std::time::Duration;

use readiness_core::Readiness;
use support::faults::service_url;

#[cfg(feature = "postgres")]
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
#[cfg(feature = "mysql")]
const MYSQL: &str = "mysql://root@127.0.0.1:3306/test";

fn scrape(readiness: &Readiness) -> String {
    String::from_utf8(readiness.metrics_response().body().to_vec()).unwrap()
}

/// The value of the series written exactly as `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// (used, idle, max, timed acquires) of the pool named `pool`.
fn figures(readiness: &Readiness, pool: &str) -> (f64, f64, f64, f64) {
    let text = scrape(readiness);
    let get =
        |series: String| value(&text, &series).unwrap_or_else(|| panic!("{series} in\n{text}"));
    (
        get(format!(
            r#"db_client_connections{{pool="{pool}",state="used"}}"#
        )),
        get(format!(
            r#"db_client_connections{{pool="{pool}",state="idle"}}"#
        )),
        get(format!(r#"db_client_connections_max{{pool="{pool}"}}"#)),
        get(format!(
            r#"db_client_connection_wait_time_seconds_count{{pool="{pool}"}}"#
        )),
    )
}

#[cfg(feature = "postgres")]
fn pg_pool(max: u32) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy(&service_url("TEST_POSTGRES_URL", POSTGRES))
        .unwrap()
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_gauges_follow_real_acquisitions() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let items = readiness.sqlx_pool("items", pg_pool(5)).unwrap();
    // A lazy pool, nothing opened yet: every series is there, at zero.
    assert_eq!(figures(&readiness, "items"), (0.0, 0.0, 5.0, 0.0));
    let text = scrape(&readiness);
    assert_eq!(
        value(
            &text,
            r#"db_client_connection_wait_time_seconds_bucket{pool="items",le="+Inf"}"#
        ),
        Some(0.0),
        "{text}"
    );

    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = items.acquire().await.unwrap();
        sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();
        held.push(conn);
    }
    assert_eq!(figures(&readiness, "items"), (3.0, 0.0, 5.0, 3.0));
    // Connections taken without the handle are counted too (the gauges read the
    // pool), but their wait is not timed.
    let other = items.pool().acquire().await.unwrap();
    assert_eq!(figures(&readiness, "items"), (4.0, 0.0, 5.0, 3.0));
    drop(other);
    // Returned connections go back to the pool's idle queue in a task of sqlx's.
    let settled = |want: (f64, f64, f64, f64)| {
        let readiness = &readiness;
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while figures(readiness, "items") != want {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{:?}, not {want:?}",
                    figures(readiness, "items")
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    held.truncate(1);
    settled((1.0, 3.0, 5.0, 3.0)).await;
    drop(held);
    settled((0.0, 4.0, 5.0, 3.0)).await;
    items.pool().close().await;
    assert_eq!(figures(&readiness, "items"), (0.0, 0.0, 5.0, 3.0));
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_acquire_is_a_wait_too() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let items = readiness.sqlx_pool("items", pg_pool(1)).unwrap();
    let held = items.acquire().await.unwrap();
    let error = items.acquire().await.unwrap_err();
    assert!(matches!(error, sqlx::Error::PoolTimedOut), "{error}");
    let text = scrape(&readiness);
    assert_eq!(
        value(
            &text,
            r#"db_client_connection_wait_time_seconds_count{pool="items"}"#
        ),
        Some(2.0),
        "{text}"
    );
    let sum = value(
        &text,
        r#"db_client_connection_wait_time_seconds_sum{pool="items"}"#,
    )
    .unwrap();
    assert!(sum >= 0.3, "waited the 300 ms acquire timeout: {sum}");
    // The timed-out wait is past the 0.25 s bucket.
    assert!(
        value(
            &text,
            r#"db_client_connection_wait_time_seconds_bucket{pool="items",le="0.25"}"#
        )
        .unwrap()
            <= 1.0
    );
    items.record_wait(Duration::from_millis(2));
    assert_eq!(figures(&readiness, "items"), (1.0, 0.0, 1.0, 3.0));
    drop(held);
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_pools_are_read_the_same_way() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let pool = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(4)
        .connect_lazy(&service_url("TEST_MYSQL_URL", MYSQL))
        .unwrap();
    let orders = readiness.sqlx_pool("orders", pool).unwrap();
    assert_eq!(figures(&readiness, "orders"), (0.0, 0.0, 4.0, 0.0));
    let mut first = orders.acquire().await.unwrap();
    sqlx::query("SELECT 1").execute(&mut *first).await.unwrap();
    let second = orders.acquire().await.unwrap();
    assert_eq!(figures(&readiness, "orders"), (2.0, 0.0, 4.0, 2.0));
    drop((first, second));
    orders.pool().close().await;
}

#[cfg(all(feature = "postgres", feature = "mysql"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_of_two_databases_share_the_families_and_pass_promtool() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let items = readiness.sqlx_pool("items", pg_pool(3)).unwrap();
    let orders = readiness
        .sqlx_pool(
            "orders",
            sqlx::MySqlPool::connect_lazy(&service_url("TEST_MYSQL_URL", MYSQL)).unwrap(),
        )
        .unwrap();
    let held = (
        items.acquire().await.unwrap(),
        orders.acquire().await.unwrap(),
    );
    let text = scrape(&readiness);
    assert_eq!(
        text.matches("# TYPE db_client_connections gauge").count(),
        1,
        "{text}"
    );
    assert_eq!(figures(&readiness, "items").0, 1.0);
    assert_eq!(figures(&readiness, "orders").0, 1.0);
    // promtool finds nothing to complain about.
    let (_, said) = promtool_check(&text);
    let problems: Vec<&str> = said
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert!(
        problems.is_empty(),
        "promtool check metrics:\n{said}\non\n{text}"
    );
    // And the OpenMetrics answer passes the official Python client's strict parser.
    let open = readiness.metrics_response_for(Some("application/openmetrics-text;version=1.0.0"));
    let open = String::from_utf8(open.body().to_vec()).unwrap();
    assert!(
        open.contains("# TYPE db_client_connections gauge"),
        "{open}"
    );
    openmetrics::parse(&open).unwrap_or_else(|e| panic!("{e}\n{open}"));
    drop(held);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn names_are_validated_and_taken_once() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let pool = || sqlx::SqlitePool::connect_lazy("sqlite::memory:").unwrap();
    for bad in ["", "tab\there"] {
        let error = readiness.sqlx_pool(bad, pool()).unwrap_err();
        assert_eq!(error.field(), "pool", "{bad:?}");
    }
    readiness.sqlx_pool("cache", pool()).unwrap();
    let error = readiness.sqlx_pool("cache", pool()).unwrap_err();
    assert_eq!(error.field(), "pool");
    assert!(error.message().contains("registered already"), "{error}");
    let text = scrape(&readiness);
    assert_eq!(
        text.matches("db_client_connections_max{").count(),
        1,
        "{text}"
    );
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_namespace_prefixes_every_pool_family() {
    let readiness = Readiness::builder()
        .metrics_namespace("orders")
        .system_metrics(false)
        .build()
        .unwrap();
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(2)
        .connect_lazy("sqlite::memory:")
        .unwrap();
    let items = readiness.sqlx_pool("items", pool).unwrap();
    let conn = items.acquire().await.unwrap();
    let text = scrape(&readiness);
    for series in [
        r#"orders_db_client_connections{pool="items",state="used"} 1"#,
        r#"orders_db_client_connections{pool="items",state="idle"} 0"#,
        r#"orders_db_client_connections_max{pool="items"} 2"#,
        r#"orders_db_client_connection_wait_time_seconds_count{pool="items"} 1"#,
    ] {
        assert!(text.contains(series), "{series} in\n{text}");
    }
    assert!(!text.lines().any(|l| l.starts_with("db_client")), "{text}");
    drop(conn);
}

/// Runs `promtool check metrics` (Prometheus' own linter and parser) on a scrape.
#[cfg(all(feature = "postgres", feature = "mysql"))]
fn promtool_check(text: &str) -> (bool, String) {
    use std::io::Write as _;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: install Debian's `prometheus` package (`bash .ci/test` does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), said)
}
