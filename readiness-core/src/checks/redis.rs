//! Redis through the application's own connection.

use std::fmt;

use crate::checks::cause::Cause;
use crate::error::BoxError;
use crate::health::{Check, CheckOutcome, CheckSpec, ComponentType};

/// `PING` on the application's Redis connection: a
/// `redis::aio::ConnectionManager` or a `MultiplexedConnection` (any
/// `ConnectionLike` that is `Clone`; clones share the connection). Named `redis`.
///
/// A reply other than `PONG` fails with `unexpected reply`; a refused, reset or
/// unauthenticated connection fails with that cause. When the connection turns out
/// to have dropped, `PING` is sent once more (a connection manager reconnects on
/// such an error), so the result speaks of the server, not of a stale socket.
///
/// A `ConnectionManager` retries its own connects with backoff (6 times by default)
/// before a command sees the error: with those defaults a refused server reads as a
/// timeout. `ConnectionManagerConfig::set_number_of_retries` shortens that.
///
/// ```
/// use readiness_core::checks;
/// # #[allow(dead_code)]
/// # async fn doc() -> redis::RedisResult<()> {
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let manager = redis::aio::ConnectionManager::new(client).await?;
/// let spec = checks::redis(manager).name("cache").non_critical();
/// # let _ = spec;
/// # Ok(()) }
/// ```
pub fn redis<C>(connection: C) -> CheckSpec
where
    C: ::redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    CheckSpec::new("redis", Redis { connection }).component_type(ComponentType::Datastore)
}

struct Redis<C> {
    connection: C,
}

impl<C> fmt::Debug for Redis<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis").finish_non_exhaustive()
    }
}

impl<C> Check for Redis<C>
where
    C: ::redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        let mut connection = self.connection.clone();
        let ping = ::redis::cmd("PING");
        let mut reply = ping.query_async::<String>(&mut connection).await;
        if reply
            .as_ref()
            .is_err_and(::redis::RedisError::is_connection_dropped)
        {
            // A connection manager learns of a dropped connection on use and then
            // reconnects: ask once more, so the answer is about the server now.
            reply = ping.query_async::<String>(&mut connection).await;
        }
        Ok(match reply {
            Ok(reply) if reply == "PONG" => CheckOutcome::pass(),
            Ok(reply) => CheckOutcome::fail(Cause::Protocol.output()).with_detail(format!(
                "PING answered {:?}",
                reply.chars().take(64).collect::<String>()
            )),
            Err(error) => classify(&error).fail(&error),
        })
    }
}

fn classify(error: &::redis::RedisError) -> Cause {
    if error.kind() == ::redis::ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("NOAUTH" | "WRONGPASS"))
    {
        Cause::AuthenticationFailed
    } else if error.is_connection_refusal() {
        Cause::Refused
    } else if error.is_timeout() {
        Cause::TimedOut
    } else if error.is_connection_dropped() {
        Cause::Reset
    } else {
        Cause::from_io_chain(error).unwrap_or(Cause::Unavailable)
    }
}
