//! What a DynamoDB or DynamoDB Streams request touches, for authorization: the action, the
//! resource (table, index, stream or every resource), and the values of DynamoDB's
//! fine-grained condition keys (`dynamodb:LeadingKeys`, `dynamodb:Attributes`,
//! `dynamodb:Select`, `dynamodb:ReturnValues`). The engine knows requests and key schemas; the
//! policies that judge these accesses live with the server's principals, outside the engine.
//!
//! A request that cannot be read here (malformed JSON, a missing table) still yields its
//! action and whatever resource it names; the operation itself then fails with DynamoDB's
//! error. Values are read the way the operations read them (the same key-condition parser
//! against the same key schema), so an access and the operation that follows agree.

use serde_json::{Map, Value as Json};

use crate::expr::{ExprInput, KeyCondition};
use crate::request::{local_table_name, Request};
use crate::store::Engine;
use crate::value::AttributeValue;

/// The resource an access is to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// Every resource (`*`): ListTables, ListStreams, DescribeEndpoints, DescribeLimits.
    All,
    /// A table, by its name in this region and account.
    Table(String),
    /// An index of a table.
    Index { table: String, index: String },
    /// A resource named by an ARN in the request (a stream, a tagged resource).
    Arn(String),
}

/// One authorization check a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The action without its service prefix (`GetItem`, `ConditionCheckItem`, `GetRecords`).
    pub action: &'static str,
    pub resource: Resource,
    /// The partition key values the request reads or writes (`dynamodb:LeadingKeys`); None
    /// when the request names no partition (Scan, DescribeTable).
    pub leading_keys: Option<Vec<String>>,
    /// The top-level attribute names the request names (`dynamodb:Attributes`): item
    /// attributes written, projected attributes, updated attributes, key attributes.
    pub attributes: Option<Vec<String>>,
    /// `Select` (`dynamodb:Select`).
    pub select: Option<String>,
    /// `ReturnValues` (`dynamodb:ReturnValues`).
    pub return_values: Option<String>,
}

impl Access {
    fn new(action: &'static str, resource: Resource) -> Access {
        Access {
            action,
            resource,
            leading_keys: None,
            attributes: None,
            select: None,
            return_values: None,
        }
    }
}

/// The DynamoDB operations an access can name, as `&'static str` for [`Access::action`].
const OPERATIONS: &[&str] = &[
    "CreateTable",
    "DescribeTable",
    "ListTables",
    "UpdateTable",
    "DeleteTable",
    "PutItem",
    "GetItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
    "TagResource",
    "UntagResource",
    "ListTagsOfResource",
    "UpdateTimeToLive",
    "DescribeTimeToLive",
    "DescribeEndpoints",
    "DescribeLimits",
    "ListStreams",
    "DescribeStream",
    "GetShardIterator",
    "GetRecords",
];

/// The static name of an operation; unknown operations are authorized as what they claim to
/// be only if they are known (an unknown one is answered UnknownOperationException anyway).
fn static_name(op: &str) -> Option<&'static str> {
    OPERATIONS.iter().copied().find(|o| *o == op)
}

impl Engine {
    /// The accesses a DynamoDB (`streams == false`) or DynamoDB Streams request needs. An
    /// unknown operation needs none (it is refused as unknown).
    pub fn accesses(&self, operation: &str, body: &[u8], streams: bool) -> Vec<Access> {
        let Some(action) = static_name(operation) else {
            return Vec::new();
        };
        let req = Request::parse(body).unwrap_or_else(|_| Request::from_map(Map::new()));
        let resolver = Resolver { engine: self };
        if streams {
            return vec![stream_access(action, &req)];
        }
        match action {
            "ListTables" | "DescribeEndpoints" | "DescribeLimits" => {
                vec![Access::new(action, Resource::All)]
            }
            "TagResource" | "UntagResource" | "ListTagsOfResource" => {
                let arn = req.str("ResourceArn").ok().flatten().unwrap_or_default();
                vec![Access::new(action, resolver.tagged(arn))]
            }
            "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem" => {
                let table = resolver.table_name(req.raw("TableName"));
                vec![resolver.item_access(action, &table, req.body())]
            }
            "Query" | "Scan" => vec![resolver.read_access(action, &req)],
            "BatchGetItem" | "BatchWriteItem" => resolver.batch_accesses(action, &req),
            "TransactWriteItems" | "TransactGetItems" => resolver.transact_accesses(&req),
            _ => {
                let table = resolver.table_name(req.raw("TableName"));
                vec![Access::new(action, Resource::Table(table))]
            }
        }
    }
}

