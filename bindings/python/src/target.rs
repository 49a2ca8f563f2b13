//! What a Python sandbox talks to: the engine in this process, or a `soulbox serve` through the
//! Rust client. Both the async (`SoulBox`) and the synchronous (`Sandbox`) classes call these
//! functions; they hold no GIL and return [`Outcome`]s.
//!
//! A sandbox is created on first use (or on `async with` / `with`), so `SoulBox(config)` and
//! `SoulBox.connect(url)` are cheap constructors, as in the seed.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use soulbox::{ExecutionResult, FileInfo, Language, SandboxConfig, StreamOutput};
use soulbox_client::{
    Client, InstalledPackage, PackageInstall, RemoteSandbox, RemoteSession, RemoteSnapshot,
};

use crate::error::{Failure, Outcome};

/// Where a sandbox lives once it exists.
#[derive(Clone)]
enum Live {
    Embedded(soulbox::Sandbox),
    Remote(RemoteSandbox),
}

/// How to make the sandbox on first use.
enum Origin {
    Embedded,
    Remote { url: String, token: Option<String> },
}

/// One Python sandbox object's state, shared with the tasks working on it.
pub struct Target {
    origin: Origin,
    config: SandboxConfig,
    live: tokio::sync::OnceCell<Live>,
    closed: AtomicBool,
}

/// A stream of events, whichever side produces them.
pub type EventStream = Pin<Box<dyn Stream<Item = Outcome<StreamOutput>> + Send>>;

/// Parses a language name or file extension; an unknown one is an `UnknownLanguage` error (a
/// `ValueError`).
pub fn language(name: &str) -> Outcome<Language> {
    name.parse::<Language>()
        .map_err(|err| Failure::from(soulbox::SoulBoxError::from(err)))
}

impl Target {
    /// A sandbox of the engine embedded in this process.
    pub fn embedded(config: SandboxConfig) -> Arc<Target> {
        Arc::new(Target {
            origin: Origin::Embedded,
            config,
            live: tokio::sync::OnceCell::new(),
            closed: AtomicBool::new(false),
        })
    }

    /// A sandbox on the server at `url`.
    pub fn remote(url: String, token: Option<String>, config: SandboxConfig) -> Arc<Target> {
        Arc::new(Target {
            origin: Origin::Remote { url, token },
            config,
            live: tokio::sync::OnceCell::new(),
            closed: AtomicBool::new(false),
        })
    }

    /// Whether this object talks to a server.
    pub fn is_remote(&self) -> bool {
        matches!(self.origin, Origin::Remote { .. })
    }

    /// The configuration the sandbox is (or will be) created with.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The sandbox's id, once it exists.
    pub fn id(&self) -> Option<String> {
        self.live.get().map(|live| match live {
            Live::Embedded(s) => s.id().to_owned(),
            Live::Remote(s) => s.id().to_owned(),
        })
    }

