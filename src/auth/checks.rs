//! The authorization checks a request needs: an IAM action, a resource ARN and the condition
//! keys' values. DynamoDB and Streams requests get theirs from the engine
//! (`Engine::accesses`: tables, indexes, streams, LeadingKeys, Attributes); Lambda requests
//! from their route; `/metrics` is `tributary:GetMetrics` on `*`.

use tributary_engine::access::{Access, Resource};
use tributary_engine::Engine;
use tributary_runtime::names::{self, NameUse};

use super::policy::Context;

/// One authorization check.
#[derive(Debug, Clone)]
pub struct Check {
    /// `service:Action`, e.g. `dynamodb:GetItem`.
    pub action: String,
    /// The resource's ARN, or `*`.
    pub resource: String,
    /// Condition keys and their values.
    pub context: Context,
}

impl Check {
    fn new(action: String, resource: String) -> Check {
        Check {
            action,
            resource,
            context: Context::default(),
        }
    }
}

/// `GET /metrics`.
pub fn metrics() -> Check {
    Check::new("tributary:GetMetrics".to_owned(), "*".to_owned())
}

/// A DynamoDB (`streams == false`) or DynamoDB Streams request.
pub fn dynamodb(engine: &Engine, operation: &str, body: &[u8], streams: bool) -> Vec<Check> {
    let (region, account) = (engine.region(), engine.account());
    engine
        .accesses(operation, body, streams)
        .into_iter()
        .map(|a| from_access(a, region, account))
        .collect()
}

fn from_access(a: Access, region: &str, account: &str) -> Check {
    let resource = match &a.resource {
        Resource::All => "*".to_owned(),
        Resource::Table(t) => format!("arn:aws:dynamodb:{region}:{account}:table/{t}"),
        Resource::Index { table, index } => {
            format!("arn:aws:dynamodb:{region}:{account}:table/{table}/index/{index}")
        }
        Resource::Arn(arn) => arn.clone(),
    };
    let mut c = Check::new(format!("dynamodb:{}", a.action), resource);
    if let Some(keys) = a.leading_keys {
        c.context.insert("dynamodb:LeadingKeys", keys);
    }
    if let Some(attributes) = a.attributes {
        c.context.insert("dynamodb:Attributes", attributes);
    }
    if let Some(select) = a.select {
        c.context.insert("dynamodb:Select", vec![select]);
    }
    if let Some(rv) = a.return_values {
        c.context.insert("dynamodb:ReturnValues", vec![rv]);
    }
    c
}