/// A DynamoDB Streams request: its stream ARN (GetRecords: the one its iterator names).
fn stream_access(action: &'static str, req: &Request) -> Access {
    let arn = match action {
        "ListStreams" => None,
        "GetRecords" => req
            .str("ShardIterator")
            .ok()
            .flatten()
            .map(|it| it.split('|').next().unwrap_or_default().to_owned()),
        _ => req.str("StreamArn").ok().flatten().map(str::to_owned),
    };
    match arn {
        Some(arn) => Access::new(action, Resource::Arn(arn)),
        None => Access::new(action, Resource::All),
    }
}

struct Resolver<'a> {
    engine: &'a Engine,
}

impl Resolver<'_> {
    /// A TableName member as this region's table name (a table ARN of this region and account
    /// becomes the name; anything else is kept as given).
    fn table_name(&self, v: Option<&Json>) -> String {
        let name = v.and_then(Json::as_str).unwrap_or_default();
        local_table_name(name, self.engine.region(), self.engine.account()).to_owned()
    }

    /// The resource a tagging request names: the table its ARN names in this region and
    /// account (whatever partition the ARN claims: the tag operations find the table by
    /// region, account and name), else the ARN as given.
    fn tagged(&self, arn: &str) -> Resource {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if let [_, _, "dynamodb", region, account, resource] = parts[..] {
            let name = resource.strip_prefix("table/").unwrap_or_default();
            if region == self.engine.region()
                && account == self.engine.account()
                && !name.is_empty()
                && !name.contains('/')
            {
                return Resource::Table(name.to_owned());
            }
        }
        Resource::Arn(arn.to_owned())
    }

    /// The partition key attribute of a table, if the table exists.
    fn partition_key(&self, table: &str) -> Option<String> {
        let t = self.engine.table(table)?;
        Some(t.meta.primary_key().hash.name.clone())
    }

    /// A single-item request (`Key` or `Item`) or a transaction's element.
    fn item_access(&self, action: &'static str, table: &str, body: &Map<String, Json>) -> Access {
        let mut a = Access::new(action, Resource::Table(table.to_owned()));
        // Exactly the member the operation reads: a PutItem writes `Item` whatever `Key` says.
        let member = if action == "PutItem" { "Item" } else { "Key" };
        let item = body.get(member).and_then(Json::as_object);
        if let Some(pk) = self.partition_key(table) {
            // No readable key would mean no partition value at all, which a LeadingKeys
            // condition with ForAllValues lets through: the check gets a value no policy names.
            let value = item.and_then(|i| i.get(&pk)).and_then(key_string);
            a.leading_keys = Some(vec![value.unwrap_or_else(|| UNREADABLE_KEY.to_owned())]);
        }
        let mut attrs: Vec<String> = item
            .map(|i| i.keys().cloned().collect())
            .unwrap_or_default();
        attrs.extend(named_attributes(body));
        a.attributes = Some(dedup(attrs));
        a.return_values = body
            .get("ReturnValues")
            .and_then(Json::as_str)
            .map(str::to_owned);
        // A failed condition can return the old item too.
        if let Some(rv) = body
            .get("ReturnValuesOnConditionCheckFailure")
            .and_then(Json::as_str)
            .filter(|rv| *rv != "NONE")
        {
            a.return_values = Some(rv.to_owned());
        }
        if action == "GetItem" {
            a.select = Some(select_of(body));
        }
        a
    }

    /// Query or Scan, on the table or one of its indexes.
    fn read_access(&self, action: &'static str, req: &Request) -> Access {
        let table = self.table_name(req.raw("TableName"));
        let index = req.str("IndexName").ok().flatten().map(str::to_owned);
        let resource = match &index {
            Some(index) => Resource::Index {
                table: table.clone(),
                index: index.clone(),
            },
            None => Resource::Table(table.clone()),
        };
        let mut a = Access::new(action, resource);
        if action == "Query" {
            a.leading_keys = Some(self.query_partition(&table, index.as_deref(), req));
        }
        let names = named_attributes(req.body());
        a.attributes = (!names.is_empty()).then(|| dedup(names));
        a.select = Some(select_of(req.body()));
        a
    }

    /// The partition key values a Query asks for (KeyConditionExpression or KeyConditions).
    fn query_partition(&self, table: &str, index: Option<&str>, req: &Request) -> Vec<String> {
        let Some(t) = self.engine.table(table) else {
            return Vec::new();
        };
        let (hash, range) = match index {
            Some(name) => match t.index(name) {
                Some(ix) => (ix.meta.hash_keys.clone(), ix.meta.range_keys.clone()),
                None => return Vec::new(),
            },
            None => {
                let pk = t.meta.primary_key();
                (
                    vec![pk.hash.clone()],
                    pk.range.into_iter().cloned().collect(),
                )
            }
        };
        if let Ok(Some(expr)) = req.str("KeyConditionExpression") {
            let (Ok(names), Ok(values)) = (req.names(), req.values()) else {
                return Vec::new();
            };
            let input = ExprInput::new(names.as_ref(), values.as_ref());
            let pair = |k: &crate::key_schema::KeyAttr| (k.name.clone(), k.ty.as_str());
            let hash: Vec<(String, &str)> = hash.iter().map(pair).collect();
            let range: Vec<(String, &str)> = range.iter().map(pair).collect();
            let h: Vec<(&str, &str)> = hash.iter().map(|(n, t)| (n.as_str(), *t)).collect();
            let r: Vec<(&str, &str)> = range.iter().map(|(n, t)| (n.as_str(), *t)).collect();
            return match KeyCondition::parse_schema(expr, &input, &h, &r) {
                Ok(kc) => vec![attribute_string(&kc.partition.1)]
                    .into_iter()
                    .flatten()
                    .collect(),
                Err(_) => Vec::new(),
            };
        }
        // Legacy KeyConditions: {"<attr>": {"ComparisonOperator": "EQ", "AttributeValueList": [v]}}.
        let Some(first) = hash.first() else {
            return Vec::new();
        };
        req.raw("KeyConditions")
            .and_then(|c| c.get(&first.name))
            .and_then(|c| c.get("AttributeValueList"))
            .and_then(|l| l.get(0))
            .and_then(key_string)
            .into_iter()
            .collect()
    }

    /// BatchGetItem / BatchWriteItem: one access per table, with every item's partition key.
    fn batch_accesses(&self, action: &'static str, req: &Request) -> Vec<Access> {
        let Some(tables) = req.raw("RequestItems").and_then(Json::as_object) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, spec) in tables {
            let table = self.table_name(Some(&Json::String(name.clone())));
            let pk = self.partition_key(&table);
            let mut keys = Vec::new();
            let mut attrs = Vec::new();
            let mut items: Vec<&Map<String, Json>> = Vec::new();
            if action == "BatchGetItem" {
                if let Some(list) = spec.get("Keys").and_then(Json::as_array) {
                    items.extend(list.iter().filter_map(Json::as_object));
                }
                if let Some(spec) = spec.as_object() {
                    attrs.extend(named_attributes(spec));
                }
            } else if let Some(list) = spec.as_array() {
                for w in list {
                    let item = w
                        .get("PutRequest")
                        .and_then(|p| p.get("Item"))
                        .or_else(|| w.get("DeleteRequest").and_then(|d| d.get("Key")));
                    items.extend(item.and_then(Json::as_object));
                }
            }
            for item in items {
                attrs.extend(item.keys().cloned());
                if let Some(v) = pk.as_ref().and_then(|pk| item.get(pk)) {
                    keys.extend(key_string(v));
                }
            }
            let mut a = Access::new(action, Resource::Table(table));
            a.leading_keys = pk.map(|_| keys);
            a.attributes = Some(dedup(attrs));
            if action == "BatchGetItem" {
                a.select = spec.as_object().map(select_of);
            }
            out.push(a);
        }
        out
    }

    /// TransactWriteItems / TransactGetItems: each element needs its own action on its own
    /// table (PutItem, UpdateItem, DeleteItem, ConditionCheckItem, GetItem), as in DynamoDB.
    fn transact_accesses(&self, req: &Request) -> Vec<Access> {
        let Some(list) = req.raw("TransactItems").and_then(Json::as_array) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for element in list {
            let Some(element) = element.as_object() else {
                continue;
            };
            for (kind, action) in [
                ("Put", "PutItem"),
                ("Update", "UpdateItem"),
                ("Delete", "DeleteItem"),
                ("ConditionCheck", "ConditionCheckItem"),
                ("Get", "GetItem"),
            ] {
                if let Some(body) = element.get(kind).and_then(Json::as_object) {
                    let table = self.table_name(body.get("TableName"));
                    out.push(self.item_access(action, &table, body));
                }
            }
        }
        out
    }
}

