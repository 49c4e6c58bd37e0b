//! Replication figures:
//! `cargo bench --bench replication [-- --seconds 15 --rates 1000,5000 --durability fsync]`.
//!
//! Starts a nats-server and three release `tributary` regions on free ports (as the tests
//! do), declares one global table, then:
//! - for each rate: spreads that many PutItems per second over the three regions while a
//!   probe writes an item in one region and polls another with GetItem (every 1 ms) until it
//!   is visible; reports the acknowledgment-to-visibility latency (p50, p90, p99, max);
//! - catch-up: SIGKILLs one region, writes `--backlog` items to another, restarts it and
//!   measures how fast it applies the backlog (records/s, from its metrics).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use common::{client_for, http_get, NatsServer, Server};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-south-1"];
const TABLE: &str = "ReplBench";

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Sum of `tributary_replication_applied_total` for one origin in a region's metrics.
fn applied_from(server: &Server, origin: &str) -> u64 {
    let (_, text) = http_get(server.addr, "/metrics").unwrap_or((0, String::new()));
    text.lines()
        .filter(|l| {
            l.starts_with("tributary_replication_applied_total")
                && l.contains(&format!("origin=\"{origin}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn load_and_probe(servers: &[Server], rate: u64, seconds: u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    // Enough sequential writers that each waits ~10 ms between requests at the offered rate.
    let workers_per_region = (rate / 300).max(4);
    let per_worker = rate as f64 / (3 * workers_per_region) as f64;
    let mut tasks = Vec::new();
    for (r, s) in servers.iter().enumerate() {
        for w in 0..workers_per_region {
            let c = client_for(&s.endpoint());
            let (stop, written, errors) = (stop.clone(), written.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_worker));
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    n += 1;
                    let key = format!("load-{r}-{w}-{}", n % 5000);
                    let out = c
                        .put_item()
                        .table_name(TABLE)
                        .item("pk", AttributeValue::S(key))
                        .item("v", AttributeValue::N(n.to_string()))
                        .item("pad", AttributeValue::S("x".repeat(100)))
                        .send()
                        .await;
                    match out {
                        Ok(_) => written.fetch_add(1, Ordering::Relaxed),
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // warm-up
    let started = Instant::now();
    let written_before = written.load(Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut n = 0usize;
    while started.elapsed() < Duration::from_secs(seconds) {
        n += 1;
        let from = n % 3;
        let to = (from + 1 + n / 3 % 2) % 3;
        let (cf, ct) = (
            client_for(&servers[from].endpoint()),
            client_for(&servers[to].endpoint()),
        );
        let key = format!("probe-{rate}-{n}");
        cf.put_item()
            .table_name(TABLE)
            .item("pk", AttributeValue::S(key.clone()))
            .send()
            .await
            .expect("probe put");
        let acked = Instant::now();
        loop {
            let got = ct
                .get_item()
                .table_name(TABLE)
                .key("pk", AttributeValue::S(key.clone()))
                .send()
                .await
                .expect("probe get");
            if got.item().is_some() {
                latencies.push(acked.elapsed());
                break;
            }
            if acked.elapsed() > Duration::from_secs(30) {
                panic!("probe {key} not visible after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let achieved = (written.load(Ordering::Relaxed) - written_before) as f64 / elapsed;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    latencies.sort();
    println!(
        "offered {rate:>5} writes/s: achieved {achieved:>6.0} writes/s ({} errors); ack -> visible in another region over {} probes: p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        errors.load(Ordering::Relaxed),
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
}

async fn catch_up(servers: &mut [Server], backlog: u64) {
    servers[2].kill();
    let c = client_for(&servers[0].endpoint());
    let written = Instant::now();
    let mut loaders = Vec::new();
    for part in 0..4u64 {
        let c = c.clone();
        loaders.push(tokio::spawn(async move {
            let mut n = part;
            while n < backlog {
                let mut writes = Vec::new();
                while writes.len() < 25 && n < backlog {
                    writes.push(
                        WriteRequest::builder()
                            .put_request(
                                PutRequest::builder()
                                    .item("pk", AttributeValue::S(format!("backlog-{n}")))
                                    .item("pad", AttributeValue::S("x".repeat(100)))
                                    .build()
                                    .expect("put"),
                            )
                            .build(),
                    );
                    n += 4;
                }
                c.batch_write_item()
                    .request_items(TABLE, writes)
                    .send()
                    .await
                    .expect("batch");
            }
        }));
    }
    for l in loaders {
        l.await.expect("loader");
    }
    println!(
        "catch-up: wrote {backlog} items to us-east-1 in {:.1} s while ap-south-1 was down",
        written.elapsed().as_secs_f64()
    );
    // Counters restart with the process: what it applies from us-east-1 is the backlog.
    let restarted = Instant::now();
    servers[2].start_again();
    let ready = restarted.elapsed();
    let target = backlog;
    loop {
        let applied = applied_from(&servers[2], "us-east-1");
        if applied >= target {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(600),
            "ap-south-1 applied only {applied} of {target}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = restarted.elapsed() - ready;
    println!(
        "catch-up: ap-south-1 restarted in {:.2} s, then applied {target} records in {:.2} s: {:.0} records/s",
        ready.as_secs_f64(),
        took.as_secs_f64(),
        target as f64 / took.as_secs_f64()
    );
}

fn main() {
    let seconds: u64 = arg("--seconds", "15").parse().expect("--seconds");
    let backlog: u64 = arg("--backlog", "50000").parse().expect("--backlog");
    let durability = arg("--durability", "fsync");
    let rates: Vec<u64> = arg("--rates", "1000,5000")
        .split(',')
        .map(|r| r.parse().expect("--rates"))
        .collect();
    let tmp = tempfile::tempdir().expect("tmp");
    let config = tmp.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "worker_threads = 2\n[replication]\npeers = {REGIONS:?}\n[[replication.tables]]\nname = \"{TABLE}\"\npartition_key = \"pk:S\"\n"
        ),
    )
    .expect("config");
    let config = config.display().to_string();
    let nats = NatsServer::start();
    let url = nats.url();
    let mut servers: Vec<Server> = REGIONS
        .iter()
        .map(|r| {
            Server::start_in(
                r,
                &[
                    "--nats",
                    &url,
                    "--config",
                    &config,
                    "--durability",
                    &durability,
                ],
            )
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for rate in rates {
            load_and_probe(&servers, rate, seconds).await;
        }
        catch_up(&mut servers, backlog).await;
    });
}