    async fn live(&self) -> Outcome<Live> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Failure::closed("sandbox"));
        }
        let live = self
            .live
            .get_or_try_init(|| async {
                match &self.origin {
                    Origin::Embedded => Ok::<_, Failure>(Live::Embedded(
                        soulbox::Sandbox::create(self.config.clone()).await?,
                    )),
                    Origin::Remote { url, token } => {
                        let mut connect = Client::connect(url.clone());
                        if let Some(token) = token {
                            connect = connect.token(token.clone());
                        }
                        let client = connect.await?;
                        Ok(Live::Remote(client.create(self.config.clone()).await?))
                    }
                }
            })
            .await?;
        Ok(live.clone())
    }

    /// Creates the sandbox now (what `async with` / `with` do).
    pub async fn start(&self) -> Outcome<()> {
        self.live().await.map(drop)
    }

    /// Ends the sandbox: a running execution is stopped, the workspace removed (unless it was
    /// given), the remote sandbox deleted. Closing twice, or a sandbox never used, is fine.
    pub async fn close(&self) -> Outcome<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        match self.live.get() {
            None => Ok(()),
            Some(Live::Embedded(s)) => {
                s.terminate().await;
                Ok(())
            }
            Some(Live::Remote(s)) => Ok(s.terminate().await?),
        }
    }

    /// Runs `code` in `language` and returns its result.
    pub async fn execute(&self, language: Language, code: Vec<u8>) -> Outcome<ExecutionResult> {
        Ok(match self.live().await? {
            Live::Embedded(s) => s.execute_code(language, code).await?,
            Live::Remote(s) => s.execute_code(language, code).await?,
        })
    }

    /// The events of one execution, as they happen.
    pub async fn stream(&self, language: Language, code: Vec<u8>) -> Outcome<EventStream> {
        Ok(match self.live().await? {
            Live::Embedded(s) => Box::pin(
                s.stream_execute(language, code)
                    .map(|e| e.map_err(Failure::from)),
            ),
            Live::Remote(s) => Box::pin(
                s.stream_execute(language, code)
                    .map(|e| e.map_err(Failure::from)),
            ),
        })
    }

    /// Writes a workspace file.
    pub async fn write_file(&self, path: String, data: Vec<u8>) -> Outcome<()> {
        match self.live().await? {
            Live::Embedded(s) => s.write_file(&path, data).await?,
            Live::Remote(s) => s.write_file(&path, data).await?,
        }
        Ok(())
    }

    /// Reads a workspace file.
    pub async fn read_file(&self, path: String) -> Outcome<Vec<u8>> {
        Ok(match self.live().await? {
            Live::Embedded(s) => s.read_file(&path).await?,
            Live::Remote(s) => s.read_file(&path).await?,
        })
    }

    /// Lists a workspace directory.
    pub async fn list_files(&self, path: String) -> Outcome<Vec<FileInfo>> {
        Ok(match self.live().await? {
            Live::Embedded(s) => s.list_files(&path).await?,
            Live::Remote(s) => s.list_files(&path).await?,
        })
    }

    /// Removes a workspace file or empty directory.
    pub async fn remove_file(&self, path: String) -> Outcome<()> {
        match self.live().await? {
            Live::Embedded(s) => s.remove_file(&path).await?,
            Live::Remote(s) => s.remove_file(&path).await?,
        }
        Ok(())
    }

    /// Installs packages for `language`'s guests: the engine's `install_packages_with`
    /// embedded (gems named by host path, as the library takes them), the server's
    /// `InstallPackage` remote (gems named by workspace path).
    pub async fn install_packages(
        &self,
        language: Language,
        specs: Vec<String>,
        offline: bool,
    ) -> Outcome<PackageInstall> {
        Ok(match self.live().await? {
            Live::Embedded(s) => {
                let options = soulbox::InstallOptions {
                    offline,
                    ..soulbox::InstallOptions::default()
                };
                let report = s.install_packages_with(language, &specs, options).await?;
                let wire = |p: soulbox::packages::PackageRef| InstalledPackage {
                    ecosystem: p.ecosystem.name().to_owned(),
                    name: p.name,
                    version: p.version,
                    digest: p.digest,
                };
                PackageInstall {
                    summary: report.summary(),
                    installed: report.installed.into_iter().map(wire).collect(),
                    already: report.already.into_iter().map(wire).collect(),
                    shipped: report.shipped,
                    from_cache: report.from_cache,
                }
            }
            Live::Remote(s) => {
                let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
                s.install_packages(language, &specs, offline).await?
            }
        })
    }

    /// Suspends the sandbox: executions and writes are refused until `resume`.
    pub async fn pause(&self) -> Outcome<()> {
        match self.live().await? {
            Live::Embedded(s) => s.pause().await?,
            Live::Remote(s) => s.pause().await?,
        }
        Ok(())
    }

    /// Lets a paused sandbox run code again.
    pub async fn resume(&self) -> Outcome<()> {
        match self.live().await? {
            Live::Embedded(s) => s.resume().await?,
            Live::Remote(s) => s.resume().await?,
        }
        Ok(())
    }

    /// The lifecycle state (`running`, `paused`, `terminated`; `created` before first use).
    pub async fn state(&self) -> Outcome<String> {
        if self.closed.load(Ordering::SeqCst) {
            return Ok("terminated".into());
        }
        Ok(match self.live.get() {
            None => "created".into(),
            Some(Live::Embedded(s)) => s.state().to_string(),
            Some(Live::Remote(s)) => s.info().await?.state,
        })
    }

    /// Registers a host tool on the embedded sandbox (created now if needed). Over gRPC: an
    /// `Unsupported` error - the server has no way to call back into this process yet.
    pub async fn register_tool(
        &self,
        function: soulbox::ToolFunction,
        handler: impl soulbox::ToolHandler,
    ) -> Outcome<()> {
        Ok(self
            .embedded_for("registering tools")
            .await?
            .register_tool(function, handler)?)
    }

    /// The OpenAI-style `tools` array of the embedded sandbox (`Sandbox::tools`).
    pub async fn tools(&self) -> Outcome<serde_json::Value> {
        Ok(self.embedded_for("tools()").await?.tools())
    }

    /// Runs a model's tool call (`Sandbox::execute_tool_call`): the JSON for the tool message.
    pub async fn execute_tool_call(
        &self,
        name: String,
        arguments: soulbox::ToolArguments,
    ) -> Outcome<serde_json::Value> {
        let sandbox = self.embedded_for("execute_tool_call()").await?;
        Ok(sandbox.execute_tool_call(&name, arguments).await)
    }

    /// The embedded sandbox, or `Unsupported` for a remote one (`what` says what needed it).
    async fn embedded_for(&self, what: &str) -> Outcome<soulbox::Sandbox> {
        let unsupported = || {
            Failure::unsupported(format!(
                "{what} is not supported over gRPC yet: the tool calling API works with an \
                 embedded sandbox (SoulBox(config) / Sandbox(config)), not SoulBox.connect(...)"
            ))
        };
        // Refused before connecting: the answer does not depend on the server.
        if self.is_remote() {
            return Err(unsupported());
        }
        match self.live().await? {
            Live::Embedded(s) => Ok(s),
            Live::Remote(_) => Err(unsupported()),
        }
    }

    /// Starts a session: one interpreter whose state persists across cells.
    pub async fn session(&self, language: Language) -> Outcome<SessionTarget> {
        let inner = match self.live().await? {
            Live::Embedded(s) => SessionInner::Embedded(Arc::new(s.session(language).await?)),
            Live::Remote(s) => SessionInner::Remote(s.session(language).await?),
        };
        Ok(SessionTarget::new(inner))
    }

    /// A session restored from a snapshot.
    pub async fn restore(&self, snapshot: &Snapshot) -> Outcome<SessionTarget> {
        let inner = match (self.live().await?, &snapshot.inner) {
            (Live::Embedded(s), SnapshotInner::File { path, .. }) => {
                SessionInner::Embedded(Arc::new(s.restore_session(path).await?))
            }
            (Live::Remote(s), SnapshotInner::Remote(snap)) => {
                SessionInner::Remote(s.restore_session(snap).await?)
            }
            (Live::Embedded(_), SnapshotInner::Remote(_)) => {
                return Err(Failure::unsupported(
                    "this snapshot is kept on a server; restore it in a sandbox of that server",
                ));
            }
            (Live::Remote(_), SnapshotInner::File { .. }) => {
                return Err(Failure::unsupported(
                    "this snapshot is a local file; restore it in an embedded sandbox",
                ));
            }
        };
        Ok(SessionTarget::new(inner))
    }
}

