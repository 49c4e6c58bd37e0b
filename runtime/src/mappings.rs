//! Event-source mappings: a function subscribed to a table's stream. One worker thread per
//! enabled mapping walks the stream's shards from its checkpoints, invokes the function with
//! Lambda's DynamoDB event, and persists each shard's checkpoint only after the batch
//! succeeded (at-least-once, in order per item). New records wake the worker through the
//! change log's subscription; nothing polls on a timer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tributary_engine::log::SHARDS;
use tributary_engine::ops::streams;
use tributary_engine::Engine;

use crate::filter::Filters;
use crate::functions::{FunctionError, Functions};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MappingConfig {
    pub uuid: String,
    pub function_name: String,
    pub event_source_arn: String,
    pub batch_size: u64,
    pub max_batching_window_secs: u64,
    /// "TRIM_HORIZON" or "LATEST".
    pub starting_position: String,
    pub enabled: bool,
    /// -1: retry until the records expire.
    pub max_retry_attempts: i64,
    /// Seconds since the epoch.
    pub last_modified: f64,
    pub last_result: String,
    /// Lambda's FilterCriteria (`{"Filters":[{"Pattern":"..."}]}`), as given.
    #[serde(default)]
    pub filter_criteria: Option<Json>,
}

struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _joined = t.join();
        }
    }
}

pub struct Mappings {
    functions: Arc<Functions>,
    db: Arc<Engine>,
    /// `m/<uuid>` -> MappingConfig JSON; `k/<uuid>/<shard>` -> next sequence number (u64 BE).
    ks: fjall::Keyspace,
    workers: Mutex<HashMap<String, Worker>>,
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as f64
        / 1000.0
}

fn storage(e: impl std::fmt::Display) -> FunctionError {
    FunctionError::Storage(e.to_string())
}

impl Mappings {
    /// Opens the mappings and starts a worker for each enabled one.
    pub fn open(
        functions: Arc<Functions>,
        db: Arc<Engine>,
    ) -> Result<Arc<Mappings>, FunctionError> {
        let ks = db.aux_keyspace("mappings")?;
        let m = Arc::new(Mappings {
            functions,
            db,
            ks,
            workers: Mutex::default(),
        });
        for c in m.list()? {
            if c.enabled {
                m.start(&c);
            }
        }
        Ok(m)
    }

    fn put(&self, c: &MappingConfig) -> Result<(), FunctionError> {
        self.ks.insert(
            format!("m/{}", c.uuid),
            serde_json::to_vec(c).map_err(storage)?,
        )?;
        Ok(())
    }

