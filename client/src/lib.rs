//! # soulbox-client: sandboxes on a SoulBox server, with the embedded API's names
//!
//! A [`RemoteSandbox`] has the methods of the embedded `soulbox::Sandbox` - `execute_code`,
//! `execute`, `stream_execute`, `session`, `write_file`, `read_file`, `list_files`,
//! `remove_file`, `pause`, `resume`, `terminate` - taking and returning the same
//! [`soulbox_api`] types, so code moves between in-process and remote by changing how the
//! sandbox is made. A guest breaking a limit is an `Ok` result with a [`Status`], as in-process;
//! [`Error`] is a host-side failure carrying the server's message, its gRPC code and the
//! engine's [`ErrorKind`].
//!
//! This crate depends on `soulbox-api`, the wire crate and tonic, never on Wasmtime or the
//! engine (a test in `soulbox-api` checks the tree).
//!
//! ```no_run
//! use soulbox_api::{Language, SandboxConfig};
//! use soulbox_client::Client;
//! # async fn demo() -> Result<(), soulbox_client::Error> {
//! let client = Client::connect("http://127.0.0.1:7070").token("…").await?;
//! let sandbox = client.create(SandboxConfig::default()).await?;
//! let result = sandbox.execute_code(Language::Python, "print(6 * 7)").await?;
//! assert_eq!(result.stdout, "42\n");
//! sandbox.terminate().await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use soulbox_api::{
    ErrorKind, ExecutionRequest, ExecutionResult, FileInfo, Language, SandboxConfig, StreamOutput,
};
use soulbox_proto::v1;
use soulbox_proto::v1::files_client::FilesClient;
use soulbox_proto::v1::sandboxes_client::SandboxesClient;
use soulbox_proto::v1::sessions_client::SessionsClient;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request};

pub use soulbox_api as api;

/// Bytes per chunk of an upload (well under the smallest `max_message_bytes` a server accepts).
const UPLOAD_CHUNK: usize = 256 * 1024;
/// Largest message the client accepts or sends (the server enforces its own limit).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// One package as installed in a sandbox (a lock entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    /// `python`, `npm` or `gem`.
    pub ecosystem: String,
    /// Its name as the registry spells it.
    pub name: String,
    /// Its exact version.
    pub version: String,
    /// The registry's digest of its archive (`sha256:<hex>` or `sha512:<hex>`).
    pub digest: String,
}

impl From<v1::InstalledPackage> for InstalledPackage {
    fn from(p: v1::InstalledPackage) -> Self {
        InstalledPackage {
            ecosystem: p.ecosystem,
            name: p.name,
            version: p.version,
            digest: p.digest,
        }
    }
}

/// What an install did (the engine's `InstallReport`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInstall {
    /// Laid out in the sandbox by this call (the request's packages and their dependencies).
    pub installed: Vec<InstalledPackage>,
    /// Needed by the request and already in the sandbox.
    pub already: Vec<InstalledPackage>,
    /// Requested distributions the runtime ships (name, version): nothing was installed.
    pub shipped: Vec<(String, String)>,
    /// Everything came from the server's cache (no registry client ran).
    pub from_cache: bool,
    /// One line for people.
    pub summary: String,
}

impl From<v1::InstallPackageResponse> for PackageInstall {
    fn from(r: v1::InstallPackageResponse) -> Self {
        PackageInstall {
            installed: r.installed.into_iter().map(Into::into).collect(),
            already: r.already.into_iter().map(Into::into).collect(),
            shipped: r.shipped.into_iter().map(|s| (s.name, s.version)).collect(),
            from_cache: r.from_cache,
            summary: r.summary,
        }
    }
}

/// A host-side failure: the server's message, its gRPC code and the engine's error kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    code: Code,
    kind: ErrorKind,
    message: String,
}

