//! The E2B-compatible door: the unmodified `e2b` / `e2b-code-interpreter` SDKs drive SoulBox
//! sandboxes. One HTTP/1.1 listener serves all three of E2B's surfaces, whose paths do not
//! overlap, so `E2B_API_URL` and `E2B_SANDBOX_URL` both point at it:
//!
//! - `control`: the control plane (`/sandboxes`, `/v2/sandboxes`, ...): `X-API-KEY` is one of
//!   the server's tokens, each its own tenant (the same tenants as the gRPC door).
//! - `envd`: the in-sandbox daemon's API: `/files`, `filesystem.Filesystem/*` and
//!   `process.Process/*` over Connect RPC (JSON codec).
//! - `interpreter`: the code interpreter's `/execute` (NDJSON stream) and `/contexts`.
//!
//! Sandbox-side calls name their sandbox in the `E2b-Sandbox-Id` header and must carry the
//! per-sandbox secret issued at create (`envdAccessToken`, sent back as `X-Access-Token`; the
//! code interpreter's `/contexts` calls carry it as `E2B-Traffic-Access-Token`). `/home/user`,
//! the SDK's home, is the sandbox's workspace (`/work` inside the guest).
//!
//! Everything goes through the [`Manager`]: tenants, caps, admission and idle expiry are the
//! same as behind the gRPC door.

pub(crate) mod control;
pub(crate) mod envd;
pub(crate) mod interpreter;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use soulbox::{ErrorKind, SoulBoxError};
use subtle::ConstantTimeEq;

use crate::auth::{Tenant, Tokens};
use crate::manager::{Entry, Manager, ManagerError};

/// The envd version reported to the SDK: new enough for raw octet-stream uploads and the
/// default user, old enough that the SDK asks for no file metadata features we lack.
pub(crate) const ENVD_VERSION: &str = "0.5.7";
/// The SDK's home directory, mapped onto the workspace.
pub(crate) const HOME: &str = "/home/user";

/// State shared by the door's handlers.
#[derive(Clone)]
pub(crate) struct E2b {
    pub(crate) manager: Manager,
    pub(crate) tokens: Tokens,
    sandboxes: Arc<Mutex<HashMap<String, Arc<Meta>>>>,
}

/// What the door keeps about a sandbox besides what the manager knows.
pub(crate) struct Meta {
    pub(crate) id: String,
    pub(crate) tenant: Tenant,
    pub(crate) template: String,
    pub(crate) access_token: String,
    pub(crate) started: SystemTime,
    pub(crate) metadata: serde_json::Map<String, serde_json::Value>,
    pub(crate) env_vars: HashMap<String, String>,
    pub(crate) contexts: interpreter::Contexts,
    pub(crate) processes: envd::Processes,
}

pub(crate) use crate::sync::lock;

/// Which error shape a failed call answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// E2B's REST shape: `{"code": <http status>, "message": ...}`.
    Rest,
    /// Connect RPC: `{"code": "<connect code>", "message": ...}`.
    Connect,
}

/// A refused or failed call, answered in its protocol's shape.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) shape: Shape,
}

impl Failure {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            shape: Shape::Rest,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn shaped(mut self, shape: Shape) -> Failure {
        self.shape = shape;
        self
    }

    /// The Connect code of this failure's HTTP status.
    pub(crate) fn connect_code(&self) -> &'static str {
        connect_code(self.status)
    }
}

