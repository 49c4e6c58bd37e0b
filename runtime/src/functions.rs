//! Deployed functions: configuration and code persisted in fjall (code stored once per
//! SHA-256, unzipped under Lambda's 250 MB cap), compiled once per code hash and cached on
//! disk as a precompiled artifact; invocations run within the server's [`Capacity`]
//! (concurrency and memory budget), synchronously or through the asynchronous event queue.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tributary_engine::clock;

use crate::capacity::{Capacity, Refused, Reservation};
use crate::event_queue::EventQueue;
pub use crate::event_queue::QueueSettings;
pub use crate::function_config::FunctionConfig;
use crate::{names, Compiled, Invocation, Runtime, RuntimeError};

/// Largest unzipped code (Lambda: 250 MB), enforced while inflating.
pub const UNZIPPED_MAX: u64 = 262_144_000;

/// How invocations are bounded (the `[functions]` settings).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Invocations that may run at once, across all functions.
    pub max_concurrency: usize,
    /// MB that running invocations may reserve together (each its MemorySize).
    pub memory_budget_mb: u64,
    /// The asynchronous invocation queue.
    pub queue: QueueSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_concurrency: 64,
            memory_budget_mb: 16_384,
            queue: QueueSettings::default(),
        }
    }
}

impl Settings {
    /// The defaults with this concurrency limit.
    pub fn with_concurrency(max_concurrency: usize) -> Settings {
        Settings {
            max_concurrency,
            ..Settings::default()
        }
    }
}

/// The runtime's errors about functions and mappings; the Lambda API maps each to Lambda's
/// error type.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    /// ResourceNotFoundException; the message is complete ("Function not found: <arn>").
    #[error("{0}")]
    NotFound(String),
    #[error("Function already exist: {0}")]
    Conflict(String),
    /// InvalidParameterValueException.
    #[error("{0}")]
    InvalidParameter(String),
    /// ValidationException: a value outside the bounds or pattern of Lambda's API.
    #[error("{0}")]
    Validation(String),
    /// InvalidRequestContentException: the body (or a member of it) cannot be read.
    #[error("{0}")]
    InvalidRequestContent(String),
    /// RequestEntityTooLargeException (413).
    #[error("{0}")]
    RequestTooLarge(String),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("storage error: {0}")]
    Storage(String),
    /// Not now (Lambda's TooManyRequestsException, with its `Reason`).
    #[error("{message}")]
    Throttled {
        message: String,
        reason: &'static str,
    },
}

impl From<tributary_engine::EngineError> for FunctionError {
    fn from(e: tributary_engine::EngineError) -> Self {
        FunctionError::Storage(e.to_string())
    }
}

impl From<fjall::Error> for FunctionError {
    fn from(e: fjall::Error) -> Self {
        FunctionError::Storage(e.to_string())
    }
}

fn unzip_error(e: impl std::fmt::Display) -> FunctionError {
    FunctionError::InvalidParameter(format!(
        "Could not unzip uploaded file. Please check your file, then try to upload again. ({e})"
    ))
}

fn too_large_unzipped() -> FunctionError {
    FunctionError::InvalidParameter(format!(
        "Unzipped size must be smaller than {UNZIPPED_MAX} bytes"
    ))
}

/// The component inside uploaded code: the raw bytes, or the one `.wasm` file of a zip,
/// inflated up to [`UNZIPPED_MAX`] bytes (whatever sizes the archive declares).
pub fn component_bytes(code: &[u8]) -> Result<Vec<u8>, FunctionError> {
    if code.starts_with(b"\0asm") {
        if code.len() as u64 > UNZIPPED_MAX {
            return Err(too_large_unzipped());
        }
        return Ok(code.to_vec());
    }
    if code.starts_with(b"PK") {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(code)).map_err(unzip_error)?;
        let wasm: Vec<usize> = (0..zip.len())
            .filter(|i| zip.name_for_index(*i).is_some_and(|n| n.ends_with(".wasm")))
            .collect();
        let [index] = wasm[..] else {
            return Err(FunctionError::InvalidParameter(
                "The zip file must hold exactly one .wasm file".into(),
            ));
        };
        let file = zip.by_index(index).map_err(unzip_error)?;
        if file.size() > UNZIPPED_MAX {
            return Err(too_large_unzipped());
        }
        let declared = usize::try_from(file.size()).unwrap_or(0);
        let mut out = Vec::with_capacity(declared.min(16 * 1024 * 1024));
        file.take(UNZIPPED_MAX + 1)
            .read_to_end(&mut out)
            .map_err(unzip_error)?;
        if out.len() as u64 > UNZIPPED_MAX {
            return Err(too_large_unzipped());
        }
        return Ok(out);
    }
    Err(FunctionError::InvalidParameter(
        "Code must be a WebAssembly component or a zip file holding one".into(),
    ))
}

