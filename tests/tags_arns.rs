//! Tags as DynamoDB has them (empty answers, validation, concurrent changes), DeleteTable's
//! description, and table ARNs accepted wherever a TableName names a table, one test per
//! operation family. Each error is asserted exactly, then the server must still answer.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    Get, KeysAndAttributes, Put, PutRequest, Tag, TransactGetItem, TransactWriteItem, WriteRequest,
};
use common::*;
use serde_json::json;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().expect("tag")
}

async fn arn_of(c: &aws_sdk_dynamodb::Client, name: &str) -> String {
    c.describe_table()
        .table_name(name)
        .send()
        .await
        .expect("describe")
        .table()
        .and_then(|t| t.table_arn())
        .expect("TableArn")
        .to_owned()
}

async fn still_answers(c: &aws_sdk_dynamodb::Client) {
    c.list_tables().send().await.expect("server still answers");
}

#[tokio::test]
async fn tag_and_untag_answer_an_empty_body() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "quiet").await;
    let arn = arn_of(&c, "quiet").await;
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.TagResource",
        &json!({"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]}).to_string(),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty(), "{:?}", String::from_utf8_lossy(&r.body));
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.UntagResource",
        &json!({"ResourceArn": arn, "TagKeys": ["k"]}).to_string(),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty(), "{:?}", String::from_utf8_lossy(&r.body));
    // And the SDK takes it.
    c.tag_resource()
        .resource_arn(&arn)
        .tags(tag("k", "v"))
        .send()
        .await
        .expect("tag");
    c.untag_resource()
        .resource_arn(&arn)
        .tag_keys("k")
        .send()
        .await
        .expect("untag");
}

#[tokio::test]
async fn tag_validation() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "strict").await;
    let arn = arn_of(&c, "strict").await;
    let tag_with = |tags: Vec<Tag>| {
        c.tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(tags))
            .send()
    };
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    let cases: Vec<(Vec<Tag>, String)> = vec![
        (
            vec![tag("ok", "v"), tag(&long_key, "v")],
            format!("1 validation error detected: Value '{long_key}' at 'tags.2.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"),
        ),
        (
            vec![tag("", "v")],
            "1 validation error detected: Value '' at 'tags.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
        ),
        (
            vec![tag("k", &long_value)],
            format!("1 validation error detected: Value '{long_value}' at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"),
        ),
        (
            vec![tag("#!%", "v")],
            "The Tag Key provided is invalid, Key: #!%".into(),
        ),
        (
            vec![tag("k", "<><>")],
            "The Tag Value provided is invalid, Value: <><>".into(),
        ),
        (
            vec![tag("aws:cost", "v")],
            "Tag Key cannot be prefixed with aws:, Key: aws:cost".into(),
        ),
        (
            vec![tag("dup", "1"), tag("dup", "2")],
            "Duplicate Tag Keys provided as input: Duplicate Tag Key found dup".into(),
        ),
        (
            Vec::new(),
            "Atleast one Tag needs to be provided as Input.".into(),
        ),
    ];
    for (tags, message) in cases {
        assert_service_error(tag_with(tags).await, "ValidationException", &message);
    }
    // Allowed: letters of any script, digits, white space, + - = . _ : / @, empty values.
    tag_with(vec![
        tag("Ünïcode ключ", "värde"),
        tag("a+b-c=d.e_f:g/h@i", ""),
        tag("AWSome", "v"),
    ])
    .await
    .expect("valid tags");

    // 50 tags per table, counting the ones it has.
    let many: Vec<Tag> = (0..47).map(|i| tag(&format!("t{i}"), "v")).collect();
    tag_with(many).await.expect("50 tags");
    assert_service_error(
        tag_with(vec![tag("one-too-many", "v")]).await,
        "ValidationException",
        "Number of Tags exceed the current limit for the provided ResourceArn",
    );
    // Overwriting an existing tag is not a new one.
    tag_with(vec![tag("t0", "again")]).await.expect("overwrite");
    let n = c
        .list_tags_of_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("list")
        .tags()
        .len();
    assert_eq!(n, 50);

    // CreateTable applies the same rules (and creates nothing when they fail).
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.CreateTable",
        &json!({
            "TableName": "born-bad",
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "Tags": (0..51).map(|i| json!({"Key": format!("k{i}"), "Value": "v"})).collect::<Vec<_>>()
        })
        .to_string(),
    );
    assert_eq!(
        r.json["message"],
        "Number of Tags exceed the current limit for the provided ResourceArn"
    );
    assert_service_error(
        c.describe_table().table_name("born-bad").send().await,
        "ResourceNotFoundException",
        "born-bad",
    );

    // UntagResource: key rules, at least one key.
    assert_service_error(
        c.untag_resource()
            .resource_arn(&arn)
            .set_tag_keys(Some(Vec::new()))
            .send()
            .await,
        "ValidationException",
        "Atleast one Tag Key needs to be provided as Input.",
    );
    assert_service_error(
        c.untag_resource()
            .resource_arn(&arn)
            .tag_keys(&long_key)
            .send()
            .await,
        "ValidationException",
        &format!("1 validation error detected: Value '{long_key}' at 'tagKeys.1.member' failed to satisfy constraint: Member must have length less than or equal to 128"),
    );

    // Resource ARNs.
    let arn_cases = [
        (
            "I_do_not_exist".to_owned(),
            "ValidationException",
            "One or more parameter values were invalid: ARNs must start with 'arn:': I_do_not_exist".to_owned(),
        ),
        (
            "arn:aws:s3:::bucket".to_owned(),
            "ValidationException",
            "One or more parameter values were invalid: Provided Arn is not a DynamoDB resource arn: arn:aws:s3:::bucket".to_owned(),
        ),
        (
            format!("{arn}/index/by-x"),
            "ValidationException",
            format!("One or more parameter values were invalid: Invalid resource arn provided, only table or stream is accepted. Provided resource arn: {arn}/index/by-x"),
        ),
        (
            arn.replace("us-east-1", "eu-west-1"),
            "ValidationException",
            format!(
                "Invalid TableArn: Invalid ResourceArn provided as input {}",
                arn.replace("us-east-1", "eu-west-1")
            ),
        ),
        (
            format!("{arn}x"),
            "ResourceNotFoundException",
            format!("Requested resource not found: ResourcArn: {arn}x not found"),
        ),
    ];
    for (bad, code, message) in arn_cases {
        assert_service_error(
            c.tag_resource()
                .resource_arn(&bad)
                .tags(tag("k", "v"))
                .send()
                .await,
            code,
            &message,
        );
    }
    still_answers(&c).await;
}

