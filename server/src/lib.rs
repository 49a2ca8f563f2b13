//! # soulbox-server: SoulBox as a multi-tenant service (`soulbox serve`)
//!
//! - [`manager`]: the protocol-neutral sandbox manager (tenancy, caps, admission, idle expiry,
//!   shutdown) every door uses.
//! - [`auth`]: bearer tokens, one tenant each, compared in constant time.
//! - [`config`]: the server's caps and limits (`--config FILE`, TOML).
//! - `grpc/`: the gRPC door, `soulbox.v1` (`proto/soulbox/v1/*.proto`): `Sandboxes`
//!   (lifecycle and streamed `Execute`), `Sessions`, `Files`; plus `grpc.health.v1` and server
//!   reflection.
//! - [`e2b`]: the E2B-compatible HTTP door (control plane, envd, code interpreter) that the
//!   unmodified E2B SDKs drive; [`mcp`]: the MCP door (stdio and streamable HTTP at `/mcp`).
//!   Both use the manager; see docs/agents.md.
//! - [`serve`]: wires the services, TLS, size limits and graceful shutdown onto a listener.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use soulbox_server::{Manager, ServeOptions, ServerConfig, Tokens, serve};
//! let engine = soulbox::Engine::new(soulbox::EngineConfig::default())?;
//! let manager = Manager::new(engine, ServerConfig::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7070").await?;
//! let options = ServeOptions::new(Tokens::new(["a-long-random-token-0123456789"])?);
//! serve(manager, options, listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod auth;
pub mod config;
pub mod e2b;
mod figures;
mod grpc;
pub mod http;
pub mod manager;
pub mod mcp;
mod serve;
mod sync;

pub use auth::{Tenant, Tokens};
pub use config::ServerConfig;
pub use http::{router as e2b_router, serve_e2b};
pub use manager::{Manager, ManagerError};
pub use serve::{ServeError, ServeOptions, Tls, serve};
