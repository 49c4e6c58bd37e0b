//! `tributary serve`: raise the open-file limit, open the engine, bind the port, serve (see
//! `crate::connections`) until SIGINT/SIGTERM, then flush the engine.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinError;
use tributary_engine::{Engine, EngineConfig, EngineError};
use tributary_runtime::functions::FunctionError;
use tributary_runtime::RuntimeError;

use crate::api::{self, AppState};
use crate::auth::{Auth, AuthConfigError};
use crate::config::{AuthMode, Config, ServerConfig};
use crate::declared_functions::DeclaredError;
use crate::replication::declared_tables::DeclaredTablesError;
use crate::replication::error::ReplicationError;

/// Why the server could not start (or flush when stopping); `main` logs it and exits 1.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("engine start panicked: {0}")]
    EnginePanicked(JoinError),
    #[error("cannot open data directory {}: {source}", dir.display())]
    OpenData {
        dir: std::path::PathBuf,
        source: EngineError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    LocalAddr(std::io::Error),
    #[error("trigger runtime start panicked: {0}")]
    TriggerRuntimePanicked(JoinError),
    #[error("cannot start the trigger runtime: {0}")]
    TriggerRuntime(TriggerStartError),
    #[error("declaring global tables panicked: {0}")]
    DeclaringPanicked(JoinError),
    #[error(transparent)]
    DeclaredTables(#[from] DeclaredTablesError),
    #[error(transparent)]
    Replication(#[from] ReplicationError),
    #[error("flush on shutdown failed: {0}")]
    Shutdown(EngineError),
    #[error("refusing to listen on {0} without authentication: anyone who can reach it could read and change every table and run code. Set [auth] mode = \"sigv4\" with [[auth.users]] (README \"Security\"), listen on 127.0.0.1, or pass --insecure")]
    Insecure(std::net::SocketAddr),
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
    #[error("[auth] mode = \"sigv4\" needs at least one [[auth.users]]")]
    NoUsers,
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// Why the trigger runtime (functions, mappings, declared functions) could not start.
#[derive(Debug, thiserror::Error)]
pub enum TriggerStartError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Functions(#[from] FunctionError),
    #[error(transparent)]
    Declared(#[from] DeclaredError),
}

pub async fn serve(config: Config, insecure: bool) -> Result<(), ServeError> {
    let auth = Arc::new(Auth::from_config(
        &config.auth,
        &config.region,
        &config.account_id,
    )?);
    check_exposure(&config, &auth, insecure)?;
    let tls = crate::tls::acceptor(&config.tls)?;
    // First, so that everything started below records into it.
    let metrics = install_metrics();
    let shutdown = shutdown_signal();
    let fds = crate::fd_limit::raise_and_divide(config.server.max_connections);
    let data_dir =
        std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    let engine_config = EngineConfig {
        data_dir: data_dir.clone(),
        region: config.region.clone(),
        account_id: config.account_id.clone(),
        durability: config.storage.durability,
        log: tributary_engine::log::LogConfig {
            enabled: !config.change_log.bench_disable,
            retention: Duration::from_secs_f64(config.change_log.retention_hours.max(0.0) * 3600.0),
            trim_every: Duration::from_secs_f64(config.change_log.trim_interval_secs.max(0.1)),
        },
        // Each account's database gets its share of the descriptor cache.
        max_cached_files: Some(fds.cached_files / (auth.accounts().len() + 1).max(1)),
    };
    let engine = crate::accounts::open_engine(engine_config.clone()).await?;
    tracing::info!(
        data_dir = %data_dir.display(),
        durability = ?config.storage.durability,
        tables = engine.table_names().len(),
        "data lives in {}",
        data_dir.display()
    );

    let listener = bind(config.listen).map_err(|source| ServeError::Listen {
        addr: config.listen,
        source,
    })?;
    let local_addr = listener.local_addr().map_err(ServeError::LocalAddr)?;
    let declared = config.functions.deploy.clone();
    let accounts = crate::accounts::Accounts::open(
        engine.clone(),
        crate::accounts::Opening {
            engine: engine_config,
            functions: config.functions.settings(),
        },
        &auth,
        move |engine, functions, mappings| {
            Ok(crate::declared_functions::deploy(
                &declared, engine, functions, mappings,
            )?)
        },
    )
    .await?;
    let declared_tables = config.replication.clone();
    let e = engine.clone();
    tokio::task::spawn_blocking(move || {
        crate::replication::declared_tables::apply(&declared_tables, &e)
    })
    .await
    .map_err(ServeError::DeclaringPanicked)??;
    // Kept for the life of the server (the connection closes when it is dropped).
    let replication = crate::replication::start(&config.replication, &engine).await?;
    let state = Arc::new(AppState {
        accounts,
        replication: replication.is_some(),
        auth: auth.clone(),
        browser: crate::api::browser::Browser::new(
            local_addr,
            &config.server.allowed_hosts,
            &config.server.cors_origins,
        ),
        local_addr,
        metrics,
        body_read_timeout: ServerConfig::secs(config.server.body_read_timeout_secs),
        body_budget: crate::api::budget::Budget::new(config.server.max_request_memory_mb),
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        region = %config.region,
        "DynamoDB, DynamoDB Streams and Lambda APIs listening on {scheme}://{local_addr} (region {}); metrics at {scheme}://{local_addr}/metrics",
        config.region
    );
    match auth.mode() {
        AuthMode::None => tracing::info!("authentication: none (any credentials are accepted)"),
        AuthMode::Sigv4 => tracing::info!(
            users = auth.users(),
            "authentication: SigV4 signatures verified, requests authorized by each user's policy"
        ),
    }
    for account in state.accounts.all() {
        spawn_ttl_sweeper(account.engine.clone(), config.ttl.sweep_interval_secs);
        spawn_index_backfiller(account.engine.clone());
    }
    let engines: Vec<Arc<Engine>> = state.accounts.all().map(|a| a.engine.clone()).collect();
    let limits = crate::connections::Limits {
        max_connections: fds.max_connections,
        header_read_timeout: ServerConfig::secs(config.server.header_read_timeout_secs),
        idle_timeout: ServerConfig::secs(config.server.idle_timeout_secs),
        shutdown_grace: ServerConfig::secs(config.server.shutdown_grace_secs),
    };
    crate::connections::serve(listener, api::router(state), limits, tls, shutdown).await;
    drop(replication);
    tracing::info!("shutting down: flushing data to disk");
    for engine in engines {
        engine.shutdown().map_err(ServeError::Shutdown)?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Refuses what would expose the server: no authentication on a non-loopback address
/// (unless `--insecure`), or authentication without anyone to authenticate.
fn check_exposure(config: &Config, auth: &Auth, insecure: bool) -> Result<(), ServeError> {
    match auth.mode() {
        AuthMode::Sigv4 if auth.users() == 0 => Err(ServeError::NoUsers),
        AuthMode::None if !config.listen.ip().is_loopback() && !insecure => {
            Err(ServeError::Insecure(config.listen))
        }
        AuthMode::None if !config.listen.ip().is_loopback() => {
            tracing::warn!(
                listen = %config.listen,
                "--insecure: listening without authentication on a non-loopback address; anyone who can reach it can read and change every table and run code"
            );
            Ok(())
        }
        AuthMode::None if auth.users() > 0 => {
            tracing::warn!(
                "[[auth.users]] are declared but [auth] mode is \"none\": they are not checked"
            );
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The listening socket, with a backlog deep enough for bursts of connections (those beyond
/// `server.max_connections` wait there).
fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Deletes expired items (tables with time to live enabled) every `interval_secs`.
fn spawn_ttl_sweeper(engine: Arc<Engine>, interval_secs: f64) {
    let every = Duration::from_secs_f64(interval_secs.max(0.1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let e = engine.clone();
            match tokio::task::spawn_blocking(move || e.sweep_expired()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::debug!(items = n, "time to live: deleted expired items"),
                Ok(Err(e)) => tracing::warn!("time-to-live sweep failed: {e}"),
                Err(e) => tracing::warn!("time-to-live sweep panicked: {e}"),
            }
        }
    });
}

/// Fills global secondary indexes created on tables that already hold items (UpdateTable
/// GlobalSecondaryIndexUpdates Create), logging progress; also resumes after a restart.
fn spawn_index_backfiller(engine: Arc<Engine>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let e = engine.clone();
            let result = tokio::task::spawn_blocking(move || {
                let mut next_report = 10_000;
                e.backfill_indexes(&mut |table, index, done| {
                    if done >= next_report {
                        tracing::info!(table, index, items = done, "backfilling index");
                        next_report = done + 10_000;
                    }
                })
            })
            .await;
            match result {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!("index backfill failed (will retry): {e}"),
                Err(e) => tracing::warn!("index backfill panicked: {e}"),
            }
        }
    });
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, at the
/// start of `serve` (before the port is bound): a signal that arrives as soon as the server
/// answers stops it cleanly instead of killing it with the signal's default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind: SignalKind, name: &str| match signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot listen for {name}: {e}");
            None
        }
    };
    let mut int = listen(SignalKind::interrupt(), "SIGINT");
    let mut term = listen(SignalKind::terminate(), "SIGTERM");
    async move {
        tokio::select! {
            () = received(int.as_mut()) => tracing::info!("SIGINT received"),
            () = received(term.as_mut()) => tracing::info!("SIGTERM received"),
        }
    }
}

/// The next delivery of a signal (never, when it could not be listened for).
async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Installs the process-wide Prometheus recorder behind the `metrics` facade.
fn install_metrics() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    const SECONDS: &[f64] = &[
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    ];
    let built = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(tributary_runtime::metrics::DURATION.into()),
            SECONDS,
        )
        .and_then(|b| b.install_recorder());
    match built {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!("metrics are not available: {e}");
            None
        }
    }
}
