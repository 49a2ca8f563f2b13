//! The MCP door: SoulBox as tools for an agent, with the official Rust SDK (`rmcp`), over
//! stdio (`soulbox mcp`) and streamable HTTP (`/mcp` on the HTTP listener of `soulbox serve`).
//!
//! Each tenant gets one sandbox, made on first use through the [`Manager`] (so caps, admission
//! and idle expiry apply): its workspace holds the files the tools read and write, and its
//! sessions keep interpreter state between `run_code` calls that name them. Over HTTP the
//! tenant is the `Authorization: Bearer` token; over stdio the process is one local tenant.
//! The sandbox of a tenant is shared by its MCP connections, so the state survives the
//! stateless HTTP requests of newer protocol versions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use soulbox::{ExecutionRequest, ExecutionResult, Language, Status};

use crate::auth::{Tenant, Tokens};
use crate::figures::figures_png;
use crate::manager::{Entry, Manager, ManagerError};

/// Images larger than this are named, not inlined.
const MAX_IMAGE_BYTES: u64 = 4 * 1024 * 1024;

/// Each tenant's sandbox, shared by every MCP connection of that tenant.
#[derive(Clone, Default)]
pub struct McpSandboxes(Arc<Mutex<HashMap<Tenant, String>>>);

/// The MCP server: SoulBox's tools over a [`Manager`].
#[derive(Clone)]
pub struct SoulBoxMcp {
    manager: Manager,
    sandboxes: McpSandboxes,
    /// Over stdio: the one tenant. Over HTTP: `None`, the tenant comes with each request.
    tenant: Option<Tenant>,
}

#[derive(Deserialize, JsonSchema)]
struct RunCode {
    /// The language: `python` (CPython 3 with numpy, pandas, matplotlib, scikit-learn),
    /// `javascript` (QuickJS; no Node APIs), `ruby`; one-shot only: `rust`, `c`, `cpp`, and
    /// `shell` when the server allows its native backend.
    language: String,
    /// The source code to run.
    code: String,
    /// A session id from `create_session`: run in that live interpreter, keeping variables,
    /// imports and definitions from earlier calls (the language must match the session's).
    /// Without it the code runs once in a fresh process.
    session_id: Option<String>,
    /// Stop the code after this many seconds (at most the server's per-execution limit, which
    /// applies anyway).
    timeout_seconds: Option<f64>,
}

#[derive(Deserialize, JsonSchema)]
struct NewSession {
    /// `python`, `javascript` or `ruby`.
    language: String,
}

#[derive(Deserialize, JsonSchema)]
struct SessionRef {
    /// The id `create_session` returned.
    session_id: String,
}

