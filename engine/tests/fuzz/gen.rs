//! Generators of hostile input: expression text, attribute-value JSON and whole DynamoDB
//! requests. Most of what they make is almost valid (so it gets past the first checks and
//! reaches the deeper code), some of it is junk, and some of it is very deep or very long.

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use serde_json::{json, Map, Value as Json};

/// Attribute names the generated expressions and items share, so conditions meet real data.
const NAMES: &[&str] = &[
    "a", "b", "c", "pk", "sk", "gpk", "gsk", "lsk", "v", "n", "l", "m", "s", "Year", "size",
    "status", "x y", "",
];

/// Placeholders: defined ones (`#n0`, `:v0`, ...) and missing ones.
const NAME_PLACEHOLDERS: &[&str] = &["#n0", "#n1", "#n2", "#missing", "#", "#n0#n1"];
const VALUE_PLACEHOLDERS: &[&str] = &[":v0", ":v1", ":v2", ":v3", ":v4", ":missing", ":"];

/// Tokens for mutating otherwise valid text.
const NOISE: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ".",
    ",",
    "=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    " AND ",
    " OR ",
    " NOT ",
    " BETWEEN ",
    " IN ",
    " SET ",
    " REMOVE ",
    " ADD ",
    " DELETE ",
    "size(",
    "#",
    ":",
    "[99999999999999999999]",
    "\u{0}",
    "é",
    "\"",
    "'",
    "\\",
    "  ",
];

/// `{k: v}` without the deep copy `json!` makes of an interpolated value.
fn wrap(k: &str, v: Json) -> Json {
    let mut m = Map::new();
    m.insert(k.to_owned(), v);
    Json::Object(m)
}

pub fn ident() -> BoxedStrategy<String> {
    prop_oneof![
        8 => prop::sample::select(NAMES).prop_map(str::to_owned),
        3 => prop::sample::select(NAME_PLACEHOLDERS).prop_map(str::to_owned),
        1 => "[a-zA-Z_][a-zA-Z0-9_]{0,12}",
    ]
    .boxed()
}

/// A document path: `a`, `#n0.b[3]`, `a[0][1].c`.
pub fn path() -> BoxedStrategy<String> {
    (
        ident(),
        prop::collection::vec(
            prop_oneof![
                ident().prop_map(|i| format!(".{i}")),
                prop::sample::select(&["0", "1", "3", "10", "99999999999999999999", "-1"][..])
                    .prop_map(|n| format!("[{n}]")),
            ],
            0..4,
        ),
    )
        .prop_map(|(head, tail)| format!("{head}{}", tail.concat()))
        .boxed()
}

fn value_placeholder() -> BoxedStrategy<String> {
    prop::sample::select(VALUE_PLACEHOLDERS)
        .prop_map(str::to_owned)
        .boxed()
}

/// An operand: path, value, function call, arithmetic.
pub fn operand() -> BoxedStrategy<String> {
    let leaf = prop_oneof![3 => path(), 3 => value_placeholder()];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|o| format!("size({o})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} + {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} - {b}")),
            (path(), inner.clone()).prop_map(|(p, o)| format!("if_not_exists({p}, {o})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("list_append({a}, {b})")),
            (ident(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
            inner.prop_map(|o| format!("({o})")),
        ]
    })
    .boxed()
}

const COMPARATORS: &[&str] = &["=", "<>", "<", "<=", ">", ">="];
const FUNCTIONS: &[&str] = &[
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
    "size",
    "unknown_fn",
];

/// A condition (ConditionExpression, FilterExpression, KeyConditionExpression).
pub fn condition() -> BoxedStrategy<String> {
    let atom = prop_oneof![
        (operand(), prop::sample::select(COMPARATORS), operand())
            .prop_map(|(a, c, b)| format!("{a} {c} {b}")),
        (operand(), operand(), operand()).prop_map(|(a, b, c)| format!("{a} BETWEEN {b} AND {c}")),
        (operand(), prop::collection::vec(operand(), 1..5))
            .prop_map(|(a, l)| format!("{a} IN ({})", l.join(", "))),
        (
            prop::sample::select(FUNCTIONS),
            prop::collection::vec(operand(), 0..3)
        )
            .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
    ];
    atom.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
            inner.clone().prop_map(|c| format!("NOT {c}")),
            inner.prop_map(|c| format!("({c})")),
        ]
    })
    .boxed()
}