#[tokio::test]
async fn concurrent_tag_resource_calls_lose_no_tag() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "busy").await;
    let arn = arn_of(&c, "busy").await;
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let c = server.client();
            let arn = arn.clone();
            tokio::spawn(async move {
                c.tag_resource()
                    .resource_arn(arn)
                    .tags(tag(&format!("k{i}"), &format!("v{i}")))
                    .send()
                    .await
                    .expect("tag")
            })
        })
        .collect();
    for call in calls {
        call.await.expect("task");
    }
    let got: HashMap<String, String> = c
        .list_tags_of_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("list")
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    assert_eq!(got.len(), 40, "{got:?}");
    for i in 0..40 {
        assert_eq!(got.get(&format!("k{i}")), Some(&format!("v{i}")));
    }
}

#[tokio::test]
async fn delete_table_describes_the_table_as_dynamodb_does() {
    let server = Server::start();
    let c = server.client();
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.CreateTable",
        &json!({
            "TableName": "doomed",
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "g", "AttributeType": "S"}
            ],
            "GlobalSecondaryIndexes": [{
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"}
            }],
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"}
        })
        .to_string(),
    );
    assert_eq!(r.status, 200, "{:?}", r.json);
    wait_active(&c, "doomed").await;
    c.put_item()
        .table_name("doomed")
        .item("pk", s("a"))
        .send()
        .await
        .expect("put");
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.DeleteTable",
        r#"{"TableName": "doomed"}"#,
    );
    assert_eq!(r.status, 200);
    let d = r.json["TableDescription"]
        .as_object()
        .expect("TableDescription");
    assert_eq!(d["TableName"], "doomed");
    assert_eq!(d["TableStatus"], "DELETING");
    assert!(d["TableArn"]
        .as_str()
        .is_some_and(|a| a.ends_with(":table/doomed")));
    assert!(d["TableId"].as_str().is_some_and(|id| id.len() == 36));
    assert_eq!(d["ItemCount"], 1);
    assert!(d["TableSizeBytes"].as_u64().is_some());
    assert_eq!(d["ProvisionedThroughput"]["NumberOfDecreasesToday"], 0);
    assert_eq!(d["ProvisionedThroughput"]["ReadCapacityUnits"], 0);
    assert_eq!(d["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST");
    assert!(d["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"].is_number());
    assert_eq!(d["StreamSpecification"]["StreamEnabled"], true);
    assert!(d["LatestStreamArn"].is_string());
    for absent in [
        "KeySchema",
        "AttributeDefinitions",
        "CreationDateTime",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
    ] {
        assert!(!d.contains_key(absent), "{absent} in {d:?}");
    }
    // The SDK reads it.
    pk_sk_table(&c, "doomed2").await;
    let out = c
        .delete_table()
        .table_name("doomed2")
        .send()
        .await
        .expect("delete");
    let desc = out.table_description().expect("description");
    assert_eq!(desc.table_name(), Some("doomed2"));
    assert!(desc.key_schema().is_empty());
    still_answers(&c).await;
}

