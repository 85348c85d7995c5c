//! Where the test PostgreSQL and Redis are.

/// The test PostgreSQL and Redis (the machine's own, or `TEST_POSTGRES_URL` and
/// `TEST_REDIS_URL`).
pub(super) fn postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}
pub(super) fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}
