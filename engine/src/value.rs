//! The DynamoDB item model: attribute values, items, their wire JSON and their sizes.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{Map, Value as Json};

use crate::error::{EngineError, Result};
use crate::number::Number;

/// An item: attribute name to value.
pub type Item = BTreeMap<String, AttributeValue>;

/// Nesting levels of an attribute: the attribute itself plus at most 31 enclosing maps and lists.
pub const MAX_DEPTH: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(Item),
    L(Vec<AttributeValue>),
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

impl AttributeValue {
    /// The DynamoDB type descriptor: "S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS".
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Bool(_) => "BOOL",
            AttributeValue::Null => "NULL",
            AttributeValue::M(_) => "M",
            AttributeValue::L(_) => "L",
            AttributeValue::Ss(_) => "SS",
            AttributeValue::Ns(_) => "NS",
            AttributeValue::Bs(_) => "BS",
        }
    }

    /// Parses a wire AttributeValue (`{"S":"x"}`, ...), with DynamoDB's validation messages.
    pub fn from_json(v: &Json) -> Result<AttributeValue> {
        Self::from_json_depth(v, 0)
    }

    fn from_json_depth(v: &Json, depth: usize) -> Result<AttributeValue> {
        let obj = v.as_object().ok_or_else(|| {
            EngineError::serialization(
                "Unexpected value type in payload: expected an AttributeValue object",
            )
        })?;
        let mut present = obj.iter().filter(|(_, v)| !v.is_null());
        let (ty, inner) = match present.next() {
            None => {
                return Err(EngineError::validation(
                    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
                ))
            }
            Some(x) => x,
        };
        if present.next().is_some() {
            return Err(EngineError::validation(
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
            ));
        }
        if depth >= MAX_DEPTH {
            return Err(EngineError::validation(
                "Nesting Levels have exceeded supported limits",
            ));
        }
        let bad_type = || {
            EngineError::serialization(format!(
                "Unexpected value type in payload for AttributeValue member {ty}"
            ))
        };
        let as_str = |j: &Json| j.as_str().map(str::to_owned).ok_or_else(bad_type);
        let as_arr = |j: &Json| j.as_array().cloned().ok_or_else(bad_type);
        Ok(match ty.as_str() {
            "S" => AttributeValue::S(as_str(inner)?),
            "N" => AttributeValue::N(Number::parse(inner.as_str().ok_or_else(bad_type)?)?),
            "B" => AttributeValue::B(decode_b64(inner.as_str().ok_or_else(bad_type)?)?),
            "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or_else(bad_type)?),
            "NULL" => {
                if inner.as_bool().ok_or_else(bad_type)? {
                    AttributeValue::Null
                } else {
                    return Err(EngineError::validation(
                        "One or more parameter values were invalid: Null attribute value types must have the value of true",
                    ));
                }
            }
            "M" => {
                let m = inner.as_object().ok_or_else(bad_type)?;
                let mut item = Item::new();
                for (k, v) in m {
                    item.insert(k.clone(), Self::from_json_depth(v, depth + 1)?);
                }
                AttributeValue::M(item)
            }
            "L" => {
                let l = inner.as_array().ok_or_else(bad_type)?;
                let mut out = Vec::with_capacity(l.len());
                for v in l {
                    out.push(Self::from_json_depth(v, depth + 1)?);
                }
                AttributeValue::L(out)
            }
            "SS" => {
                let arr = as_arr(inner)?;
                if arr.is_empty() {
                    return Err(EngineError::validation(
                        "One or more parameter values were invalid: An string set  may not be empty",
                    ));
                }
                let set: Vec<String> = arr.iter().map(as_str).collect::<Result<_>>()?;
                if has_duplicates(&set) {
                    return Err(EngineError::validation(format!(
                        "One or more parameter values were invalid: Input collection [{}] contains duplicates.",
                        set.join(", ")
                    )));
                }
                AttributeValue::Ss(set)
            }
            "NS" => {
                let arr = as_arr(inner)?;
                if arr.is_empty() {
                    return Err(EngineError::validation(
                        "One or more parameter values were invalid: An number set  may not be empty",
                    ));
                }
                let mut set = Vec::with_capacity(arr.len());
                for j in &arr {
                    set.push(Number::parse(j.as_str().ok_or_else(bad_type)?)?);
                }
                if has_duplicates(&set) {
                    return Err(EngineError::validation(
                        "Input collection contains duplicates",
                    ));
                }
                AttributeValue::Ns(set)
            }
            "BS" => {
                let arr = as_arr(inner)?;
                if arr.is_empty() {
                    return Err(EngineError::validation(
                        "One or more parameter values were invalid: Binary sets should not be empty",
                    ));
                }
                let mut set = Vec::with_capacity(arr.len());
                for j in &arr {
                    set.push(decode_b64(j.as_str().ok_or_else(bad_type)?)?);
                }
                if has_duplicates(&set) {
                    return Err(EngineError::validation(
                        "One or more parameter values were invalid: Input collection of type BS contains duplicates.",
                    ));
                }
                AttributeValue::Bs(set)
            }
            other => {
                return Err(EngineError::serialization(format!(
                    "Unknown AttributeValue type: {other}"
                )))
            }
        })
    }

    /// The wire JSON of this value.
    pub fn to_json(&self) -> Json {
        let mut m = Map::with_capacity(1);
        let (k, v) = match self {
            AttributeValue::S(s) => ("S", Json::String(s.clone())),
            AttributeValue::N(n) => ("N", Json::String(n.to_string())),
            AttributeValue::B(b) => ("B", Json::String(B64.encode(b))),
            AttributeValue::Bool(b) => ("BOOL", Json::Bool(*b)),
            AttributeValue::Null => ("NULL", Json::Bool(true)),
            AttributeValue::M(item) => ("M", item_to_json(item)),
            AttributeValue::L(l) => ("L", Json::Array(l.iter().map(|v| v.to_json()).collect())),
            AttributeValue::Ss(s) => (
                "SS",
                Json::Array(s.iter().map(|x| Json::String(x.clone())).collect()),
            ),
            AttributeValue::Ns(s) => (
                "NS",
                Json::Array(s.iter().map(|x| Json::String(x.to_string())).collect()),
            ),
            AttributeValue::Bs(s) => (
                "BS",
                Json::Array(s.iter().map(|x| Json::String(B64.encode(x))).collect()),
            ),
        };
        m.insert(k.to_owned(), v);
        Json::Object(m)
    }

    /// Size in bytes as DynamoDB accounts it (the value only, not the attribute name).
    pub fn size(&self) -> usize {
        match self {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.size(),
            AttributeValue::B(b) => b.len(),
            AttributeValue::Bool(_) | AttributeValue::Null => 1,
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>()
            }
            AttributeValue::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            AttributeValue::Ss(s) => s.iter().map(String::len).sum(),
            AttributeValue::Ns(s) => s.iter().map(Number::size).sum(),
            AttributeValue::Bs(s) => s.iter().map(Vec::len).sum(),
        }
    }

    /// Nesting depth of maps and lists (a scalar is 0).
    pub fn depth(&self) -> usize {
        match self {
            AttributeValue::M(m) => 1 + m.values().map(|v| v.depth()).max().unwrap_or(0),
            AttributeValue::L(l) => 1 + l.iter().map(|v| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// Linear: a 16 MB request can hold a set of a million elements.
fn has_duplicates<T: Hash + Eq>(v: &[T]) -> bool {
    let mut seen = HashSet::with_capacity(v.len());
    !v.iter().all(|x| seen.insert(x))
}

fn decode_b64(s: &str) -> Result<Vec<u8>> {
    B64.decode(s).map_err(|_| {
        EngineError::serialization(
            "Base64 encoded length is expected a multiple of 4 bytes but found a value that is not",
        )
    })
}

/// Parses a wire item (`{"attr": {"S": "x"}, ...}`).
pub fn item_from_json(v: &Json) -> Result<Item> {
    let obj = v.as_object().ok_or_else(|| {
        EngineError::serialization(
            "Unexpected value type in payload: expected a map of AttributeValues",
        )
    })?;
    let mut item = Item::new();
    for (k, v) in obj {
        item.insert(k.clone(), AttributeValue::from_json(v)?);
    }
    Ok(item)
}

pub fn item_to_json(item: &Item) -> Json {
    Json::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// Size in bytes as DynamoDB accounts it: names plus values.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// Storage form of an item (its wire JSON), read back with [`decode_item`].
pub fn encode_item(item: &Item) -> Vec<u8> {
    serde_json::to_vec(item).unwrap_or_default()
}

/// Serializes as the wire JSON (`{"S":"..."}`), the same as [`AttributeValue::to_json`]
/// without building a `serde_json::Value` first (the write path's hot spot).
impl serde::Serialize for AttributeValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Seq<'a, T, F>(&'a [T], F);
        impl<T, F: Fn(&T) -> String> serde::Serialize for Seq<'_, T, F> {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(&self.1))
            }
        }
        let mut m = s.serialize_map(Some(1))?;
        match self {
            AttributeValue::S(v) => m.serialize_entry("S", v)?,
            AttributeValue::N(n) => m.serialize_entry("N", &n.to_string())?,
            AttributeValue::B(b) => m.serialize_entry("B", &B64.encode(b))?,
            AttributeValue::Bool(b) => m.serialize_entry("BOOL", b)?,
            AttributeValue::Null => m.serialize_entry("NULL", &true)?,
            AttributeValue::M(item) => m.serialize_entry("M", item)?,
            AttributeValue::L(l) => m.serialize_entry("L", l)?,
            AttributeValue::Ss(v) => m.serialize_entry("SS", v)?,
            AttributeValue::Ns(v) => {
                m.serialize_entry("NS", &Seq(v, |n: &Number| n.to_string()))?
            }
            AttributeValue::Bs(v) => {
                m.serialize_entry("BS", &Seq(v, |b: &Vec<u8>| B64.encode(b)))?
            }
        }
        m.end()
    }
}