#[derive(Deserialize, JsonSchema)]
struct WriteFile {
    /// Path relative to the workspace (`data/input.csv`); `/work/...` also works.
    path: String,
    /// The file's content.
    content: String,
    /// `utf8` (default) or `base64` (for binary content).
    encoding: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct FilePath {
    /// Path relative to the workspace (`results/plot.png`); `/work/...` also works.
    path: String,
}

#[derive(Deserialize, JsonSchema)]
struct ListFiles {
    /// Directory to list, relative to the workspace; empty or omitted for all of it.
    path: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct InstallPackage {
    /// `python` (pip requirement specifiers: `requests`, `attrs>=23`, `rich==13.7.1`),
    /// `javascript` (npm specs: `lodash`, `ms@2.1.3`) or `ruby` (paths of `.gem` files in
    /// the workspace, uploaded with write_file).
    language: String,
    /// What to install; resolved together, dependencies included.
    packages: Vec<String>,
}

fn failed(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

fn manager_failed(e: ManagerError) -> CallToolResult {
    failed(e.to_string())
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn session_language(name: &str) -> Result<Language, CallToolResult> {
    match name.trim().to_ascii_lowercase().as_str() {
        "python" | "python3" => Ok(Language::Python),
        "javascript" | "js" => Ok(Language::JavaScript),
        "ruby" => Ok(Language::Ruby),
        other => Err(failed(format!(
            "sessions run python, javascript or ruby, not `{other}`"
        ))),
    }
}

impl SoulBoxMcp {
    /// A server for one local tenant (stdio).
    pub fn local(manager: Manager, tenant: Tenant) -> SoulBoxMcp {
        SoulBoxMcp {
            manager,
            sandboxes: McpSandboxes::default(),
            tenant: Some(tenant),
        }
    }

    /// A server whose callers name their tenant with each HTTP request.
    fn per_request(manager: Manager, sandboxes: McpSandboxes) -> SoulBoxMcp {
        SoulBoxMcp {
            manager,
            sandboxes,
            tenant: None,
        }
    }

    fn tenant(&self, ctx: &RequestContext<RoleServer>) -> Result<Tenant, CallToolResult> {
        if let Some(tenant) = &self.tenant {
            return Ok(tenant.clone());
        }
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Tenant>())
            .cloned()
            .ok_or_else(|| failed("the request was not authenticated"))
    }

    /// The caller's tenant and its sandbox (see [`sandbox`](Self::sandbox)).
    async fn tenant_sandbox(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(Tenant, Arc<Entry>), CallToolResult> {
        let tenant = self.tenant(ctx)?;
        let entry = self.sandbox(&tenant).await?;
        Ok((tenant, entry))
    }

    /// The tenant's sandbox, made now if it has none (or its old one expired).
    async fn sandbox(&self, tenant: &Tenant) -> Result<Arc<Entry>, CallToolResult> {
        let known = crate::sync::lock(&self.sandboxes.0).get(tenant).cloned();
        if let Some(id) = known
            && let Ok(entry) = self.manager.get(tenant, &id)
        {
            return Ok(entry);
        }
        let entry = self
            .manager
            .create(tenant, self.manager.base_config(), None)
            .await
            .map_err(manager_failed)?;
        crate::sync::lock(&self.sandboxes.0).insert(tenant.clone(), entry.id().to_owned());
        Ok(entry)
    }

    async fn images(&self, entry: &Entry, result: &ExecutionResult) -> Vec<ContentBlock> {
        let mut out = Vec::new();
        for artifact in result.artifacts.iter().filter(|a| a.is_image()) {
            if artifact.size > MAX_IMAGE_BYTES {
                continue;
            }
            let data = match &artifact.data {
                Some(data) => data.clone(),
                None => match entry.sandbox().read_file(&artifact.path).await {
                    Ok(data) => data,
                    Err(_) => continue,
                },
            };
            out.push(ContentBlock::image(b64(&data), artifact.mime_type.clone()));
        }
        out
    }
}

fn summary(result: &ExecutionResult) -> String {
    let mut text = format!("status: {}", result.status);
    if let Some(code) = result.exit_code {
        text.push_str(&format!("\nexit_code: {code}"));
    }
    if let Some(error) = &result.error {
        text.push_str(&format!("\nerror: {error}"));
    }
    if let Some(value) = &result.value {
        text.push_str(&format!("\nvalue: {value}"));
    }
    text.push_str(&format!(
        "\nstdout:\n{}\nstderr:\n{}",
        result.stdout, result.stderr
    ));
    let files: Vec<&str> = result.artifacts.iter().map(|a| a.path.as_str()).collect();
    if !files.is_empty() {
        text.push_str(&format!("\nfiles written: {}", files.join(", ")));
    }
    text
}

#[tool_router]
impl SoulBoxMcp {
    #[tool(
        description = "Run code in an isolated SoulBox sandbox (WebAssembly; no network) and get \
        its output. Returns the status (ok, error, timeout, memory_limit, ...), exit code, stdout, \
        stderr, the value of the last expression when run in a session, and every image file \
        the code wrote (PNG/JPEG/SVG...) as an image. To show a matplotlib plot, save it: \
        plt.savefig('plot.png') - in a Python session, open figures are also returned. Files \
        live in the workspace (the current directory, /work), shared by all runs and sessions; \
        use write_file/read_file/list_files to move data in and out. Without session_id each \
        call starts fresh; create_session keeps state between calls."
    )]
    async fn run_code(
        &self,
        Parameters(args): Parameters<RunCode>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let (tenant, entry) = match self.tenant_sandbox(&ctx).await {
            Ok(found) => found,
            Err(e) => return Ok(e),
        };
        let limit = self.manager.config().max_timeout;
        let timeout = match args.timeout_seconds {
            Some(s) if s.is_finite() && s > 0.0 => {
                Duration::from_secs_f64(s.min(limit.as_secs_f64()))
            }
            Some(s) => {
                return Ok(failed(format!(
                    "timeout_seconds must be above zero, not {s}"
                )));
            }
            None => limit,
        };
        let admission = match self.manager.admit(&tenant, entry.id()).await {
            Ok(a) => a,
            Err(e) => return Ok(manager_failed(e)),
        };
        let (result, session) = match &args.session_id {
            Some(session_id) => {
                let session = match self.manager.session(&tenant, entry.id(), session_id) {
                    Ok(s) => s,
                    Err(e) => return Ok(manager_failed(e)),
                };
                let wanted = session_language(&args.language);
                if wanted.as_ref().ok() != Some(&session.language()) {
                    return Ok(failed(format!(
                        "session {session_id} runs {}, not {}",
                        session.language(),
                        args.language
                    )));
                }
                let ran =
                    tokio::time::timeout(timeout, session.execute(args.code.as_bytes())).await;
                if ran.is_err() {
                    // A cell stopped halfway leaves the interpreter in an unknown state.
                    let _ = session.reset().await;
                }
                (ran, Some(session))
            }
            None => {
                let language: Language = match args.language.parse() {
                    Ok(l) => l,
                    Err(e) => return Ok(failed(format!("{e}"))),
                };
                let request = ExecutionRequest::new(language, args.code.into_bytes());
                (
                    tokio::time::timeout(timeout, entry.sandbox().execute(request)).await,
                    None,
                )
            }
        };
        let result = match result {
            Err(_) => {
                return Ok(failed(format!(
                    "the code ran longer than {timeout:?} and was stopped{}",
                    if session.is_some() {
                        "; the session was reset (its variables are gone)"
                    } else {
                        ""
                    }
                )));
            }
            Ok(Err(e)) => return Ok(failed(e.to_string())),
            Ok(Ok(result)) => result,
        };
        let mut content = vec![ContentBlock::text(summary(&result))];
        content.extend(self.images(&entry, &result).await);
        if let Some(session) = &session
            && session.language() == Language::Python
            && matches!(result.status, Status::Ok | Status::Error)
        {
            match figures_png(session).await {
                Ok(pngs) => content.extend(
                    pngs.into_iter()
                        .map(|(png, _)| ContentBlock::image(png, "image/png")),
                ),
                Err(e) => content.push(ContentBlock::text(format!(
                    "rendering the open figures failed: {e}"
                ))),
            }
        }
        drop(admission);
        Ok(if result.status == Status::Ok {
            CallToolResult::success(content)
        } else {
            CallToolResult::error(content)
        })
    }

    #[tool(
        description = "Start a live interpreter session (python, javascript or ruby) whose \
        variables, imports and definitions persist across run_code calls that pass its \
        session_id. Returns the session_id. Close it with close_session when done."
    )]
    async fn create_session(
        &self,
        Parameters(args): Parameters<NewSession>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let tenant = match self.tenant(&ctx) {
            Ok(t) => t,
            Err(e) => return Ok(e),
        };
        let language = match session_language(&args.language) {
            Ok(l) => l,
            Err(e) => return Ok(e),
        };
        let entry = match self.sandbox(&tenant).await {
            Ok(e) => e,
            Err(e) => return Ok(e),
        };
        Ok(
            match self
                .manager
                .open_session(&tenant, entry.id(), language)
                .await
            {
                Ok((id, _)) => CallToolResult::success(vec![ContentBlock::text(id)]),
                Err(e) => manager_failed(e),
            },
        )
    }

