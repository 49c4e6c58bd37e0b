//! Applies the other regions' changes: one durable pull consumer per region (named after
//! it) on the replication stream, so a region that was down resumes where it stopped. A
//! batch of messages is applied through the engine's `apply_replicated` (last writer wins,
//! idempotent, so redeliveries are harmless), made durable, and only then acknowledged.
//! Messages this region published come back on the same stream and are skipped. The end of
//! a backfill meant for this region is reported applied (`BackfillApplied`) once everything
//! before it is durable here; such a report for a replica this region backfills turns the
//! replica ACTIVE.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures_util::StreamExt;
use serde_json::json;
use tributary_engine::clock::now_ms;
use tributary_engine::value::item_from_json;
use tributary_engine::versions::{Applied, Remote};
use tributary_engine::Engine;

use super::error::{ReplicationError, Result};
use super::message::{self, BackfillApplied, ItemChange, Message, TableState};

/// Histogram: from the commit in the origin region to durable here, by origin region.
pub const LATENCY: &str = "tributary_replication_latency_seconds";
/// Gauge: the latency of the last change applied from each origin region.
pub const LAG: &str = "tributary_replication_lag_seconds";
/// Counter: changes received, by origin and result (written, version, stale, skipped).
pub const APPLIED: &str = "tributary_replication_applied_total";

const BATCH: usize = 1000;

