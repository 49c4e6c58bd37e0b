//! What a trigger function's store holds, and the host side of its imports: the local
//! region's DynamoDB API (`dynamodb.call`, straight into the engine), logging, and WASI 0.2
//! with no preopened directories (stdout/stderr are captured into the function's log) and
//! `wasi:http` linked with every outgoing request refused (`HTTP-request-denied`).

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::bindings::tributary::function::{dynamodb, logging};

/// Most bytes of guest stdout/stderr kept per invocation.
const CAPTURE_BYTES: usize = 64 * 1024;

/// One log line from a guest (`logging.log`, or a line it printed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// "TRACE", "DEBUG", "INFO", "WARN" or "ERROR" (printed output: "STDOUT" / "STDERR").
    pub level: &'static str,
    pub message: String,
}

/// The per-invocation state of a guest.
pub struct State {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) http: WasiHttpCtx,
    pub(crate) http_hooks: DenyOutgoing,
    pub(crate) limits: StoreLimits,
    pub(crate) db: Arc<tributary_engine::Engine>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

impl State {
    pub(crate) fn new(
        db: Arc<tributary_engine::Engine>,
        env: &[(String, String)],
        limits: StoreLimits,
    ) -> State {
        let stdout = MemoryOutputPipe::new(CAPTURE_BYTES);
        let stderr = MemoryOutputPipe::new(CAPTURE_BYTES);
        let mut b = WasiCtx::builder();
        b.stdout(stdout.clone()).stderr(stderr.clone());
        for (k, v) in env {
            b.env(k, v);
        }
        State {
            wasi: b.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            http_hooks: DenyOutgoing,
            limits,
            db,
            logs: Vec::new(),
            stdout,
            stderr,
        }
    }

    /// The guest's log: its `logging.log` lines, then what it printed.
    pub(crate) fn take_logs(&mut self) -> Vec<LogLine> {
        let mut logs = std::mem::take(&mut self.logs);
        for (level, pipe) in [("STDOUT", &self.stdout), ("STDERR", &self.stderr)] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes).lines() {
                logs.push(LogLine {
                    level,
                    message: line.to_owned(),
                });
            }
        }
        logs
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

/// Guests have no network: `wasi:http/outgoing-handler.handle` answers every request with
/// `HTTP-request-denied`.
pub(crate) struct DenyOutgoing;

type Pending = Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;

impl WasiHttpHooks for DenyOutgoing {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Pending,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<
                    (http::Response<wasmtime_wasi_http::WasiBody>, Pending),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        tracing::debug!(uri = %request.uri(), "outgoing HTTP request refused");
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl dynamodb::Host for State {
    fn call(&mut self, operation: String, request: String) -> Result<String, dynamodb::ApiError> {
        let err = |code: &str, message: String| dynamodb::ApiError {
            code: code.to_owned(),
            message,
        };
        let Some(result) = self.db.call(&operation, request.as_bytes()) else {
            return Err(err(
                "UnknownOperationException",
                format!("Unknown operation: {operation}"),
            ));
        };
        let outcome = result.map_err(|e| err(e.code(), e.to_string()))?;
        // A handler's write is acknowledged like any other: once durable.
        self.db
            .syncer()
            .wait_blocking(outcome.ticket)
            .map_err(|e| err(e.code(), e.to_string()))?;
        String::from_utf8(outcome.body.into_bytes())
            .map_err(|e| err("InternalServerError", e.to_string()))
    }
}

impl logging::Host for State {
    fn log(&mut self, level: logging::Level, message: String) {
        let level = match level {
            logging::Level::Trace => "TRACE",
            logging::Level::Debug => "DEBUG",
            logging::Level::Info => "INFO",
            logging::Level::Warn => "WARN",
            logging::Level::Error => "ERROR",
        };
        self.logs.push(LogLine { level, message });
    }
}