    #[tool(description = "Close a session made by create_session, freeing its interpreter.")]
    async fn close_session(
        &self,
        Parameters(args): Parameters<SessionRef>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let (tenant, entry) = match self.tenant_sandbox(&ctx).await {
            Ok(found) => found,
            Err(e) => return Ok(e),
        };
        Ok(
            match self
                .manager
                .close_session(&tenant, entry.id(), &args.session_id)
            {
                Ok(()) => CallToolResult::success(vec![ContentBlock::text("closed")]),
                Err(e) => manager_failed(e),
            },
        )
    }

    #[tool(
        description = "Install packages into the sandbox for later run_code calls and sessions \
        (open sessions see them from their next call). Python: wheels only (pure-Python or \
        WASI); what the runtime ships (numpy, pandas, ...) counts as installed; packages that \
        need native code or a build are refused with the reason. JavaScript: npm packages \
        without native addons or install scripts. Ruby: .gem files from the workspace."
    )]
    async fn install_package(
        &self,
        Parameters(args): Parameters<InstallPackage>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let language = match session_language(&args.language) {
            Ok(l) => l,
            Err(e) => return Ok(e),
        };
        if args.packages.is_empty() {
            return Ok(failed("packages is empty: name at least one"));
        }
        let tenant = match self.tenant(&ctx) {
            Ok(t) => t,
            Err(e) => return Ok(e),
        };
        let entry = match self.sandbox(&tenant).await {
            Ok(e) => e,
            Err(e) => return Ok(e),
        };
        Ok(
            match entry
                .sandbox()
                .install_workspace_packages(language, &args.packages)
                .await
            {
                Ok(report) => CallToolResult::success(vec![ContentBlock::text(report.summary())]),
                Err(e) => failed(e.to_string()),
            },
        )
    }

    #[tool(
        description = "Write a file into the sandbox's workspace (parent directories are \
        created), for code to read by its relative path. content is text, or base64 with \
        encoding=base64."
    )]
    async fn write_file(
        &self,
        Parameters(args): Parameters<WriteFile>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let tenant = match self.tenant(&ctx) {
            Ok(t) => t,
            Err(e) => return Ok(e),
        };
        let data = match args.encoding.as_deref() {
            None | Some("utf8") | Some("utf-8") | Some("text") => args.content.into_bytes(),
            Some("base64") => {
                match base64::engine::general_purpose::STANDARD.decode(args.content.trim()) {
                    Ok(d) => d,
                    Err(e) => return Ok(failed(format!("content is not valid base64: {e}"))),
                }
            }
            Some(other) => {
                return Ok(failed(format!(
                    "encoding must be utf8 or base64, not `{other}`"
                )));
            }
        };
        let cap = self.manager.config().max_upload_bytes;
        if u64::try_from(data.len()).unwrap_or(u64::MAX) > cap {
            return Ok(failed(format!(
                "the file is {} bytes, above this server's max_upload_bytes ({cap})",
                data.len()
            )));
        }
        let entry = match self.sandbox(&tenant).await {
            Ok(e) => e,
            Err(e) => return Ok(e),
        };
        Ok(match entry.sandbox().write_file(&args.path, &data).await {
            Ok(()) => CallToolResult::success(vec![ContentBlock::text(format!(
                "wrote {} bytes to {}",
                data.len(),
                args.path
            ))]),
            Err(e) => failed(e.to_string()),
        })
    }

    #[tool(
        description = "Read a file from the sandbox's workspace: text comes back as text, \
        images as images, other binary files as base64."
    )]
    async fn read_file(
        &self,
        Parameters(args): Parameters<FilePath>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let (_, entry) = match self.tenant_sandbox(&ctx).await {
            Ok(found) => found,
            Err(e) => return Ok(e),
        };
        let data = match entry.sandbox().read_file(&args.path).await {
            Ok(d) => d,
            Err(e) => return Ok(failed(e.to_string())),
        };
        let mime = sniff_image(&data);
        let content = match (mime, String::from_utf8(data)) {
            (Some(mime), Err(raw)) => ContentBlock::image(b64(raw.as_bytes()), mime),
            (_, Ok(text)) => ContentBlock::text(text),
            (None, Err(raw)) => ContentBlock::text(format!("base64:{}", b64(raw.as_bytes()))),
        };
        Ok(CallToolResult::success(vec![content]))
    }

    #[tool(
        description = "List the files and directories in the sandbox's workspace (recursively), \
        with sizes; optionally only under path."
    )]
    async fn list_files(
        &self,
        Parameters(args): Parameters<ListFiles>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let (_, entry) = match self.tenant_sandbox(&ctx).await {
            Ok(found) => found,
            Err(e) => return Ok(e),
        };
        let path = args.path.unwrap_or_default();
        Ok(match entry.sandbox().list_files(&path).await {
            Ok(files) if files.is_empty() => {
                CallToolResult::success(vec![ContentBlock::text("(empty)")])
            }
            Ok(files) => CallToolResult::success(vec![ContentBlock::text(
                files
                    .iter()
                    .map(|f| {
                        if f.is_dir {
                            format!("{}/", f.path)
                        } else {
                            format!("{} ({} bytes)", f.path, f.size)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            )]),
            Err(e) => failed(e.to_string()),
        })
    }
}

fn sniff_image(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if data.starts_with(b"GIF8") {
        Some("image/gif")
    } else {
        None
    }
}

#[tool_handler(
    name = "soulbox",
    instructions = "SoulBox runs untrusted code in isolated sandboxes. Use run_code to execute \
    Python/JavaScript/Ruby (and more), create_session for state that persists across calls, and \
    write_file/read_file/list_files for the workspace the code sees as its current directory."
)]
impl ServerHandler for SoulBoxMcp {}

