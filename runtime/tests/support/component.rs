//! Test fixtures shared by the runtime's tests and the server's end-to-end tests (included
//! with `#[path]`): WAT core modules made into `trigger` components.

/// A core module (WAT) made into a component of the `trigger` world.
pub fn trigger_component(wat: &str) -> Vec<u8> {
    tributary_runtime::build::trigger_component(wat.as_bytes()).expect("trigger component")
}

/// A guest core module: memory, a bump allocator (`cabi_realloc`) and a `handle` with the
/// given body, which gets the event as (local 0 = ptr, local 1 = len) and returns a pointer
/// to the result area.
pub fn guest(imports: &str, data: &str, body: &str) -> String {
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  {data}
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    global.get $heap
    local.set $p
    global.get $heap
    local.get 3
    i32.add
    i32.const 7
    i32.add
    i32.const -8
    i32.and
    global.set $heap
    local.get $p)
  (func (export "handle") (param i32 i32) (result i32)
    {body}))"#
    )
}
