//! Lambda's event filtering (FilterCriteria) over stream records: a record is delivered when
//! it matches any filter pattern; the others are skipped (and checkpointed).
//!
//! A pattern mirrors the record's JSON: objects nest, and each leaf is an array of match
//! conditions, any of which may match: literal values (strings, numbers compared
//! numerically, booleans, null), `{"prefix": s}`, `{"suffix": s}`, `{"anything-but": v |
//! [v..] | {"prefix": s}}`, `{"numeric": [op, n, (op, n)]}`, `{"exists": bool}`.

use serde_json::{Map, Value as Json};

use crate::functions::FunctionError;

/// An invalid FilterCriteria: Lambda's InvalidParameterValueException.
fn invalid(message: impl Into<String>) -> FunctionError {
    FunctionError::InvalidParameter(message.into())
}

/// Longest filter pattern (Lambda's `Filter.Pattern`).
const PATTERN_MAX: usize = 4096;

/// A compiled FilterCriteria.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    patterns: Vec<Map<String, Json>>,
}

impl Filters {
    /// Parses `{"Filters":[{"Pattern":"<json>"}, ...]}`; an absent or empty list passes all.
    pub fn parse(criteria: Option<&Json>) -> Result<Filters, FunctionError> {
        let mut patterns = Vec::new();
        let Some(criteria) = criteria.filter(|c| !c.is_null()) else {
            return Ok(Filters::default());
        };
        let Json::Object(criteria) = criteria else {
            return Err(invalid(
                "FilterCriteria must be an object such as {\"Filters\": [...]}",
            ));
        };
        let filters = match criteria.get("Filters") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(a)) => a.clone(),
            Some(_) => return Err(invalid("FilterCriteria.Filters must be a list")),
        };
        if filters.len() > 5 {
            return Err(invalid("FilterCriteria can hold at most 5 filters"));
        }
        for f in filters {
            let text = f
                .get("Pattern")
                .and_then(Json::as_str)
                .ok_or_else(|| invalid("Each filter needs a Pattern string"))?;
            if text.len() > PATTERN_MAX {
                return Err(invalid(format!(
                    "A filter pattern can be at most {PATTERN_MAX} characters long (this one has {})",
                    text.len()
                )));
            }
            let pattern: Json = serde_json::from_str(text)
                .map_err(|e| invalid(format!("Invalid filter pattern definition: {e}")))?;
            let Json::Object(p) = pattern else {
                return Err(invalid(
                    "Invalid filter pattern definition: a pattern is a JSON object",
                ));
            };
            check_pattern(&p)?;
            patterns.push(p);
        }
        Ok(Filters { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether a record passes (no filters: everything passes).
    pub fn matches(&self, record: &Json) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| match_object(p, Some(record)))
    }
}

fn check_pattern(p: &Map<String, Json>) -> Result<(), FunctionError> {
    for (k, v) in p {
        match v {
            Json::Object(inner) => check_pattern(inner)?,
            Json::Array(_) => {}
            _ => {
                return Err(invalid(format!(
                "Invalid filter pattern definition: the value of {k} must be an object or an array"
            )))
            }
        }
    }
    Ok(())
}

fn match_object(pattern: &Map<String, Json>, value: Option<&Json>) -> bool {
    pattern.iter().all(|(key, cond)| {
        let field = value.and_then(|v| v.get(key));
        match cond {
            Json::Object(inner) => field.is_some() && match_object(inner, field),
            Json::Array(conds) => conds.iter().any(|c| match_leaf(c, field)),
            _ => false,
        }
    })
}

fn number(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(_), _) | (_, Json::Number(_)) => {
            number(a).zip(number(b)).is_some_and(|(x, y)| x == y)
        }
        _ => a == b,
    }
}