/// Serves MCP over stdin/stdout until the client closes it.
pub async fn serve_stdio(manager: Manager, tenant: Tenant) -> Result<(), String> {
    use rmcp::ServiceExt;
    let server = SoulBoxMcp::local(manager, tenant)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("MCP over stdio failed to start: {e}"))?;
    server
        .waiting()
        .await
        .map_err(|e| format!("MCP over stdio failed: {e}"))?;
    Ok(())
}

/// The streamable-HTTP MCP endpoint, for mounting at `/mcp`: each request must carry
/// `Authorization: Bearer <token>` (one of `tokens`), which names its tenant.
pub fn http_service(manager: Manager, tokens: Tokens) -> axum::Router {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    let sandboxes = McpSandboxes::default();
    let service = StreamableHttpService::new(
        move || Ok(SoulBoxMcp::per_request(manager.clone(), sandboxes.clone())),
        Arc::new(LocalSessionManager::default()),
        // Callers are authenticated by token, so requests are not limited to loopback hosts.
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    );
    axum::Router::new()
        .fallback_service(service)
        .layer(axum::middleware::from_fn(move |mut request: axum::extract::Request, next: axum::middleware::Next| {
            let tokens = tokens.clone();
            async move {
                let header = request
                    .headers()
                    .get(axum::http::header::AUTHORIZATION)
                    .map(|v| v.as_bytes().to_vec());
                match tokens.authenticate(header.as_deref()) {
                    Ok(tenant) => {
                        request.extensions_mut().insert(tenant);
                        next.run(request).await
                    }
                    Err(status) => {
                        use axum::response::IntoResponse;
                        (
                            axum::http::StatusCode::UNAUTHORIZED,
                            axum::Json(serde_json::json!({
                                "jsonrpc": "2.0",
                                "id": null,
                                "error": {"code": -32001, "message": format!("{}: send Authorization: Bearer <one of this server's tokens>", status.message())},
                            })),
                        )
                            .into_response()
                    }
                }
            }
        }))
}