#[derive(Clone)]
enum SessionInner {
    Embedded(Arc<soulbox::Session>),
    Remote(RemoteSession),
}

/// A session, embedded or remote. `close` frees its interpreter.
pub struct SessionTarget {
    inner: Mutex<Option<SessionInner>>,
    language: Language,
    runtime: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl SessionTarget {
    fn new(inner: SessionInner) -> SessionTarget {
        let (language, runtime) = match &inner {
            SessionInner::Embedded(s) => (s.language(), s.runtime_name().to_owned()),
            SessionInner::Remote(s) => (s.language(), s.runtime_name().to_owned()),
        };
        SessionTarget {
            inner: Mutex::new(Some(inner)),
            language,
            runtime,
        }
    }

    fn get(&self) -> Outcome<SessionInner> {
        lock(&self.inner)
            .clone()
            .ok_or_else(|| Failure::closed("session"))
    }

    /// The session's language name.
    pub fn language(&self) -> &'static str {
        self.language.name()
    }

    /// The runtime serving it (`python`, `quickjs-session`, ...).
    pub fn runtime(&self) -> &str {
        &self.runtime
    }

    /// Runs one cell; state persists to the next.
    pub async fn run(&self, code: Vec<u8>) -> Outcome<ExecutionResult> {
        Ok(match self.get()? {
            SessionInner::Embedded(s) => s.execute(code).await?,
            SessionInner::Remote(s) => s.execute(code).await?,
        })
    }