impl Error {
    fn new(code: Code, kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            code,
            kind,
            message: message.into(),
        }
    }

    /// The gRPC status code (`NotFound`, `InvalidArgument`, `ResourceExhausted`, ...).
    pub fn code(&self) -> Code {
        self.code
    }

    /// The engine's error kind when the server sent one (`Other` otherwise).
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, as the server wrote it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error as data ([`soulbox_api::ApiError`]).
    pub fn to_api_error(&self) -> soulbox_api::ApiError {
        soulbox_api::ApiError::new(self.kind, self.message.clone())
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Error {
        let kind = status
            .metadata()
            .get(soulbox_proto::ERROR_KIND_HEADER)
            .and_then(|v| v.to_str().ok())
            .map_or(ErrorKind::Other, soulbox_proto::error_kind_from_name);
        let message = if status.message().is_empty() {
            format!("the server answered {:?}", status.code())
        } else {
            status.message().to_owned()
        };
        Error::new(status.code(), kind, message)
    }
}

fn wire_error(e: soulbox_proto::WireError) -> Error {
    Error::new(Code::Internal, ErrorKind::Other, e.0)
}

/// Result of client calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

type Svc = InterceptedService<Channel, Bearer>;

#[derive(Clone)]
struct Stubs {
    sandboxes: SandboxesClient<Svc>,
    sessions: SessionsClient<Svc>,
    files: FilesClient<Svc>,
}

/// A connection to a SoulBox server. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Client {
    stubs: Arc<Stubs>,
}

/// What [`Client::connect`] returns: set the token (and TLS, timeouts), then `.await` it.
pub struct Connect {
    url: String,
    token: Option<String>,
    ca_pem: Option<Vec<u8>>,
    connect_timeout: Duration,
}

impl Connect {
    /// The bearer token (from the server's token file, or `$SOULBOX_HOME/server-token`).
    pub fn token(mut self, token: impl Into<String>) -> Connect {
        self.token = Some(token.into());
        self
    }

    /// A PEM CA certificate to verify an `https://` server with.
    pub fn tls_ca(mut self, pem: impl Into<Vec<u8>>) -> Connect {
        self.ca_pem = Some(pem.into());
        self
    }

    /// How long to wait for the connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Connect {
        self.connect_timeout = timeout;
        self
    }

    async fn establish(self) -> Result<Client> {
        let unusable =
            |what: String| Error::new(Code::InvalidArgument, ErrorKind::InvalidRequest, what);
        let bearer = match &self.token {
            Some(token) => Some(format!("Bearer {}", token.trim()).parse().map_err(|_| {
                unusable("the token contains characters a header cannot carry".into())
            })?),
            None => None,
        };
        let mut endpoint = Endpoint::from_shared(self.url.clone())
            .map_err(|e| unusable(format!("`{}` is not a server URL: {e}", self.url)))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true);
        if self.url.starts_with("https://") {
            let Some(pem) = &self.ca_pem else {
                return Err(unusable(format!(
                    "{} uses TLS: give the server's CA certificate with .tls_ca(PEM)",
                    self.url
                )));
            };
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
                .map_err(|e| unusable(format!("TLS setup failed: {e}")))?;
        }
        let channel = endpoint.connect().await.map_err(|e| {
            let detail =
                std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
            Error::new(
                Code::Unavailable,
                ErrorKind::Io,
                format!(
                    "cannot connect to the SoulBox server at {}: {detail}",
                    self.url
                ),
            )
        })?;
        let auth = Bearer(bearer);
        Ok(Client {
            stubs: Arc::new(Stubs {
                sandboxes: SandboxesClient::with_interceptor(channel.clone(), auth.clone())
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE),
                sessions: SessionsClient::with_interceptor(channel.clone(), auth.clone())
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE),
                files: FilesClient::with_interceptor(channel, auth)
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE),
            }),
        })
    }
}

impl IntoFuture for Connect {
    type Output = Result<Client>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Client>> + Send>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.establish())
    }
}

/// What the server says about a sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxInfo {
    /// Its id.
    pub id: String,
    /// `running`, `paused`, ...
    pub state: String,
    /// Time left before it expires if unused.
    pub expires_in: Duration,
    /// Its idle timeout.
    pub idle_timeout: Duration,
}