/// An UpdateExpression.
pub fn update() -> BoxedStrategy<String> {
    let set = prop::collection::vec(
        (path(), operand()).prop_map(|(p, o)| format!("{p} = {o}")),
        1..4,
    )
    .prop_map(|a| format!("SET {}", a.join(", ")));
    let remove =
        prop::collection::vec(path(), 1..4).prop_map(|a| format!("REMOVE {}", a.join(", ")));
    let add = prop::collection::vec(
        (path(), value_placeholder()).prop_map(|(p, v)| format!("{p} {v}")),
        1..3,
    )
    .prop_map(|a| format!("ADD {}", a.join(", ")));
    let delete = prop::collection::vec(
        (path(), value_placeholder()).prop_map(|(p, v)| format!("{p} {v}")),
        1..3,
    )
    .prop_map(|a| format!("DELETE {}", a.join(", ")));
    prop::collection::vec(prop_oneof![set, remove, add, delete], 1..4)
        .prop_map(|s| s.join(" "))
        .boxed()
}

/// A ProjectionExpression.
pub fn projection() -> BoxedStrategy<String> {
    prop::collection::vec(path(), 1..5)
        .prop_map(|p| p.join(", "))
        .boxed()
}

/// Very deep or very long text, the shapes that overflow recursive code.
pub fn deep_expression() -> BoxedStrategy<String> {
    (0usize..9, 1usize..4000)
        .prop_map(|(shape, n)| match shape {
            0 => format!("{}a = :v0{}", "(".repeat(n), ")".repeat(n)),
            1 => format!("{}a = :v0", "NOT ".repeat(n)),
            2 => format!("{}a{} = :v0", "size(".repeat(n), ")".repeat(n)),
            3 => format!("a{} = :v0", ".b".repeat(n)),
            4 => format!("a{} = :v0", "[0]".repeat(n)),
            5 => format!("SET a = {}", vec![":v1"; n].join(" + ")),
            6 => vec!["a = :v0"; n].join(" AND "),
            7 => format!(
                "SET a = {}:v1{}",
                "list_append(:v1, ".repeat(n),
                ")".repeat(n)
            ),
            _ => {
                let mut s = String::new();
                for i in 0..n {
                    s.push_str(if i % 2 == 0 {
                        "(a = :v0 AND "
                    } else {
                        "(b = :v1 OR "
                    });
                }
                s.push_str("c = :v2");
                s.push_str(&")".repeat(n));
                s
            }
        })
        .boxed()
}

/// Valid-looking text with tokens inserted, removed or swapped.
pub fn mutated(base: BoxedStrategy<String>) -> BoxedStrategy<String> {
    (
        base,
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                prop::sample::select(NOISE),
                0u8..3,
            ),
            0..4,
        ),
    )
        .prop_map(|(mut s, edits)| {
            for (at, tok, kind) in edits {
                if s.is_empty() {
                    s.push_str(tok);
                    continue;
                }
                let mut i = at.index(s.len());
                while !s.is_char_boundary(i) {
                    i -= 1;
                }
                match kind {
                    0 => s.insert_str(i, tok),
                    1 => {
                        let mut j = (i + tok.len()).min(s.len());
                        while !s.is_char_boundary(j) {
                            j -= 1;
                        }
                        s.replace_range(i..j, "");
                    }
                    _ => s.truncate(i),
                }
            }
            s
        })
        .boxed()
}

/// Any expression text: grammar-based, mutated, deep, or random characters.
pub fn any_expression() -> BoxedStrategy<String> {
    prop_oneof![
        4 => condition(),
        3 => update(),
        1 => projection(),
        4 => mutated(prop_oneof![condition(), update(), projection()].boxed()),
        1 => deep_expression(),
        1 => ".{0,40}",
    ]
    .boxed()
}

// ---- attribute values ----

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "1.5",
    "-0",
    "0.0000",
    "1e3",
    "1E-130",
    "9.9999999999999999999999999999999999999E+125",
    "1e126",
    "-1e-131",
    "12345678901234567890123456789012345678",
    "123456789012345678901234567890123456789",
    " 1",
    "0x10",
    "NaN",
    "Infinity",
    "",
    "1e99999999999",
    "00001",
    ".5",
    "5.",
];

fn scalar_av() -> BoxedStrategy<Json> {
    prop_oneof![
        3 => ".{0,12}".prop_map(|s| json!({"S": s})),
        1 => Just(json!({"S": ""})),
        3 => prop::sample::select(NUMBERS).prop_map(|n| json!({"N": n})),
        1 => "-?[0-9]{1,45}(\\.[0-9]{0,10})?(e-?[0-9]{1,4})?".prop_map(|n| json!({"N": n})),
        1 => prop::sample::select(&["AAEC", "", "not base64!", "QQ==", "QQ"][..]).prop_map(|b| json!({"B": b})),
        1 => any::<bool>().prop_map(|b| json!({"BOOL": b})),
        1 => any::<bool>().prop_map(|b| json!({"NULL": b})),
        1 => prop::collection::vec(".{0,4}", 0..4).prop_map(|v| json!({"SS": v})),
        1 => prop::collection::vec(prop::sample::select(NUMBERS), 0..4).prop_map(|v| json!({"NS": v})),
        1 => prop::collection::vec(prop::sample::select(&["AA==", "AQ==", "", "!!"][..]), 0..3)
            .prop_map(|v| json!({"BS": v})),
        1 => junk_json(),
    ]
    .boxed()
}