    /// A new session with a copy of this one's interpreter state.
    pub async fn fork(&self) -> Outcome<SessionTarget> {
        let inner = match self.get()? {
            SessionInner::Embedded(s) => SessionInner::Embedded(Arc::new(s.fork().await?)),
            SessionInner::Remote(s) => SessionInner::Remote(s.fork().await?),
        };
        Ok(SessionTarget::new(inner))
    }

    /// Starts a fresh interpreter (also un-poisons the session).
    pub async fn reset(&self) -> Outcome<()> {
        match self.get()? {
            SessionInner::Embedded(s) => s.reset().await?,
            SessionInner::Remote(s) => s.reset().await?,
        }
        Ok(())
    }

    /// Saves the interpreter state (and the workspace files): embedded, to `path` (a temporary
    /// file kept as long as the returned object when `None`); remote, on the server.
    pub async fn snapshot(&self, path: Option<PathBuf>) -> Outcome<Snapshot> {
        match self.get()? {
            SessionInner::Embedded(s) => {
                let (path, dir) = match path {
                    Some(path) => (path, None),
                    None => {
                        let dir = tempfile::Builder::new()
                            .prefix("soulbox-snapshot-")
                            .tempdir()
                            .map_err(|e| {
                                Failure::from(soulbox::SoulBoxError::Io {
                                    context: "creating a directory for the snapshot".into(),
                                    source: e,
                                })
                            })?;
                        (dir.path().join("session.snapshot"), Some(dir))
                    }
                };
                let info = s.snapshot(&path).await?;
                Ok(Snapshot {
                    size: info.file_bytes,
                    inner: SnapshotInner::File { path, _dir: dir },
                })
            }
            SessionInner::Remote(s) => {
                if path.is_some() {
                    return Err(Failure::unsupported(
                        "a remote session's snapshot is kept on the server; call snapshot() without a path",
                    ));
                }
                let snap = s.snapshot().await?;
                Ok(Snapshot {
                    size: snap.size,
                    inner: SnapshotInner::Remote(snap),
                })
            }
        }
    }

    /// Frees the interpreter; later calls raise `InvalidState`.
    pub async fn close(&self) -> Outcome<()> {
        let inner = lock(&self.inner).take();
        if let Some(SessionInner::Remote(s)) = inner {
            s.close().await?;
        }
        Ok(())
    }
}

enum SnapshotInner {
    File {
        path: PathBuf,
        _dir: Option<tempfile::TempDir>,
    },
    Remote(RemoteSnapshot),
}

/// A saved session: a file (embedded) or a server-side id (remote).
pub struct Snapshot {
    inner: SnapshotInner,
    size: u64,
}

impl Snapshot {
    /// A snapshot file written earlier (for `restore`).
    pub fn from_path(path: PathBuf) -> Snapshot {
        Snapshot {
            inner: SnapshotInner::File { path, _dir: None },
            size: 0,
        }
    }

    /// The file, for an embedded snapshot.
    pub fn path(&self) -> Option<&std::path::Path> {
        match &self.inner {
            SnapshotInner::File { path, .. } => Some(path),
            SnapshotInner::Remote(_) => None,
        }
    }

    /// The server's id, for a remote snapshot.
    pub fn id(&self) -> Option<&str> {
        match &self.inner {
            SnapshotInner::File { .. } => None,
            SnapshotInner::Remote(s) => Some(&s.id),
        }
    }

    /// Size in bytes (0 when made from a path).
    pub fn size(&self) -> u64 {
        self.size
    }
}
