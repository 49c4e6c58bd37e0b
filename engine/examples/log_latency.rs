//! Measures how soon an in-process change-log subscriber gets a record, relative to the
//! PutItem that made it. Writers call the engine directly (fsync durability, group commit);
//! one subscriber follows every shard with `Subscription::after` + `ChangeLog::read`.
//!
//! cargo run --release -p tributary-engine --example log_latency -- [WRITERS] [PUTS_PER_WRITER]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tributary_engine::log::{LogConfig, SHARDS};
use tributary_engine::{Durability, Engine, EngineConfig};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let writers: usize = args.next().map_or(Ok(16), |a| a.parse())?;
    let per_writer: u64 = args.next().map_or(Ok(2000), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let engine = Arc::new(Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        durability: Durability::Fsync,
        log: LogConfig::default(),
        max_cached_files: None,
    })?);
    let create = json!({
        "TableName": "latency",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST"
    });
    engine
        .call("CreateTable", create.to_string().as_bytes())
        .ok_or("no CreateTable")??;
    let id = engine.table("latency").ok_or("no table")?.meta.id;
    let total = writers as u64 * per_writer;

    // (writer, i) -> when the subscriber got the record.
    let received: Arc<Mutex<HashMap<(u64, u64), Instant>>> = Arc::default();
    let sub_engine = engine.clone();
    let sub_received = received.clone();
    let mut sub = engine.log().subscribe();
    let start_seq = sub.last();
    let subscriber = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let mut next = [start_seq + 1; SHARDS as usize];
            let (mut last, mut count) = (start_seq, 0u64);
            while count < total {
                last = sub.after(last).await;
                for shard in 0..SHARDS {
                    let recs = sub_engine
                        .log()
                        .read(id, shard, next[shard as usize], last + 1, usize::MAX)
                        .map_err(|e| e.to_string())?;
                    let now = Instant::now();
                    let mut got = sub_received.lock().map_err(|e| e.to_string())?;
                    for r in &recs {
                        let new = r.new.as_ref().ok_or("no image")?;
                        let num = |k: &str| -> Result<u64, String> {
                            new[k].to_json()["N"]
                                .as_str()
                                .and_then(|n| n.parse().ok())
                                .ok_or_else(|| format!("no {k}"))
                        };
                        got.insert((num("w")?, num("i")?), now);
                        next[shard as usize] = r.seq + 1;
                        count += 1;
                    }
                }
            }
            Ok::<(), String>(())
        })
    });

    let started = Instant::now();
    let handles: Vec<_> = (0..writers as u64)
        .map(|w| {
            let e = engine.clone();
            std::thread::spawn(move || -> Result<Vec<(u64, Instant, Instant)>, String> {
                let mut out = Vec::with_capacity(per_writer as usize);
                for i in 0..per_writer {
                    let body = json!({"TableName": "latency", "Item": {
                        "pk": {"S": format!("w{w}-{}", i % 100)},
                        "w": {"N": w.to_string()}, "i": {"N": i.to_string()}}});
                    let called = Instant::now();
                    let outcome = e
                        .call("PutItem", body.to_string().as_bytes())
                        .ok_or("no PutItem")?
                        .map_err(|e| e.to_string())?;
                    e.syncer()
                        .wait_blocking(outcome.ticket)
                        .map_err(|e| e.to_string())?;
                    out.push((i, called, Instant::now()));
                }
                Ok(out)
            })
        })
        .collect();
    let mut sent = Vec::new();
    for (w, h) in handles.into_iter().enumerate() {
        let writes = h.join().map_err(|_| "writer panicked")??;
        sent.extend(writes.into_iter().map(|(i, c, a)| (w as u64, i, c, a)));
    }
    let elapsed = started.elapsed();
    subscriber.join().map_err(|_| "subscriber panicked")??;
    let got = received.lock().map_err(|e| e.to_string())?;
    let (mut from_ack, mut from_call, mut ack) = (Vec::new(), Vec::new(), Vec::new());
    let mut before_ack = 0;
    for (w, i, called, acked) in &sent {
        let r = got.get(&(*w, *i)).ok_or("record never received")?;
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        if r <= acked {
            before_ack += 1;
        }
        from_ack.push(us(r.saturating_duration_since(*acked)));
        from_call.push(us(r.saturating_duration_since(*called)));
        ack.push(us(acked.duration_since(*called)));
    }
    for v in [&mut from_ack, &mut from_call, &mut ack] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "{} puts by {writers} writers in {:.2}s ({:.0}/s), fsync durability",
        sent.len(),
        elapsed.as_secs_f64(),
        sent.len() as f64 / elapsed.as_secs_f64()
    );
    for (name, v) in [
        ("PutItem call -> ack          ", &ack),
        ("PutItem call -> subscriber   ", &from_call),
        ("ack -> subscriber (0 if before)", &from_ack),
    ] {
        println!(
            "{name}: p50 {:>7.1} us  p99 {:>7.1} us  max {:>8.1} us",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(0.0)
        );
    }
    println!(
        "records delivered before the writer's ack: {:.1}%",
        100.0 * before_ack as f64 / sent.len() as f64
    );
    Ok(())
}