/// The Connect error code for an HTTP status (the Connect protocol's own table, inverted).
pub(crate) fn connect_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_argument",
        401 => "unauthenticated",
        403 => "permission_denied",
        404 => "not_found",
        409 => "already_exists",
        408 | 504 => "deadline_exceeded",
        412 => "failed_precondition",
        413 | 429 | 507 => "resource_exhausted",
        501 => "unimplemented",
        502 | 503 => "unavailable",
        _ => "internal",
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = match self.shape {
            Shape::Rest => {
                serde_json::json!({"code": self.status.as_u16(), "message": self.message})
            }
            Shape::Connect => {
                serde_json::json!({"code": connect_code(self.status), "message": self.message})
            }
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<ManagerError> for Failure {
    fn from(err: ManagerError) -> Failure {
        let status = match &err {
            ManagerError::NotFound { .. } => StatusCode::NOT_FOUND,
            ManagerError::OverCap(_) | ManagerError::Invalid(_) => StatusCode::BAD_REQUEST,
            ManagerError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            ManagerError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ManagerError::Engine(e) => return engine_failure(e),
        };
        Failure::new(status, err.to_string())
    }
}

/// An engine error as an HTTP status and its message.
pub(crate) fn engine_failure(err: &SoulBoxError) -> Failure {
    let status = match err.kind() {
        ErrorKind::InvalidRequest
        | ErrorKind::UnknownLanguage
        | ErrorKind::InvalidModule
        | ErrorKind::InvalidPath
        | ErrorKind::UnusableFile => StatusCode::BAD_REQUEST,
        ErrorKind::FileNotFound => StatusCode::NOT_FOUND,
        ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::InvalidState
        | ErrorKind::SessionPoisoned
        | ErrorKind::ToolchainMissing
        | ErrorKind::IsolationUnavailable => StatusCode::PRECONDITION_FAILED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Failure::new(status, err.to_string())
}

/// The answer for a sandbox-side call naming a sandbox that does not exist (any more): what
/// E2B's proxy answers, which the SDK turns into `SandboxNotRunningException`.
fn sandbox_gone(id: &str) -> Failure {
    Failure::new(
        StatusCode::BAD_GATEWAY,
        format!(
            "The sandbox {id} was not found (it never existed, was killed or reached its timeout)"
        ),
    )
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl E2b {
    pub(crate) fn new(manager: Manager, tokens: Tokens) -> E2b {
        E2b {
            manager,
            tokens,
            sandboxes: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The tenant of a control-plane call: `X-API-KEY` (what the SDK sends) or
    /// `Authorization: Bearer` (what the gRPC door takes) must be one of the server's tokens.
    pub(crate) fn tenant(&self, headers: &HeaderMap) -> Result<Tenant, Failure> {
        let bearer = match (
            header(headers, "x-api-key"),
            header(headers, "authorization"),
        ) {
            (Some(key), _) => Some(format!("Bearer {}", key.trim())),
            (None, Some(auth)) => Some(auth.trim().to_owned()),
            (None, None) => None,
        };
        self.tokens
            .authenticate(bearer.as_deref().map(str::as_bytes))
            .map_err(|status| {
                let why = if bearer.is_none() {
                    "missing the X-API-KEY header (set E2B_API_KEY to one of this server's tokens)"
                        .to_owned()
                } else {
                    format!(
                        "{}: X-API-KEY must be one of this server's tokens",
                        status.message()
                    )
                };
                Failure::new(StatusCode::UNAUTHORIZED, why)
            })
    }

    pub(crate) fn insert(&self, meta: Arc<Meta>) {
        lock(&self.sandboxes).insert(meta.id.clone(), meta);
    }

    pub(crate) fn forget(&self, id: &str) {
        lock(&self.sandboxes).remove(id);
    }

    /// The door's record of the tenant's live sandbox `id` (marks it used).
    pub(crate) fn owned(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<(Arc<Meta>, Arc<Entry>), Failure> {
        let entry = match self.manager.get(tenant, id) {
            Ok(entry) => entry,
            Err(e) => {
                if matches!(e, ManagerError::NotFound { .. }) {
                    self.forget_if_gone(id);
                }
                return Err(e.into());
            }
        };
        let meta = lock(&self.sandboxes).get(id).cloned().ok_or_else(|| {
            Failure::new(
                StatusCode::NOT_FOUND,
                format!("sandbox `{id}` was not created through the E2B API"),
            )
        })?;
        Ok((meta, entry))
    }

    fn forget_if_gone(&self, id: &str) {
        let meta = lock(&self.sandboxes).get(id).cloned();
        if let Some(meta) = meta
            && self.manager.get(&meta.tenant, id).is_err()
        {
            self.forget(id);
        }
    }

    /// Drops records of sandboxes the manager no longer has (deleted elsewhere or expired).
    pub(crate) fn prune(&self) {
        let tenants: Vec<Tenant> = {
            let map = lock(&self.sandboxes);
            let mut t: Vec<Tenant> = map.values().map(|m| m.tenant.clone()).collect();
            t.dedup();
            t
        };
        let mut live = std::collections::HashSet::new();
        for tenant in &tenants {
            for entry in self.manager.list(tenant) {
                live.insert(entry.id().to_owned());
            }
        }
        lock(&self.sandboxes).retain(|id, _| live.contains(id));
    }

    /// The sandbox a sandbox-side call is for: the `E2b-Sandbox-Id` header (or, when it is
    /// missing and exactly one sandbox is live, that one), whose access token the call must
    /// carry in one of `token_headers`.
    pub(crate) fn sandbox_side(
        &self,
        headers: &HeaderMap,
        token_headers: &[&str],
        shape: Shape,
    ) -> Result<(Arc<Meta>, Arc<Entry>), Failure> {
        let meta = match header(headers, "e2b-sandbox-id") {
            Some(id) => lock(&self.sandboxes)
                .get(id)
                .cloned()
                .ok_or_else(|| sandbox_gone(id)),
            None => {
                self.prune();
                let map = lock(&self.sandboxes);
                let mut all = map.values();
                match (all.next(), all.next()) {
                    (Some(only), None) => Ok(only.clone()),
                    _ => Err(Failure::bad_request(
                        "missing the E2b-Sandbox-Id header naming the sandbox",
                    )),
                }
            }
        }
        .map_err(|f| f.shaped(shape))?;
        let given = token_headers.iter().find_map(|h| header(headers, h));
        let Some(given) = given else {
            return Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                format!(
                    "missing the {} header: sandbox-side calls must carry the sandbox's \
                     envdAccessToken",
                    token_headers.first().copied().unwrap_or("X-Access-Token")
                ),
            )
            .shaped(shape));
        };
        if !bool::from(given.as_bytes().ct_eq(meta.access_token.as_bytes())) {
            return Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                "the access token does not belong to this sandbox",
            )
            .shaped(shape));
        }
        let entry = match self.manager.get(&meta.tenant, &meta.id) {
            Ok(entry) => entry,
            Err(_) => {
                self.forget(&meta.id);
                return Err(sandbox_gone(&meta.id).shaped(shape));
            }
        };
        Ok((meta, entry))
    }
}

/// `/home/user/a.txt`, `a.txt` (relative to `/home/user`) and `/work/a.txt` as the engine's
/// workspace-relative path (`""` for the home itself). Anything else is outside the sandbox's
/// filesystem; the engine's file API resolves the result and refuses `..` escapes and links.
pub(crate) fn workspace_path(path: &str) -> Result<String, Failure> {
    let trimmed = path.trim();
    let rest = if trimmed == HOME || trimmed == "/work" || trimmed == "~" {
        ""
    } else if let Some(rest) = trimmed.strip_prefix("/home/user/") {
        rest
    } else if let Some(rest) = trimmed.strip_prefix("/work/") {
        rest
    } else if let Some(rest) = trimmed.strip_prefix("~/") {
        rest
    } else if trimmed.starts_with('/') {
        return Err(Failure::bad_request(format!(
            "`{path}` is outside the sandbox's filesystem: SoulBox sandboxes have one directory, \
             {HOME} (the workspace); use paths under it"
        )));
    } else {
        trimmed
    };
    Ok(rest.trim_end_matches('/').to_owned())
}

/// The SDK's path for a workspace-relative path.
pub(crate) fn sdk_path(rel: &str) -> String {
    if rel.is_empty() {
        HOME.to_owned()
    } else {
        format!("{HOME}/{rel}")
    }
}

/// A random secret for one sandbox (envdAccessToken).
pub(crate) fn new_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// RFC 3339 UTC time with milliseconds (`2026-12-01T20:06:27.123Z`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// A whole request body of at most the server's `max_message_bytes`; a larger one is refused
/// with 413 in the route's error shape (Connect for the RPC paths, E2B's REST shape otherwise).
pub(crate) struct Body(pub(crate) axum::body::Bytes);

impl axum::extract::FromRequest<E2b> for Body {
    type Rejection = Failure;

    async fn from_request(request: axum::extract::Request, state: &E2b) -> Result<Body, Failure> {
        let path = request.uri().path();
        let shape = if path.starts_with("/filesystem.") || path.starts_with("/process.") {
            Shape::Connect
        } else {
            Shape::Rest
        };
        let limit = state.manager.config().max_message_bytes;
        axum::body::to_bytes(request.into_body(), limit)
            .await
            .map(Body)
            .map_err(|e| {
                Failure::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the request body could not be read or is larger than this server's \
                         max_message_bytes ({limit} bytes): {e}"
                    ),
                )
                .shaped(shape)
            })
    }
}