    pub fn get(&self, uuid: &str) -> Result<Option<MappingConfig>, FunctionError> {
        match self.ks.get(format!("m/{uuid}"))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v).map_err(storage)?)),
            None => Ok(None),
        }
    }

    pub fn list(&self) -> Result<Vec<MappingConfig>, FunctionError> {
        let mut out = Vec::new();
        for g in self.ks.prefix("m/") {
            let (_, v) = g.into_inner()?;
            out.push(serde_json::from_slice(&v).map_err(storage)?);
        }
        Ok(out)
    }

    fn require(&self, uuid: &str) -> Result<MappingConfig, FunctionError> {
        self.get(uuid)?.ok_or_else(|| {
            FunctionError::NotFound(format!("The resource you requested does not exist. (Service: Lambda, Status Code: 404) {uuid}"))
        })
    }

    pub fn create(self: &Arc<Self>, mut c: MappingConfig) -> Result<MappingConfig, FunctionError> {
        self.functions.require(&c.function_name)?;
        let stream = streams::resolve(&self.db, &c.event_source_arn).map_err(|e| {
            FunctionError::InvalidParameter(format!(
                "Cannot access stream {}. Please ensure the role can perform the GetRecords, GetShardIterator, DescribeStream, and ListStreams Actions on your stream. ({e})",
                c.event_source_arn
            ))
        })?;
        if c.batch_size == 0 || c.batch_size > 10_000 {
            return Err(FunctionError::InvalidParameter(
                "BatchSize must be between 1 and 10000".into(),
            ));
        }
        Filters::parse(c.filter_criteria.as_ref()).map_err(FunctionError::InvalidParameter)?;
        match c.starting_position.as_str() {
            "TRIM_HORIZON" => {}
            "LATEST" => {
                let next = self.db.log().last_seq() + 1;
                for shard in 0..SHARDS {
                    self.set_checkpoint(
                        &c.uuid,
                        shard,
                        next.max(stream.first_position(&self.db, shard)),
                    )?;
                }
            }
            other => {
                return Err(FunctionError::InvalidParameter(format!(
                    "StartingPosition must be TRIM_HORIZON or LATEST, not {other}"
                )))
            }
        }
        c.last_modified = now_secs();
        c.last_result = "No records processed".into();
        self.put(&c)?;
        if c.enabled {
            self.start(&c);
        }
        Ok(c)
    }

    pub fn update(
        self: &Arc<Self>,
        uuid: &str,
        change: impl FnOnce(&mut MappingConfig),
    ) -> Result<MappingConfig, FunctionError> {
        let mut c = self.require(uuid)?;
        change(&mut c);
        Filters::parse(c.filter_criteria.as_ref()).map_err(FunctionError::InvalidParameter)?;
        if c.batch_size == 0 || c.batch_size > 10_000 {
            return Err(FunctionError::InvalidParameter(
                "BatchSize must be between 1 and 10000".into(),
            ));
        }
        c.last_modified = now_secs();
        self.put(&c)?;
        self.workers.lock().remove(uuid);
        if c.enabled {
            self.start(&c);
        }
        Ok(c)
    }

    pub fn delete(&self, uuid: &str) -> Result<MappingConfig, FunctionError> {
        let c = self.require(uuid)?;
        self.workers.lock().remove(uuid);
        self.ks.remove(format!("m/{uuid}"))?;
        for shard in 0..SHARDS {
            self.ks.remove(format!("k/{uuid}/{shard}"))?;
        }
        Ok(c)
    }

    fn checkpoint(&self, uuid: &str, shard: u16) -> Result<Option<u64>, FunctionError> {
        Ok(self
            .ks
            .get(format!("k/{uuid}/{shard}"))?
            .and_then(|v| <[u8; 8]>::try_from(&v[..]).ok())
            .map(u64::from_be_bytes))
    }

    fn set_checkpoint(&self, uuid: &str, shard: u16, next: u64) -> Result<(), FunctionError> {
        self.ks
            .insert(format!("k/{uuid}/{shard}"), next.to_be_bytes().to_vec())?;
        Ok(())
    }

    fn start(self: &Arc<Self>, c: &MappingConfig) {
        let stop = Arc::new(AtomicBool::new(false));
        let (me, cfg, flag) = (self.clone(), c.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name(format!("esm-{}", &c.uuid[..8.min(c.uuid.len())]))
            .spawn(move || me.run(cfg, flag));
        match thread {
            Ok(t) => {
                self.workers.lock().insert(
                    c.uuid.clone(),
                    Worker {
                        stop,
                        thread: Some(t),
                    },
                );
            }
            Err(e) => tracing::error!(mapping = %c.uuid, "cannot start the mapping's worker: {e}"),
        }
    }

    /// The worker: deliver every shard's records in order, then wait for new ones.
    fn run(self: Arc<Self>, c: MappingConfig, stop: Arc<AtomicBool>) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(mapping = %c.uuid, "cannot start the mapping's clock: {e}");
                return;
            }
        };
        let mut sub = self.db.log().subscribe();
        let mut failures: HashMap<u16, u32> = HashMap::new();
        while !stop.load(Ordering::Relaxed) {
            let seen = sub.last();
            let mut delivered = false;
            let mut backoff = None;
            match streams::resolve(&self.db, &c.event_source_arn) {
                Ok(stream) => {
                    for shard in 0..SHARDS {
                        match self.deliver(&c, &stream, shard) {
                            Ok(true) => {
                                delivered = true;
                                failures.remove(&shard);
                            }
                            Ok(false) => {}
                            Err(e) => {
                                let n = failures.entry(shard).or_insert(0);
                                *n += 1;
                                tracing::warn!(mapping = %c.uuid, function = %c.function_name, shard, attempt = *n, "batch failed: {e}");
                                if c.max_retry_attempts >= 0 && i64::from(*n) > c.max_retry_attempts
                                {
                                    if let Err(e) = self.skip_batch(&c, &stream, shard) {
                                        tracing::error!(mapping = %c.uuid, "cannot skip the failed batch: {e}");
                                    }
                                    failures.remove(&shard);
                                } else {
                                    let wait = Duration::from_millis(100u64 << (*n).min(6));
                                    backoff = Some(backoff.map_or(wait, |b: Duration| b.min(wait)));
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(mapping = %c.uuid, "stream unavailable: {e}");
                    backoff = Some(Duration::from_secs(1));
                }
            }
            if let Some(wait) = backoff {
                std::thread::sleep(wait.min(Duration::from_secs(5)));
            } else if !delivered {
                // Caught up: sleep until something is committed (or a second passes, to
                // notice a stop request).
                let _ = rt.block_on(async {
                    tokio::time::timeout(Duration::from_secs(1), sub.after(seen)).await
                });
            }
        }
    }

    /// Delivers one batch of a shard; `Ok(false)` when there was nothing to deliver.
    fn deliver(
        &self,
        c: &MappingConfig,
        stream: &streams::Stream,
        shard: u16,
    ) -> Result<bool, String> {
        let first = stream.first_position(&self.db, shard);
        let from = self
            .checkpoint(&c.uuid, shard)
            .map_err(|e| e.to_string())?
            .unwrap_or(first)
            .max(first);
        let records = self
            .db
            .log()
            .read(
                stream.table.meta.id,
                shard,
                from,
                stream.end(),
                c.batch_size as usize,
            )
            .map_err(|e| e.to_string())?;
        let Some(last) = records.last().map(|r| r.seq) else {
            return Ok(false);
        };
        let filters = Filters::parse(c.filter_criteria.as_ref())?;
        let event: Vec<Json> = records
            .iter()
            .map(|r| {
                let mut j = streams::stream_record(&self.db, stream, r).0;
                j["eventSourceARN"] = json!(c.event_source_arn);
                j
            })
            .filter(|j| filters.matches(j))
            .collect();
        if event.is_empty() {
            // Nothing in this batch passes the filters: skip it, as Lambda does.
            self.set_checkpoint(&c.uuid, shard, last + 1)
                .map_err(|e| e.to_string())?;
            return Ok(true);
        }
        let payload = json!({ "Records": event }).to_string();
        let inv = self
            .functions
            .invoke(&c.function_name, &payload)
            .map_err(|e| e.to_string())?;
        for l in &inv.logs {
            tracing::info!(function = %c.function_name, level = l.level, "{}", l.message);
        }
        inv.result.map_err(|e| format!("handler error: {e}"))?;
        self.set_checkpoint(&c.uuid, shard, last + 1)
            .map_err(|e| e.to_string())?;
        Ok(true)
    }

    /// Moves a shard's checkpoint past the batch that kept failing.
    fn skip_batch(
        &self,
        c: &MappingConfig,
        stream: &streams::Stream,
        shard: u16,
    ) -> Result<(), FunctionError> {
        let first = stream.first_position(&self.db, shard);
        let from = self.checkpoint(&c.uuid, shard)?.unwrap_or(first).max(first);
        let records = self.db.log().read(
            stream.table.meta.id,
            shard,
            from,
            stream.end(),
            c.batch_size as usize,
        )?;
        if let Some(last) = records.last() {
            tracing::error!(mapping = %c.uuid, shard, records = records.len(), "retries exhausted: skipping the batch");
            self.set_checkpoint(&c.uuid, shard, last.seq + 1)?;
        }
        Ok(())
    }
}
