use crate::checks::cause::Cause;
use crate::error::BoxError;
use crate::health::{Check, CheckOutcome, CheckSpec, ComponentType};

/// A check that `address` (`host:port`, `[v6]:port`) accepts a TCP connection; the
/// connection is closed at once. Named `tcp`.
///
/// An address without a port, or with a port that is not 1 to 65535, is an error at
/// [`build`](crate::ReadinessBuilder::build) naming the check.
///
/// ```
/// use readiness_core::checks;
/// use std::time::Duration;
///
/// let spec = checks::tcp("pricing.internal:8080")
///     .name("pricing-port")
///     .timeout(Duration::from_millis(300));
/// # let _ = spec;
/// ```
pub fn tcp(address: impl Into<String>) -> CheckSpec {
    let address = address.into();
    let problem = validate(&address).err();
    let spec = CheckSpec::new("tcp", Tcp { address }).component_type(ComponentType::Component);
    match problem {
        Some(message) => spec.deferred_error("address", message),
        None => spec,
    }
}

fn validate(address: &str) -> Result<(), String> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(format!("{address:?} must be host:port"));
    };
    if host.is_empty() || host == "[]" || (host.contains(':') && !host.starts_with('[')) {
        return Err(format!(
            "{address:?} must be host:port, with an IPv6 host in brackets"
        ));
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(()),
        _ => Err(format!("{address:?}: the port must be 1 to 65535")),
    }
}

#[derive(Debug)]
struct Tcp {
    address: String,
}

impl Check for Tcp {
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        Ok(match tokio::net::TcpStream::connect(&self.address).await {
            Ok(_) => CheckOutcome::pass(),
            Err(error) => Cause::from_io(&error).fail(&error),
        })
    }
}