/// Table ARNs in the control plane: DescribeTable, UpdateTable, time to live, DeleteTable,
/// and the errors of ARNs that cannot name a table here.
#[tokio::test]
async fn table_arns_in_the_control_plane() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "ctl").await;
    let arn = arn_of(&c, "ctl").await;
    let t = c
        .describe_table()
        .table_name(&arn)
        .send()
        .await
        .expect("describe by ARN")
        .table
        .expect("table");
    assert_eq!(t.table_name(), Some("ctl"));
    c.update_table()
        .table_name(&arn)
        .deletion_protection_enabled(false)
        .send()
        .await
        .expect("update by ARN");
    c.update_time_to_live()
        .table_name(&arn)
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires")
                .build()
                .expect("spec"),
        )
        .send()
        .await
        .expect("ttl by ARN");
    let ttl = c
        .describe_time_to_live()
        .table_name(&arn)
        .send()
        .await
        .expect("describe ttl by ARN");
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expires")
    );

    // ARNs that name no table here, malformed ones, and a CreateTable, which takes names only.
    let elsewhere = arn.replace("us-east-1", "eu-west-1");
    assert_service_error(
        c.describe_table().table_name(&elsewhere).send().await,
        "ResourceNotFoundException",
        &format!("Requested resource not found: Table: {elsewhere} not found"),
    );
    let index = format!("{arn}/index/by-x");
    assert_service_error(
        c.describe_table().table_name(&index).send().await,
        "ValidationException",
        &format!("1 validation error detected: Invalid resource type in '{index}'"),
    );
    let long = format!("{arn}{}", "x".repeat(1024));
    assert_service_error(
        c.describe_table().table_name(&long).send().await,
        "ValidationException",
        &format!("1 validation error detected: Value '{long}' at 'tableName' failed to satisfy constraint: Member must have length less than or equal to 1024"),
    );
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.CreateTable",
        &json!({
            "TableName": arn.replace("table/ctl", "table/fresh"),
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]
        })
        .to_string(),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json["message"].as_str().is_some_and(
            |m| m.contains("Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
        ),
        "{:?}",
        r.json
    );

    let del = c
        .delete_table()
        .table_name(&arn)
        .send()
        .await
        .expect("delete by ARN");
    assert_eq!(
        del.table_description().and_then(|d| d.table_name()),
        Some("ctl")
    );
    still_answers(&c).await;
}

