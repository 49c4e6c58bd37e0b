//! Tributary's table engine: tables, items, the expression language and the single write
//! path over fjall. No network code lives here.

pub mod catalog;
pub mod dispatch;
pub mod durability;
pub mod error;
pub mod expr;
pub mod index;
pub mod keys;
pub mod log;
pub mod number;
pub mod ops;
mod recovery;
pub mod request;
pub mod schema;
pub mod storage;
pub mod store;
pub mod value;
pub mod versions;

pub use durability::Durability;
pub use error::{EngineError, Result};
pub use number::Number;
pub use ops::Outcome;
pub use storage::AuxKeyspace;
pub use store::{Engine, EngineConfig};
pub use value::{AttributeValue, Item};
