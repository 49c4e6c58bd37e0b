//! MaximumRecordAgeInSeconds: records older than the limit are not delivered; they are given
//! up to the on-failure destination with condition RecordAgeExceeded. (Lambda's smallest
//! limit is 60 s; the API refuses less, so this test sets the field directly to 0 s.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tributary_engine::{Durability, Engine, EngineConfig};
use tributary_runtime::functions::{FunctionConfig, Functions, Settings};
use tributary_runtime::mappings::{MappingConfig, Mappings};
use tributary_runtime::Runtime;

#[path = "support/component.rs"]
mod support;

fn call(db: &Engine, op: &str, body: Value) -> Value {
    let out = db
        .call(op, body.to_string().as_bytes())
        .expect("known op")
        .expect("call");
    db.syncer().wait_blocking(out.ticket).expect("durable");
    serde_json::from_slice(&out.body.into_bytes()).expect("json")
}

fn table(db: &Engine, name: &str, stream: bool) -> Value {
    let mut req = json!({
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST"
    });
    if stream {
        req["StreamSpecification"] = json!({"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"});
    }
    call(db, "CreateTable", req)
}

#[test]
fn records_past_their_age_go_to_the_destination() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Arc::new(
        Engine::open(EngineConfig {
            data_dir: dir.path().to_path_buf(),
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            durability: Durability::Fsync,
            log: Default::default(),
            max_cached_files: None,
        })
        .expect("engine"),
    );
    let arn = table(&db, "events", true)["TableDescription"]["LatestStreamArn"]
        .as_str()
        .expect("stream")
        .to_owned();
    table(&db, "failures", false);
    table(&db, "seen", false);
    // A handler that would count its invocations in `seen`.
    let counting = support::trigger_component(&support::guest(
        r#"(import "tributary:function/dynamodb@0.1.0" "call" (func $call (param i32 i32 i32 i32 i32)))"#,
        r#"(data (i32.const 256) "PutItem") (data (i32.const 512) "{\"TableName\":\"seen\",\"Item\":{\"pk\":{\"S\":\"x\"}}}")"#,
        "(call $call (i32.const 256) (i32.const 7) (i32.const 512) (i32.const 42) (i32.const 64))
         (i32.store8 (i32.const 16) (i32.const 0)) (i32.store (i32.const 20) (i32.const 0))
         (i32.store (i32.const 24) (i32.const 0)) (i32.const 16)",
    ));
    let runtime = Arc::new(Runtime::new(db.clone()).expect("runtime"));
    let functions = Functions::open(runtime, Settings::with_concurrency(4)).expect("functions");
    functions
        .create(FunctionConfig::new("f".into()), &counting)
        .expect("create");
    let mappings = Mappings::open(functions.clone(), db.clone()).expect("mappings");
    for i in 0..5 {
        call(
            &db,
            "PutItem",
            json!({"TableName": "events", "Item": {"pk": {"S": format!("k{i}")}}}),
        );
    }
    std::thread::sleep(Duration::from_millis(20));
    let mut c = MappingConfig::new("age".into(), "f".into(), arn.clone());
    c.starting_position = "TRIM_HORIZON".into();
    c.max_record_age_secs = 0;
    c.on_failure = Some("arn:aws:dynamodb:us-east-1:000000000000:table/failures".into());
    mappings.create(c).expect("mapping");

    let scan = |t: &str| call(&db, "Scan", json!({"TableName": t, "ConsistentRead": true}));
    let deadline = Instant::now() + Duration::from_secs(10);
    let given_up = loop {
        let items = scan("failures")["Items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let n: u64 = items
            .iter()
            .filter_map(|i| {
                i["DDBStreamBatchInfo"]["M"]["batchSize"]["N"]
                    .as_str()?
                    .parse::<u64>()
                    .ok()
            })
            .sum();
        if n == 5 {
            break items;
        }
        assert!(Instant::now() < deadline, "records not given up: {items:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    for i in &given_up {
        assert_eq!(
            i["requestContext"]["M"]["condition"]["S"],
            json!("RecordAgeExceeded")
        );
        assert_eq!(
            i["requestContext"]["M"]["approximateInvokeCount"]["N"],
            json!("0")
        );
    }
    assert_eq!(
        scan("seen")["Count"],
        json!(0),
        "expired records are never delivered"
    );
}