/// Table ARNs in single-item operations and Query/Scan.
#[tokio::test]
async fn table_arns_in_items_query_and_scan() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "items").await;
    let arn = arn_of(&c, "items").await;
    c.put_item()
        .table_name(&arn)
        .item("pk", s("a"))
        .item("sk", n("1"))
        .item("v", s("x"))
        .send()
        .await
        .expect("put by ARN");
    c.update_item()
        .table_name(&arn)
        .key("pk", s("a"))
        .key("sk", n("1"))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", s("y"))
        .send()
        .await
        .expect("update by ARN");
    let got = c
        .get_item()
        .table_name(&arn)
        .key("pk", s("a"))
        .key("sk", n("1"))
        .send()
        .await
        .expect("get by ARN");
    assert_eq!(got.item().and_then(|i| i.get("v")), Some(&s("y")));
    // The item is the table's, whichever way the table is named.
    let by_name = c
        .get_item()
        .table_name("items")
        .key("pk", s("a"))
        .key("sk", n("1"))
        .send()
        .await
        .expect("get by name");
    assert_eq!(by_name.item(), got.item());
    let q = c
        .query()
        .table_name(&arn)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("a"))
        .send()
        .await
        .expect("query by ARN");
    assert_eq!(q.count(), 1);
    let sc = c.scan().table_name(&arn).send().await.expect("scan by ARN");
    assert_eq!(sc.count(), 1);
    c.delete_item()
        .table_name(&arn)
        .key("pk", s("a"))
        .key("sk", n("1"))
        .send()
        .await
        .expect("delete by ARN");
    let elsewhere = arn.replace(":000000000000:", ":111111111111:");
    assert_service_error(
        c.get_item()
            .table_name(&elsewhere)
            .key("pk", s("a"))
            .key("sk", n("1"))
            .send()
            .await,
        "ResourceNotFoundException",
        "Requested resource not found",
    );
    still_answers(&c).await;
}

/// Table ARNs as RequestItems keys (the answers are keyed the same way) and in transactions.
#[tokio::test]
async fn table_arns_in_batches_and_transactions() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "batch").await;
    let arn = arn_of(&c, "batch").await;
    let put = |i: usize| {
        WriteRequest::builder()
            .put_request(
                PutRequest::builder()
                    .item("pk", s("p"))
                    .item("sk", n(&i.to_string()))
                    .build()
                    .expect("put"),
            )
            .build()
    };
    c.batch_write_item()
        .request_items(&arn, (0..3).map(put).collect())
        .send()
        .await
        .expect("batch write by ARN");
    let keys = KeysAndAttributes::builder()
        .keys(HashMap::from([
            ("pk".into(), s("p")),
            ("sk".into(), n("0")),
        ]))
        .keys(HashMap::from([
            ("pk".into(), s("p")),
            ("sk".into(), n("2")),
        ]))
        .build()
        .expect("keys");
    let got = c
        .batch_get_item()
        .request_items(&arn, keys.clone())
        .send()
        .await
        .expect("batch get by ARN");
    assert_eq!(
        got.responses().and_then(|r| r.get(&arn)).map(Vec::len),
        Some(2)
    );
    // One table named twice, by name and by ARN: still one key list, duplicates refused.
    assert_service_error(
        c.batch_get_item()
            .request_items(&arn, keys.clone())
            .request_items("batch", keys)
            .send()
            .await,
        "ValidationException",
        "Provided list of item keys contains duplicates",
    );

    c.transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&arn)
                        .item("pk", s("t"))
                        .item("sk", n("1"))
                        .build()
                        .expect("put"),
                )
                .build(),
        )
        .send()
        .await
        .expect("transact write by ARN");
    let tg = c
        .transact_get_items()
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name(&arn)
                        .key("pk", s("t"))
                        .key("sk", n("1"))
                        .build()
                        .expect("get"),
                )
                .build(),
        )
        .send()
        .await
        .expect("transact get by ARN");
    assert!(tg.responses()[0].item().is_some());

    // DynamoDB Streams' ListStreams takes the ARN too.
    let st = streams_client_for(&server.endpoint());
    let streams = st
        .list_streams()
        .table_name(&arn)
        .send()
        .await
        .expect("list streams by ARN");
    assert!(streams.streams().is_empty());

    let index = format!("{arn}/index/i");
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.BatchGetItem",
        &json!({"RequestItems": {index.clone(): {"Keys": [{"pk": {"S": "p"}, "sk": {"N": "0"}}]}}})
            .to_string(),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["message"],
        format!("1 validation error detected: Invalid resource type in '{index}'")
    );
    still_answers(&c).await;
}