pub async fn run(engine: Arc<Engine>, js: jetstream::Context, stream: String) {
    let mut wait = Duration::from_millis(200);
    loop {
        match consume(&engine, &js, &stream).await {
            Ok(()) => wait = Duration::from_millis(200),
            Err(e) => {
                tracing::debug!("replication: consumer stopped ({e}); starting it again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// The durable consumer of a region.
pub fn consumer_name(region: &str) -> String {
    format!("region-{region}")
}

async fn consume(engine: &Arc<Engine>, js: &jetstream::Context, stream: &str) -> Result<()> {
    let region = engine.region().to_owned();
    let durable = consumer_name(&region);
    let stream = js
        .get_stream(stream)
        .await
        .map_err(ReplicationError::nats)?;
    let consumer = stream
        .get_or_create_consumer(
            &durable,
            pull::Config {
                durable_name: Some(durable.clone()),
                filter_subject: format!("{}.>", message::PREFIX),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                deliver_policy: jetstream::consumer::DeliverPolicy::All,
                max_ack_pending: 20_000,
                ack_wait: Duration::from_secs(10),
                ..Default::default()
            },
        )
        .await
        .map_err(ReplicationError::nats)?;
    let messages = consumer
        .stream()
        .max_messages_per_batch(BATCH)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .map_err(ReplicationError::nats)?;
    tracing::info!(consumer = %durable, "replication: receiving the other regions' changes");
    let mut chunks = messages.ready_chunks(BATCH);
    while let Some(chunk) = chunks.next().await {
        let mut batch = Vec::with_capacity(chunk.len());
        for m in chunk {
            batch.push(m.map_err(ReplicationError::nats)?);
        }
        let payloads: Vec<(String, bytes::Bytes)> = batch
            .iter()
            .map(|m| (m.subject.to_string(), m.payload.clone()))
            .collect();
        let e = engine.clone();
        let applied = tokio::task::spawn_blocking(move || apply_batch(&e, &payloads)).await??;
        engine.syncer().wait(applied.ticket).await?;
        let now = now_ms();
        for (origin, ms) in applied.latencies {
            let secs = now.saturating_sub(ms) as f64 / 1000.0;
            metrics::histogram!(LATENCY, "origin" => origin.clone()).record(secs);
            metrics::gauge!(LAG, "origin" => origin).set(secs);
        }
        let ends: Vec<usize> = applied.reports.iter().map(|(i, _)| *i).collect();
        for (i, m) in batch.iter().enumerate() {
            if ends.contains(&i) {
                continue;
            }
            if ends.is_empty() {
                m.ack().await.map_err(ReplicationError::Nats)?;
            } else {
                // Confirmed, so that the ack floor below counts it.
                m.double_ack().await.map_err(ReplicationError::Nats)?;
            }
        }
        // The end of a backfill is reported once every message before it is applied here:
        // this batch is, but a message delivered before a restart and not acknowledged comes
        // back only later, out of order. Until then the end is handed back (redelivered a
        // second later); it is acknowledged only after the report, so a crash between the
        // two reports it again.
        for (i, report) in applied.reports {
            let m = &batch[i];
            let seq = m.info().map_err(ReplicationError::Nats)?.stream_sequence;
            let floor = consumer
                .get_info()
                .await
                .map_err(ReplicationError::nats)?
                .ack_floor
                .stream_sequence;
            if floor.saturating_add(1) < seq {
                tracing::debug!(table = %report.table, floor, seq, "replication: backfill end before earlier changes applied; checking again");
                m.ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                    .await
                    .map_err(ReplicationError::Nats)?;
                continue;
            }
            let payload = serde_json::to_vec(&Message::BackfillApplied(report))?;
            js.publish(message::table_subject(&region), payload.into())
                .await
                .map_err(ReplicationError::nats)?
                .await
                .map_err(ReplicationError::nats)?;
            m.ack().await.map_err(ReplicationError::Nats)?;
        }
    }
    Ok(())
}

/// What applying a batch did.
#[derive(Default)]
struct Batch {
    /// The ticket to wait on.
    ticket: Option<tributary_engine::durability::Ticket>,
    /// Origin and commit time of each applied item change.
    latencies: Vec<(String, u64)>,
    /// Backfills of this region's replicas that ended in the batch (with the index of their
    /// end in the batch), to report once durable.
    reports: Vec<(usize, BackfillApplied)>,
}

/// Applies a batch of messages. Fails (the batch stays unacknowledged and JetStream
/// redelivers it) while the storage cannot take writes or when a change fails on the server
/// side: nothing is acknowledged that is not stored here.
fn apply_batch(engine: &Engine, payloads: &[(String, bytes::Bytes)]) -> Result<Batch> {
    // Held for the batch: tables do not vanish while the engine reopens its database.
    let _op = engine.operation()?;
    engine
        .health()
        .map_err(|reason| ReplicationError::StorageRefuses(reason.to_string()))?;
    let region = engine.region();
    let Batch {
        mut ticket,
        mut latencies,
        mut reports,
    } = Batch::default();
    for (i, (subject, payload)) in payloads.iter().enumerate() {
        if message::origin_of(subject) == Some(region) {
            continue;
        }
        match serde_json::from_slice::<Message>(payload) {
            Ok(Message::Item(change)) => {
                let (origin, ms) = (change.o.clone(), change.ms);
                let (result, t) = apply_item(engine, change)?;
                metrics::counter!(APPLIED, "origin" => origin.clone(), "result" => result)
                    .increment(1);
                if t.is_some() {
                    ticket = t;
                }
                if ms > 0 {
                    latencies.push((origin, ms));
                }
            }
            Ok(Message::Table(state)) => apply_table_state(engine, state),
            Ok(Message::BackfillDone(done)) => {
                let id = done
                    .regions
                    .iter()
                    .find(|(r, _)| r == region)
                    .map(|(_, id)| *id);
                let member = engine
                    .table(&done.table)
                    .is_some_and(|t| t.meta.replicas.iter().any(|r| r.region == region));
                if let (Some(id), true) = (id, member) {
                    tracing::info!(table = %done.table, from = %done.from, items = done.items, "replication: backfill received; reporting it applied once durable");
                    reports.push((
                        i,
                        BackfillApplied {
                            table: done.table,
                            region: region.to_owned(),
                            id,
                            from: done.from,
                        },
                    ));
                }
            }
            Ok(Message::BackfillApplied(report)) => {
                match engine.activate_replica(&report.table, &report.region, report.id) {
                    Ok(true) => {
                        tracing::info!(table = %report.table, region = %report.region, "replication: the new replica has applied its backfill; replica ACTIVE")
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(table = %report.table, region = %report.region, "replication: cannot mark the replica ACTIVE: {e}")
                    }
                }
            }
            Err(e) => tracing::warn!(subject, "replication: unreadable message skipped: {e}"),
        }
    }
    Ok(Batch {
        ticket,
        latencies,
        reports,
    })
}

fn apply_item(
    engine: &Engine,
    c: ItemChange,
) -> Result<(&'static str, Option<tributary_engine::durability::Ticket>)> {
    if !engine.table(&c.t).is_some_and(|t| t.meta.is_global()) {
        return Ok(("skipped", None)); // not a replica here (yet, or any more)
    }
    let parsed = item_from_json(&c.k).and_then(|keys| {
        let new = c.n.as_ref().map(item_from_json).transpose()?;
        Ok((keys, new))
    });
    let result = parsed.and_then(|(keys, new)| {
        engine.apply_replicated(
            &c.t,
            &keys,
            new,
            Remote {
                hlc: c.h,
                origin: c.o.clone(),
            },
        )
    });
    Ok(match result {
        Ok((Applied::Written, t)) => ("written", t),
        Ok((Applied::VersionOnly, t)) => ("version", t),
        Ok((Applied::Stale, t)) => ("stale", t),
        Err(e) if !e.is_client_error() => {
            return Err(ReplicationError::NotApplied {
                origin: c.o.clone(),
                source: e,
            });
        }
        Err(e) => {
            tracing::warn!(table = %c.t, origin = %c.o, "replication: change not applied: {e}");
            ("skipped", None)
        }
    })
}

/// A replica set from another region: creates the table when this region joins it, drops
/// it when this region was removed, and keeps the newest set.
fn apply_table_state(engine: &Engine, s: TableState) {
    let here = engine.region();
    let member = s.replicas.iter().any(|r| r.region == here);
    let existing = engine.table(&s.table);
    let newer = existing.as_ref().is_none_or(|t| {
        tributary_engine::versions::compare(
            (s.hlc, &s.origin),
            (t.meta.replicas_hlc, &t.meta.replicas_origin),
        )
        .is_gt()
    });
    if !newer {
        return;
    }
    if member {
        if existing.is_none() {
            match engine.call("CreateTable", s.create.to_string().as_bytes()) {
                Some(Ok(_)) => {
                    tracing::info!(table = %s.table, from = %s.origin, "replication: created the table of a global table this region joined")
                }
                Some(Err(e)) => {
                    tracing::warn!(table = %s.table, "replication: cannot create the replica table: {e}");
                    return;
                }
                None => return,
            }
        }
        match engine.apply_replica_set(&s.table, s.replicas, s.hlc, &s.origin) {
            Ok(true) => {
                tracing::info!(table = %s.table, from = %s.origin, "replication: replica set updated")
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(table = %s.table, "replication: replica set not applied: {e}"),
        }
    } else if existing.is_some_and(|t| t.meta.replicas_hlc > 0) {
        // This region's replica was deleted: so is its table, as in DynamoDB.
        let _ = engine.apply_replica_set(&s.table, Vec::new(), s.hlc, &s.origin);
        let body = json!({ "TableName": s.table }).to_string();
        match engine.call("DeleteTable", body.as_bytes()) {
            Some(Ok(_)) => {
                tracing::info!(table = %s.table, from = %s.origin, "replication: replica removed from this region; table deleted")
            }
            Some(Err(e)) => {
                tracing::warn!(table = %s.table, "replication: cannot delete the removed replica: {e}")
            }
            None => {}
        }
    }
}
