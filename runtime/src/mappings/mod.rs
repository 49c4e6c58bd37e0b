//! Event-source mappings: a function subscribed to a table's stream. One worker thread per
//! enabled mapping walks the stream's shards from their checkpoints and delivers batches
//! (see `worker.rs`); checkpoints are persisted only after a batch succeeded or was given up
//! to its on-failure destination (at-least-once, in order per item).

pub mod config;
pub mod destination;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tributary_engine::clock::now_secs;
use tributary_engine::log::SHARDS;
use tributary_engine::stream as streams;
use tributary_engine::Engine;

pub use config::MappingConfig;

use crate::filter::Filters;
use crate::functions::{FunctionError, Functions};

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
    /// Resolved on the engine's current database at each call.
    ks: tributary_engine::AuxKeyspace,
    workers: Mutex<HashMap<String, Worker>>,
    /// LastProcessingResult per mapping, kept in memory.
    results: Mutex<HashMap<String, String>>,
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
            results: Mutex::default(),
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

    fn with_result(&self, mut c: MappingConfig) -> MappingConfig {
        if let Some(r) = self.results.lock().get(&c.uuid) {
            c.last_result = r.clone();
        }
        c
    }

    pub fn get(&self, uuid: &str) -> Result<Option<MappingConfig>, FunctionError> {
        match self.ks.get(format!("m/{uuid}"))? {
            Some(v) => Ok(Some(
                self.with_result(serde_json::from_slice(&v).map_err(storage)?),
            )),
            None => Ok(None),
        }
    }

    pub fn list(&self) -> Result<Vec<MappingConfig>, FunctionError> {
        let mut out = Vec::new();
        for g in self.ks.prefix("m/")? {
            let (_, v) = g.into_inner()?;
            out.push(self.with_result(serde_json::from_slice(&v).map_err(storage)?));
        }
        Ok(out)
    }

    fn require(&self, uuid: &str) -> Result<MappingConfig, FunctionError> {
        self.get(uuid)?.ok_or_else(|| {
            FunctionError::NotFound(format!("The resource you requested does not exist. (Service: Lambda, Status Code: 404) {uuid}"))
        })
    }

    fn set_result(&self, uuid: &str, result: &str) {
        let mut results = self.results.lock();
        if results.get(uuid).is_none_or(|r| r != result) {
            results.insert(uuid.to_owned(), result.to_owned());
        }
    }

    fn check(&self, c: &MappingConfig) -> Result<(), FunctionError> {
        Filters::parse(c.filter_criteria.as_ref())?;
        if let Some(arn) = &c.on_failure {
            let name = config::table_of_arn(arn).unwrap_or_default();
            if self.db.table(name).is_none() {
                return Err(FunctionError::InvalidParameter(format!(
                    "The destination table {arn} does not exist"
                )));
            }
        }
        Ok(())
    }

    pub fn create(self: &Arc<Self>, mut c: MappingConfig) -> Result<MappingConfig, FunctionError> {
        self.functions.require(&c.function_name)?;
        let stream = streams::resolve(&self.db, &c.event_source_arn).map_err(|e| {
            FunctionError::InvalidParameter(format!(
                "Cannot access stream {}. Please ensure the role can perform the GetRecords, GetShardIterator, DescribeStream, and ListStreams Actions on your stream. ({e})",
                c.event_source_arn
            ))
        })?;
        self.check(&c)?;
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
            "" => {
                return Err(FunctionError::InvalidParameter(
                    "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null (StartingPosition is required for DynamoDB stream event sources)".into(),
                ))
            }
            other => {
                return Err(FunctionError::InvalidParameter(format!(
                    "1 validation error detected: Value '{other}' at 'startingPosition' failed to satisfy constraint: Member must satisfy enum value set: [TRIM_HORIZON, LATEST] (AT_TIMESTAMP is not supported for DynamoDB streams)"
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
        change: impl FnOnce(&mut MappingConfig) -> Result<(), FunctionError>,
    ) -> Result<MappingConfig, FunctionError> {
        let mut c = self.require(uuid)?;
        change(&mut c)?;
        self.functions.require(&c.function_name)?;
        self.check(&c)?;
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
        self.results.lock().remove(uuid);
        Ok(c)
    }

    /// A shard's checkpoint: the next sequence number to deliver (None before the first batch
    /// of a TRIM_HORIZON mapping).
    pub fn checkpoint(&self, uuid: &str, shard: u16) -> Result<Option<u64>, FunctionError> {
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
            .name(format!(
                "esm-{}",
                c.uuid.chars().take(8).collect::<String>()
            ))
            .spawn(move || worker::run(me, cfg, flag));
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
}