/// JSON that is not an attribute value at all (wrong types, empty objects, two types).
pub fn junk_json() -> BoxedStrategy<Json> {
    prop_oneof![
        Just(json!(null)),
        Just(json!({})),
        Just(json!([])),
        Just(json!(1)),
        Just(json!("S")),
        Just(json!({"S": "a", "N": "1"})),
        Just(json!({"S": 1})),
        Just(json!({"N": 1})),
        Just(json!({"L": {}})),
        Just(json!({"M": []})),
        Just(json!({"SS": "a"})),
        Just(json!({"X": "a"})),
        Just(json!({"BOOL": "true"})),
        Just(json!({"S": null})),
    ]
    .boxed()
}

/// One attribute value, possibly nested maps and lists.
pub fn attribute_value() -> BoxedStrategy<Json> {
    scalar_av()
        .prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|l| wrap("L", Json::Array(l))),
                prop::collection::btree_map(ident(), inner, 0..4)
                    .prop_map(|m| wrap("M", Json::Object(m.into_iter().collect()))),
            ]
        })
        .boxed()
}

/// An attribute value nested `n` levels deep, in lists or maps.
pub fn deep_attribute_value() -> BoxedStrategy<Json> {
    (1usize..120, any::<bool>())
        .prop_map(|(n, maps)| {
            let mut v = json!({"S": "leaf"});
            for _ in 0..n {
                v = if maps {
                    wrap("M", wrap("a", v))
                } else {
                    wrap("L", Json::Array(vec![v]))
                };
            }
            v
        })
        .boxed()
}

/// A key or index-key value: usually valid for the fixtures, sometimes oversized, empty or of
/// the wrong type.
fn key_value(ty: &'static str) -> BoxedStrategy<Json> {
    let valid = match ty {
        "S" => ".{1,6}".prop_map(|s| json!({"S": s})).boxed(),
        _ => "-?[0-9]{1,3}".prop_map(|n| json!({"N": n})).boxed(),
    };
    prop_oneof![
        12 => valid,
        1 => Just(json!({"S": ""})),
        1 => Just(json!({"S": "k".repeat(1025)})),
        1 => Just(json!({"S": "k".repeat(2049)})),
        1 => Just(json!({"S": "k".repeat(70_000)})),
        1 => Just(json!({"B": ""})),
        1 => Just(json!({"N": "1".repeat(38)})),
        1 => scalar_av(),
    ]
    .boxed()
}