impl From<v1::SandboxInfo> for SandboxInfo {
    fn from(wire: v1::SandboxInfo) -> SandboxInfo {
        SandboxInfo {
            id: wire.sandbox_id,
            state: wire.state,
            expires_in: Duration::from_millis(wire.expires_in_ms),
            idle_timeout: Duration::from_millis(wire.idle_timeout_ms),
        }
    }
}

impl Client {
    /// Starts connecting to `url` (`http://host:port`, or `https://` with [`Connect::tls_ca`]).
    pub fn connect(url: impl Into<String>) -> Connect {
        Connect {
            url: url.into(),
            token: None,
            ca_pem: None,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Creates a sandbox with `config` and the server's default idle timeout. A config above a
    /// server cap is refused (`InvalidArgument`, naming the cap).
    pub async fn create(&self, config: SandboxConfig) -> Result<RemoteSandbox> {
        self.create_with_idle_timeout(config, None).await
    }

    /// [`create`](Self::create) with an idle timeout (the sandbox is deleted after this long unused).
    pub async fn create_with_idle_timeout(
        &self,
        config: SandboxConfig,
        idle_timeout: Option<Duration>,
    ) -> Result<RemoteSandbox> {
        let wire = soulbox_proto::config_to_wire(&config)
            .map_err(|e| Error::new(Code::InvalidArgument, ErrorKind::InvalidRequest, e.0))?;
        let request = v1::CreateSandboxRequest {
            config: Some(wire),
            idle_timeout_ms: idle_timeout.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        };
        let info = self
            .stubs
            .sandboxes
            .clone()
            .create(request)
            .await?
            .into_inner();
        Ok(RemoteSandbox {
            id: info.sandbox_id.into(),
            stubs: self.stubs.clone(),
        })
    }

    /// A handle to an existing sandbox of this token (`NotFound` otherwise).
    pub async fn sandbox(&self, id: &str) -> Result<RemoteSandbox> {
        let info = self
            .stubs
            .sandboxes
            .clone()
            .get(v1::SandboxRef {
                sandbox_id: id.to_owned(),
            })
            .await?
            .into_inner();
        Ok(RemoteSandbox {
            id: info.sandbox_id.into(),
            stubs: self.stubs.clone(),
        })
    }

    /// This token's sandboxes.
    pub async fn list(&self) -> Result<Vec<SandboxInfo>> {
        let list = self
            .stubs
            .sandboxes
            .clone()
            .list(v1::ListSandboxesRequest {})
            .await?
            .into_inner();
        Ok(list.sandboxes.into_iter().map(SandboxInfo::from).collect())
    }
}

/// A sandbox on the server. Cheap to clone; dropping it does not delete it (call
/// [`terminate`](Self::terminate), or let it expire).
#[derive(Clone)]
pub struct RemoteSandbox {
    id: Arc<str>,
    stubs: Arc<Stubs>,
}

impl std::fmt::Debug for RemoteSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSandbox")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Collects a run's events into its result.
async fn collect(events: impl Stream<Item = Result<StreamOutput>>) -> Result<ExecutionResult> {
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        if let StreamOutput::Exit(result) = event? {
            return Ok(*result);
        }
    }
    Err(Error::new(
        Code::Unavailable,
        ErrorKind::Io,
        "the server closed the stream before the result",
    ))
}

type WireEvents = tonic::Streaming<v1::ExecutionEvent>;

/// The events of a streamed call, made lazily (the call starts when the stream is first polled;
/// dropping the stream cancels the call, and the server stops the guest).
fn events<F>(call: F) -> impl Stream<Item = Result<StreamOutput>> + Send + 'static
where
    F: Future<Output = Result<tonic::Response<WireEvents>, tonic::Status>> + Send + 'static,
{
    futures::stream::once(call)
        .map(|response| match response {
            Ok(response) => response
                .into_inner()
                .map(|event| {
                    event
                        .map_err(Error::from)
                        .and_then(|e| soulbox_proto::event_from_wire(e).map_err(wire_error))
                })
                .left_stream(),
            Err(status) => {
                futures::stream::once(std::future::ready(Err(Error::from(status)))).right_stream()
            }
        })
        .flatten()
}

impl RemoteSandbox {
    /// The server's id of this sandbox.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn sandbox_ref(&self) -> v1::SandboxRef {
        v1::SandboxRef {
            sandbox_id: self.id.to_string(),
        }
    }