/// The partition value a request whose key cannot be read is checked with: no policy names
/// it, so a LeadingKeys condition refuses the request (the operation would refuse it anyway).
const UNREADABLE_KEY: &str = "\u{0}unreadable key";

/// What a read returns (`dynamodb:Select`): `Select` if given, else SPECIFIC_ATTRIBUTES with a
/// projection, else ALL_ATTRIBUTES (DynamoDB's default), so that a policy restricting
/// attributes can require a projection.
fn select_of(body: &Map<String, Json>) -> String {
    if let Some(select) = body.get("Select").and_then(Json::as_str) {
        return select.to_owned();
    }
    let projected =
        body.contains_key("ProjectionExpression") || body.contains_key("AttributesToGet");
    if projected {
        "SPECIFIC_ATTRIBUTES"
    } else {
        "ALL_ATTRIBUTES"
    }
    .to_owned()
}

/// The top-level attribute names a request's expressions and legacy parameters name:
/// ProjectionExpression, UpdateExpression (and every ExpressionAttributeNames value, which
/// covers names hidden behind placeholders), AttributesToGet, AttributeUpdates.
fn named_attributes(body: &Map<String, Json>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(names) = body
        .get("ExpressionAttributeNames")
        .and_then(Json::as_object)
    {
        out.extend(names.values().filter_map(Json::as_str).map(str::to_owned));
    }
    for field in ["ProjectionExpression", "UpdateExpression"] {
        if let Some(expr) = body.get(field).and_then(Json::as_str) {
            out.extend(bare_names(expr));
        }
    }
    if let Some(list) = body.get("AttributesToGet").and_then(Json::as_array) {
        out.extend(list.iter().filter_map(Json::as_str).map(str::to_owned));
    }
    if let Some(updates) = body.get("AttributeUpdates").and_then(Json::as_object) {
        out.extend(updates.keys().cloned());
    }
    out
}

