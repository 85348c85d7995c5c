//! RabbitMQ (AMQP 0-9-1) through the application's own `lapin` connection.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::ExchangeDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ErrorKind, ExchangeKind};

use crate::checks::cause::Cause;
use crate::error::BoxError;
use crate::health::{Check, CheckOutcome, CheckSpec, ComponentType};

/// How often the check looks at the connection's state while it waits.
const STATE_POLL: Duration = Duration::from_millis(10);

/// A round trip to the broker on the application's `lapin::Connection` (or an
/// `Arc` of it). Named `amqp`.
///
/// The check opens one channel of its own, once, and on every run asks the broker
/// whether the built-in `amq.direct` exchange exists (a passive declare: it changes
/// nothing). Opening and closing a channel on every run instead was seen to leave
/// lapin's auto-recovery in its error state now and then, so the channel is kept.
///
/// A connection that is not connected (lost, closed, or being recovered by lapin's
/// auto-recovery) fails at once with `not connected`; with auto-recovery enabled the
/// check passes again once lapin has reconnected. Without it, a lost connection stays
/// lost, and so does the check: that is what the application sees too.
///
/// ```
/// use readiness_core::checks;
/// # #[allow(dead_code)]
/// # async fn doc() -> lapin::Result<()> {
/// let properties = lapin::ConnectionProperties::default().enable_auto_recover();
/// let connection = lapin::Connection::connect("amqp://127.0.0.1:5672", properties).await?;
/// let spec = checks::amqp(connection).name("broker");
/// # let _ = spec;
/// # Ok(()) }
/// ```
pub fn amqp(connection: impl Into<Arc<Connection>>) -> CheckSpec {
    CheckSpec::new(
        "amqp",
        Amqp {
            connection: connection.into(),
            channel: tokio::sync::Mutex::new(None),
        },
    )
    .component_type(ComponentType::Component)
}

struct Amqp {
    connection: Arc<Connection>,
    /// The check's own channel, opened on first use and again if it is lost.
    channel: tokio::sync::Mutex<Option<Channel>>,
}

impl std::fmt::Debug for Amqp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Amqp")
            .field("status", self.connection.status())
            .finish()
    }
}

impl Check for Amqp {
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        let status = self.connection.status();
        if !status.connected() {
            return Ok(self.not_connected());
        }
        let round_trip = async {
            let mut slot = self.channel.lock().await;
            let channel = match slot.as_ref().filter(|c| c.status().connected()) {
                Some(channel) => channel.clone(),
                None => {
                    let channel = self.connection.create_channel().await?;
                    *slot = Some(channel.clone());
                    channel
                }
            };
            let passive = ExchangeDeclareOptions {
                passive: true,
                ..ExchangeDeclareOptions::default()
            };
            channel
                .exchange_declare(
                    "amq.direct".into(),
                    ExchangeKind::Direct,
                    passive,
                    FieldTable::default(),
                )
                .await
        };
        let disconnected = async {
            while self.connection.status().connected() {
                tokio::time::sleep(STATE_POLL).await;
            }
        };
        tokio::select! {
            result = round_trip => Ok(match result {
                Ok(()) => CheckOutcome::pass(),
                Err(error) => classify(&error).fail(&error),
            }),
            () = disconnected => Ok(self.not_connected()),
        }
    }
}

impl Amqp {
    fn not_connected(&self) -> CheckOutcome {
        CheckOutcome::fail(Cause::NotConnected.output()).with_detail(format!(
            "AMQP connection status: {:?}",
            self.connection.status()
        ))
    }
}

fn classify(error: &lapin::Error) -> Cause {
    match error.kind() {
        ErrorKind::IOError(io) => Cause::from_io(io),
        ErrorKind::InvalidConnectionState(_) => Cause::NotConnected,
        ErrorKind::MissingHeartbeatError => Cause::TimedOut,
        ErrorKind::ProtocolError(amqp) if amqp.get_id() == 403 => Cause::AuthenticationFailed,
        ErrorKind::ParsingError(_) | ErrorKind::ProtocolError(_) => Cause::Protocol,
        _ => Cause::Unavailable,
    }
}
