//! What a trigger function's store holds, and the host side of its imports: the local
//! region's DynamoDB API (`dynamodb.call`, straight into the engine), logging, and WASI 0.2
//! with no preopened directories (stdout/stderr are captured into the function's log, capped
//! with it: see `output.rs`) and `wasi:http` linked with every outgoing request refused
//! (`HTTP-request-denied`). Host-side resources a guest can create are bounded too: the
//! resource table's entries and the bytes one `get-random-bytes` call may ask for.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::bindings::tributary::function::{dynamodb, logging};
use crate::limiter::InstanceLimiter;
use crate::output::{LogLine, Output, OUTPUT_LIMIT};

/// Most host resources (streams, pollables, HTTP fields...) a guest may hold at once.
const MAX_RESOURCES: usize = 100_000;

/// Most bytes one `wasi:random` call may ask the host for.
const MAX_RANDOM_BYTES: u64 = 1024 * 1024;

/// The per-invocation state of a guest.
pub struct State {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) http: WasiHttpCtx,
    pub(crate) http_hooks: DenyOutgoing,
    pub(crate) limits: InstanceLimiter,
    pub(crate) db: Arc<tributary_engine::Engine>,
    pub(crate) output: Output,
    /// Who judges this invocation's `dynamodb.call`s, and the function's role.
    pub(crate) guard: Option<(Arc<dyn crate::CallGuard>, String)>,
}

impl State {
    pub(crate) fn new(
        db: Arc<tributary_engine::Engine>,
        env: &[(String, String)],
        limits: InstanceLimiter,
        guard: Option<(Arc<dyn crate::CallGuard>, String)>,
    ) -> State {
        let output = Output::new(OUTPUT_LIMIT);
        let mut b = WasiCtx::builder();
        b.stdout(output.stdout())
            .stderr(output.stderr())
            .max_random_size(MAX_RANDOM_BYTES);
        for (k, v) in env {
            b.env(k, v);
        }
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        State {
            wasi: b.build(),
            table,
            http: WasiHttpCtx::new(),
            http_hooks: DenyOutgoing,
            limits,
            db,
            output,
            guard,
        }
    }

    /// The guest's log: its `logging.log` lines, then what it printed, capped.
    pub(crate) fn take_logs(&mut self) -> Vec<LogLine> {
        self.output.take()
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
        if let Some((guard, role)) = &self.guard {
            guard
                .check(role, &operation, request.as_bytes())
                .map_err(|(code, message)| err(&code, message))?;
        }
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
        self.output.log(level, message);
    }
}