/// An item for the generated tables: usually carries the keys and index keys, sometimes not.
pub fn item() -> BoxedStrategy<Json> {
    (
        key_value("S"),
        key_value("N"),
        prop::collection::btree_map(
            ident(),
            prop_oneof![6 => attribute_value(), 1 => deep_attribute_value()],
            0..5,
        ),
        prop::option::weighted(0.6, key_value("S")),
        prop::option::weighted(0.6, key_value("N")),
        prop::option::weighted(0.4, key_value("N")),
        0u8..8,
    )
        .prop_map(|(pk, sk, rest, gpk, gsk, lsk, drop)| {
            let mut m: Map<String, Json> = rest.into_iter().collect();
            for (k, v) in [("gpk", gpk), ("gsk", gsk), ("lsk", lsk)] {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            if drop != 0 {
                m.insert("pk".into(), pk);
            }
            if drop != 1 {
                m.insert("sk".into(), sk);
            }
            Json::Object(m)
        })
        .boxed()
}

/// A primary key for the generated tables.
pub fn key() -> BoxedStrategy<Json> {
    prop_oneof![
        6 => (key_value("S"), key_value("N")).prop_map(|(p, s)| Json::Object(Map::from_iter([("pk".to_owned(), p), ("sk".to_owned(), s)]))),
        1 => ".{1,6}".prop_map(|p| json!({"pk": {"S": p}})),
        1 => item(),
        1 => Just(json!({"pk": {"S": "p".repeat(3000)}, "sk": {"N": "1"}})),
    ]
    .boxed()
}

// ---- whole requests ----

fn table_name() -> BoxedStrategy<Json> {
    prop_oneof![
        12 => Just(json!("tbl")),
        3 => Just(json!("hash")),
        1 => prop::sample::select(&["fuzz_a", "fuzz_b", "missing", "", "a", "bad name!", "arn:aws:dynamodb:us-east-1:000000000000:table/tbl"][..]).prop_map(|s| json!(s)),
        1 => Just(json!("x".repeat(300))),
        1 => junk_json(),
    ]
    .boxed()
}

fn names_map() -> BoxedStrategy<Json> {
    prop::collection::btree_map(
        prop::sample::select(NAME_PLACEHOLDERS).prop_map(str::to_owned),
        prop_oneof![
            prop::sample::select(NAMES).prop_map(|s| json!(s)),
            junk_json()
        ],
        0..4,
    )
    .prop_map(|m| Json::Object(m.into_iter().collect()))
    .boxed()
}

fn values_map() -> BoxedStrategy<Json> {
    prop::collection::btree_map(
        prop::sample::select(VALUE_PLACEHOLDERS).prop_map(str::to_owned),
        prop_oneof![4 => attribute_value(), 1 => deep_attribute_value()],
        0..5,
    )
    .prop_map(|m| Json::Object(m.into_iter().collect()))
    .boxed()
}

fn small_int() -> BoxedStrategy<Json> {
    prop_oneof![
        4 => (0i64..12).prop_map(|n| json!(n)),
        1 => prop::sample::select(&[-1i64, 0, 1_000_000_000_000, i64::MIN, i64::MAX][..]).prop_map(|n| json!(n)),
        1 => Just(json!(1.5)),
        1 => Just(json!(1e300)),
        1 => junk_json(),
    ]
    .boxed()
}

fn enum_of(values: &'static [&'static str]) -> BoxedStrategy<Json> {
    prop_oneof![
        4 => prop::sample::select(values).prop_map(|s| json!(s)),
        1 => Just(json!("nope")),
        1 => junk_json(),
    ]
    .boxed()
}

fn expression_field() -> BoxedStrategy<Json> {
    prop_oneof![8 => any_expression().prop_map(Json::String), 1 => junk_json()].boxed()
}

/// An expression member: mostly of its own kind, sometimes mutated, deep or of another kind.
fn expression_of(kind: BoxedStrategy<String>) -> BoxedStrategy<Json> {
    prop_oneof![
        8 => kind.clone().prop_map(Json::String),
        2 => mutated(kind).prop_map(Json::String),
        1 => deep_expression().prop_map(Json::String),
        1 => expression_field(),
    ]
    .boxed()
}

/// A KeyConditionExpression for the fixture tables and indexes, mostly well formed.
fn key_condition_field() -> BoxedStrategy<Json> {
    let sort = prop_oneof![
        Just(String::new()),
        (
            prop::sample::select(&["sk", "gsk", "lsk", "#n1"][..]),
            prop::sample::select(COMPARATORS),
            value_placeholder()
        )
            .prop_map(|(k, c, v)| format!(" AND {k} {c} {v}")),
        (
            prop::sample::select(&["sk", "gsk"][..]),
            value_placeholder(),
            value_placeholder()
        )
            .prop_map(|(k, a, b)| format!(" AND {k} BETWEEN {a} AND {b}")),
        (
            prop::sample::select(&["sk", "gsk"][..]),
            value_placeholder()
        )
            .prop_map(|(k, v)| format!(" AND begins_with({k}, {v})")),
    ];
    prop_oneof![
        4 => (prop::sample::select(&["pk", "gpk", "#n2"][..]), value_placeholder(), sort)
            .prop_map(|(k, v, s)| json!(format!("{k} = {v}{s}"))),
        1 => expression_field(),
    ]
    .boxed()
}

