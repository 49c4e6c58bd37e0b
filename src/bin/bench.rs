//! `tributary-bench`: a load generator for any DynamoDB endpoint.
//!
//! Each worker keeps one HTTP/1.1 keep-alive connection and sends SigV4-signed JSON 1.0
//! requests exactly as an SDK does (signing every request), one at a time, for a fixed duration.
//! It reports operations per second and latency percentiles per operation. See bench/README.md.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "tributary-bench",
    about = "Load generator for DynamoDB-compatible endpoints"
)]
struct Args {
    /// Endpoint to load, as http://host:port.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    endpoint: String,
    /// Operations to measure, in order: put, get, query, batch (BatchWriteItem of 25 puts),
    /// tx (TransactWriteItems of two updates).
    #[arg(long, value_delimiter = ',', default_value = "put,get,query")]
    ops: Vec<Op>,
    /// Concurrent requests in flight (one connection each).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds per operation.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Unmeasured warm-up seconds before each operation.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Table to use; created (pk S, sk N) when missing.
    #[arg(long, default_value = "bench")]
    table: String,
    /// Distinct items: puts overwrite random ones, gets and queries read them.
    #[arg(long, default_value_t = 10_000)]
    items: u64,
    /// Items per partition (a Query returns this many).
    #[arg(long, default_value_t = 10)]
    per_partition: u64,
    /// Bytes of payload per item.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Region used in signatures.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Access key the requests are signed with (a server with `[auth] mode = "sigv4"` must
    /// know it).
    #[arg(long, default_value = "AKIDBENCH")]
    access_key_id: String,
    #[arg(long, default_value = "bench-secret")]
    secret_access_key: String,
    /// Client threads (the generator shares the machine with the server: keep it small).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Skip loading all items before reads.
    #[arg(long)]
    no_load: bool,
    /// A label printed with each result (e.g. "tributary-fsync").
    #[arg(long, default_value = "")]
    label: String,
    /// Print one JSON object per operation instead of a table row.
    #[arg(long)]
    json: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Op {
    Put,
    Get,
    Query,
    /// BatchWriteItem of 25 puts.
    Batch,
    /// TransactWriteItems moving 1 between two items (two Update actions).
    Tx,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Put => "PutItem",
            Op::Get => "GetItem",
            Op::Query => "Query",
            Op::Batch => "BatchWriteItem",
            Op::Tx => "TransactWriteItems",
        }
    }

    /// Items written per request.
    fn items(self) -> u64 {
        match self {
            Op::Batch => 25,
            Op::Tx => 2,
            _ => 1,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Signs and sends requests over one keep-alive connection.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
    region: String,
    creds: aws_smithy_runtime_api::client::identity::Identity,
}

impl Conn {
    async fn open(args: &Args) -> Result<Conn, BoxError> {
        let host = args
            .endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let stream = tokio::net::TcpStream::connect(&host).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let creds = Credentials::new(
            args.access_key_id.clone(),
            args.secret_access_key.clone(),
            None,
            None,
            "bench",
        )
        .into();
        Ok(Conn {
            sender,
            host,
            region: args.region.clone(),
            creds,
        })
    }

    /// Sends one request; returns the HTTP status and body.
    async fn call(&mut self, op: &str, body: Vec<u8>) -> Result<(u16, Bytes), BoxError> {
        let target = format!("DynamoDB_20120810.{op}");
        let uri = format!("http://{}/", self.host);
        let headers = [
            ("host", self.host.as_str()),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", target.as_str()),
        ];
        let params: aws_sigv4::http_request::SigningParams = v4::SigningParams::builder()
            .identity(&self.creds)
            .region(&self.region)
            .name("dynamodb")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let signable = SignableRequest::new(
            "POST",
            uri.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut builder = http::Request::builder().method("POST").uri("/");
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        let mut req = builder.body(Full::new(Bytes::from(body)))?;
        instructions.apply_to_request_http1x(&mut req);
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }

    async fn call_ok(&mut self, op: &str, body: Value) -> Result<Value, BoxError> {
        let (status, bytes) = self.call(op, serde_json::to_vec(&body)?).await?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status != 200 {
            return Err(format!("{op} failed ({status}): {v}").into());
        }
        Ok(v)
    }
}

/// A small, fast PRNG (xorshift64*), one per worker.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn key(args: &Args, i: u64) -> Value {
    json!({
        "pk": {"S": format!("p{}", i / args.per_partition)},
        "sk": {"N": (i % args.per_partition).to_string()},
    })
}

fn request(args: &Args, op: Op, rng: &mut Rng, payload: &str) -> Value {
    match op {
        Op::Put => {
            let i = rng.below(args.items);
            let mut item = key(args, i);
            item["v"] = json!({"S": payload});
            item["n"] = json!({"N": i.to_string()});
            json!({"TableName": args.table, "Item": item})
        }
        Op::Get => json!({"TableName": args.table, "Key": key(args, rng.below(args.items))}),
        Op::Batch => {
            let mut seen = std::collections::HashSet::new();
            let mut puts = Vec::with_capacity(25);
            while puts.len() < 25 {
                let i = rng.below(args.items.max(25));
                if !seen.insert(i) {
                    continue;
                }
                let mut item = key(args, i);
                item["v"] = json!({"S": payload});
                item["n"] = json!({"N": i.to_string()});
                puts.push(json!({"PutRequest": {"Item": item}}));
            }
            json!({"RequestItems": {args.table.as_str(): puts}})
        }
        Op::Tx => {
            let a = rng.below(args.items.max(2));
            let b = (a + 1 + rng.below(args.items.max(2) - 1)) % args.items.max(2);
            let update = |i: u64, delta: i64| {
                json!({"Update": {
                    "TableName": args.table, "Key": key(args, i),
                    "UpdateExpression": "ADD bal :d",
                    "ExpressionAttributeValues": {":d": {"N": delta.to_string()}}}})
            };
            json!({"TransactItems": [update(a, -1), update(b, 1)]})
        }
        Op::Query => {
            let partitions = args.items.div_ceil(args.per_partition);
            json!({
                "TableName": args.table,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": format!("p{}", rng.below(partitions))}},
            })
        }
    }
}

async fn ensure_table(args: &Args) -> Result<(), BoxError> {
    let mut c = Conn::open(args).await?;
    let (status, _) = c
        .call(
            "DescribeTable",
            serde_json::to_vec(&json!({"TableName": args.table}))?,
        )
        .await?;
    if status == 200 {
        return Ok(());
    }
    c.call_ok(
        "CreateTable",
        json!({
            "TableName": args.table,
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"}
            ],
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"}
            ],
            "ProvisionedThroughput": {"ReadCapacityUnits": 1000, "WriteCapacityUnits": 1000}
        }),
    )
    .await?;
    for _ in 0..600 {
        let d = c
            .call_ok("DescribeTable", json!({"TableName": args.table}))
            .await?;
        if d["Table"]["TableStatus"] == "ACTIVE" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("table did not become ACTIVE".into())
}

