//! Stream ARNs: `arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`.

use crate::catalog::Table;
use crate::store::Engine;

/// The ARN of a table's stream with this label.
pub(crate) fn stream_arn(engine: &Engine, table: &Table, label: &str) -> String {
    format!(
        "{}/stream/{label}",
        table.arn(engine.region(), engine.account())
    )
}

/// The table name and stream label of a well-formed stream ARN
/// (`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`).
pub(crate) fn parse_stream_arn(arn: &str) -> Option<(&str, &str)> {
    let (table_part, label) = arn.split_once("/stream/")?;
    let (_, name) = table_part.rsplit_once(":table/")?;
    let well_formed = table_part.starts_with("arn:")
        && !name.is_empty()
        && !name.contains('/')
        && !label.is_empty()
        && !label.contains('/');
    well_formed.then_some((name, label))
}