/// A Lambda API request: its method, its path as received (percent-encoded) and its body.
/// Paths that name no operation need no check (they are answered UnknownOperationException).
pub fn lambda(method: &str, path: &str, body: &[u8], region: &str, account: &str) -> Vec<Check> {
    let segments: Vec<String> = path
        .trim_end_matches('/')
        .split('/')
        .skip(1)
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let function = |name: &str| function_arn(name, region, account);
    let json = || serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
    let check = |action: &str, resource: String| Check::new(format!("lambda:{action}"), resource);
    let mut out = Vec::new();
    // HEAD answers what GET would (status and length): it needs the same right.
    let method = if method == "HEAD" { "GET" } else { method };
    match (method, segments.as_slice()) {
        ("POST", ["2015-03-31", "functions"]) => {
            let body = json();
            let name = body["FunctionName"].as_str().unwrap_or_default();
            out.push(check("CreateFunction", function(name)));
            out.extend(pass_role(&body, account));
        }
        ("GET", ["2015-03-31", "functions"]) => out.push(check("ListFunctions", "*".to_owned())),
        ("GET", ["2015-03-31", "functions", name]) => {
            out.push(check("GetFunction", function(name)));
        }
        ("DELETE", ["2015-03-31", "functions", name]) => {
            out.push(check("DeleteFunction", function(name)));
        }
        ("GET", ["2015-03-31", "functions", name, "configuration"]) => {
            out.push(check("GetFunctionConfiguration", function(name)));
        }
        ("PUT", ["2015-03-31", "functions", name, "configuration"]) => {
            out.push(check("UpdateFunctionConfiguration", function(name)));
            out.extend(pass_role(&json(), account));
        }
        ("PUT", ["2015-03-31", "functions", name, "code"]) => {
            out.push(check("UpdateFunctionCode", function(name)));
        }
        ("POST", ["2015-03-31", "functions", name, "invocations"]) => {
            out.push(check("InvokeFunction", function(name)));
        }
        ("POST", ["2015-03-31", "event-source-mappings"]) => {
            let body = json();
            let mut c = check("CreateEventSourceMapping", "*".to_owned());
            if let Some(name) = body["FunctionName"].as_str() {
                c.context.insert("lambda:FunctionArn", vec![function(name)]);
            }
            out.push(c);
            out.extend(mapping_data_access(&body));
        }
        ("GET", ["2015-03-31", "event-source-mappings"]) => {
            out.push(check("ListEventSourceMappings", "*".to_owned()));
        }
        (method, ["2015-03-31", "event-source-mappings", uuid]) => {
            let action = match method {
                "GET" => "GetEventSourceMapping",
                "PUT" => "UpdateEventSourceMapping",
                "DELETE" => "DeleteEventSourceMapping",
                _ => return out,
            };
            let mut c = check(
                action,
                format!("arn:aws:lambda:{region}:{account}:event-source-mapping:{uuid}"),
            );
            if method == "PUT" {
                let body = json();
                if let Some(name) = body["FunctionName"].as_str() {
                    c.context.insert("lambda:FunctionArn", vec![function(name)]);
                }
                out.extend(mapping_data_access(&body));
            }
            out.push(c);
        }
        _ => {}
    }
    out
}

/// Giving a function a role is `iam:PassRole` on that role, as in AWS: a user who may create
/// functions cannot make one that runs with more rights than it was allowed to pass. The role
/// resolves (`Auth::role`) only as exactly a user's name or exactly its ARN, which is what is
/// checked here.
fn pass_role(body: &serde_json::Value, account: &str) -> Option<Check> {
    let role = body["Role"].as_str().filter(|r| !r.is_empty())?;
    let arn = if role.starts_with("arn:") {
        role.to_owned()
    } else {
        format!("arn:aws:iam::{account}:user/{role}")
    };
    Some(Check::new("iam:PassRole".to_owned(), arn))
}

/// A mapping reads its source stream and may write failed batches to a table: the caller
/// needs those rights itself (the poller and the destination run outside any role).
fn mapping_data_access(body: &serde_json::Value) -> Vec<Check> {
    let dynamodb =
        |action: &str, arn: &str| Check::new(format!("dynamodb:{action}"), arn.to_owned());
    let mut out = Vec::new();
    if let Some(stream) = body["EventSourceArn"].as_str() {
        for action in ["DescribeStream", "GetShardIterator", "GetRecords"] {
            out.push(dynamodb(action, stream));
        }
    }
    if let Some(table) = body["DestinationConfig"]["OnFailure"]["Destination"].as_str() {
        out.push(dynamodb("PutItem", table));
    }
    out
}

/// A function's ARN from a name, partial ARN or ARN (with its qualifier, if any), as IAM
/// names it; a name that does not parse is used as the last ARN element as given.
fn function_arn(name: &str, region: &str, account: &str) -> String {
    match names::parse(name, NameUse::Qualified) {
        Ok(f) => match f.qualifier {
            Some(q) => format!("arn:aws:lambda:{region}:{account}:function:{}:{q}", f.name),
            None => format!("arn:aws:lambda:{region}:{account}:function:{}", f.name),
        },
        Err(_) => format!("arn:aws:lambda:{region}:{account}:function:{name}"),
    }
}
