//! What a table's or an index's key is made of: key attributes, DynamoDB's limits on key
//! values and key names, and the check every key value passes. Below both the catalog and
//! the indexes, which use them.

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::schema::ScalarType;
use crate::value::AttributeValue;

/// Maximum size of a partition key value and of a sort key value, in bytes.
pub const MAX_HASH_KEY_BYTES: usize = 2048;
pub const MAX_RANGE_KEY_BYTES: usize = 1024;
/// Maximum length of a key attribute's name (table and index key schemas, AttributeDefinitions,
/// projected NonKeyAttributes), in bytes.
pub const MAX_KEY_NAME_BYTES: usize = 255;

/// A key attribute: its name and its scalar type.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KeyAttr {
    pub name: String,
    pub ty: ScalarType,
}

/// A table's primary key: its partition key attribute and its sort key attribute, if any.
#[derive(Clone, Copy, Debug)]
pub struct PrimaryKey<'a> {
    pub hash: &'a KeyAttr,
    pub range: Option<&'a KeyAttr>,
}

/// Checks a key value's content: no empty string/binary, and DynamoDB's size limits.
pub fn check_key_value(v: &AttributeValue, name: &str, is_hash: bool) -> Result<()> {
    let (len, what) = match v {
        AttributeValue::S(s) => (s.len(), "string"),
        AttributeValue::B(b) => (b.len(), "binary"),
        _ => return Ok(()),
    };
    if len == 0 {
        return Err(EngineError::validation(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {what} value. Key: {name}"
        )));
    }
    if is_hash && len > MAX_HASH_KEY_BYTES {
        return Err(EngineError::validation(
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ));
    }
    if !is_hash && len > MAX_RANGE_KEY_BYTES {
        return Err(EngineError::validation(
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ));
    }
    Ok(())
}