pub struct Functions {
    runtime: Arc<Runtime>,
    /// `f/<name>` -> FunctionConfig JSON; `c/<sha256 hex>` -> component bytes;
    /// `h/<CodeSha256>` -> the hex hash of the component that upload held. Resolved on the
    /// engine's current database at each call (the engine reopens it after storage failures).
    ks: tributary_engine::AuxKeyspace,
    artifacts: PathBuf,
    compiled: Mutex<HashMap<String, Arc<Compiled>>>,
    lock: Mutex<()>,
    capacity: Arc<Capacity>,
    pub(crate) queue: EventQueue,
    stop: Arc<AtomicBool>,
}

impl Drop for Functions {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Now in Lambda's form (a function's LastModified): `2026-11-24T10:00:00.000+0000`.
fn now_iso() -> String {
    clock::iso8601_lambda(clock::now_ms())
}

impl Functions {
    /// Opens the deployed functions and starts the asynchronous queue's dispatcher.
    pub fn open(
        runtime: Arc<Runtime>,
        settings: Settings,
    ) -> Result<Arc<Functions>, FunctionError> {
        let db = runtime.db().clone();
        let ks = db.aux_keyspace("functions")?;
        let artifacts = db.data_dir().join("functions");
        std::fs::create_dir_all(&artifacts)
            .map_err(|e| FunctionError::Storage(format!("{}: {e}", artifacts.display())))?;
        let queue = EventQueue::open(&db, settings.queue.clone())?;
        let functions = Arc::new(Functions {
            runtime,
            ks,
            artifacts,
            compiled: Mutex::default(),
            lock: Mutex::default(),
            capacity: Capacity::new(settings.max_concurrency, settings.memory_budget_mb),
            queue,
            stop: Arc::new(AtomicBool::new(false)),
        });
        crate::event_queue::start_dispatcher(&functions, functions.stop.clone())?;
        Ok(functions)
    }

    /// The concurrency and memory the server's invocations share.
    pub fn capacity(&self) -> &Arc<Capacity> {
        &self.capacity
    }

