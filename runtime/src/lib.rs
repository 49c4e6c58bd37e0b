//! Tributary's trigger runtime: WebAssembly components implementing the `trigger` world
//! (`wit/trigger.wit`), compiled once and invoked with a deadline and a memory cap.
//!
//! This crate knows wasmtime and the engine (the change log, `Engine::call`); it knows
//! nothing of HTTP. Event-source mappings (reading the log, batching, checkpoints) build on
//! [`Runtime::invoke`].

pub mod build;
pub mod capacity;
mod event_queue;
pub mod filter;
pub mod function_config;
pub mod functions;
mod host;
pub mod invocation;
pub mod limiter;
pub mod mappings;
pub mod metrics;
pub mod names;
pub mod output;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, Trap};

use host::State;
use limiter::{InstanceLimiter, MemoryExceeded};
pub use output::LogLine;

pub use tributary_engine as engine;

/// Generated from `wit/trigger.wit`.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({ world: "trigger", path: "wit" });
}

/// How often the deadline clock ticks.
const TICK: Duration = Duration::from_millis(1);

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the code is not a valid trigger component: {0}")]
    InvalidCode(String),
    #[error("the function timed out after {0:?}")]
    Timeout(Duration),
    #[error("the function ran out of memory (limit {0} bytes)")]
    OutOfMemory(usize),
    #[error("the function trapped: {0}")]
    Trap(String),
    #[error("runtime error: {0}")]
    Internal(String),
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Limits of one invocation (Lambda's Timeout and MemorySize: the sum of all the instance's
/// linear memories and tables).
#[derive(Clone, Debug)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_bytes: usize,
    /// Environment variables the guest sees.
    pub env: Vec<(String, String)>,
    /// The function's execution role: the principal whose rights its `dynamodb.call`s have
    /// (judged by the [`CallGuard`], if any).
    pub role: String,
}

/// Decides whether a function's role may make one `dynamodb.call` (the server implements it
/// with its principals and policies). Without one, handlers may call anything.
pub trait CallGuard: Send + Sync {
    /// `Err((code, message))` is returned to the guest as its api-error.
    fn check(
        &self,
        role: &str,
        operation: &str,
        request: &[u8],
    ) -> std::result::Result<(), (String, String)>;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(3),
            memory_bytes: 128 * 1024 * 1024,
            env: Vec::new(),
            role: String::new(),
        }
    }
}

/// A compiled, pre-linked function: instantiate per invocation.
pub struct Compiled {
    pre: bindings::TriggerPre<State>,
}

/// What an invocation returned, with the guest's log.
#[derive(Debug)]
pub struct Invocation {
    /// `handle`'s result: Ok("" or a JSON response) or the handler's error string.
    // A String error on purpose: the WIT contract's `result<string, string>`, the guest's own
    // message, passed on as Lambda's `errorMessage` (not an error of this crate).
    pub result: Result<String, String>,
    pub logs: Vec<LogLine>,
}

/// The wasmtime engine, the linker, and the clock that enforces deadlines.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    db: Arc<tributary_engine::Engine>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
    guard: Option<Arc<dyn CallGuard>>,
}

impl Runtime {
    pub fn new(db: Arc<tributary_engine::Engine>) -> Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Internal(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| RuntimeError::Internal(e.to_string()))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)
            .map_err(|e| RuntimeError::Internal(e.to_string()))?;
        bindings::Trigger::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Internal(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (engine, stop) = (engine.clone(), stop.clone());
            std::thread::Builder::new()
                .name("wasm-deadlines".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| RuntimeError::Internal(e.to_string()))?
        };
        Ok(Runtime {
            engine,
            linker,
            db,
            stop,
            ticker: Some(ticker),
            guard: None,
        })
    }

    /// Judges every `dynamodb.call` of a handler by its function's role.
    pub fn with_call_guard(mut self, guard: Arc<dyn CallGuard>) -> Runtime {
        self.guard = Some(guard);
        self
    }

    /// The engine whose API guests call.
    pub fn db(&self) -> &Arc<tributary_engine::Engine> {
        &self.db
    }

    /// Compiles component bytes (slow for large guests: cache with [`Runtime::precompile`]).
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled> {
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| RuntimeError::InvalidCode(format!("{e:#}")))?;
        self.link(component)
    }

    /// The compiled artifact of component bytes, to store on disk keyed by the code's hash.
    pub fn precompile(&self, bytes: &[u8]) -> Result<Vec<u8>> {
        self.engine
            .precompile_component(bytes)
            .map_err(|e| RuntimeError::InvalidCode(format!("{e:#}")))
    }

    /// Loads an artifact made by [`Runtime::precompile`] with this same build.
    ///
    /// # Safety
    /// The bytes must come from `precompile` (wasmtime trusts them as machine code).
    pub unsafe fn load_precompiled(&self, artifact: &[u8]) -> Result<Compiled> {
        // SAFETY: the caller guarantees the artifact was produced by `precompile`.
        let component = unsafe { Component::deserialize(&self.engine, artifact) }
            .map_err(|e| RuntimeError::InvalidCode(format!("{e:#}")))?;
        self.link(component)
    }

    fn link(&self, component: Component) -> Result<Compiled> {
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::InvalidCode(format!("{e:#}")))?;
        let pre = bindings::TriggerPre::new(pre)
            .map_err(|e| RuntimeError::InvalidCode(format!("{e:#}")))?;
        Ok(Compiled { pre })
    }

    /// Runs `handle(event)` in a fresh instance under `limits`. A handler that traps, runs
    /// past its deadline or exceeds its memory fails this invocation only; what it logs and
    /// prints is kept up to [`output::OUTPUT_LIMIT`] bytes.
    pub fn invoke(&self, f: &Compiled, event: &str, limits: &Limits) -> Result<Invocation> {
        let state = State::new(
            self.db.clone(),
            &limits.env,
            InstanceLimiter::new(limits.memory_bytes),
            self.guard.clone().map(|g| (g, limits.role.clone())),
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = u64::try_from(limits.timeout.as_millis() / TICK.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        let outcome = f
            .pre
            .instantiate(&mut store)
            .and_then(|instance| instance.call_handle(&mut store, event));
        let logs = store.data_mut().take_logs();
        match outcome {
            Ok(result) => Ok(Invocation { result, logs }),
            Err(e) => Err(classify(e, limits)),
        }
    }
}

fn classify(e: wasmtime::Error, limits: &Limits) -> RuntimeError {
    if e.downcast_ref::<MemoryExceeded>().is_some() {
        return RuntimeError::OutOfMemory(limits.memory_bytes);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => RuntimeError::Timeout(limits.timeout),
        Some(Trap::AllocationTooLarge) => RuntimeError::OutOfMemory(limits.memory_bytes),
        _ => {
            let text = format!("{e:#}");
            if text.contains("forcing trap when growing memory")
                || text.contains("memory minimum size")
                || text.contains("(MemorySize)")
            {
                RuntimeError::OutOfMemory(limits.memory_bytes)
            } else {
                RuntimeError::Trap(text)
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _joined = t.join();
        }
    }
}
