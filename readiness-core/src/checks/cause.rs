//! The closed set of failure causes a ready-made check reports.
//!
//! Bodies carry only these short phrases; the driver's own error, which may name
//! hosts or users, goes to the log through [`CheckOutcome::with_detail`].

use std::error::Error;
use std::io;
use std::time::Duration;

use crate::health::runner::error_chain;
use crate::health::CheckOutcome;

/// Why a dependency check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // each feature uses its own subset
pub(crate) enum Cause {
    Refused,
    Reset,
    Timeout(Duration),
    TimedOut,
    AuthenticationFailed,
    UnexpectedStatus(u16),
    UnexpectedBody,
    PoolExhausted,
    NameResolution,
    Tls,
    TooManyRedirects,
    Protocol,
    NotConnected,
    Unavailable,
}

impl Cause {
    pub(crate) fn output(self) -> String {
        match self {
            Self::Refused => "connection refused".into(),
            Self::Reset => "connection reset".into(),
            Self::Timeout(after) => format!("timed out after {} ms", after.as_millis()),
            Self::TimedOut => "timed out".into(),
            Self::AuthenticationFailed => "authentication failed".into(),
            Self::UnexpectedStatus(code) => format!("unexpected status {code}"),
            Self::UnexpectedBody => "unexpected response body".into(),
            Self::PoolExhausted => "pool exhausted: no free connection".into(),
            Self::NameResolution => "name resolution failed".into(),
            Self::Tls => "TLS handshake failed".into(),
            Self::TooManyRedirects => "too many redirects".into(),
            Self::Protocol => "unexpected reply".into(),
            Self::NotConnected => "not connected".into(),
            Self::Unavailable => "unavailable".into(),
        }
    }

    /// A `fail` outcome with this cause, and the error's whole chain as the log detail.
    pub(crate) fn fail(self, error: &(dyn Error + 'static)) -> CheckOutcome {
        CheckOutcome::fail(self.output()).with_detail(error_chain(error))
    }

    /// The cause of an I/O error found anywhere in `error`'s source chain, if any.
    #[cfg_attr(
        not(any(
            feature = "_sqlx",
            feature = "redis",
            feature = "http",
            feature = "nats"
        )),
        allow(dead_code)
    )]
    pub(crate) fn from_io_chain(error: &(dyn Error + 'static)) -> Option<Self> {
        let mut next = Some(error);
        while let Some(current) = next {
            if let Some(io) = current.downcast_ref::<io::Error>() {
                return Some(Self::from_io(io));
            }
            next = current.source();
        }
        None
    }

    pub(crate) fn from_io(error: &io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::ConnectionRefused => Self::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected => Self::Reset,
            io::ErrorKind::TimedOut => Self::TimedOut,
            io::ErrorKind::InvalidData => Self::Protocol,
            _ => Self::Unavailable,
        }
    }
}
