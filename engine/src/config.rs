//! What the engine is opened with.

use std::path::PathBuf;

use crate::durability::Durability;
use crate::log::LogConfig;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub region: String,
    /// The account id shown in ARNs.
    pub account_id: String,
    pub durability: Durability,
    pub log: LogConfig,
    /// Table files fjall keeps open (its descriptor cache); `None`: fjall's default.
    pub max_cached_files: Option<usize>,
}
