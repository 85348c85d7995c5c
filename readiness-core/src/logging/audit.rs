//! Typed audit and security events. The mandatory fields are the constructor's
//! arguments, so an event missing one does not compile.

use std::fmt;
use std::net::IpAddr;

/// Whether the audited action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It took effect.
    Success,
    /// It was attempted and did not take effect.
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// Who did what to which resource, with what outcome: one `audit` line, at `INFO`,
/// target `readiness::audit`. Mandatory: actor, action, resource type and outcome
/// (the arguments of [`new`](Self::new)); the rest is optional.
///
/// ```
/// use readiness_core::logging::{AuditEvent, Outcome};
///
/// AuditEvent::new("user:42", "update", "invoice", Outcome::Success)
///     .resource_id("inv-2026-0042")
///     .tenant("acme")
///     .source_ip("203.0.113.7".parse().unwrap())
///     .emit();
/// ```
#[derive(Debug, Clone)]
#[must_use = "an audit event is written by `emit()`"]
pub struct AuditEvent<'a> {
    actor: &'a str,
    action: &'a str,
    resource_type: &'a str,
    outcome: Outcome,
    resource_id: Option<&'a str>,
    tenant: Option<&'a str>,
    reason: Option<&'a str>,
    source_ip: Option<IpAddr>,
}

impl<'a> AuditEvent<'a> {
    /// An event with its mandatory fields.
    pub fn new(actor: &'a str, action: &'a str, resource_type: &'a str, outcome: Outcome) -> Self {
        Self {
            actor,
            action,
            resource_type,
            outcome,
            resource_id: None,
            tenant: None,
            reason: None,
            source_ip: None,
        }
    }

    /// The resource's identifier.
    pub fn resource_id(mut self, id: &'a str) -> Self {
        self.resource_id = Some(id);
        self
    }

    /// The tenant the resource belongs to.
    pub fn tenant(mut self, tenant: &'a str) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Why (a failure's cause, a change ticket).
    pub fn reason(mut self, reason: &'a str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The address the request came from.
    pub fn source_ip(mut self, ip: IpAddr) -> Self {
        self.source_ip = Some(ip);
        self
    }

    /// The event's fields as JSON, as an audit trail records them.
    #[cfg(feature = "audit-trail")]
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let mut fields = serde_json::Map::new();
        fields.insert("actor".into(), self.actor.into());
        fields.insert("action".into(), self.action.into());
        fields.insert("resource_type".into(), self.resource_type.into());
        fields.insert("outcome".into(), self.outcome.as_str().into());
        for (key, value) in [
            ("resource_id", self.resource_id),
            ("tenant", self.tenant),
            ("reason", self.reason),
        ] {
            if let Some(value) = value {
                fields.insert(key.into(), value.into());
            }
        }
        if let Some(ip) = self.source_ip {
            fields.insert("source_ip".into(), ip.to_string().into());
        }
        serde_json::Value::Object(fields)
    }

    /// Writes the event (inside the current span, so it carries the request id).
    pub fn emit(self) {
        tracing::info!(
            target: "readiness::audit",
            category = "audit",
            actor = self.actor,
            action = self.action,
            resource_type = self.resource_type,
            resource_id = self.resource_id,
            outcome = self.outcome.as_str(),
            tenant = self.tenant,
            reason = self.reason,
            source_ip = self.source_ip.map(tracing::field::display),
            "{} {} {}",
            self.action,
            self.resource_type,
            self.outcome.as_str(),
        );
    }

    /// [`emit`](Self::emit), and whether the line was queued: an `Err` (kind
    /// `TimedOut`) when the [`LogWriter`](super::LogWriter)'s queue stayed full for
    /// its critical timeout, so the line was dropped (and counted in
    /// `log_lines_dropped_total`). A service whose audited actions must not proceed
    /// unrecorded (the audit trail's `blocking-strict` mode) fails the request on it.
    ///
    /// ```
    /// use readiness_core::logging::{AuditEvent, Outcome};
    ///
    /// let event = AuditEvent::new("alice", "delete", "order", Outcome::Success);
    /// if event.try_emit().is_err() {
    ///     // answer 503: the action is not done
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// The line was dropped at its deadline.
    pub fn try_emit(self) -> std::io::Result<()> {
        // The layer writes on this thread, within the call: what it lost is ours.
        let _ = super::writer::take_critical_lost();
        self.emit();
        if super::writer::take_critical_lost() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the audit line was dropped: the log queue stayed full for its critical timeout",
            ));
        }
        Ok(())
    }

    /// [`try_emit`](Self::try_emit) for async code: the line is written at once,
    /// and when the [`LogWriter`](super::LogWriter)'s queue is full it waits for
    /// room in the returned future, up to the writer's critical timeout, instead of
    /// blocking the thread (a runtime worker that serves other requests meanwhile).
    /// `Err` (kind `TimedOut`) when the line was dropped at its deadline (counted in
    /// `log_lines_dropped_total`); a future dropped before it is done drops and
    /// counts the line too.
    ///
    /// ```
    /// use readiness_core::logging::{AuditEvent, Outcome};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let event = AuditEvent::new("alice", "delete", "order", Outcome::Success);
    /// if event.try_emit_async().await.is_err() {
    ///     // answer 503: the action is not done
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The line was dropped at its deadline.
    pub fn try_emit_async(self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        let _ = super::writer::take_critical_lost();
        let deferred = super::writer::defer_critical(|| self.emit());
        let lost = super::writer::take_critical_lost();
        async move {
            let queued = match deferred {
                Some(deferred) => deferred.queue().await,
                None => !lost,
            };
            if queued {
                Ok(())
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the audit line was dropped: the log queue stayed full for its critical timeout",
                ))
            }
        }
    }
}

