//! Bindings of the `soulbox:sandbox@0.1.0` WIT package for Rust components compiled by
//! SoulBox (`--component`, or any source that uses `soulbox_guest`).
//!
//! The component imports the `agent` world: `executor` (nested sandboxes, whose limits are
//! clamped to the sandbox running the component), `tools` (the tools the host registered) and
//! `http` (requests through the sandbox's allow-list).
//!
//! ```ignore
//! use soulbox_guest::executor::Sandbox;
//! use soulbox_guest::types::{Language, Limits};
//!
//! fn main() {
//!     let sandbox = Sandbox::create(Limits::default()).expect("a nested sandbox");
//!     let result = sandbox.execute(Language::Python, "print(6 * 7)").expect("ran");
//!     print!("{}", result.stdout);
//! }
//! ```

wit_bindgen::generate!({
    path: "wit",
    world: "soulbox:sandbox/agent@0.1.0",
    generate_all,
});

pub use soulbox::sandbox::{executor, http, tools, types};

impl Default for types::Limits {
    /// Every limit `none`: the host's defaults, or the parent sandbox's limits when nested.
    fn default() -> Self {
        Self {
            memory_bytes: None,
            timeout_ms: None,
            fuel: None,
            max_output_bytes: None,
        }
    }
}
