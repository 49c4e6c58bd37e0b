//! Trigger figures, in process (fsync durability, the defaults):
//!
//! 1. latency from a PutItem's acknowledgment to its handler's invocation, BatchSize 1: the
//!    handler adds 1 to a counter item; the time its write commits (seen through the log
//!    subscription) bounds the invocation from above;
//! 2. throughput of a trivial handler (returns at once) at BatchSize 100, records/s;
//! 3. with `--js FILE`: throughput of the JavaScript aggregate example at BatchSize 100;
//! 4. cold start (first invocation after deploy: compile + instantiate + call; and from the
//!    cached artifact) and warm invocation cost.
//!
//! cargo run --release -p tributary-runtime --example trigger_bench -- [--samples N]
//!     [--records N] [--js examples/handlers/aggregate-js/aggregate.wasm]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use tributary_engine::log::{LogConfig, SHARDS};
use tributary_engine::stream as streams;
use tributary_engine::{Durability, Engine, EngineConfig};
use tributary_runtime::functions::{FunctionConfig, Functions, Settings};
use tributary_runtime::mappings::{MappingConfig, Mappings};
use tributary_runtime::Runtime;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn call(db: &Engine, op: &str, body: Json) -> Result<Json> {
    let out = db
        .call(op, body.to_string().as_bytes())
        .ok_or("unknown op")??;
    db.syncer().wait_blocking(out.ticket)?;
    Ok(serde_json::from_slice(&out.body.into_bytes())?)
}

fn table(db: &Engine, name: &str, key: &str, view: Option<&str>) -> Result<Option<String>> {
    let mut req = json!({
        "TableName": name,
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST"
    });
    if let Some(v) = view {
        req["StreamSpecification"] = json!({"StreamEnabled": true, "StreamViewType": v});
    }
    let out = call(db, "CreateTable", req)?;
    Ok(out["TableDescription"]["LatestStreamArn"]
        .as_str()
        .map(str::to_owned))
}

fn wat_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `handle`: optionally one dynamodb.call(op, request), then ok("").
fn handler(call: Option<(&str, &str)>) -> Result<Vec<u8>> {
    let (data, body) = match call {
        Some((op, req)) => (
            format!(
                r#"(data (i32.const 256) "{}") (data (i32.const 512) "{}")"#,
                wat_str(op),
                wat_str(req)
            ),
            format!(
                "(call $call (i32.const 256) (i32.const {}) (i32.const 512) (i32.const {}) (i32.const 64))
                 (if (i32.load8_u (i32.const 64)) (then unreachable))",
                op.len(),
                req.len()
            ),
        ),
        None => (String::new(), String::new()),
    };
    let wat = format!(
        r#"(module
  (import "tributary:function/dynamodb@0.1.0" "call" (func $call (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 8192))
  {data}
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get 3)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "handle") (param i32 i32) (result i32)
    {body}
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 0))
    (i32.store (i32.const 24) (i32.const 0))
    (i32.const 16)))"#
    );
    Ok(tributary_runtime::build::trigger_component(wat.as_bytes())?)
}

fn mapping(
    mappings: &Arc<Mappings>,
    function: &str,
    arn: &str,
    batch: u64,
    start: &str,
) -> Result<String> {
    let mut m = MappingConfig::new(
        format!("bench-{function}-{}", std::process::id()),
        function.to_owned(),
        arn.to_owned(),
    );
    m.batch_size = batch;
    m.starting_position = start.into();
    Ok(mappings.create(m)?.uuid)
}

