//! A trail kept in a PostgreSQL table: its name, and its verification.

use futures_util::TryStreamExt as _;
use sqlx::PgPool;

use super::postgres::database;
use super::verify::{verify, Verdict, VerifyOptions};
use super::TrailError;

/// `name` or `schema.name`, each an unquoted SQL identifier.
pub(super) fn valid_table(table: &str) -> bool {
    let part = |p: &str| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && p.len() <= 48
    };
    let mut parts = table.split('.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => part(name),
        (Some(schema), Some(name), None) => part(schema) && part(name),
        _ => false,
    }
}

/// Reads the trail in `table` in `seq` order and checks it as
/// [`verify`](super::verify) checks a file.
///
/// # Errors
///
/// The table cannot be read (the verdict is about its content only).
pub async fn verify_table(
    pool: &PgPool,
    table: &str,
    options: &VerifyOptions,
) -> Result<Verdict, TrailError> {
    if !valid_table(table) {
        return Err(TrailError::Write(std::io::Error::other(format!(
            "{table:?} is not a table name"
        ))));
    }
    let query = format!("SELECT record FROM {table} ORDER BY seq");
    let mut rows = sqlx::query_scalar::<_, String>(&query).fetch(pool);
    let mut bytes = Vec::new();
    while let Some(line) = rows.try_next().await.map_err(database)? {
        // A newline inside a row would split it: keep each row one line.
        bytes.extend(line.bytes().map(|b| if b == b'\n' { b' ' } else { b }));
        bytes.push(b'\n');
    }
    Ok(verify(&bytes, options))
}

#[cfg(test)]
mod tests {
    use super::valid_table;

    #[test]
    fn table_names_are_identifiers() {
        for good in ["audit_trail", "audit.trail", "_t1"] {
            assert!(valid_table(good), "{good}");
        }
        for bad in ["", "1t", "a.b.c", "t; DROP TABLE x", "t-1", "\"t\"", "a."] {
            assert!(!valid_table(bad), "{bad}");
        }
    }
}