/// The kinds of security event, the `kind` label of `security_events_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityKind {
    /// Credentials were missing, wrong or expired.
    AuthenticationFailure,
    /// An authenticated caller was refused an action.
    AccessDenied,
    /// A caller was throttled.
    RateLimited,
    /// Input was rejected as malformed or out of bounds.
    InvalidInput,
    /// Input looked like an attack (a scan, an injection attempt).
    SuspiciousPattern,
}

impl SecurityKind {
    pub(super) const ALL: [Self; 5] = [
        Self::AuthenticationFailure,
        Self::AccessDenied,
        Self::RateLimited,
        Self::InvalidInput,
        Self::SuspiciousPattern,
    ];

    /// The name written in `kind`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthenticationFailure => "authentication_failure",
            Self::AccessDenied => "access_denied",
            Self::RateLimited => "rate_limited",
            Self::InvalidInput => "invalid_input",
            Self::SuspiciousPattern => "suspicious_pattern",
        }
    }

    /// A metric label for a `kind` value from any event: a known kind, else `other`
    /// (the label set stays bounded whatever events say).
    pub(crate) fn label(kind: &str) -> &'static str {
        Self::ALL
            .iter()
            .find(|k| k.as_str() == kind)
            .map_or("other", |k| k.as_str())
    }
}

impl fmt::Display for SecurityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious a security event is; `critical` is written at `ERROR`, the others at
/// `WARN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// Worth counting.
    Low,
    /// Worth a look.
    Medium,
    /// Worth an alert.
    High,
    /// Worth waking someone.
    Critical,
}

impl Severity {
    pub(super) const ALL: [Self; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The name written in `severity`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    pub(crate) fn label(severity: &str) -> &'static str {
        Self::ALL
            .iter()
            .find(|s| s.as_str() == severity)
            .map_or("other", |s| s.as_str())
    }
}

/// A security event: one `security` line, target `readiness::security`, counted in
/// `security_events_total{kind, severity}` by the [`LogLayer`](super::LogLayer).
/// Mandatory: kind and severity (the arguments of [`new`](Self::new)).
///
/// ```
/// use readiness_core::logging::{SecurityEvent, SecurityKind, Severity};
///
/// SecurityEvent::new(SecurityKind::AuthenticationFailure, Severity::Medium)
///     .reason("bearer token expired")
///     .source_ip("198.51.100.23".parse().unwrap())
///     .emit();
/// ```
#[derive(Debug, Clone)]
#[must_use = "a security event is written by `emit()`"]
pub struct SecurityEvent<'a> {
    kind: SecurityKind,
    severity: Severity,
    actor: Option<&'a str>,
    resource: Option<&'a str>,
    reason: Option<&'a str>,
    source_ip: Option<IpAddr>,
}

impl<'a> SecurityEvent<'a> {
    /// An event with its mandatory fields.
    pub fn new(kind: SecurityKind, severity: Severity) -> Self {
        Self {
            kind,
            severity,
            actor: None,
            resource: None,
            reason: None,
            source_ip: None,
        }
    }

    /// Who it was, when known.
    pub fn actor(mut self, actor: &'a str) -> Self {
        self.actor = Some(actor);
        self
    }

    /// What was asked for (a route, a resource).
    pub fn resource(mut self, resource: &'a str) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Why it was refused or flagged.
    pub fn reason(mut self, reason: &'a str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The address the request came from.
    pub fn source_ip(mut self, ip: IpAddr) -> Self {
        self.source_ip = Some(ip);
        self
    }

    /// Writes the event (inside the current span, so it carries the request id).
    pub fn emit(self) {
        macro_rules! security {
            ($level:expr) => {
                tracing::event!(
                    target: "readiness::security",
                    $level,
                    category = "security",
                    kind = self.kind.as_str(),
                    severity = self.severity.as_str(),
                    actor = self.actor,
                    resource = self.resource,
                    reason = self.reason,
                    source_ip = self.source_ip.map(tracing::field::display),
                    "{}",
                    self.kind.as_str(),
                )
            };
        }
        if self.severity == Severity::Critical {
            security!(tracing::Level::ERROR);
        } else {
            security!(tracing::Level::WARN);
        }
    }
}