/// A response body of the chunks sent on `rx`, each flushed as it comes; it ends when every
/// sender is gone. Dropping the body (the client went away) makes the senders' `send` fail.
pub(crate) fn channel_body(rx: tokio::sync::mpsc::Receiver<axum::body::Bytes>) -> axum::body::Body {
    let chunks = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    axum::body::Body::from_stream(chunks)
}

/// The door's routes (control plane, envd, code interpreter) over `manager`, plus `extra`
/// routes served on the same listener (MCP at `/mcp`; see [`crate::http`]).
pub fn router(manager: Manager, tokens: Tokens, extra: Router) -> Router {
    let state = E2b::new(manager, tokens);
    control::routes()
        .merge(envd::routes(&state))
        .merge(interpreter::routes())
        .fallback(|uri: axum::http::Uri| async move {
            Failure::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no such endpoint `{}` on SoulBox's E2B-compatible API",
                    uri.path()
                ),
            )
        })
        .with_state(state)
        .merge(extra)
        .layer(axum::middleware::from_fn(log_request))
}

/// One log line per request: method, path, sandbox, status and duration (never a token).
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let sandbox = header(request.headers(), "e2b-sandbox-id")
        .unwrap_or("-")
        .to_owned();
    let response = next.run(request).await;
    tracing::info!(
        method = %method,
        path = %path,
        sandbox = %sandbox,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1e3,
        "e2b request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_sdk_paths_onto_the_workspace() {
        assert_eq!(workspace_path("/home/user").ok().as_deref(), Some(""));
        assert_eq!(
            workspace_path("/home/user/a/b.txt").ok().as_deref(),
            Some("a/b.txt")
        );
        assert_eq!(workspace_path("a.txt").ok().as_deref(), Some("a.txt"));
        assert_eq!(workspace_path("/work/x").ok().as_deref(), Some("x"));
        assert!(workspace_path("/etc/passwd").is_err());
        assert!(workspace_path("/home/username/x").is_err());
    }

    #[test]
    fn formats_rfc3339() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_764_619_587_123);
        assert_eq!(rfc3339(t), "2025-12-01T20:06:27.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
