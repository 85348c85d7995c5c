//! NATS through the application's own `async_nats::Client`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::client::RequestErrorKind;
use async_nats::connection::State;
use async_nats::Client;

use crate::checks::cause::Cause;
use crate::error::BoxError;
use crate::health::{Check, CheckOutcome, CheckSpec, ComponentType};

/// How often the check looks at the client's connection state while it waits.
const STATE_POLL: Duration = Duration::from_millis(10);

/// A round trip to the NATS server on the application's client. Named `nats`.
///
/// The check sends a request to a subject nobody serves (`_READINESS.PING.<n>`): the
/// server itself answers "no responders", so a pass means the server is reachable and
/// serving this connection now, not only that a flag says so. A client that is not
/// connected (the server refused or dropped it and the client is reconnecting) fails
/// at once with `not connected`; the client's own reconnect brings the check back.
///
/// ```
/// use readiness_core::checks;
/// # #[allow(dead_code)]
/// # async fn doc() -> Result<(), async_nats::ConnectError> {
/// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let spec = checks::nats(client).name("events");
/// # let _ = spec;
/// # Ok(()) }
/// ```
pub fn nats(client: Client) -> CheckSpec {
    CheckSpec::new(
        "nats",
        Nats {
            client,
            sequence: AtomicU64::new(0),
        },
    )
    .component_type(ComponentType::Component)
}

#[derive(Debug)]
struct Nats {
    client: Client,
    sequence: AtomicU64,
}

impl Check for Nats {
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        if self.client.connection_state() != State::Connected {
            return Ok(not_connected(&self.client));
        }
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let subject = format!("_READINESS.PING.{n}");
        let request = self.client.request(subject, bytes::Bytes::new());
        let disconnected = async {
            // A request made just as the connection drops waits for the reconnect;
            // the state says so first.
            while self.client.connection_state() == State::Connected {
                tokio::time::sleep(STATE_POLL).await;
            }
        };
        tokio::select! {
            reply = request => Ok(match reply {
                Ok(_) => CheckOutcome::pass(),
                Err(error) if error.kind() == RequestErrorKind::NoResponders => CheckOutcome::pass(),
                Err(error) if error.kind() == RequestErrorKind::TimedOut => Cause::TimedOut.fail(&error),
                Err(error) => Cause::from_io_chain(&error).unwrap_or(Cause::Unavailable).fail(&error),
            }),
            () = disconnected => Ok(not_connected(&self.client)),
        }
    }
}

fn not_connected(client: &Client) -> CheckOutcome {
    CheckOutcome::fail(Cause::NotConnected.output())
        .with_detail(format!("NATS client state: {}", client.connection_state()))
}
