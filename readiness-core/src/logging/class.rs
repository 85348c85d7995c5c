//! What an event is about (its category) and how sensitive its data is (its class).

use std::fmt;

/// The category of a log event, which log pipelines route and retain by (the usual
/// policy: audit a year or more, security 180 days, performance 7 days).
///
/// An event is `application` unless it says otherwise: a `category = "audit"` field, a
/// target the settings map to a category (`audit::*`, `security::*`, ... by default),
/// or the [audit and security API](crate::logging::AuditEvent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Category {
    /// The service's own behaviour. The default.
    Application,
    /// Who did what to which resource: data access and administrative actions.
    Audit,
    /// Authentication failures, denied access, rate limiting, suspicious input.
    Security,
    /// Timings and traffic: access logs, slow operations.
    Performance,
    /// The process and the library itself: start, stop, health changes.
    System,
}

impl Category {
    /// The name written in the `category` key.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Application => "application",
            Self::Audit => "audit",
            Self::Security => "security",
            Self::Performance => "performance",
            Self::System => "system",
        }
    }

    /// The category named `name` (as written by [`as_str`](Self::as_str)).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "application" => Self::Application,
            "audit" => Self::Audit,
            "security" => Self::Security,
            "performance" => Self::Performance,
            "system" => Self::System,
            _ => return None,
        })
    }

    /// Whether events of this category must never be dropped by a full buffer.
    #[must_use]
    pub const fn is_critical(self) -> bool {
        matches!(self, Self::Audit | Self::Security)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sensitive an event's data is. `internal` unless the event (or a span it is
/// in) sets `classification = "..."`.
///
/// A `restricted` event keeps its keys but every value, the message included, is
/// replaced by the redaction marker: restricted data never reaches a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DataClass {
    /// Fit for anyone.
    Public,
    /// Fit for the organisation's staff. The default.
    Internal,
    /// Personal or business data: shown masked or hashed where configured.
    Confidential,
    /// Credentials, card numbers, health data: never written.
    Restricted,
}

impl DataClass {
    /// The name written in the `classification` key.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
            Self::Confidential => "confidential",
            Self::Restricted => "restricted",
        }
    }

    /// The class named `name` (as written by [`as_str`](Self::as_str)).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "public" => Self::Public,
            "internal" => Self::Internal,
            "confidential" => Self::Confidential,
            "restricted" => Self::Restricted,
            _ => return None,
        })
    }
}

impl fmt::Display for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