    /// What the server says about the sandbox now.
    pub async fn info(&self) -> Result<SandboxInfo> {
        let info = self.stubs.sandboxes.clone().get(self.sandbox_ref()).await?;
        Ok(info.into_inner().into())
    }

    /// Runs `code` in `language` with no arguments and empty stdin.
    pub async fn execute_code(
        &self,
        language: Language,
        code: impl AsRef<[u8]>,
    ) -> Result<ExecutionResult> {
        self.execute(ExecutionRequest::new(language, code.as_ref()))
            .await
    }

    /// Runs a full request. A guest breaking a limit is `Ok` with a non-`ok` status.
    pub async fn execute(&self, request: ExecutionRequest) -> Result<ExecutionResult> {
        collect(self.stream(request)).await
    }

    /// Streams stdout/stderr chunks as the guest writes them, then artifacts, then the final
    /// [`StreamOutput::Exit`]. Dropping the stream cancels the execution on the server.
    pub fn stream_execute(
        &self,
        language: Language,
        code: impl AsRef<[u8]>,
    ) -> impl Stream<Item = Result<StreamOutput>> + Send + 'static {
        self.stream(ExecutionRequest::new(language, code.as_ref()))
    }

    /// Streaming form of [`execute`](Self::execute).
    pub fn stream(
        &self,
        request: ExecutionRequest,
    ) -> impl Stream<Item = Result<StreamOutput>> + Send + 'static {
        let mut stub = self.stubs.sandboxes.clone();
        let wire = v1::ExecuteRequest {
            sandbox_id: self.id.to_string(),
            request: Some(soulbox_proto::request_to_wire(&request)),
        };
        events(async move { stub.execute(wire).await })
    }

    /// Starts a session: one live interpreter whose state persists across cells.
    pub async fn session(&self, language: Language) -> Result<RemoteSession> {
        let info = self
            .stubs
            .sessions
            .clone()
            .create(v1::CreateSessionRequest {
                sandbox_id: self.id.to_string(),
                language: language.to_string(),
            })
            .await?
            .into_inner();
        RemoteSession::from_info(self.clone(), info)
    }

    /// Brings back a session from a snapshot this token made on the server.
    pub async fn restore_session(&self, snapshot: &RemoteSnapshot) -> Result<RemoteSession> {
        let info = self
            .stubs
            .sessions
            .clone()
            .restore(v1::RestoreRequest {
                sandbox_id: self.id.to_string(),
                snapshot_id: snapshot.id.clone(),
            })
            .await?
            .into_inner();
        RemoteSession::from_info(self.clone(), info)
    }

    /// Removes a snapshot this token made from the server (each token may keep only so many).
    pub async fn delete_snapshot(&self, snapshot: &RemoteSnapshot) -> Result<()> {
        self.stubs
            .sessions
            .clone()
            .delete_snapshot(v1::SnapshotRef {
                snapshot_id: snapshot.id.clone(),
            })
            .await?;
        Ok(())
    }

    /// Writes a file into the workspace (uploaded in chunks; bounded by the sandbox's disk
    /// budget and the server's upload limit).
    pub async fn write_file(&self, path: &str, data: impl AsRef<[u8]>) -> Result<()> {
        let data = data.as_ref();
        let mut chunks: Vec<v1::WriteFileChunk> = data
            .chunks(UPLOAD_CHUNK)
            .map(|c| v1::WriteFileChunk {
                sandbox_id: String::new(),
                path: String::new(),
                data: c.to_vec(),
            })
            .collect();
        if chunks.is_empty() {
            chunks.push(v1::WriteFileChunk::default());
        }
        if let Some(first) = chunks.first_mut() {
            first.sandbox_id = self.id.to_string();
            first.path = path.to_owned();
        }
        self.stubs
            .files
            .clone()
            .write(futures::stream::iter(chunks))
            .await?;
        Ok(())
    }

    /// Reads a file from the workspace.
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let mut chunks = self
            .stubs
            .files
            .clone()
            .read(v1::FileRef {
                sandbox_id: self.id.to_string(),
                path: path.to_owned(),
            })
            .await?
            .into_inner();
        let mut data = Vec::new();
        while let Some(chunk) = chunks.message().await? {
            data.extend_from_slice(&chunk.data);
        }
        Ok(data)
    }

    /// Lists files and directories under `path` (`""` for the whole workspace).
    pub async fn list_files(&self, path: &str) -> Result<Vec<FileInfo>> {
        let list = self
            .stubs
            .files
            .clone()
            .list(v1::ListFilesRequest {
                sandbox_id: self.id.to_string(),
                path: path.to_owned(),
            })
            .await?
            .into_inner();
        Ok(list
            .files
            .into_iter()
            .map(soulbox_proto::file_info_from_wire)
            .collect())
    }

    /// Removes a file or directory (recursively).
    pub async fn remove_file(&self, path: &str) -> Result<()> {
        self.stubs
            .files
            .clone()
            .remove(v1::FileRef {
                sandbox_id: self.id.to_string(),
                path: path.to_owned(),
            })
            .await?;
        Ok(())
    }

    /// Installs one package for `language`'s guests in the sandbox (see
    /// [`install_packages`](Self::install_packages)).
    pub async fn install_package(&self, language: Language, spec: &str) -> Result<PackageInstall> {
        self.install_packages(language, &[spec], false).await
    }

    /// Installs `specs` (resolved together) for `language`'s guests in the sandbox, as
    /// `soulbox::Sandbox::install_packages` does in-process: Python requirement specifiers,
    /// npm specs, or (Ruby) paths of `.gem` files in the sandbox's workspace. `offline`: from
    /// the server's cache only. A refused package is an [`Error`] of kind
    /// [`ErrorKind::Package`] whose message names it and why.
    pub async fn install_packages(
        &self,
        language: Language,
        specs: &[&str],
        offline: bool,
    ) -> Result<PackageInstall> {
        let response = self
            .stubs
            .sandboxes
            .clone()
            .install_package(v1::InstallPackageRequest {
                sandbox_id: self.id.to_string(),
                language: language.to_string(),
                specs: specs.iter().map(|s| (*s).to_owned()).collect(),
                offline,
            })
            .await?
            .into_inner();
        Ok(PackageInstall::from(response))
    }

    /// Pauses the sandbox (see `soulbox::Sandbox::pause`).
    pub async fn pause(&self) -> Result<()> {
        self.stubs
            .sandboxes
            .clone()
            .pause(self.sandbox_ref())
            .await?;
        Ok(())
    }

    /// Resumes a paused sandbox.
    pub async fn resume(&self) -> Result<()> {
        self.stubs
            .sandboxes
            .clone()
            .resume(self.sandbox_ref())
            .await?;
        Ok(())
    }

    /// The sandbox now expires `timeout` from now unless used (E2B's `set_timeout`).
    pub async fn set_timeout(&self, timeout: Duration) -> Result<()> {
        self.stubs
            .sandboxes
            .clone()
            .set_timeout(v1::SetTimeoutRequest {
                sandbox_id: self.id.to_string(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            })
            .await?;
        Ok(())
    }

    /// Deletes the sandbox on the server: a running execution ends `killed`, sessions close,
    /// the workspace is removed.
    pub async fn terminate(&self) -> Result<()> {
        self.stubs
            .sandboxes
            .clone()
            .delete(self.sandbox_ref())
            .await?;
        Ok(())
    }
}

