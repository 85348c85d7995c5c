//! One event ready to be written, whichever the format: its parts, and the caps and
//! scrubbing every text value goes through.

use std::ops::ControlFlow;

use super::class::{Category, DataClass};
use super::fields::{Fields, Value};
use super::layer::Shared;
use super::redact::REDACTED;
use crate::redact::UrlRedactor;

pub(super) const TRUNCATED: &str = "…[truncated]";

pub(super) struct Line<'a> {
    pub(super) shared: &'a Shared,
    pub(super) level: &'static str,
    pub(super) target: &'a str,
    pub(super) message: &'a str,
    pub(super) category: Category,
    pub(super) class: DataClass,
    pub(super) request_id: Option<&'a str>,
    /// The event's own `request_id` field when a span it is in carries another: the
    /// span's (the request's) is the line's, this one is written as
    /// `field.request_id`.
    pub(super) own_request_id: Option<&'a str>,
    /// Trace and span id, 32 and 16 hex digits, when the event is in a traced span.
    pub(super) trace: Option<([u8; 32], [u8; 16])>,
    /// The event's own fields.
    pub(super) fields: &'a Fields,
    /// The fields of the spans the event is in, innermost first.
    pub(super) spans: &'a [&'a Fields],
}

impl Line<'_> {
    /// Each field to write: the event's, then its spans' from the innermost out, a
    /// name written once (an event field hides a span field of the same name, an
    /// inner span an outer one). Stops when `write` says so.
    pub(super) fn each_field(
        &self,
        mut write: impl FnMut(&'static str, Value<'_>) -> ControlFlow<()>,
    ) {
        self.each_field_named(|name, value, _| write(name, value));
    }

    /// [`each_field`](Self::each_field), also telling whether the name is one of the
    /// library's own (see [`Fields::own_names`]): a format then writes it as it is,
    /// without checking it is plain and not reserved (every key of every access line).
    pub(super) fn each_field_named(
        &self,
        mut write: impl FnMut(&'static str, Value<'_>, bool) -> ControlFlow<()>,
    ) {
        let owners = std::iter::once(self.fields).chain(self.spans.iter().copied());
        for (index, owner) in owners.enumerate() {
            let own = owner.own_names();
            for (name, value) in owner.iter() {
                let hidden = index > 0
                    && (self.fields.has(name)
                        || self.spans[..index - 1].iter().any(|span| span.has(name)));
                if hidden {
                    continue;
                }
                if write(name, value, own).is_break() {
                    return;
                }
            }
        }
    }

    /// A text value as it may be written: restricted events write none, known
    /// secrets are scrubbed, credentials in URLs redacted, long values cut.
    pub(super) fn text<'v>(&self, value: &'v str) -> std::borrow::Cow<'v, str> {
        if self.class == DataClass::Restricted {
            return REDACTED.into();
        }
        // The common case: nothing to scrub or cut. A value without `@` or `=` holds
        // no URL credentials (one vectorized scan, no copy).
        if value.len() <= self.shared.max_field
            && !self.shared.redactor.has_secrets()
            && !UrlRedactor::may_redact(value)
        {
            return value.into();
        }
        let value = self.shared.redactor.scrub(value);
        truncate(value, self.shared.max_field)
    }
}

pub(super) fn floor_char_boundary(value: &str, max: usize) -> usize {
    let mut cut = max.min(value.len());
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

/// `value` cut to at most `max` bytes (at a character boundary), with a visible
/// marker when cut.
fn truncate(value: std::borrow::Cow<'_, str>, max: usize) -> std::borrow::Cow<'_, str> {
    if value.len() <= max {
        return value;
    }
    let cut = floor_char_boundary(&value, max);
    let mut out = String::with_capacity(cut + TRUNCATED.len());
    out.push_str(&value[..cut]);
    out.push_str(TRUNCATED);
    out.into()
}
