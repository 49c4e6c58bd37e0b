//! The JavaScript example handler (examples/handlers/aggregate-js) end to end: build it with
//! componentize-js (npm), deploy it through aws-sdk-lambda, map it to the `Orders` stream and
//! check that `CustomerTotals` ends up equal to totals computed here after a few hundred
//! inserts, updates (of the amount, of the customer, of nothing it tracks) and deletes.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{EventSourcePosition, FunctionCode};
use common::*;

const HOW_TO_INSTALL: &str = "Node.js and npm are needed to build the JavaScript example handler \
     (examples/handlers/aggregate-js) and were not found: install Node.js 20 or newer with its npm \
     (NodeSource or nodejs.org packages; Debian's `apt-get install nodejs npm` gives an older Node.js), \
     then run `bash .ci/run` or `cargo test --test js_handler` again";

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/handlers/aggregate-js")
}

fn modified(p: &Path) -> SystemTime {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn npm(dir: &Path, args: &[&str]) {
    let started = Instant::now();
    let out = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `npm {}`: {e}; {HOW_TO_INSTALL}", args.join(" ")));
    assert!(
        out.status.success(),
        "`npm {}` in {} failed ({}):\n{}\n{}",
        args.join(" "),
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "npm {} took {:.1} s",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
}

/// Builds `aggregate.wasm` unless it is newer than its sources; returns its bytes.
fn build_handler() -> Vec<u8> {
    let dir = example_dir();
    let wasm = dir.join("aggregate.wasm");
    let sources = [
        dir.join("handler.js"),
        dir.join("package.json"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/wit/trigger.wit"),
    ];
    // Checked even when the build is cached: the test needs them on every machine.
    for tool in ["node", "npm"] {
        match Command::new(tool).arg("--version").output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!("`{tool} --version` failed ({}); {HOW_TO_INSTALL}", o.status),
            Err(e) => panic!("`{tool}` not found ({e}); {HOW_TO_INSTALL}"),
        }
    }
    let fresh = wasm.is_file()
        && dir.join("node_modules").is_dir()
        && sources.iter().all(|s| modified(s) < modified(&wasm));
    if !fresh {
        if !dir.join("node_modules").is_dir() {
            npm(&dir, &["install", "--no-audit", "--no-fund"]);
        }
        npm(&dir, &["run", "build"]);
    }
    std::fs::read(&wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()))
}

/// A decimal string ("12.5", "-3", "7.05") as a number of cents.
fn cents(v: &str) -> i64 {
    let (neg, v) = v.strip_prefix('-').map_or((false, v), |r| (true, r));
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    assert!(frac.len() <= 2, "more than 2 decimals in {v}");
    let frac = format!("{frac:0<2}");
    let c = int.parse::<i64>().expect("integer part") * 100 + frac.parse::<i64>().expect("cents");
    if neg {
        -c
    } else {
        c
    }
}

fn amount(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

async fn create_orders(c: &aws_sdk_dynamodb::Client) -> String {
    let out = c
        .create_table()
        .table_name("Orders")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("OrderId")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("OrderId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("def"),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .expect("stream spec"),
        )
        .send()
        .await
        .expect("create Orders");
    wait_active(c, "Orders").await;
    out.table_description()
        .and_then(|t| t.latest_stream_arn())
        .expect("LatestStreamArn")
        .to_owned()
}

async fn put_order(c: &aws_sdk_dynamodb::Client, id: &str, customer: &str, cents: i64) {
    c.put_item()
        .table_name("Orders")
        .item("OrderId", s(id))
        .item("Customer", s(customer))
        .item("Amount", n(&amount(cents)))
        .send()
        .await
        .expect("put order");
}

/// CustomerTotals as customer -> (Orders, Total in cents).
async fn totals(c: &aws_sdk_dynamodb::Client) -> BTreeMap<String, (i64, i64)> {
    let mut out = BTreeMap::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = c
            .scan()
            .table_name("CustomerTotals")
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan CustomerTotals");
        for item in page.items() {
            let get = |k: &str| match item.get(k) {
                Some(AttributeValue::S(v)) | Some(AttributeValue::N(v)) => v.clone(),
                other => panic!("CustomerTotals item {item:?}: {k} is {other:?}"),
            };
            assert_eq!(item.len(), 3, "unexpected attributes in {item:?}");
            out.insert(
                get("Customer"),
                (get("Orders").parse().expect("Orders"), cents(&get("Total"))),
            );
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_aggregate_handler_keeps_customer_totals() {
    let started = Instant::now();
    let code = build_handler();
    eprintln!(
        "handler: {} bytes, ready after {:.1} s",
        code.len(),
        started.elapsed().as_secs_f64()
    );

    let server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let arn = create_orders(&c).await;
    create_table(
        &c,
        "CustomerTotals",
        ("Customer", ScalarAttributeType::S),
        None,
    )
    .await;

    let deploy = Instant::now();
    lambda
        .create_function()
        .function_name("aggregate")
        .role("arn:aws:iam::000000000000:role/any")
        .runtime(aws_sdk_lambda::types::Runtime::Provided)
        .handler("x")
        .timeout(60)
        .code(FunctionCode::builder().zip_file(Blob::new(code)).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("create function: {e:?}\nserver log:\n{}", server.log_text()));
    eprintln!(
        "create-function took {:.1} s",
        deploy.elapsed().as_secs_f64()
    );
    lambda
        .create_event_source_mapping()
        .function_name("aggregate")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .batch_size(100)
        .send()
        .await
        .expect("create mapping");

    // The workload, mirrored in `want` (customer -> (orders, cents)) and `orders`.
    let customers = ["alice", "bob", "carol", "dave", "erin"];
    let mut rng = Lcg(7);
    let mut orders: BTreeMap<String, (String, i64)> = BTreeMap::new();
    let writes = Instant::now();
    for i in 0..300 {
        let id = format!("o{i:04}");
        let customer = customers[rng.next(customers.len() as u64) as usize].to_owned();
        let cents = 1 + rng.next(50_000) as i64;
        put_order(&c, &id, &customer, cents).await;
        orders.insert(id, (customer, cents));
    }
    // A customer whose orders all go away: no row left for them.
    for i in 0..3 {
        put_order(&c, &format!("z{i}"), "zed", 999).await;
        orders.insert(format!("z{i}"), ("zed".to_owned(), 999));
    }
    // New amounts.
    for i in (0..300).step_by(5) {
        let id = format!("o{i:04}");
        let customer = orders[&id].0.clone();
        let cents = 1 + rng.next(50_000) as i64;
        put_order(&c, &id, &customer, cents).await;
        orders.insert(id, (customer, cents));
    }
    // Orders moved to another customer (UpdateItem), some with a new amount too.
    for i in (1..300).step_by(13) {
        let id = format!("o{i:04}");
        let customer = customers[rng.next(customers.len() as u64) as usize].to_owned();
        let cents = if i % 2 == 0 {
            orders[&id].1
        } else {
            1 + rng.next(50_000) as i64
        };
        c.update_item()
            .table_name("Orders")
            .key("OrderId", s(&id))
            .update_expression("SET Customer = :c, Amount = :a")
            .expression_attribute_values(":c", s(&customer))
            .expression_attribute_values(":a", n(&amount(cents)))
            .send()
            .await
            .expect("move order");
        orders.insert(id, (customer, cents));
    }
    // Changes the aggregate ignores: another attribute.
    for i in (2..300).step_by(17) {
        c.update_item()
            .table_name("Orders")
            .key("OrderId", s(&format!("o{i:04}")))
            .update_expression("SET Shipped = :t")
            .expression_attribute_values(":t", boolean(true))
            .send()
            .await
            .expect("ship order");
    }
    // Deletes.
    for i in (3..300).step_by(7) {
        let id = format!("o{i:04}");
        c.delete_item()
            .table_name("Orders")
            .key("OrderId", s(&id))
            .send()
            .await
            .expect("delete order");
        orders.remove(&id);
    }
    for i in 0..3 {
        let id = format!("z{i}");
        c.delete_item()
            .table_name("Orders")
            .key("OrderId", s(&id))
            .send()
            .await
            .expect("delete order");
        orders.remove(&id);
    }
    eprintln!(
        "{} orders left after the writes ({:.1} s)",
        orders.len(),
        writes.elapsed().as_secs_f64()
    );

    let mut want: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (customer, cents) in orders.values() {
        let e = want.entry(customer.clone()).or_default();
        e.0 += 1;
        e.1 += cents;
    }
    assert!(!want.contains_key("zed"));

    let wait = Instant::now();
    let deadline = wait + Duration::from_secs(60);
    loop {
        let got = totals(&c).await;
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "CustomerTotals after 60 s:\n  got  {got:?}\n  want {want:?}\nserver log:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "aggregate caught up {:.1} s after the last write",
        wait.elapsed().as_secs_f64()
    );
    // And stays so (nothing was left to deliver that would change it again).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        totals(&c).await,
        want,
        "CustomerTotals changed after catching up"
    );
    // The handler logged one line per batch.
    let log = server.log_text();
    assert!(
        log.contains("aggregate: ") && log.contains("updates of CustomerTotals"),
        "no batch log line from the handler:\n{log}"
    );
}