/// Writes every item once, concurrently, so that reads find what they look for.
async fn load(args: &Arc<Args>, payload: &Arc<String>) -> Result<(), BoxError> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (args, payload, next) = (args.clone(), payload.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&args).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= args.items {
                    return Ok::<(), BoxError>(());
                }
                let mut item = key(&args, i);
                item["v"] = json!({"S": payload.as_str()});
                item["n"] = json!({"N": i.to_string()});
                c.call_ok("PutItem", json!({"TableName": args.table, "Item": item}))
                    .await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    eprintln!(
        "loaded {} items in {:.1}s",
        args.items,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

struct Outcome {
    ops: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    first_error: Option<String>,
}

async fn run(args: &Arc<Args>, op: Op, payload: &Arc<String>) -> Result<Outcome, BoxError> {
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..args.concurrency {
        let (args, payload) = (args.clone(), payload.clone());
        let (measuring, stop) = (measuring.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&args).await?;
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1).wrapping_mul(0xD1B5_4A32));
            let mut out = Outcome {
                ops: 0,
                errors: 0,
                latencies_us: Vec::with_capacity(1 << 16),
                first_error: None,
            };
            while !stop.load(Ordering::Relaxed) {
                let body = serde_json::to_vec(&request(&args, op, &mut rng, &payload))?;
                let t = Instant::now();
                let (status, resp) = c.call(op.name(), body).await?;
                let us = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                if status == 200 {
                    out.ops += 1;
                    out.latencies_us.push(us);
                } else {
                    out.errors += 1;
                    out.first_error.get_or_insert_with(|| {
                        format!("{status}: {}", String::from_utf8_lossy(&resp))
                    });
                }
            }
            Ok::<Outcome, BoxError>(out)
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut total = Outcome {
        ops: 0,
        errors: 0,
        latencies_us: Vec::new(),
        first_error: None,
    };
    for t in tasks {
        let o = t.await??;
        total.ops += o.ops;
        total.errors += o.errors;
        total.latencies_us.extend(o.latencies_us);
        if total.first_error.is_none() {
            total.first_error = o.first_error;
        }
    }
    // Normalise to the measured window (a few requests complete just after it closes).
    total.ops = (total.ops as f64 * args.duration as f64 / elapsed.as_secs_f64()) as u64;
    Ok(total)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

fn report(args: &Args, op: Op, mut o: Outcome) {
    o.latencies_us.sort_unstable();
    let l = &o.latencies_us;
    let ops_s = o.ops as f64 / args.duration as f64;
    let items_s = ops_s * op.items() as f64;
    let (p50, p90, p99) = (percentile(l, 0.5), percentile(l, 0.9), percentile(l, 0.99));
    let max = l.last().copied().unwrap_or(0) as f64 / 1000.0;
    if args.json {
        println!(
            "{}",
            json!({
                "label": args.label, "op": op.name(), "concurrency": args.concurrency,
                "ops_per_sec": ops_s.round(), "items_per_sec": items_s.round(), "p50_ms": p50, "p90_ms": p90, "p99_ms": p99,
                "max_ms": max, "errors": o.errors,
            })
        );
    } else {
        let items = if op.items() > 1 {
            format!("  ({items_s:.0} items/s)")
        } else {
            String::new()
        };
        println!(
            "{:<18} {:<8} c={:<3} {:>9.0} ops/s  p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  max {:>8.3} ms  errors {}{items}",
            args.label, op.name(), args.concurrency, ops_s, p50, p90, p99, max, o.errors
        );
    }
    if let Some(e) = o.first_error {
        eprintln!("first error for {}: {e}", op.name());
    }
}

async fn main_async(args: Arc<Args>) -> Result<(), BoxError> {
    ensure_table(&args).await?;
    let payload = Arc::new("x".repeat(args.value_size));
    let mut loaded = args.no_load;
    for &op in &args.ops {
        if matches!(op, Op::Get | Op::Query | Op::Tx) && !loaded {
            load(&args, &payload).await?;
            loaded = true;
        }
        let outcome = run(&args, op, &payload).await?;
        report(&args, op, outcome);
    }
    Ok(())
}

fn main() {
    let args = Arc::new(Args::parse());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build();
    let result = match rt {
        Ok(rt) => rt.block_on(main_async(args)),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = result {
        eprintln!("tributary-bench: {e}");
        std::process::exit(1);
    }
}