/// One condition against a field (an array field matches when any element does).
fn match_leaf(cond: &Json, field: Option<&Json>) -> bool {
    if let Some(Json::Object(c)) = Some(cond) {
        if let Some(exists) = c.get("exists").and_then(Json::as_bool) {
            return field.is_some() == exists;
        }
    }
    let Some(field) = field else {
        return false;
    };
    if let Json::Array(items) = field {
        return items.iter().any(|i| match_leaf(cond, Some(i)));
    }
    match cond {
        Json::Object(c) => {
            if let Some(p) = c.get("prefix").and_then(Json::as_str) {
                return field.as_str().is_some_and(|s| s.starts_with(p));
            }
            if let Some(p) = c.get("suffix").and_then(Json::as_str) {
                return field.as_str().is_some_and(|s| s.ends_with(p));
            }
            if let Some(but) = c.get("anything-but") {
                return match but {
                    Json::Array(vals) => !vals.iter().any(|v| equal(v, field)),
                    Json::Object(inner) => match inner.get("prefix").and_then(Json::as_str) {
                        Some(p) => field.as_str().is_some_and(|s| !s.starts_with(p)),
                        None => false,
                    },
                    v => !equal(v, field),
                };
            }
            if let Some(Json::Array(ops)) = c.get("numeric") {
                let Some(x) = number(field) else {
                    return false;
                };
                return ops.chunks(2).all(|pair| match pair {
                    [Json::String(op), n] => number(n).is_some_and(|n| match op.as_str() {
                        "=" => x == n,
                        "<" => x < n,
                        "<=" => x <= n,
                        ">" => x > n,
                        ">=" => x >= n,
                        _ => false,
                    }),
                    _ => false,
                });
            }
            false
        }
        literal => equal(literal, field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Json {
        json!({
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": {"pk": {"S": "order#17"}},
                "NewImage": {"pk": {"S": "order#17"}, "qty": {"N": "12"}, "tags": {"SS": ["a", "b"]},
                             "note": {"NULL": true}}
            }
        })
    }

    fn passes(pattern: Json) -> bool {
        let criteria = json!({"Filters": [{"Pattern": pattern.to_string()}]});
        Filters::parse(Some(&criteria))
            .expect("parse")
            .matches(&record())
    }

    #[test]
    fn equals_prefix_suffix() {
        assert!(passes(json!({"eventName": ["INSERT", "MODIFY"]})));
        assert!(!passes(json!({"eventName": ["REMOVE"]})));
        assert!(passes(
            json!({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "order#"}]}}}})
        ));
        assert!(!passes(
            json!({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "user#"}]}}}})
        ));
        assert!(passes(
            json!({"dynamodb": {"Keys": {"pk": {"S": [{"suffix": "#17"}]}}}})
        ));
        assert!(passes(
            json!({"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}})
        ));
    }

    #[test]
    fn anything_but_numeric_exists_null() {
        assert!(passes(json!({"eventName": [{"anything-but": ["REMOVE"]}]})));
        assert!(!passes(json!({"eventName": [{"anything-but": "INSERT"}]})));
        assert!(passes(
            json!({"eventName": [{"anything-but": {"prefix": "MOD"}}]})
        ));
        assert!(passes(
            json!({"dynamodb": {"NewImage": {"qty": {"N": [{"numeric": [">", 10, "<=", 12]}]}}}})
        ));
        assert!(!passes(
            json!({"dynamodb": {"NewImage": {"qty": {"N": [{"numeric": ["<", 10]}]}}}})
        ));
        assert!(passes(
            json!({"dynamodb": {"NewImage": {"qty": {"N": [12]}}}})
        ));
        assert!(passes(
            json!({"dynamodb": {"NewImage": {"qty": [{"exists": true}]}}})
        ));
        assert!(passes(
            json!({"dynamodb": {"NewImage": {"gone": [{"exists": false}]}}})
        ));
        assert!(!passes(
            json!({"dynamodb": {"OldImage": {"qty": [{"exists": true}]}}})
        ));
        assert!(passes(
            json!({"dynamodb": {"NewImage": {"note": {"NULL": [true]}}}})
        ));
    }

    #[test]
    fn any_filter_and_errors() {
        let criteria = json!({"Filters": [
            {"Pattern": json!({"eventName": ["REMOVE"]}).to_string()},
            {"Pattern": json!({"eventName": ["INSERT"]}).to_string()},
        ]});
        assert!(Filters::parse(Some(&criteria))
            .expect("parse")
            .matches(&record()));
        assert!(Filters::parse(None).expect("none").matches(&record()));
        let bad = json!({"Filters": [{"Pattern": "{not json"}]});
        assert!(Filters::parse(Some(&bad)).is_err());
        let bad = json!({"Filters": [{"Pattern": "{\"eventName\": \"INSERT\"}"}]});
        assert!(Filters::parse(Some(&bad)).is_err());
    }
}
