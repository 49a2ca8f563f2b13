//! The HTTP listener of `soulbox serve --e2b-listen`: the E2B-compatible API ([`crate::e2b`])
//! and MCP over streamable HTTP at `/mcp` ([`crate::mcp`]) on one address, over one manager.

use std::future::Future;

use axum::Router;

use crate::e2b;
use crate::{Manager, Tokens};

/// The listener's routes: the E2B door's, with MCP nested at `/mcp`.
pub fn router(manager: Manager, tokens: Tokens) -> Router {
    let mcp = crate::mcp::http_service(manager.clone(), tokens.clone());
    e2b::router(manager, tokens, Router::new().nest_service("/mcp", mcp))
}

/// Serves the E2B-compatible API and MCP on `listener` until `shutdown` resolves. Sandboxes live
/// in `manager` (its reaper and shutdown are run by whoever owns it, normally [`crate::serve`]).
pub async fn serve_e2b(
    manager: Manager,
    tokens: Tokens,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(manager, tokens))
        .with_graceful_shutdown(shutdown)
        .await
}
