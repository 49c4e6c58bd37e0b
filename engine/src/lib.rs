//! Tributary's table engine: tables, items, the expression language and the single write
//! path over fjall. No network code lives here.

pub mod error;
pub mod expr;
pub mod keys;
pub mod number;
pub mod value;

pub use error::{EngineError, Result};
pub use number::Number;
pub use value::{AttributeValue, Item};
