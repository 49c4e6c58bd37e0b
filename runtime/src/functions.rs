//! Deployed functions: configuration and code persisted in fjall (code stored once per
//! SHA-256), compiled once per code hash and cached on disk as a precompiled artifact.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Compiled, Invocation, Limits, Runtime, RuntimeError};

/// A function's configuration, as Lambda's FunctionConfiguration shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FunctionConfig {
    pub name: String,
    pub description: String,
    pub role: String,
    pub handler: String,
    pub runtime: String,
    pub timeout_secs: u64,
    pub memory_mb: u64,
    pub env: Vec<(String, String)>,
    /// Base64 SHA-256 of the code as uploaded (Lambda's CodeSha256).
    pub code_sha256: String,
    pub code_size: u64,
    /// ISO-8601.
    pub last_modified: String,
    pub version: u64,
}

impl FunctionConfig {
    /// A function with Lambda's defaults (3 s, 128 MB); code and hash are set on create.
    pub fn new(name: String) -> FunctionConfig {
        FunctionConfig {
            name,
            description: String::new(),
            role: String::new(),
            handler: "handle".into(),
            runtime: "wasm32-component".into(),
            timeout_secs: 3,
            memory_mb: 128,
            env: Vec::new(),
            code_sha256: String::new(),
            code_size: 0,
            last_modified: String::new(),
            version: 0,
        }
    }

    pub fn limits(&self) -> Limits {
        Limits {
            timeout: std::time::Duration::from_secs(self.timeout_secs),
            memory_bytes: (self.memory_mb as usize) * 1024 * 1024,
            env: self.env.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    #[error("Function not found: {0}")]
    NotFound(String),
    #[error("Function already exist: {0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("storage error: {0}")]
    Storage(String),
    /// No invocation slot free (Lambda's TooManyRequestsException).
    #[error(
        "Rate Exceeded. Function {0} cannot be invoked: all {1} concurrent executions are in use"
    )]
    Throttled(String, usize),
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

/// The component inside uploaded code: the raw bytes, or the one `.wasm` file of a zip.
pub fn component_bytes(code: &[u8]) -> Result<Vec<u8>, FunctionError> {
    if code.starts_with(b"\0asm") {
        return Ok(code.to_vec());
    }
    if code.starts_with(b"PK") {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(code)).map_err(|e| {
            FunctionError::InvalidParameter(format!("Could not unzip uploaded file: {e}"))
        })?;
        let wasm: Vec<usize> = (0..zip.len())
            .filter(|i| zip.name_for_index(*i).is_some_and(|n| n.ends_with(".wasm")))
            .collect();
        let [index] = wasm[..] else {
            return Err(FunctionError::InvalidParameter(
                "The zip file must hold exactly one .wasm file".into(),
            ));
        };
        let mut file = zip.by_index(index).map_err(|e| {
            FunctionError::InvalidParameter(format!("Could not unzip uploaded file: {e}"))
        })?;
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut out).map_err(|e| {
            FunctionError::InvalidParameter(format!("Could not unzip uploaded file: {e}"))
        })?;
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
    slots: Slots,
}

/// Concurrent executions: at most `max` invocations run at once, across all functions.
struct Slots {
    used: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

/// A taken slot; freed on drop.
struct Slot<'a>(&'a Slots);

impl Slots {
    /// Takes a slot: at once, or (when `wait`) after the wait a throttled caller makes.
    /// `None` when none is free and `wait` is false. The bool says whether it was throttled.
    fn take(&self, wait: bool) -> Option<(Slot<'_>, bool)> {
        let mut used = self.used.lock();
        let mut throttled = false;
        while *used >= self.max {
            throttled = true;
            if !wait {
                return None;
            }
            self.freed.wait(&mut used);
        }
        *used += 1;
        Some((Slot(self), throttled))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.used.lock() -= 1;
        self.0.freed.notify_one();
    }
}

fn now_iso() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    crate::iso8601(secs as u64)
}

impl Functions {
    /// Opens the deployed functions; at most `max_concurrency` invocations run at once.
    pub fn open(runtime: Arc<Runtime>, max_concurrency: usize) -> Result<Functions, FunctionError> {
        let db = runtime.db().clone();
        let ks = db.aux_keyspace("functions")?;
        let artifacts = db.data_dir().join("functions");
        std::fs::create_dir_all(&artifacts)
            .map_err(|e| FunctionError::Storage(format!("{}: {e}", artifacts.display())))?;
        Ok(Functions {
            runtime,
            ks,
            artifacts,
            compiled: Mutex::default(),
            lock: Mutex::default(),
            slots: Slots {
                used: Mutex::new(0),
                freed: Condvar::new(),
                max: max_concurrency.max(1),
            },
        })
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
        match self.ks.get(format!("f/{name}"))? {
            Some(v) => Ok(Some(
                serde_json::from_slice(&v).map_err(|e| FunctionError::Storage(e.to_string()))?,
            )),
            None => Ok(None),
        }
    }

    pub fn require(&self, name: &str) -> Result<FunctionConfig, FunctionError> {
        self.get(name)?
            .ok_or_else(|| FunctionError::NotFound(name.to_owned()))
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
        change: impl FnOnce(&mut FunctionConfig),
    ) -> Result<FunctionConfig, FunctionError> {
        let _g = self.lock.lock();
        let mut c = self.require(name)?;
        change(&mut c);
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

    /// Calls the function's `handle` with `payload` under its Timeout and MemorySize, in one
    /// of the concurrent-execution slots: refused with [`FunctionError::Throttled`] when none
    /// is free, or (`wait`) after waiting for one. Counted in the function's metrics.
    pub fn invoke(
        &self,
        name: &str,
        payload: &str,
        wait: bool,
    ) -> Result<Invocation, FunctionError> {
        let c = self.require(name)?;
        let hex = self.code_hex(&c)?;
        let compiled = self.compiled_for(&hex, None)?;
        let Some((_slot, throttled)) = self.slots.take(wait) else {
            crate::metrics::throttled(name);
            return Err(FunctionError::Throttled(name.to_owned(), self.slots.max));
        };
        if throttled {
            crate::metrics::throttled(name);
        }
        let started = std::time::Instant::now();
        let outcome = self.runtime.invoke(&compiled, payload, &c.limits());
        let failed = !matches!(&outcome, Ok(inv) if inv.result.is_ok());
        crate::metrics::invoked(name, started.elapsed(), failed);
        Ok(outcome?)
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
