//! The engine without HTTP: the write path, restarts and the catalog.

use serde_json::{json, Value};
use tributary_engine::{Durability, Engine, EngineConfig, EngineError};

fn open(dir: &std::path::Path, durability: Durability) -> Engine {
    Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        durability,
        log: Default::default(),
        max_cached_files: None,
    })
    .expect("open engine")
}

fn call(e: &Engine, op: &str, body: Value) -> Result<Value, EngineError> {
    let out = e
        .call(op, body.to_string().as_bytes())
        .expect("known operation")?;
    e.syncer().wait_blocking(out.ticket)?;
    Ok(serde_json::from_slice(&out.body.into_bytes()).expect("response is JSON"))
}

fn create(e: &Engine, name: &str) {
    call(
        e,
        "CreateTable",
        json!({
            "TableName": name,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
            "BillingMode": "PAY_PER_REQUEST"
        }),
    )
    .expect("create table");
}

#[test]
fn items_and_tables_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let e = open(dir.path(), Durability::Fsync);
        create(&e, "music");
        for i in 0..50 {
            call(&e, "PutItem", json!({"TableName": "music", "Item": {"pk": {"S": format!("p{}", i % 5)}, "sk": {"N": i.to_string()}, "v": {"S": "x"}}}))
                .expect("put");
        }
        call(
            &e,
            "DeleteItem",
            json!({"TableName": "music", "Key": {"pk": {"S": "p0"}, "sk": {"N": "0"}}}),
        )
        .expect("delete");
        e.shutdown().expect("shutdown");
    }
    let e = open(dir.path(), Durability::Buffered);
    let d = call(&e, "DescribeTable", json!({"TableName": "music"})).expect("describe");
    assert_eq!(d["Table"]["ItemCount"], json!(49));
    let got = call(
        &e,
        "GetItem",
        json!({"TableName": "music", "Key": {"pk": {"S": "p1"}, "sk": {"N": "11"}}}),
    )
    .expect("get");
    assert_eq!(got["Item"]["v"], json!({"S": "x"}));
    let gone = call(
        &e,
        "GetItem",
        json!({"TableName": "music", "Key": {"pk": {"S": "p0"}, "sk": {"N": "0"}}}),
    )
    .expect("get");
    assert!(gone.get("Item").is_none());
    let scan = call(&e, "Scan", json!({"TableName": "music"})).expect("scan");
    assert_eq!(scan["Count"], json!(49));
}

#[test]
fn deleted_table_name_can_be_reused_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = open(dir.path(), Durability::Buffered);
    create(&e, "reuse");
    call(
        &e,
        "PutItem",
        json!({"TableName": "reuse", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}}}),
    )
    .expect("put");
    call(&e, "DeleteTable", json!({"TableName": "reuse"})).expect("delete table");
    assert!(matches!(
        call(&e, "DescribeTable", json!({"TableName": "reuse"})),
        Err(EngineError::ResourceNotFound(_))
    ));
    create(&e, "reuse");
    let scan = call(&e, "Scan", json!({"TableName": "reuse"})).expect("scan");
    assert_eq!(scan["Count"], json!(0));
}

#[test]
fn parallel_scan_segments_partition_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = open(dir.path(), Durability::Buffered);
    create(&e, "segs");
    for i in 0..200 {
        call(
            &e,
            "PutItem",
            json!({"TableName": "segs", "Item": {"pk": {"S": format!("k{i}")}, "sk": {"N": "1"}}}),
        )
        .expect("put");
    }
    let mut seen = std::collections::BTreeSet::new();
    for seg in 0..7 {
        let r = call(
            &e,
            "Scan",
            json!({"TableName": "segs", "Segment": seg, "TotalSegments": 7}),
        )
        .expect("scan");
        for item in r["Items"].as_array().expect("items") {
            assert!(
                seen.insert(item["pk"]["S"].as_str().expect("pk").to_owned()),
                "item in two segments"
            );
        }
    }
    assert_eq!(seen.len(), 200);
}
