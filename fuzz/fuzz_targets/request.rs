//! Request bodies from the wire: item JSON parsing must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_engine::value::{item_from_json, item_to_json};

fuzz_target!(|data: &[u8]| {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(item) = item_from_json(&json) {
            let back = item_to_json(&item);
            let again = item_from_json(&back);
            assert!(again.is_ok(), "an item's own JSON must parse");
        }
    }
});
