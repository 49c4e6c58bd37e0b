//! The wire protocol without the SDK: the health check, error shapes, headers, unknown
//! operations and malformed bodies (plain HTTP/1.1 over a TCP stream).

mod common;

use common::*;

fn error_type(r: &RawResponse) -> &str {
    r.json["__type"]
        .as_str()
        .unwrap_or_else(|| panic!("no __type in {:?}", String::from_utf8_lossy(&r.body)))
}

/// Every response carries a request id and the CRC32 of its exact body bytes.
fn assert_standard_headers(r: &RawResponse) {
    let id = r
        .headers
        .get("x-amzn-requestid")
        .expect("x-amzn-RequestId header");
    assert!(!id.is_empty());
    let crc: u32 = r
        .headers
        .get("x-amz-crc32")
        .expect("x-amz-crc32 header")
        .parse()
        .expect("crc32 is a decimal u32");
    assert_eq!(
        crc,
        crc32fast::hash(&r.body),
        "x-amz-crc32 is the CRC32 of the body"
    );
    assert_eq!(
        r.headers.get("content-type").map(String::as_str),
        Some("application/x-amz-json-1.0")
    );
}

#[test]
fn health_check() {
    let server = Server::start();
    let (status, body) = http_get(server.addr, "/").expect("health");
    assert_eq!(status, 200);
    assert_eq!(body, format!("healthy: {}", server.addr));
}

#[test]
fn success_shape_and_headers() {
    let server = Server::start();
    let r = raw_call(server.addr, "DynamoDB_20120810.ListTables", "{}");
    assert_eq!(r.status, 200);
    assert_eq!(r.json, serde_json::json!({"TableNames": []}));
    assert_standard_headers(&r);
    let other = raw_call(server.addr, "DynamoDB_20120810.ListTables", "{}");
    assert_ne!(
        r.headers["x-amzn-requestid"], other.headers["x-amzn-requestid"],
        "request ids are unique"
    );

    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.CreateTable",
        r#"{"TableName":"raw","BillingMode":"PAY_PER_REQUEST",
            "KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],
            "AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}]}"#,
    );
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_standard_headers(&r);
    assert_eq!(r.json["TableDescription"]["TableName"], "raw");
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.PutItem",
        r#"{"TableName":"raw","Item":{"id":{"S":"a"},"n":{"N":"1.50"},"b":{"B":"AAEC"},"l":{"L":[{"NULL":true},{"BOOL":false}]}}}"#,
    );
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(
        r.json,
        serde_json::json!({}),
        "PutItem without ReturnValues answers {{}}"
    );
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.GetItem",
        r#"{"TableName":"raw","Key":{"id":{"S":"a"}}}"#,
    );
    assert_eq!(r.status, 200);
    assert_standard_headers(&r);
    assert_eq!(
        r.json,
        serde_json::json!({"Item": {"id": {"S": "a"}, "n": {"N": "1.5"}, "b": {"B": "AAEC"}, "l": {"L": [{"NULL": true}, {"BOOL": false}]}}})
    );
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.GetItem",
        r#"{"TableName":"raw","Key":{"id":{"S":"zz"}}}"#,
    );
    assert_eq!(
        r.json,
        serde_json::json!({}),
        "a missing item is an empty object"
    );
}

#[test]
fn error_shapes() {
    let server = Server::start();

    let r = raw_call(server.addr, "DynamoDB_20120810.NoSuchOperation", "{}");
    assert_eq!(r.status, 400);
    assert!(
        error_type(&r).ends_with("#UnknownOperationException"),
        "{}",
        error_type(&r)
    );
    assert_standard_headers(&r);

    let r = raw_call(server.addr, "", "{}");
    assert_eq!(r.status, 400);
    assert!(
        error_type(&r).ends_with("#UnknownOperationException"),
        "{}",
        error_type(&r)
    );

    let r = raw_call(server.addr, "SomethingElse_20120810.ListTables", "{}");
    assert_eq!(r.status, 400);
    assert!(
        error_type(&r).ends_with("#UnknownOperationException"),
        "{}",
        error_type(&r)
    );

    for body in ["{not json", "[1,2]", "\"str\""] {
        let r = raw_call(server.addr, "DynamoDB_20120810.ListTables", body);
        assert_eq!(r.status, 400, "{body:?}");
        assert!(
            error_type(&r).ends_with("#SerializationException"),
            "{body:?}: {}",
            error_type(&r)
        );
        assert_standard_headers(&r);
    }

    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.DescribeTable",
        r#"{"TableName": 5}"#,
    );
    assert_eq!(r.status, 400);
    assert!(
        error_type(&r).ends_with("#SerializationException"),
        "{}",
        error_type(&r)
    );
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.ListTables",
        r#"{"Limit": "ten"}"#,
    );
    assert_eq!(r.status, 400);
    assert!(
        error_type(&r).ends_with("#SerializationException"),
        "{}",
        error_type(&r)
    );

    let r = raw_call(server.addr, "DynamoDB_20120810.DescribeTable", "{}");
    assert_eq!(r.status, 400);
    assert_standard_headers(&r);
    assert_eq!(
        r.json,
        serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
            "message": "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null"
        })
    );

    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.DescribeTable",
        r#"{"TableName": "missing"}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json,
        serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
            "message": "Requested resource not found: Table: missing not found"
        })
    );

    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.PutItem",
        r#"{"TableName": "missing", "Item": {"pk": {"S": "a", "N": "1"}}}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["__type"],
        "com.amazonaws.dynamodb.v20120810#ValidationException"
    );
    assert!(
        r.json["message"]
            .as_str()
            .expect("message")
            .contains("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"),
        "{:?}",
        r.json
    );
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.PutItem",
        r#"{"TableName": "missing", "Item": {"pk": {}}}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["__type"],
        "com.amazonaws.dynamodb.v20120810#ValidationException"
    );
    assert!(
        r.json["message"].as_str().expect("message").contains(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        ),
        "{:?}",
        r.json
    );

    // The server keeps serving after all of that.
    let r = raw_call(server.addr, "DynamoDB_20120810.ListTables", "{}");
    assert_eq!(r.status, 200);
}
