//! The SoulBox guest-host boundary.
//!
//! Guests can reach nothing but their workspace - except through the functions in this crate,
//! each of them capped and recorded:
//!
//! - **tools** ([`tools`]): host functions registered on a sandbox
//!   ([`ToolFunction`] + an async [`ToolHandler`]), arguments checked against the tool's JSON
//!   Schema before the handler runs;
//! - **allow-listed HTTP** ([`net`]): requests to the hosts in the sandbox's `allow_hosts`,
//!   made by the host (private addresses refused unless listed, DNS answers checked, redirects
//!   re-checked, bytes and time capped);
//! - the **host channel** ([`HostChannel`]): one execution's door to both, with its caps
//!   (calls, payload size, handler timeout) and the records that end up in the result's
//!   `tool_calls` and `network`. Interpreters built for WASI preview 1 (which cannot gain new
//!   imports) reach it with JSON frames ([`protocol`]) over the one call each driver has;
//!   components reach it through the WIT interfaces in `wit/`.
//!
//! ```
//! use serde_json::json;
//! use soulbox_host::{ToolFunction, Tools};
//!
//! let mut tools = Tools::default();
//! tools
//!     .register(
//!         ToolFunction::new(
//!             "weather",
//!             "Current weather in a city",
//!             json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
//!         ),
//!         |args: serde_json::Value| async move { Ok(json!({"city": args["city"], "temp_c": 21})) },
//!     )
//!     .unwrap();
//! assert_eq!(tools.list()[0].name, "weather");
//! ```
#![deny(missing_docs)]

pub mod channel;
pub mod component;
pub mod executor;
pub mod net;
pub mod protocol;
pub mod tools;

pub use channel::{ChannelLimits, HostChannel};
pub use executor::{ExecutorBackend, ExecutorError, ExecutorErrorKind, Limits, SandboxHandle, SessionHandle};
pub use tools::{ToolError, ToolErrorKind, ToolFunction, ToolHandler, Tools};