/// The top-level attribute names written directly (not as `#placeholders`) in an expression:
/// each path's first element. Keywords of update expressions (SET, REMOVE, ADD, DELETE) and
/// functions are not names.
fn bare_names(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "SET",
        "REMOVE",
        "ADD",
        "DELETE",
        "if_not_exists",
        "list_append",
    ];
    let mut out = Vec::new();
    let mut chars = expr.char_indices().peekable();
    // Whether the previous significant character continues a path (`.`), so that nested
    // names are skipped.
    let mut after_dot = false;
    while let Some((start, c)) = chars.next() {
        if c.is_ascii_alphabetic() || c == '_' {
            let mut end = start + c.len_utf8();
            while let Some(&(i, c)) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    end = i + c.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = expr.get(start..end).unwrap_or_default();
            let function_call = chars.peek().is_some_and(|&(_, c)| c == '(');
            if !after_dot
                && !function_call
                && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
            {
                out.push(word.to_owned());
            }
            after_dot = false;
        } else if c == ':' || c == '#' {
            // A placeholder: skip its characters.
            while chars
                .peek()
                .is_some_and(|&(_, c)| c.is_ascii_alphanumeric() || c == '_')
            {
                chars.next();
            }
            after_dot = false;
        } else if c == '.' {
            after_dot = true;
        } else if !c.is_whitespace() {
            after_dot = false;
        }
    }
    out
}

/// A key attribute value in wire JSON as the string IAM compares (`S`, `N`, `B` base64).
fn key_string(v: &Json) -> Option<String> {
    AttributeValue::from_json(v)
        .ok()
        .and_then(|v| attribute_string(&v))
}

fn attribute_string(v: &AttributeValue) -> Option<String> {
    match v {
        AttributeValue::S(s) => Some(s.clone()),
        AttributeValue::N(n) => Some(n.to_string()),
        AttributeValue::B(_) => v
            .to_json()
            .get("B")
            .and_then(Json::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::bare_names;

    #[test]
    fn bare_names_are_top_level_path_heads() {
        assert_eq!(
            bare_names("SET a = :v, b.c = if_not_exists(d, :z) REMOVE e[1], #f ADD g :n"),
            vec!["a", "b", "d", "e", "g"]
        );
        assert_eq!(bare_names("pk, info.rating, #n"), vec!["pk", "info"]);
        assert!(bare_names("").is_empty());
    }
}