/// A session snapshot kept on the server (owned by the token that made it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSnapshot {
    /// The server's id of the snapshot.
    pub id: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A live interpreter on the server (see `soulbox::Session`).
#[derive(Clone)]
pub struct RemoteSession {
    sandbox: RemoteSandbox,
    id: Arc<str>,
    language: Language,
    runtime: String,
}

impl std::fmt::Debug for RemoteSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSession")
            .field("id", &self.id)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

impl RemoteSession {
    fn from_info(sandbox: RemoteSandbox, info: v1::SessionInfo) -> Result<RemoteSession> {
        let language = info
            .language
            .parse()
            .map_err(|e: soulbox_api::UnknownLanguage| {
                Error::new(Code::Internal, ErrorKind::Other, e.to_string())
            })?;
        Ok(RemoteSession {
            sandbox,
            id: info.session_id.into(),
            language,
            runtime: info.runtime,
        })
    }

    fn session_ref(&self) -> v1::SessionRef {
        v1::SessionRef {
            sandbox_id: self.sandbox.id.to_string(),
            session_id: self.id.to_string(),
        }
    }

    /// The server's id of this session.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session's language.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The runtime serving it (for example `python`).
    pub fn runtime_name(&self) -> &str {
        &self.runtime
    }

    /// The sandbox it runs in.
    pub fn sandbox(&self) -> &RemoteSandbox {
        &self.sandbox
    }