    /// A function's ARN (`arn:aws:lambda:<region>:<account>:function:<name>`).
    pub fn arn(&self, name: &str) -> String {
        let db = self.runtime.db();
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            db.region(),
            db.account()
        )
    }

    /// Lambda's ResourceNotFoundException for a function.
    pub fn not_found(&self, name: &str) -> FunctionError {
        FunctionError::NotFound(format!("Function not found: {}", self.arn(name)))
    }

    /// Checks what a stored configuration must satisfy here (the name, and a MemorySize
    /// that fits in the server's memory budget).
    fn check_config(&self, c: &FunctionConfig) -> Result<(), FunctionError> {
        if !names::is_valid_name(&c.name) {
            names::parse(&c.name, names::NameUse::Create)?;
            return Err(FunctionError::InvalidParameter(format!(
                "A function is created with its name (1-64 characters [a-zA-Z0-9-_]), not {}",
                c.name
            )));
        }
        if c.memory_mb > self.capacity.budget_mb {
            return Err(FunctionError::InvalidParameter(format!(
                "MemorySize {} MB exceeds this server's memory budget for functions ({} MB, functions.memory_budget_mb): the function could never run",
                c.memory_mb, self.capacity.budget_mb
            )));
        }
        Ok(())
    }

    fn put_config(&self, c: &FunctionConfig) -> Result<(), FunctionError> {
        let bytes = serde_json::to_vec(c).map_err(|e| FunctionError::Storage(e.to_string()))?;
        self.ks.insert(format!("f/{}", c.name), bytes)?;
        Ok(())
    }

    /// Stores code (once per hash) after checking it compiles; returns (sha256 b64, hex, size).
    fn store_code(&self, code: &[u8]) -> Result<(String, String, u64), FunctionError> {
        let component = component_bytes(code)?;
        let digest = Sha256::digest(code);
        let hex: String = Sha256::digest(&component)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let sha = B64.encode(digest);
        if self.ks.get(format!("c/{hex}"))?.is_none() {
            self.compiled_for(&hex, Some(&component))?;
            self.ks.insert(format!("c/{hex}"), component)?;
        }
        self.ks.insert(format!("h/{sha}"), hex.as_bytes())?;
        Ok((sha, hex, code.len() as u64))
    }

    /// The compiled function for a code hash: from memory, the on-disk artifact, or compiled
    /// now (and cached both ways).
    fn compiled_for(
        &self,
        hex: &str,
        bytes: Option<&[u8]>,
    ) -> Result<Arc<Compiled>, FunctionError> {
        if let Some(c) = self.compiled.lock().get(hex) {
            return Ok(c.clone());
        }
        let path = self.artifacts.join(format!("{hex}.cwasm"));
        let compiled = match std::fs::read(&path) {
            // SAFETY: artifacts in this directory are written only by `precompile` below.
            Ok(artifact) => match unsafe { self.runtime.load_precompiled(&artifact) } {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "stale compiled artifact, recompiling: {e}");
                    None
                }
            },
            Err(_) => None,
        };
        let compiled = match compiled {
            Some(c) => c,
            None => {
                let owned;
                let bytes = match bytes {
                    Some(b) => b,
                    None => {
                        owned = self
                            .ks
                            .get(format!("c/{hex}"))?
                            .ok_or_else(|| FunctionError::Storage(format!("code {hex} missing")))?;
                        &owned[..]
                    }
                };
                let artifact = self.runtime.precompile(bytes)?;
                if let Err(e) = std::fs::write(&path, &artifact) {
                    tracing::warn!(path = %path.display(), "cannot cache compiled artifact: {e}");
                }
                // SAFETY: the artifact was just produced by `precompile`.
                unsafe { self.runtime.load_precompiled(&artifact) }?
            }
        };
        let compiled = Arc::new(compiled);
        self.compiled
            .lock()
            .insert(hex.to_owned(), compiled.clone());
        Ok(compiled)
    }

    pub fn create(
        &self,
        mut c: FunctionConfig,
        code: &[u8],
    ) -> Result<FunctionConfig, FunctionError> {
        self.check_config(&c)?;
        let _g = self.lock.lock();
        if self.get(&c.name)?.is_some() {
            return Err(FunctionError::Conflict(c.name));
        }
        let (sha, _, size) = self.store_code(code)?;
        c.code_sha256 = sha;
        c.code_size = size;
        c.last_modified = now_iso();
        c.version = 1;
        self.put_config(&c)?;
        Ok(c)
    }

    pub fn get(&self, name: &str) -> Result<Option<FunctionConfig>, FunctionError> {
        if !names::is_valid_name(name) {
            return Ok(None);
        }
        match self.ks.get(format!("f/{name}"))? {
            Some(v) => Ok(Some(
                serde_json::from_slice(&v).map_err(|e| FunctionError::Storage(e.to_string()))?,
            )),
            None => Ok(None),
        }
    }

    pub fn require(&self, name: &str) -> Result<FunctionConfig, FunctionError> {
        self.get(name)?.ok_or_else(|| self.not_found(name))
    }

    pub fn list(&self) -> Result<Vec<FunctionConfig>, FunctionError> {
        let mut out = Vec::new();
        for g in self.ks.prefix("f/")? {
            let (_, v) = g.into_inner()?;
            out.push(
                serde_json::from_slice(&v).map_err(|e| FunctionError::Storage(e.to_string()))?,
            );
        }
        Ok(out)
    }

    pub fn update_code(&self, name: &str, code: &[u8]) -> Result<FunctionConfig, FunctionError> {
        let _g = self.lock.lock();
        let mut c = self.require(name)?;
        let (sha, _, size) = self.store_code(code)?;
        c.code_sha256 = sha;
        c.code_size = size;
        c.last_modified = now_iso();
        c.version += 1;
        self.put_config(&c)?;
        Ok(c)
    }

    pub fn update_config(
        &self,
        name: &str,
        change: impl FnOnce(&mut FunctionConfig) -> Result<(), FunctionError>,
    ) -> Result<FunctionConfig, FunctionError> {
        let _g = self.lock.lock();
        let mut c = self.require(name)?;
        change(&mut c)?;
        self.check_config(&c)?;
        c.last_modified = now_iso();
        self.put_config(&c)?;
        Ok(c)
    }

    pub fn delete(&self, name: &str) -> Result<(), FunctionError> {
        let _g = self.lock.lock();
        self.require(name)?;
        self.ks.remove(format!("f/{name}"))?;
        Ok(())
    }

    /// Calls the function's `handle` with `payload` under its Timeout and MemorySize, once
    /// the server's capacity has room for it: refused with [`FunctionError::Throttled`] when
    /// it has none, or (`wait`) after waiting for it. Counted in the function's metrics.
    pub fn invoke(
        &self,
        name: &str,
        payload: &str,
        wait: bool,
    ) -> Result<Invocation, FunctionError> {
        let c = self.require(name)?;
        let compiled = self.compiled_for(&self.code_hex(&c)?, None)?;
        let reservation = self.reserve(&c, wait)?;
        self.run(&c, &compiled, payload, reservation)
    }

    /// Takes the function's share of the capacity (its MemorySize and one execution).
    pub(crate) fn reserve(
        &self,
        c: &FunctionConfig,
        wait: bool,
    ) -> Result<Reservation, FunctionError> {
        match self.capacity.reserve(c.memory_mb, wait) {
            Ok((r, throttled)) => {
                if throttled {
                    crate::metrics::throttled(&c.name);
                }
                Ok(r)
            }
            Err(why) => {
                if why != Refused::TooLarge {
                    crate::metrics::throttled(&c.name);
                }
                Err(self.refused(c, why))
            }
        }
    }

    fn refused(&self, c: &FunctionConfig, why: Refused) -> FunctionError {
        let cap = &self.capacity;
        let message = match why {
            Refused::Concurrency => format!(
                "Rate Exceeded. Function {} cannot be invoked: all {} concurrent executions are in use (functions.max_concurrency)",
                c.name, cap.max_concurrency
            ),
            Refused::Memory => format!(
                "Rate Exceeded. Function {} cannot be invoked: its MemorySize ({} MB) does not fit in what running invocations leave of the memory budget ({} MB, functions.memory_budget_mb)",
                c.name, c.memory_mb, cap.budget_mb
            ),
            Refused::TooLarge => {
                return FunctionError::InvalidParameter(format!(
                    "MemorySize {} MB of function {} exceeds this server's memory budget for functions ({} MB, functions.memory_budget_mb): it cannot run",
                    c.memory_mb, c.name, cap.budget_mb
                ))
            }
        };
        FunctionError::Throttled {
            message,
            reason: "ConcurrentInvocationLimitExceeded",
        }
    }

    /// Runs one invocation holding its reservation (given back when it ends).
    pub(crate) fn run(
        &self,
        c: &FunctionConfig,
        compiled: &Compiled,
        payload: &str,
        reservation: Reservation,
    ) -> Result<Invocation, FunctionError> {
        let started = std::time::Instant::now();
        let outcome = self.runtime.invoke(compiled, payload, &c.limits());
        drop(reservation);
        let failed = !matches!(&outcome, Ok(inv) if inv.result.is_ok());
        crate::metrics::invoked(&c.name, started.elapsed(), failed);
        Ok(outcome?)
    }

    /// Queues an asynchronous invocation (`InvocationType: Event`): persisted, then run when
    /// the capacity allows, retried on function errors as Lambda does. Returns the request id
    /// and the durability ticket to wait for before acknowledging.
    pub fn enqueue(
        &self,
        name: &str,
        payload: &str,
    ) -> Result<(String, Option<tributary_engine::durability::Ticket>), FunctionError> {
        let c = self.require(name)?;
        if c.memory_mb > self.capacity.budget_mb {
            return Err(self.refused(&c, Refused::TooLarge));
        }
        self.queue.push(&c.name, payload, self.runtime.db())
    }

    /// Events waiting in (or being run from) the asynchronous queue.
    pub fn queued_events(&self) -> usize {
        self.queue.len()
    }

    /// The compiled code of a function (from memory, the artifact cache or compiled now).
    pub(crate) fn compiled(&self, c: &FunctionConfig) -> Result<Arc<Compiled>, FunctionError> {
        self.compiled_for(&self.code_hex(c)?, None)
    }

    /// Compiles (or loads the cached artifact of) the function's code ahead of its first call.
    pub fn warm(&self, name: &str) -> Result<(), FunctionError> {
        let c = self.require(name)?;
        let hex = self.code_hex(&c)?;
        self.compiled_for(&hex, None).map(|_| ())
    }

    /// The hex hash under which the function's component is stored.
    fn code_hex(&self, c: &FunctionConfig) -> Result<String, FunctionError> {
        match self.ks.get(format!("h/{}", c.code_sha256))? {
            Some(v) => Ok(String::from_utf8_lossy(&v).into_owned()),
            None => Err(FunctionError::Storage(format!(
                "no code for function {}",
                c.name
            ))),
        }
    }
}
