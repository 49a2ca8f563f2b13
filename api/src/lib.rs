//! # soulbox-api: the data every SoulBox door shares
//!
//! This crate holds SoulBox's public data types and nothing that runs code: the [`Language`]s,
//! a sandbox's limits ([`SandboxConfig`], with its builders, its [`validate`](SandboxConfig::validate)
//! and the [`parse_byte_size`] / [`parse_duration`] parsers), what to run ([`ExecutionRequest`]),
//! what came back ([`ExecutionResult`], [`Status`], [`Artifact`], [`StreamOutput`], [`FileInfo`])
//! and host-side errors as data ([`ErrorKind`], [`ApiError`]).
//!
//! They are plain serde types: no Wasmtime, no Cranelift, no tokio runtime behind them (a test
//! fails if the dependency tree gains one). A client of a remote SoulBox - the Rust gRPC client,
//! the Python package's remote mode - depends on this crate and never compiles the engine. The
//! engine (crate `soulbox`) re-exports every type here under the same names, so code written
//! against `soulbox::SandboxConfig` and friends does not change.
//!
//! ## Example
//! ```
//! use std::time::Duration;
//! use soulbox_api::{ExecutionRequest, Language, SandboxConfig, Status, MIB};
//!
//! let config = SandboxConfig::default()
//!     .with_memory_limit(parse_size("128MiB"))
//!     .with_timeout(Duration::from_secs(5));
//! assert!(config.validate().is_ok());
//! let request = ExecutionRequest::new("py".parse::<Language>().unwrap_or(Language::Python), "print(1)");
//! assert_eq!(request.language, Language::Python);
//! // What travels over the wire is JSON (or any serde format).
//! let json = serde_json::to_string(&Status::MemoryLimit).unwrap_or_default();
//! assert_eq!(json, "\"memory_limit\"");
//! # fn parse_size(s: &str) -> u64 { soulbox_api::parse_byte_size(s).unwrap_or(64 * MIB) }
//! ```
#![deny(missing_docs)]

mod config;
mod error;
mod files;
mod host;
mod language;
mod request;
mod result;
mod state;

pub use config::{
    Backend, CompileConfig, CompileProfile, MAX_ARTIFACT_BYTES, MAX_ARTIFACTS, MAX_CPU_QUOTA,
    MAX_DISK_BYTES, MAX_DISK_ENTRIES, MAX_HOST_CALL_BYTES, MAX_MEMORY_LIMIT, MAX_NETWORK_BYTES,
    MAX_OUTPUT_BYTES, MAX_PROCESSES, MAX_TIMEOUT, MAX_TOOL_CALLS, MIB, SandboxConfig,
    parse_byte_size, parse_duration,
};
pub use error::{ApiError, ErrorKind};
pub use files::FileInfo;
pub use host::{
    AllowHost, HostPattern, MAX_ALLOW_HOST_LEN, MAX_ALLOW_HOSTS, NetworkRequest, Scheme, ToolCall,
};
pub use language::{ACCEPTED_LANGUAGES, Language, UnknownLanguage};
pub use request::{ExecutionRequest, Stdin};
pub use result::{Artifact, ExecutionResult, Status, StreamOutput};
pub use state::SandboxState;