    /// Runs one cell; the result's `value` is the text form of its final expression.
    pub async fn execute(&self, code: impl AsRef<[u8]>) -> Result<ExecutionResult> {
        collect(self.stream(code)).await
    }

    /// [`execute`](Self::execute), also sending each output chunk to `events` as it arrives.
    pub async fn execute_streaming(
        &self,
        code: impl AsRef<[u8]>,
        events: tokio::sync::mpsc::UnboundedSender<StreamOutput>,
    ) -> Result<ExecutionResult> {
        let forwarded = self.stream(code).map(move |event| {
            if let Ok(event @ (StreamOutput::Stdout(_) | StreamOutput::Stderr(_))) = &event {
                let _ = events.send(event.clone());
            }
            event
        });
        collect(forwarded).await
    }

    /// The cell's events as a stream (output, artifacts, then the result). Dropping it
    /// mid-cell cancels the cell; the server then closes the session (its interpreter was
    /// interrupted halfway), and later calls on it are `NotFound`.
    pub fn stream(
        &self,
        code: impl AsRef<[u8]>,
    ) -> impl Stream<Item = Result<StreamOutput>> + Send + 'static {
        let mut stub = self.sandbox.stubs.sessions.clone();
        let request = v1::RunCellRequest {
            sandbox_id: self.sandbox.id.to_string(),
            session_id: self.id.to_string(),
            code: code.as_ref().to_vec(),
        };
        events(async move { stub.run_cell(request).await })
    }

    /// Starts a fresh interpreter (variables lost, workspace kept; clears poisoning).
    pub async fn reset(&self) -> Result<()> {
        self.sandbox
            .stubs
            .sessions
            .clone()
            .reset(self.session_ref())
            .await?;
        Ok(())
    }

    /// An independent copy of this session, in the same sandbox.
    pub async fn fork(&self) -> Result<RemoteSession> {
        let info = self
            .sandbox
            .stubs
            .sessions
            .clone()
            .fork(self.session_ref())
            .await?
            .into_inner();
        RemoteSession::from_info(self.sandbox.clone(), info)
    }

    /// Snapshots the session on the server; restore it with [`RemoteSandbox::restore_session`].
    pub async fn snapshot(&self) -> Result<RemoteSnapshot> {
        let info = self
            .sandbox
            .stubs
            .sessions
            .clone()
            .snapshot(self.session_ref())
            .await?
            .into_inner();
        Ok(RemoteSnapshot {
            id: info.snapshot_id,
            size: info.size,
        })
    }

    /// Closes the session on the server, freeing its interpreter.
    pub async fn close(&self) -> Result<()> {
        self.sandbox
            .stubs
            .sessions
            .clone()
            .close(self.session_ref())
            .await?;
        Ok(())
    }
}
