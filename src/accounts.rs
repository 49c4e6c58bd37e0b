//! Accounts: tables, streams, functions and mappings belong to the caller's account. Each
//! account of a region has an engine of its own (its own fjall database, change log and
//! durability), with a trigger runtime of its own, so two accounts can each have a table
//! named `Orders` and never see each other's; ARNs carry the account id. The server's
//! `account_id` keeps the data directory itself (as before accounts existed); every other
//! account declared by `[[auth.users]]` lives in `<data_dir>/accounts/<account id>`.
//! Replication, declared global tables and declared functions belong to the server's account.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tributary_engine::{Engine, EngineConfig};
use tributary_runtime::functions::{Functions, Settings};
use tributary_runtime::mappings::Mappings;

use crate::auth::{Auth, Principal};
use crate::server::{ServeError, TriggerStartError};

/// What one account holds in this region.
pub struct Account {
    pub engine: Arc<Engine>,
    pub functions: Arc<Functions>,
    pub mappings: Arc<Mappings>,
}

/// Every account of this region.
pub struct Accounts {
    /// The server's `account_id`.
    default: Arc<Account>,
    /// The other accounts users belong to, by id.
    others: BTreeMap<String, Arc<Account>>,
}

impl Accounts {
    /// The server's own account.
    pub fn default(&self) -> &Arc<Account> {
        &self.default
    }

    /// The account a principal acts in (the anonymous principal: the server's).
    pub fn of(&self, principal: &Principal) -> &Arc<Account> {
        match principal {
            Principal::User(u) => self.others.get(&u.account_id).unwrap_or(&self.default),
            Principal::Anonymous => &self.default,
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Account>> {
        std::iter::once(&self.default).chain(self.others.values())
    }
}

/// What runs on an account's new runtime before it serves (the server's account: declared
/// functions).
pub trait Setup:
    FnOnce(&Arc<Engine>, &Arc<Functions>, &Arc<Mappings>) -> Result<(), TriggerStartError>
    + Send
    + 'static
{
}

impl<F> Setup for F where
    F: FnOnce(&Arc<Engine>, &Arc<Functions>, &Arc<Mappings>) -> Result<(), TriggerStartError>
        + Send
        + 'static
{
}

/// Opens an engine on the blocking pool (it reads the catalog and recounts tables).
pub async fn open_engine(config: EngineConfig) -> Result<Arc<Engine>, ServeError> {
    let dir = config.data_dir.clone();
    let engine = tokio::task::spawn_blocking(move || Engine::open(config))
        .await
        .map_err(ServeError::EnginePanicked)?
        .map_err(|source| ServeError::OpenData { dir, source })?;
    Ok(Arc::new(engine))
}

/// How to open each account's engine and runtime.
pub struct Opening {
    /// The server's engine settings; other accounts get a subdirectory and their id.
    pub engine: EngineConfig,
    pub functions: Settings,
}

impl Accounts {
    /// Opens the server's account (`default`, already open) and every other account a user
    /// belongs to. `setup` runs on each account's new runtime before it serves (the server's
    /// account: declared functions).
    pub async fn open(
        default: Arc<Engine>,
        opening: Opening,
        auth: &Arc<Auth>,
        setup: impl Setup,
    ) -> Result<Accounts, ServeError> {
        let default_id = default.account().to_owned();
        let default = start_runtime(default, opening.functions.clone(), auth, setup).await?;
        let mut others = BTreeMap::new();
        for id in auth.accounts() {
            if id == default_id || others.contains_key(&id) {
                continue;
            }
            let dir: PathBuf = opening.engine.data_dir.join("accounts").join(&id);
            let config = EngineConfig {
                data_dir: dir.clone(),
                account_id: id.clone(),
                ..opening.engine.clone()
            };
            let engine = open_engine(config).await?;
            tracing::info!(account = %id, data_dir = %dir.display(), "account {id}: data lives in {}", dir.display());
            let account =
                start_runtime(engine, opening.functions.clone(), auth, |_, _, _| Ok(())).await?;
            others.insert(id, account);
        }
        Ok(Accounts { default, others })
    }
}

/// The trigger runtime of one account: its functions and mappings, its handlers' calls
/// judged by their roles (with authentication).
async fn start_runtime(
    engine: Arc<Engine>,
    settings: Settings,
    auth: &Arc<Auth>,
    setup: impl Setup,
) -> Result<Arc<Account>, ServeError> {
    let guard = auth.needs_guard().then(|| {
        Arc::new(crate::auth::RoleGuard {
            auth: auth.clone(),
            engine: engine.clone(),
        }) as Arc<dyn tributary_runtime::CallGuard>
    });
    let e = engine.clone();
    let (functions, mappings) = tokio::task::spawn_blocking(move || {
        let mut runtime = tributary_runtime::Runtime::new(e.clone())?;
        if let Some(guard) = guard {
            runtime = runtime.with_call_guard(guard);
        }
        let functions = Functions::open(Arc::new(runtime), settings)?;
        let mappings = Mappings::open(functions.clone(), e.clone())?;
        setup(&e, &functions, &mappings)?;
        Ok::<_, TriggerStartError>((functions, mappings))
    })
    .await
    .map_err(ServeError::TriggerRuntimePanicked)?
    .map_err(ServeError::TriggerRuntime)?;
    tracing::info!(
        account = engine.account(),
        functions = functions.list().map(|l| l.len()).unwrap_or(0),
        mappings = mappings.list().map(|l| l.len()).unwrap_or(0),
        "trigger runtime ready"
    );
    Ok(Arc::new(Account {
        engine,
        functions,
        mappings,
    }))
}