pub fn decode_item(bytes: &[u8]) -> Result<Item> {
    let json: Json = serde_json::from_slice(bytes)
        .map_err(|e| EngineError::Internal(format!("corrupt stored item: {e}")))?;
    item_from_json(&json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_every_type() {
        let j = json!({
            "s": {"S": "x"}, "n": {"N": "1.5"}, "b": {"B": "AAE="}, "t": {"BOOL": true},
            "z": {"NULL": true}, "m": {"M": {"a": {"L": [{"N": "1"}, {"S": "y"}]}}},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": ["AA=="]}
        });
        let item = item_from_json(&j).unwrap();
        assert_eq!(item_to_json(&item), j);
        assert_eq!(decode_item(&encode_item(&item)).unwrap(), item);
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            json!({}),
            json!({"S": "a", "N": "1"}),
            json!({"SS": []}),
            json!({"SS": ["a", "a"]}),
            json!({"NS": ["1", "1.0"]}),
            json!({"NULL": false}),
            json!({"N": "x"}),
        ] {
            assert!(AttributeValue::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn huge_sets_are_checked_in_linear_time() {
        // A 16 MB request holds sets of about a million elements: a quadratic duplicate
        // check would take hours (here, minutes).
        let many: Vec<String> = (0..60_000).map(|i| i.to_string()).collect();
        assert!(AttributeValue::from_json(&json!({"SS": many})).is_ok());
        assert!(AttributeValue::from_json(&json!({"NS": many})).is_ok());
        let mut dup = many.clone();
        dup.push("59999".into());
        assert!(AttributeValue::from_json(&json!({"SS": dup})).is_err());
        let mut dup = many;
        dup.push("5.9999e4".into());
        assert!(AttributeValue::from_json(&json!({"NS": dup})).is_err());
    }

    #[test]
    fn sizes_follow_dynamodb_rules() {
        let item = item_from_json(&json!({"ab": {"S": "xyz"}, "n": {"N": "123"}})).unwrap();
        assert_eq!(item_size(&item), 2 + 3 + 1 + 3);
    }
}
