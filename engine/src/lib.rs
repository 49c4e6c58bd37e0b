//! Tributary's table engine: tables, items, the expression language and the single write
//! path over fjall. No network code lives here.
//!
//! # Public surface
//!
//! - [`Engine`], opened with an [`EngineConfig`]: [`Engine::call`] and [`Engine::call_streams`]
//!   run a DynamoDB (Streams) operation on a wire body and answer an [`Outcome`] or an
//!   [`EngineError`]; the rest of its methods serve the trigger runtime and replication.
//! - Values: [`AttributeValue`], [`Item`], [`Number`]; item JSON and encodings in [`value`].
//! - Namespaces the runtime and the server read through: [`catalog`] (table definitions),
//!   [`schema`] (DynamoDB's enumerations), [`log`] (the change log), [`stream`] (the stream model: ARNs, records, sequence numbers),
//!   [`versions`] (per-item versions of global tables), [`durability`] (group commit tickets),
//!   [`clock`] (the wall clock and the wire's time formats), [`expr`] (the expression language,
//!   public for the fuzz targets), [`access`] (what a request touches, for authorization:
//!   [`Engine::accesses`]).
//!
//! The operations themselves (`ops`), their dispatch, the storage layout and the key encoding
//! are private.

pub mod access;
mod aux_keyspace;
pub mod catalog;
pub mod clock;
mod config;
mod dispatch;
pub mod durability;
mod engine_core;
mod error;
pub mod expr;
mod health;
mod index;
mod key_schema;
mod keys;
pub mod log;
mod number;
mod ops;
mod recovery;
mod replicated;
mod request;
pub mod schema;
mod stats;
mod storage;
mod store;
pub mod stream;
mod tx_tokens;
pub mod value;
pub mod versions;

/// A keyspace of the engine's database, by name, for the runtime's and replication's state.
pub use aux_keyspace::AuxKeyspace;
/// The engine and what it is opened with.
pub use config::EngineConfig;
/// How commits reach the disk, and the ticket a write's caller waits on before acknowledging.
pub use durability::{Durability, Ticket};
/// The engine's one error type (each variant names its DynamoDB `__type`), and its result.
pub use error::{EngineError, Result};
/// An exact DynamoDB number (38 significant digits).
pub use number::Number;
/// What an operation answers: a response body and, for a write, its durability ticket.
pub use ops::{Body, Outcome};
/// A request body parsed as DynamoDB parses it (`Request::parse`).
pub use request::Request;
/// The engine.
pub use store::Engine;
/// DynamoDB's attribute values and items.
pub use value::{AttributeValue, Item};
