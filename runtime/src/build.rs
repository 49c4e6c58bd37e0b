//! Turning a core WebAssembly module (binary or WAT) into a `trigger` component: the world's
//! metadata is embedded and the module wrapped with `wit-component`, as `wasm-tools component
//! new` would do. For hand-written (WAT, freestanding C) handlers, and for the test fixtures.

use crate::{Result, RuntimeError};

/// The contract, as shipped (`wit/trigger.wit`).
pub const TRIGGER_WIT: &str = include_str!("../wit/trigger.wit");

/// A core module (WAT text or wasm binary) made into a component of the `trigger` world. The
/// module must export `memory`, `cabi_realloc` and `handle` by their canonical-ABI names.
pub fn trigger_component(module: &[u8]) -> Result<Vec<u8>> {
    let invalid = |e: &dyn std::fmt::Display| RuntimeError::InvalidCode(e.to_string());
    let mut module = wat::parse_bytes(module)
        .map_err(|e| invalid(&e))?
        .into_owned();
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve
        .push_str("trigger.wit", TRIGGER_WIT)
        .map_err(|e| invalid(&format!("{e:#}")))?;
    let world = resolve
        .select_world(&[pkg], Some("trigger"))
        .map_err(|e| invalid(&format!("{e:#}")))?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .map_err(|e| invalid(&format!("{e:#}")))?;
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .map_err(|e| invalid(&format!("{e:#}")))?
        .encode()
        .map_err(|e| invalid(&format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn wat_becomes_a_component() {
        let wat = r#"(module
          (memory (export "memory") 1)
          (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 1024)
          (func (export "handle") (param i32 i32) (result i32) i32.const 0))"#;
        let c = super::trigger_component(wat.as_bytes()).expect("component");
        assert!(wasmparser_is_component(&c));
        let bad = super::trigger_component(b"(module)");
        assert!(bad.is_err(), "a module without `handle` is refused");
    }

    fn wasmparser_is_component(bytes: &[u8]) -> bool {
        // Component binaries: magic, then version 0x0d with layer 1.
        bytes.len() > 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [1, 0]
    }
}