/// The members a generated request may carry, each with its generator.
fn field(name: &'static str) -> BoxedStrategy<Json> {
    match name {
        "TableName" => table_name(),
        "DroppedTableName" => prop_oneof![
            8 => prop::sample::select(&["fuzz_a", "fuzz_b", "missing"][..]).prop_map(|s| json!(s)),
            1 => table_name(),
        ]
        .boxed(),
        "Key" | "ExclusiveStartKey" => key(),
        "Item" => item(),
        "KeyConditionExpression" => key_condition_field(),
        "ConditionExpression" | "FilterExpression" => expression_of(condition()),
        "UpdateExpression" => expression_of(update()),
        "ProjectionExpression" => expression_of(projection()),
        "ExpressionAttributeNames" => names_map(),
        "ExpressionAttributeValues" => values_map(),
        "ReturnValues" => enum_of(&["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]),
        "ReturnValuesOnConditionCheckFailure" => enum_of(&["NONE", "ALL_OLD"]),
        "ReturnConsumedCapacity" => enum_of(&["NONE", "TOTAL", "INDEXES"]),
        "ReturnItemCollectionMetrics" => enum_of(&["NONE", "SIZE"]),
        "Select" => enum_of(&[
            "ALL_ATTRIBUTES",
            "ALL_PROJECTED_ATTRIBUTES",
            "SPECIFIC_ATTRIBUTES",
            "COUNT",
        ]),
        "IndexName" => enum_of(&["gsi", "lsi", "missing"]),
        "ConsistentRead" | "ScanIndexForward" => {
            prop_oneof![any::<bool>().prop_map(|b| json!(b)), junk_json()].boxed()
        }
        "Limit" | "Segment" | "TotalSegments" => small_int(),
        "ConditionalOperator" => enum_of(&["AND", "OR"]),
        "AttributesToGet" => prop::collection::vec(ident(), 0..4)
            .prop_map(|v| json!(v))
            .boxed(),
        "Expected" | "QueryFilter" | "ScanFilter" | "KeyConditions" => legacy_conditions(),
        "AttributeUpdates" => legacy_updates(),
        "ClientRequestToken" => prop_oneof![".{0,40}".prop_map(|s| json!(s)), junk_json()].boxed(),
        "StreamSpecification" => prop_oneof![
            Just(json!({"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"})),
            Just(json!({"StreamEnabled": false})),
            Just(json!({"StreamEnabled": true})),
            junk_json(),
        ]
        .boxed(),
        "TimeToLiveSpecification" => prop_oneof![
            ident().prop_map(|n| json!({"Enabled": true, "AttributeName": n})),
            ident().prop_map(|n| json!({"Enabled": false, "AttributeName": n})),
            junk_json(),
        ]
        .boxed(),
        "Tags" => prop::collection::vec(
            (".{0,10}", ".{0,10}").prop_map(|(k, v)| json!({"Key": k, "Value": v})),
            0..4,
        )
        .prop_map(|v| json!(v))
        .boxed(),
        "TagKeys" => prop::collection::vec(".{0,10}", 0..4)
            .prop_map(|v| json!(v))
            .boxed(),
        "ResourceArn" => prop_oneof![
            Just(json!("arn:aws:dynamodb:us-east-1:000000000000:table/tbl")),
            Just(json!(
                "arn:aws:dynamodb:us-east-1:000000000000:table/missing"
            )),
            ".{0,30}".prop_map(|s| json!(s)),
        ]
        .boxed(),
        _ => junk_json(),
    }
}

const LEGACY_OPS: &[&str] = &[
    "EQ",
    "NE",
    "LE",
    "LT",
    "GE",
    "GT",
    "NOT_NULL",
    "NULL",
    "CONTAINS",
    "NOT_CONTAINS",
    "BEGINS_WITH",
    "IN",
    "BETWEEN",
    "BAD",
];

fn legacy_conditions() -> BoxedStrategy<Json> {
    prop::collection::btree_map(
        ident(),
        prop_oneof![
            (
                prop::sample::select(LEGACY_OPS),
                prop::collection::vec(attribute_value(), 0..3)
            )
                .prop_map(|(op, l)| Json::Object(Map::from_iter([
                    ("ComparisonOperator".to_owned(), json!(op)),
                    ("AttributeValueList".to_owned(), Json::Array(l))
                ]))),
            any::<bool>().prop_map(|e| json!({"Exists": e})),
            attribute_value().prop_map(|v| wrap("Value", v)),
            attribute_value().prop_map(|v| {
                let mut m = wrap("Value", v);
                if let Some(o) = m.as_object_mut() {
                    o.insert("Exists".into(), json!(false));
                }
                m
            }),
            junk_json(),
        ],
        0..4,
    )
    .prop_map(|m| Json::Object(m.into_iter().collect()))
    .boxed()
}

fn legacy_updates() -> BoxedStrategy<Json> {
    prop::collection::btree_map(
        ident(),
        prop_oneof![
            (
                prop::sample::select(&["PUT", "ADD", "DELETE", "BAD"][..]),
                attribute_value()
            )
                .prop_map(|(a, v)| {
                    let mut m = wrap("Value", v);
                    if let Some(o) = m.as_object_mut() {
                        o.insert("Action".into(), json!(a));
                    }
                    m
                }),
            Just(json!({"Action": "DELETE"})),
            junk_json(),
        ],
        0..4,
    )
    .prop_map(|m| Json::Object(m.into_iter().collect()))
    .boxed()
}

/// The members each operation reads (any other member is also tried, rarely).
fn members(op: &str) -> &'static [&'static str] {
    match op {
        "PutItem" => &[
            "TableName",
            "Item",
            "ConditionExpression",
            "ExpressionAttributeNames",
            "ExpressionAttributeValues",
            "ReturnValues",
            "Expected",
            "ConditionalOperator",
            "ReturnConsumedCapacity",
            "ReturnValuesOnConditionCheckFailure",
        ],
        "GetItem" => &[
            "TableName",
            "Key",
            "ProjectionExpression",
            "ExpressionAttributeNames",
            "ConsistentRead",
            "AttributesToGet",
            "ReturnConsumedCapacity",
        ],
        "UpdateItem" => &[
            "TableName",
            "Key",
            "UpdateExpression",
            "ConditionExpression",
            "ExpressionAttributeNames",
            "ExpressionAttributeValues",
            "ReturnValues",
            "AttributeUpdates",
            "Expected",
            "ConditionalOperator",
        ],
        "DeleteItem" => &[
            "TableName",
            "Key",
            "ConditionExpression",
            "ExpressionAttributeNames",
            "ExpressionAttributeValues",
            "ReturnValues",
            "Expected",
        ],
        "Query" => &[
            "TableName",
            "IndexName",
            "KeyConditionExpression",
            "FilterExpression",
            "ProjectionExpression",
            "ExpressionAttributeNames",
            "ExpressionAttributeValues",
            "Limit",
            "ExclusiveStartKey",
            "ScanIndexForward",
            "Select",
            "ConsistentRead",
            "KeyConditions",
            "QueryFilter",
            "AttributesToGet",
            "ConditionalOperator",
        ],
        "Scan" => &[
            "TableName",
            "IndexName",
            "FilterExpression",
            "ProjectionExpression",
            "ExpressionAttributeNames",
            "ExpressionAttributeValues",
            "Limit",
            "ExclusiveStartKey",
            "Segment",
            "TotalSegments",
            "Select",
            "ScanFilter",
            "AttributesToGet",
            "ConditionalOperator",
        ],
        "DescribeTable" | "DescribeTimeToLive" => &["TableName"],
        // Dropping a fixture table costs a re-creation: mostly drop the fuzz_ tables.
        "DeleteTable" => &["DroppedTableName"],
        "UpdateTable" => &["TableName", "StreamSpecification"],
        "UpdateTimeToLive" => &["TableName", "TimeToLiveSpecification"],
        "TagResource" => &["ResourceArn", "Tags"],
        "UntagResource" => &["ResourceArn", "TagKeys"],
        "ListTagsOfResource" => &["ResourceArn"],
        "ListTables" => &["Limit", "ExclusiveStartTableName"],
        _ => &["TableName"],
    }
}

/// Members most requests carry; the others are optional.
const REQUIRED: &[&str] = &[
    "TableName",
    "DroppedTableName",
    "Key",
    "Item",
    "KeyConditionExpression",
    "UpdateExpression",
    "ResourceArn",
];

/// A body for `op`: its required members almost always, each optional one now and then (so
/// most requests get past the first checks), plus the odd unknown member.
fn body_for(op: &'static str) -> BoxedStrategy<Json> {
    let fields: Vec<BoxedStrategy<Option<(String, Json)>>> = members(op)
        .iter()
        .map(|&name| {
            let p = if REQUIRED.contains(&name) { 0.95 } else { 0.3 };
            // `DroppedTableName` is a TableName drawn from another pool.
            let member = if name == "DroppedTableName" {
                "TableName"
            } else {
                name
            };
            prop::option::weighted(p, field(name).prop_map(move |v| (member.to_owned(), v))).boxed()
        })
        .collect();
    (
        fields,
        prop::option::of(("[A-Z][a-zA-Z]{0,10}", junk_json())),
    )
        .prop_map(|(fields, extra)| {
            let mut m: Map<String, Json> = fields.into_iter().flatten().collect();
            if let Some((k, v)) = extra {
                m.entry(k).or_insert(v);
            }
            Json::Object(m)
        })
        .boxed()
}

/// A BatchWriteItem / BatchGetItem / TransactWriteItems / TransactGetItems body made of the
/// single-item bodies above.
fn multi_item_body(op: &'static str) -> BoxedStrategy<Json> {
    match op {
        "BatchWriteItem" => prop::collection::vec(
            (
                table_name(),
                prop::collection::vec(
                    prop_oneof![
                        item().prop_map(|i| wrap("PutRequest", wrap("Item", i))),
                        key().prop_map(|k| wrap("DeleteRequest", wrap("Key", k))),
                        junk_json(),
                    ],
                    0..4,
                ),
            ),
            0..3,
        )
        .prop_map(|tables| {
            let m: Map<String, Json> = tables
                .into_iter()
                .map(|(t, r)| (t.as_str().unwrap_or("tbl").to_owned(), Json::Array(r)))
                .collect();
            wrap("RequestItems", Json::Object(m))
        })
        .boxed(),
        "BatchGetItem" => prop::collection::vec(
            (
                table_name(),
                prop::collection::vec(key(), 0..4),
                prop::option::of(field("ProjectionExpression")),
            ),
            0..3,
        )
        .prop_map(|tables| {
            let m: Map<String, Json> = tables
                .into_iter()
                .map(|(t, keys, p)| {
                    let mut spec = wrap("Keys", Json::Array(keys));
                    if let (Some(p), Some(o)) = (p, spec.as_object_mut()) {
                        o.insert("ProjectionExpression".into(), p);
                    }
                    (t.as_str().unwrap_or("tbl").to_owned(), spec)
                })
                .collect();
            wrap("RequestItems", Json::Object(m))
        })
        .boxed(),
        "TransactWriteItems" => (
            prop::collection::vec(
                prop_oneof![
                    body_for("PutItem").prop_map(|b| wrap("Put", b)),
                    body_for("UpdateItem").prop_map(|b| wrap("Update", b)),
                    body_for("DeleteItem").prop_map(|b| wrap("Delete", b)),
                    body_for("DeleteItem").prop_map(|b| wrap("ConditionCheck", b)),
                    junk_json(),
                ],
                0..5,
            ),
            prop::option::of(field("ClientRequestToken")),
        )
            .prop_map(|(items, token)| {
                let mut b = wrap("TransactItems", Json::Array(items));
                if let (Some(t), Some(o)) = (token, b.as_object_mut()) {
                    o.insert("ClientRequestToken".into(), t);
                }
                b
            })
            .boxed(),
        _ => prop::collection::vec(
            prop_oneof![
                body_for("GetItem").prop_map(|b| wrap("Get", b)),
                junk_json()
            ],
            0..5,
        )
        .prop_map(|items| wrap("TransactItems", Json::Array(items)))
        .boxed(),
    }
}

fn key_schema() -> BoxedStrategy<Json> {
    prop::collection::vec(
        (
            ident(),
            prop_oneof![4 => Just(json!("HASH")), 3 => Just(json!("RANGE")), 1 => junk_json()],
        )
            .prop_map(|(n, t)| json!({"AttributeName": n, "KeyType": t})),
        0..10,
    )
    .prop_map(|v| json!(v))
    .boxed()
}

fn projection_spec() -> BoxedStrategy<Json> {
    prop_oneof![
        Just(json!({"ProjectionType": "ALL"})),
        Just(json!({"ProjectionType": "KEYS_ONLY"})),
        prop::collection::vec(ident(), 0..4)
            .prop_map(|n| json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": n})),
        junk_json(),
    ]
    .boxed()
}

/// A CreateTable body: key schemas, attribute definitions and indexes from small pools, so
/// that valid, almost valid and contradictory schemas all occur.
fn create_table_body() -> BoxedStrategy<Json> {
    let index = (
        prop_oneof![
            prop::sample::select(&["gsi", "lsi", "gsi2", "", "bad name!"][..])
                .prop_map(|s| json!(s)),
            junk_json()
        ],
        key_schema(),
        projection_spec(),
    )
        .prop_map(|(n, k, p)| json!({"IndexName": n, "KeySchema": k, "Projection": p}));
    (
        prop_oneof![
            4 => prop::sample::select(&["fuzz_a", "fuzz_b"][..]).prop_map(|s| json!(s)),
            1 => table_name(),
        ],
        key_schema(),
        prop::collection::vec(
            (ident(), prop_oneof![4 => prop::sample::select(&["S", "N", "B"][..]).prop_map(|s| json!(s)), 1 => Just(json!("BOOL")), 1 => junk_json()])
                .prop_map(|(n, t)| json!({"AttributeName": n, "AttributeType": t})),
            0..8,
        ),
        prop::option::of(prop::collection::vec(index.clone(), 0..3)),
        prop::option::of(prop::collection::vec(index, 0..3)),
        prop::option::of(field("StreamSpecification")),
        enum_of(&["PAY_PER_REQUEST", "PROVISIONED"]),
    )
        .prop_map(|(name, keys, defs, gsis, lsis, stream, billing)| {
            let mut b = json!({"TableName": name, "KeySchema": keys, "AttributeDefinitions": defs, "BillingMode": billing});
            if let Some(o) = b.as_object_mut() {
                if let Some(g) = gsis {
                    o.insert("GlobalSecondaryIndexes".into(), json!(g));
                }
                if let Some(l) = lsis {
                    o.insert("LocalSecondaryIndexes".into(), json!(l));
                }
                if let Some(s) = stream {
                    o.insert("StreamSpecification".into(), s);
                }
                if billing == json!("PROVISIONED") {
                    o.insert("ProvisionedThroughput".into(), json!({"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}));
                }
            }
            b
        })
        .boxed()
}

/// Operations and how often each is generated: item reads and writes most.
const OPERATIONS: &[(&str, u32)] = &[
    ("CreateTable", 1),
    ("PutItem", 6),
    ("GetItem", 3),
    ("UpdateItem", 6),
    ("DeleteItem", 3),
    ("Query", 4),
    ("Scan", 3),
    ("BatchWriteItem", 4),
    ("BatchGetItem", 2),
    ("TransactWriteItems", 4),
    ("TransactGetItems", 2),
    ("DescribeTable", 1),
    ("UpdateTable", 1),
    ("DeleteTable", 1),
    ("ListTables", 1),
    ("UpdateTimeToLive", 1),
    ("DescribeTimeToLive", 1),
    ("TagResource", 1),
    ("UntagResource", 1),
    ("ListTagsOfResource", 1),
];

fn operation() -> BoxedStrategy<&'static str> {
    let ops: Vec<(u32, BoxedStrategy<&'static str>)> = OPERATIONS
        .iter()
        .map(|&(op, weight)| (weight, Just(op).boxed()))
        .collect();
    prop::strategy::Union::new_weighted(ops).boxed()
}

/// A generated request; failures print it as the operation and its compact JSON body.
#[derive(Clone)]
pub struct Req(pub &'static str, pub Json);

impl std::fmt::Debug for Req {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, shortened(&self.1))
    }
}

/// JSON with long strings cut to their first characters and length, for failure reports.
pub fn shortened(v: &Json) -> Json {
    match v {
        Json::String(s) if s.chars().count() > 120 => {
            let head: String = s.chars().take(40).collect();
            Json::String(format!("{head}... ({} chars)", s.chars().count()))
        }
        Json::Array(a) => Json::Array(a.iter().map(shortened).collect()),
        Json::Object(o) => Json::Object(o.iter().map(|(k, v)| (k.clone(), shortened(v))).collect()),
        other => other.clone(),
    }
}

/// One DynamoDB request: operation name and body.
pub fn request() -> BoxedStrategy<Req> {
    operation()
        .prop_flat_map(|op| {
            let body = match op {
                "BatchWriteItem" | "BatchGetItem" | "TransactWriteItems" | "TransactGetItems" => {
                    multi_item_body(op)
                }
                "CreateTable" => create_table_body(),
                _ => body_for(op),
            };
            (Just(op), body, any::<u8>())
        })
        .prop_map(|(op, mut body, coin)| {
            if coin < 200 {
                repair_placeholders(&mut body);
            }
            Req(op, body)
        })
        .boxed()
}

/// Makes ExpressionAttributeNames/Values define exactly the placeholders the request's
/// expressions use (here and in each TransactItems member), so that most generated requests
/// get past the placeholder checks to the code behind them.
fn repair_placeholders(body: &mut Json) {
    if let Some(items) = body.get_mut("TransactItems").and_then(Json::as_array_mut) {
        for member in items.iter_mut().filter_map(Json::as_object_mut) {
            for inner in member.values_mut() {
                repair_placeholders(inner);
            }
        }
    }
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    let mut used: Vec<String> = Vec::new();
    for (k, v) in obj.iter() {
        if let (true, Some(text)) = (k.ends_with("Expression"), v.as_str()) {
            let mut chars = text.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if c == '#' || c == ':' {
                    let mut end = i + 1;
                    while let Some(&(j, d)) = chars.peek() {
                        if d.is_ascii_alphanumeric() || d == '_' {
                            end = j + d.len_utf8();
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    used.push(text[i..end].to_owned());
                }
            }
        }
    }
    let mut names = Map::new();
    let mut values = Map::new();
    for p in used {
        if p.len() < 2 {
            continue;
        }
        if p.starts_with('#') {
            let n = match p.as_str() {
                "#n1" => "b",
                "#n2" => "pk",
                _ => "a",
            };
            names.insert(p, json!(n));
        } else {
            let v = match p.as_str() {
                ":v1" => json!({"N": "1"}),
                ":v2" => json!({"L": [{"S": "y"}, {"N": "2"}]}),
                ":v3" => json!({"SS": ["a", "b"]}),
                ":v4" => json!({"M": {"a": {"BOOL": true}}}),
                _ => json!({"S": "x"}),
            };
            values.insert(p, v);
        }
    }
    obj.remove("ExpressionAttributeNames");
    obj.remove("ExpressionAttributeValues");
    if !names.is_empty() {
        obj.insert("ExpressionAttributeNames".into(), Json::Object(names));
    }
    if !values.is_empty() {
        obj.insert("ExpressionAttributeValues".into(), Json::Object(values));
    }
}