/// Waits until the mapping's checkpoints are past every record of the table's log.
fn wait_caught_up(db: &Engine, mappings: &Mappings, uuid: &str, arn: &str) -> Result<()> {
    let stream = streams::resolve(db, arn)?;
    loop {
        let mut pending = false;
        for shard in 0..SHARDS {
            let from = mappings
                .checkpoint(uuid, shard)?
                .unwrap_or(0)
                .max(stream.first_position(db, shard));
            if !db
                .log()
                .read(stream.table.meta.id, shard, from, stream.end(), 1)?
                .is_empty()
            {
                pending = true;
            }
        }
        if !pending {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn counter(db: &Engine) -> Result<u64> {
    let got = call(
        db,
        "GetItem",
        json!({"TableName": "seen", "Key": {"pk": {"S": "n"}}, "ConsistentRead": true}),
    )?;
    Ok(got["Item"]["c"]["N"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

fn signed_us(a: Instant, b: Instant) -> f64 {
    if a >= b {
        (a - b).as_secs_f64() * 1e6
    } else {
        -((b - a).as_secs_f64() * 1e6)
    }
}

fn latency(
    db: &Arc<Engine>,
    functions: &Functions,
    mappings: &Arc<Mappings>,
    samples: u64,
) -> Result<()> {
    let arn = table(db, "events", "pk", Some("NEW_IMAGE"))?.ok_or("no stream")?;
    table(db, "seen", "pk", None)?;
    let code = handler(Some((
        "UpdateItem",
        r#"{"TableName":"seen","Key":{"pk":{"S":"n"}},"UpdateExpression":"ADD c :one","ExpressionAttributeValues":{":one":{"N":"1"}}}"#,
    )))?;
    functions.create(FunctionConfig::new("count".into()), &code)?;
    functions.warm("count")?;
    mapping(mappings, "count", &arn, 1, "LATEST")?;
    // An observer notes when the handler's write for each put commits (the counter reaches
    // i), independently of the writer, which may still be waiting for its fsync.
    let seen: Arc<(std::sync::Mutex<Vec<Instant>>, std::sync::Condvar)> = Arc::default();
    let observer = {
        let (db, seen) = (db.clone(), seen.clone());
        let mut sub = db.log().subscribe();
        std::thread::spawn(move || -> std::result::Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let mut last = sub.last();
            loop {
                let c = counter(&db).map_err(|e| e.to_string())?;
                let now = Instant::now();
                let (times, cv) = &*seen;
                let mut times = times.lock().map_err(|e| e.to_string())?;
                while (times.len() as u64) < c {
                    times.push(now);
                }
                cv.notify_all();
                if c >= samples {
                    return Ok(());
                }
                drop(times);
                last = rt.block_on(sub.after(last));
            }
        })
    };
    let (mut from_ack, mut from_commit) = (Vec::new(), Vec::new());
    for i in 1..=samples {
        let body = json!({"TableName": "events", "Item": {"pk": {"S": format!("k{}", i % 64)}, "i": {"N": i.to_string()}}});
        let out = db
            .call("PutItem", body.to_string().as_bytes())
            .ok_or("no PutItem")??;
        let committed = Instant::now();
        db.syncer().wait_blocking(out.ticket)?;
        let acked = Instant::now();
        let (times, cv) = &*seen;
        let mut times = times.lock().map_err(|e| e.to_string())?;
        while (times.len() as u64) < i {
            times = cv.wait(times).map_err(|e| e.to_string())?;
        }
        let invoked = times[(i - 1) as usize];
        from_ack.push(signed_us(invoked, acked));
        from_commit.push(signed_us(invoked, committed));
    }
    observer.join().map_err(|_| "observer panicked")??;
    for v in [&mut from_ack, &mut from_commit] {
        v.sort_by(f64::total_cmp);
    }
    let before_ack = from_ack.iter().filter(|v| **v < 0.0).count();
    println!("latency, BatchSize 1, {samples} sequential PutItems (fsync); µs, negative = the handler's write committed before the client's ack");
    println!(
        "  PutItem ack -> handler's write: p50 {:.0}  p90 {:.0}  p99 {:.0}  max {:.0}  ({before_ack} of {samples} before the ack)",
        percentile(&from_ack, 0.5),
        percentile(&from_ack, 0.9),
        percentile(&from_ack, 0.99),
        percentile(&from_ack, 1.0),
    );
    println!(
        "  PutItem commit -> handler's write: p50 {:.0}  p90 {:.0}  p99 {:.0}  max {:.0}",
        percentile(&from_commit, 0.5),
        percentile(&from_commit, 0.9),
        percentile(&from_commit, 0.99),
        percentile(&from_commit, 1.0)
    );
    Ok(())
}

fn throughput(
    db: &Arc<Engine>,
    mappings: &Arc<Mappings>,
    label: &str,
    function: &str,
    arn: &str,
    records: u64,
) -> Result<()> {
    let uuid = mapping(mappings, function, arn, 100, "TRIM_HORIZON")?;
    let started = Instant::now();
    wait_caught_up(db, mappings, &uuid, arn)?;
    let took = started.elapsed().as_secs_f64();
    println!(
        "throughput, {label}, BatchSize 100: {records} records in {took:.2} s = {:.0} records/s",
        records as f64 / took
    );
    Ok(())
}

/// Writes `n` items (BatchWriteItem, 25 at a time) made by `item(i)`.
fn fill(db: &Engine, table_name: &str, n: u64, item: impl Fn(u64) -> Json) -> Result<()> {
    let mut i = 0;
    while i < n {
        let chunk: Vec<Json> = (i..(i + 25).min(n))
            .map(|j| json!({"PutRequest": {"Item": item(j)}}))
            .collect();
        i += chunk.len() as u64;
        call(
            db,
            "BatchWriteItem",
            json!({"RequestItems": {table_name: chunk}}),
        )?;
    }
    Ok(())
}

fn cold_and_warm(
    runtime: &Runtime,
    label: &str,
    code: &[u8],
    event: &str,
    calls: usize,
) -> Result<()> {
    let limits = tributary_runtime::Limits {
        timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let t = Instant::now();
    let compiled = runtime.compile(code)?;
    let first = runtime.invoke(&compiled, event, &limits)?;
    let cold = t.elapsed();
    first.result.map_err(|e| format!("{label}: {e}"))?;
    let artifact = runtime.precompile(code)?;
    let t = Instant::now();
    // SAFETY: produced by `precompile` just above, by the same engine.
    let loaded = unsafe { runtime.load_precompiled(&artifact)? };
    runtime.invoke(&loaded, event, &limits)?;
    let cached = t.elapsed();
    let mut warm: Vec<f64> = (0..calls)
        .map(|_| {
            let t = Instant::now();
            let _ = runtime.invoke(&loaded, event, &limits);
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    warm.sort_by(f64::total_cmp);
    println!(
        "{label} ({} KB): cold start (compile + first call) {:.1} ms; from the cached artifact {:.1} ms; warm call p50 {:.0} µs p99 {:.0} µs",
        code.len() / 1024,
        cold.as_secs_f64() * 1e3,
        cached.as_secs_f64() * 1e3,
        percentile(&warm, 0.5),
        percentile(&warm, 0.99)
    );
    Ok(())
}

fn main() -> Result<()> {
    let mut samples = 2000u64;
    let mut records = 50_000u64;
    let mut js: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--samples" => samples = args.next().ok_or("--samples N")?.parse()?,
            "--records" => records = args.next().ok_or("--records N")?.parse()?,
            "--js" => js = Some(args.next().ok_or("--js FILE")?.into()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let dir = tempfile::tempdir()?;
    let db = Arc::new(Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        durability: Durability::Fsync,
        log: LogConfig::default(),
        max_cached_files: None,
    })?);
    let runtime = Arc::new(Runtime::new(db.clone())?);
    let functions = Functions::open(runtime.clone(), Settings::with_concurrency(64))?;
    let mappings = Mappings::open(functions.clone(), db.clone())?;

    latency(&db, &functions, &mappings, samples)?;

    let arn = table(&db, "bulk", "pk", Some("NEW_IMAGE"))?.ok_or("no stream")?;
    fill(
        &db,
        "bulk",
        records,
        |i| json!({"pk": {"S": format!("item-{i}")}, "v": {"N": i.to_string()}}),
    )?;
    functions.create(FunctionConfig::new("trivial".into()), &handler(None)?)?;
    functions.warm("trivial")?;
    throughput(
        &db,
        &mappings,
        "trivial WAT handler",
        "trivial",
        &arn,
        records,
    )?;

    let empty = json!({"Records": []}).to_string();
    cold_and_warm(
        &runtime,
        "trivial WAT handler",
        &handler(None)?,
        &empty,
        2000,
    )?;

    if let Some(path) = js {
        let code = std::fs::read(&path)?;
        cold_and_warm(&runtime, "JavaScript aggregate handler", &code, &empty, 300)?;
        let orders =
            table(&db, "Orders", "OrderId", Some("NEW_AND_OLD_IMAGES"))?.ok_or("no stream")?;
        table(&db, "CustomerTotals", "Customer", None)?;
        let n = records / 5;
        fill(
            &db,
            "Orders",
            n,
            |i| json!({"OrderId": {"S": format!("o-{i}")}, "Customer": {"S": format!("c-{}", i % 50)}, "Amount": {"N": format!("{}.25", i % 100)}}),
        )?;
        let mut conf = FunctionConfig::new("aggregate".into());
        conf.timeout_secs = 60;
        functions.create(conf, &code)?;
        functions.warm("aggregate")?;
        throughput(
            &db,
            &mappings,
            "JavaScript aggregate handler (an UpdateItem per record, each durable)",
            "aggregate",
            &orders,
            n,
        )?;
    }
    db.shutdown()?;
    Ok(())
}
