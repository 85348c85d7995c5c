//! Secrets kept out of every output: credentials in URLs and headers.
//!
//! The library runs every text it writes through [`redact_urls`]: each value of a
//! log line (with [`LogSettings`](crate::logging::LogSettings), whatever its field),
//! check outputs and errors in `/health` bodies and logs, and the span attributes
//! and statuses it sets. A URL's userinfo becomes `REDACTED:REDACTED` and the value
//! of a sensitive query parameter `REDACTED`, as OpenTelemetry's conventions say:
//!
//! ```
//! use readiness_core::redact::redact_urls;
//!
//! assert_eq!(
//!     redact_urls("pool timed out: mysql://app:hunter2@db/items?sslmode=require&password=x"),
//!     "pool timed out: mysql://REDACTED:REDACTED@db/items?sslmode=require&password=REDACTED",
//! );
//! ```
//!
//! Headers are logged through [`SafeHeaders`], which shows an allow-list and hides
//! everything else:
//!
//! ```
//! use readiness_core::redact::{SafeHeaders, UrlRedactor};
//!
//! # let headers = http::HeaderMap::new();
//! tracing::info!(headers = %SafeHeaders::new(&headers).allow(&["x-tenant"]), "request");
//!
//! // Your own names for query parameters, besides the defaults.
//! let redactor = UrlRedactor::new().with_query_params(["session", "otp"]);
//! assert_eq!(redactor.redact("/login?otp=123456"), "/login?otp=REDACTED");
//! ```

mod headers;
mod urls;

pub use headers::{SafeHeaders, ALWAYS_HIDDEN_HEADERS, DEFAULT_SHOWN_HEADERS};
pub use urls::{redact_urls, UrlRedactor, SENSITIVE_QUERY_PARAMS, URL_REDACTED};
pub(crate) use urls::{redact_urls_in, redact_urls_owned};
