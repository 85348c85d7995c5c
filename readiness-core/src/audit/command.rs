//! The arguments of an `audit-verify` command, parsed once for every service.

use std::path::PathBuf;

use super::{Checkpoint, VerifyOptions};

/// What an `audit-verify` command checks: a trail file or a table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifySource {
    /// A trail file.
    File(PathBuf),
    /// A trail table (`--table NAME`), read with the `postgres` feature's
    /// [`verify_table`](super::verify_table).
    Table(String),
}

/// The arguments of a service's `audit-verify` subcommand:
/// `FILE|--table TABLE [--key PUBLIC_KEY_HEX] [--anchors LOG_FILE]`. The anchors
/// file is read while parsing.
///
/// ```
/// use readiness_core::audit::{VerifyArgs, VerifySource};
///
/// let args: Vec<String> = ["audit-trail.jsonl"].map(String::from).to_vec();
/// let parsed = VerifyArgs::parse(&args).unwrap();
/// assert_eq!(parsed.source, VerifySource::File("audit-trail.jsonl".into()));
/// assert!(VerifyArgs::parse(&["--key".to_owned()]).is_err());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifyArgs {
    /// What to check.
    pub source: VerifySource,
    /// The key and the outside checkpoints to check it with.
    pub options: VerifyOptions,
}

impl VerifyArgs {
    /// The usage line.
    pub const USAGE: &'static str =
        "usage: audit-verify FILE|--table TABLE [--key PUBLIC_KEY_HEX] [--anchors LOG_FILE]";

    /// Parses the arguments after the subcommand's name.
    ///
    /// # Errors
    ///
    /// What is wrong, followed by the usage line: an unknown or incomplete option, a
    /// key that is not 64 hex digits, an anchors file that cannot be read, or not
    /// exactly one file or table.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let usage = |error: String| format!("{error}\n{}", Self::USAGE);
        let mut options = VerifyOptions::new();
        let (mut file, mut table) = (None, None);
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            if !arg.starts_with("--") {
                if file.replace(PathBuf::from(arg)).is_some() {
                    return Err(usage("more than one file".to_owned()));
                }
                continue;
            }
            let value = rest
                .next()
                .ok_or_else(|| usage(format!("{arg} needs a value")))?;
            match arg.as_str() {
                "--key" => options = options.key_hex(value).map_err(usage)?,
                "--anchors" => {
                    let text = std::fs::read_to_string(value)
                        .map_err(|e| usage(format!("{value}: {e}")))?;
                    options = options.anchors(Checkpoint::from_log_lines(&text));
                }
                "--table" => table = Some(value.clone()),
                other => return Err(usage(format!("unknown option {other}"))),
            }
        }
        let source = match (file, table) {
            (Some(file), None) => VerifySource::File(file),
            (None, Some(table)) => VerifySource::Table(table),
            _ => return Err(usage("name one file or one --table".to_owned())),
        };
        Ok(Self { source, options })
    }
}
