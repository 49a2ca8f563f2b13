//! The sandbox manager: every protocol's door (gRPC today; the E2B-compatible API and MCP
//! later) creates, finds, runs and deletes sandboxes through it, so tenancy, caps, admission,
//! idle expiry and shutdown work the same way behind each. It knows no protocol: it speaks
//! `soulbox` types and [`ManagerError`], which each door maps to its own error shape.
//!
//! - Ids are random UUIDs; a sandbox belongs to the [`Tenant`] that created it, and an id of
//!   another tenant is [`ManagerError::NotFound`], exactly like an id that never existed.
//! - Caps ([`ServerConfig`]): a config asking for more memory, timeout, disk or fuel than the
//!   server allows is refused naming the cap; unset fields get the default lowered to the cap.
//! - Admission: at most `max_concurrent_executions` executions/cells run at once, up to
//!   `max_queued_executions` wait, more are [`ManagerError::Busy`].
//! - Idle expiry: a sandbox unused for its idle timeout (default 5 minutes, settable per
//!   sandbox, as E2B's `set_timeout`) is deleted; a running execution counts as use.
//! - Deleting (or expiring) a sandbox terminates it: a running execution ends `killed`, its
//!   sessions are closed, its workspace removed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use soulbox::{Backend, Engine, Language, Sandbox, SandboxConfig, Session, SoulBoxError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::Tenant;
use crate::config::ServerConfig;

/// Why the manager refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// No such sandbox, session or snapshot for this tenant.
    #[error(
        "{what} `{id}` not found (it never existed, was deleted or expired, or belongs to another token)"
    )]
    NotFound {
        /// "sandbox", "session" or "snapshot".
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The request asks for more than a server cap allows.
    #[error("{0}")]
    OverCap(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The server is at its limit of sandboxes, queued executions or snapshots.
    #[error("{0}")]
    Busy(String),
    /// The server is shutting down.
    #[error("the server is shutting down; no new work is accepted")]
    ShuttingDown,
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] SoulBoxError),
}

/// Result of manager operations.
pub type Result<T, E = ManagerError> = std::result::Result<T, E>;

/// What the manager knows about one sandbox.
pub struct Entry {
    id: String,
    tenant: Tenant,
    sandbox: Sandbox,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    idle: Mutex<Idle>,
    /// Executions and cells admitted for this sandbox and not finished.
    active: AtomicUsize,
}

struct Idle {
    timeout: Duration,
    expires: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Entry {
    /// The sandbox's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The engine's sandbox.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Its idle timeout and how long until it expires if left alone.
    pub fn expiry(&self) -> (Duration, Duration) {
        let idle = lock(&self.idle);
        (
            idle.timeout,
            idle.expires.saturating_duration_since(Instant::now()),
        )
    }

    /// Marks the sandbox as used now: it expires one idle timeout from now.
    fn touch(&self) {
        let mut idle = lock(&self.idle);
        idle.expires = Instant::now() + idle.timeout;
    }

    fn expired(&self, now: Instant) -> bool {
        self.active.load(Ordering::SeqCst) == 0 && lock(&self.idle).expires <= now
    }
}

/// A session snapshot kept on the server.
struct Snapshot {
    tenant: Tenant,
    path: PathBuf,
}

/// The sandbox manager. Cheap to clone.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    config: ServerConfig,
    sandboxes: Mutex<HashMap<String, Arc<Entry>>>,
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    snapshots: Mutex<HashMap<String, Snapshot>>,
    snapshot_dir: tempfile::TempDir,
    closing: AtomicBool,
}

/// An admitted execution: holds a concurrency slot and keeps the sandbox from expiring while
/// it lives; dropping it (finished or cancelled) gives both back.
pub struct Admission {
    entry: Arc<Entry>,
    _slot: OwnedSemaphorePermit,
}

impl Admission {
    /// The sandbox the execution runs in.
    pub fn entry(&self) -> &Arc<Entry> {
        &self.entry
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.entry.touch();
        self.entry.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Decrements the queue count however the wait ends (a cancelled call drops it).
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Manager {
    /// A manager over `engine` with `config`'s caps. Session snapshots go to a private
    /// temporary directory removed when the manager is dropped.
    pub fn new(engine: Engine, config: ServerConfig) -> Result<Manager> {
        config.check().map_err(ManagerError::Invalid)?;
        let snapshot_dir = tempfile::Builder::new()
            .prefix("soulbox-server-snapshots-")
            .tempdir()
            .map_err(|e| {
                ManagerError::Engine(SoulBoxError::Engine(format!(
                    "cannot create the snapshot directory: {e}"
                )))
            })?;
        Ok(Manager {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(config.max_concurrent_executions)),
                engine,
                config,
                sandboxes: Mutex::new(HashMap::new()),
                queued: AtomicUsize::new(0),
                snapshots: Mutex::new(HashMap::new()),
                snapshot_dir,
                closing: AtomicBool::new(false),
            }),
        })
    }

    /// The engine sandboxes run on.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The server's caps.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The configuration a request starts from: [`SandboxConfig::default`] with each capped
    /// limit lowered to its cap, and the fuel cap (if any) as the fuel budget.
    pub fn base_config(&self) -> SandboxConfig {
        let caps = &self.inner.config;
        let mut config = SandboxConfig::default();
        config.memory_limit = config.memory_limit.min(caps.max_memory);
        config.timeout = config.timeout.min(caps.max_timeout);
        config.max_disk_bytes = config.max_disk_bytes.min(caps.max_disk_bytes);
        config.fuel = caps.max_fuel;
        config.compile.timeout = config.compile.timeout.min(caps.max_compile_timeout);
        config.compile.memory_limit = config.compile.memory_limit.min(caps.max_compile_memory);
        config
    }

    /// `Err(OverCap)` naming the first cap `config` exceeds, or a field a remote client may not set.
    pub fn check_caps(&self, config: &SandboxConfig) -> Result<()> {
        let caps = &self.inner.config;
        if config.memory_limit > caps.max_memory {
            return Err(ManagerError::OverCap(format!(
                "memory_limit {} bytes is above this server's cap max_memory ({} bytes)",
                config.memory_limit, caps.max_memory
            )));
        }
        if config.timeout > caps.max_timeout {
            return Err(ManagerError::OverCap(format!(
                "timeout {:?} is above this server's cap max_timeout ({:?})",
                config.timeout, caps.max_timeout
            )));
        }
        if config.max_disk_bytes > caps.max_disk_bytes {
            return Err(ManagerError::OverCap(format!(
                "max_disk_bytes {} is above this server's cap max_disk_bytes ({} bytes)",
                config.max_disk_bytes, caps.max_disk_bytes
            )));
        }
        if let Some(cap) = caps.max_fuel {
            match config.fuel {
                Some(fuel) if fuel <= cap => {}
                Some(fuel) => {
                    return Err(ManagerError::OverCap(format!(
                        "fuel {fuel} is above this server's cap max_fuel ({cap})"
                    )));
                }
                None => {
                    return Err(ManagerError::OverCap(format!(
                        "unlimited fuel is above this server's cap max_fuel ({cap})"
                    )));
                }
            }
        }
        if config.compile.timeout > caps.max_compile_timeout {
            return Err(ManagerError::OverCap(format!(
                "compile timeout {:?} is above this server's cap max_compile_timeout ({:?})",
                config.compile.timeout, caps.max_compile_timeout
            )));
        }
        if config.compile.memory_limit > caps.max_compile_memory {
            return Err(ManagerError::OverCap(format!(
                "compile memory_limit {} bytes is above this server's cap max_compile_memory ({} bytes)",
                config.compile.memory_limit, caps.max_compile_memory
            )));
        }
        if config.persistent_storage.is_some() {
            return Err(ManagerError::Invalid(
                "persistent_storage (a host directory) cannot be set by a remote client".into(),
            ));
        }
        if !caps.allow_native && config.backend == Backend::Native {
            return Err(ManagerError::OverCap(
                "backend native is disabled on this server (allow_native = false in its config)"
                    .into(),
            ));
        }
        Ok(())
    }

    fn refuse_when_closing(&self) -> Result<()> {
        if self.inner.closing.load(Ordering::SeqCst) {
            return Err(ManagerError::ShuttingDown);
        }
        Ok(())
    }

    /// Creates a sandbox for `tenant` (caps checked; without `allow_native` it runs
    /// WebAssembly only). `idle_timeout`: `None` for the server's default.
    pub async fn create(
        &self,
        tenant: &Tenant,
        mut config: SandboxConfig,
        idle_timeout: Option<Duration>,
    ) -> Result<Arc<Entry>> {
        self.refuse_when_closing()?;
        self.check_caps(&config)?;
        let timeout = self.idle_timeout(idle_timeout)?;
        if !self.inner.config.allow_native {
            config.backend = Backend::Wasm;
        }
        if lock(&self.inner.sandboxes).len() >= self.inner.config.max_sandboxes {
            return Err(ManagerError::Busy(format!(
                "the server has its maximum of {} live sandboxes; delete one first",
                self.inner.config.max_sandboxes
            )));
        }
        let sandbox = self.inner.engine.sandbox(config).await?;
        let entry = Arc::new(Entry {
            id: uuid::Uuid::new_v4().to_string(),
            tenant: tenant.clone(),
            sandbox,
            sessions: Mutex::new(HashMap::new()),
            idle: Mutex::new(Idle {
                timeout,
                expires: Instant::now() + timeout,
            }),
            active: AtomicUsize::new(0),
        });
        // Checked again under the lock: two creates may have raced past the first check.
        let inserted = {
            let mut sandboxes = lock(&self.inner.sandboxes);
            let room = sandboxes.len() < self.inner.config.max_sandboxes;
            if room {
                sandboxes.insert(entry.id.clone(), entry.clone());
            }
            room
        };
        if !inserted {
            entry.sandbox.terminate().await;
            return Err(ManagerError::Busy(format!(
                "the server has its maximum of {} live sandboxes; delete one first",
                self.inner.config.max_sandboxes
            )));
        }
        Ok(entry)
    }

    fn idle_timeout(&self, asked: Option<Duration>) -> Result<Duration> {
        let Some(timeout) = asked else {
            return Ok(self.inner.config.idle_timeout);
        };
        if timeout.is_zero() {
            return Err(ManagerError::Invalid(
                "the idle timeout must be greater than zero".into(),
            ));
        }
        if timeout > self.inner.config.max_idle_timeout {
            return Err(ManagerError::OverCap(format!(
                "idle timeout {timeout:?} is above this server's cap max_idle_timeout ({:?})",
                self.inner.config.max_idle_timeout
            )));
        }
        Ok(timeout)
    }

    /// The tenant's sandbox `id` (marking it used).
    pub fn get(&self, tenant: &Tenant, id: &str) -> Result<Arc<Entry>> {
        let entry = lock(&self.inner.sandboxes)
            .get(id)
            .filter(|e| &e.tenant == tenant)
            .cloned()
            .ok_or_else(|| ManagerError::NotFound {
                what: "sandbox",
                id: id.to_owned(),
            })?;
        entry.touch();
        Ok(entry)
    }

    /// The tenant's sandboxes.
    pub fn list(&self, tenant: &Tenant) -> Vec<Arc<Entry>> {
        let mut list: Vec<Arc<Entry>> = lock(&self.inner.sandboxes)
            .values()
            .filter(|e| &e.tenant == tenant)
            .cloned()
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    /// Number of live sandboxes, all tenants.
    pub fn sandbox_count(&self) -> usize {
        lock(&self.inner.sandboxes).len()
    }

    /// Deletes the tenant's sandbox: terminates it (a running execution ends `killed`), closes
    /// its sessions, removes its workspace.
    pub async fn delete(&self, tenant: &Tenant, id: &str) -> Result<()> {
        let entry = {
            let mut sandboxes = lock(&self.inner.sandboxes);
            match sandboxes.get(id) {
                Some(e) if &e.tenant == tenant => sandboxes.remove(id),
                _ => None,
            }
        };
        let entry = entry.ok_or_else(|| ManagerError::NotFound {
            what: "sandbox",
            id: id.to_owned(),
        })?;
        end(&entry).await;
        Ok(())
    }

    /// Sets how long the sandbox may stay unused from now on (E2B's `set_timeout`).
    pub fn set_timeout(&self, tenant: &Tenant, id: &str, timeout: Duration) -> Result<Arc<Entry>> {
        let timeout = self.idle_timeout(Some(timeout))?;
        let entry = self.get(tenant, id)?;
        {
            let mut idle = lock(&entry.idle);
            idle.timeout = timeout;
            idle.expires = Instant::now() + timeout;
        }
        Ok(entry)
    }

    /// Admits an execution (or session cell) in the tenant's sandbox `id`: waits for a
    /// concurrency slot if the queue has room, else `Err(Busy)`.
    pub async fn admit(&self, tenant: &Tenant, id: &str) -> Result<Admission> {
        self.refuse_when_closing()?;
        let entry = self.get(tenant, id)?;
        // Counted before waiting, so the sandbox cannot expire while the call is queued.
        entry.active.fetch_add(1, Ordering::SeqCst);
        let slot = match self.inner.slots.clone().try_acquire_owned() {
            Ok(slot) => Ok(slot),
            Err(_) => self.wait_for_slot().await,
        };
        match slot {
            Ok(slot) => Ok(Admission { entry, _slot: slot }),
            Err(e) => {
                entry.active.fetch_sub(1, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    async fn wait_for_slot(&self) -> Result<OwnedSemaphorePermit> {
        let limit = self.inner.config.max_queued_executions;
        let queued = &self.inner.queued;
        if queued.fetch_add(1, Ordering::SeqCst) >= limit {
            queued.fetch_sub(1, Ordering::SeqCst);
            return Err(ManagerError::Busy(format!(
                "{} executions are running and {limit} are queued (the server's \
                 max_concurrent_executions and max_queued_executions); retry later",
                self.inner.config.max_concurrent_executions
            )));
        }
        let _queued = Queued(queued);
        self.inner
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ManagerError::ShuttingDown)
    }

    /// Opens a session for `language` in the tenant's sandbox; returns its id.
    pub async fn open_session(
        &self,
        tenant: &Tenant,
        id: &str,
        language: Language,
    ) -> Result<(String, Arc<Session>)> {
        self.refuse_when_closing()?;
        let entry = self.get(tenant, id)?;
        let session = entry.sandbox.session(language).await?;
        Ok(add_session(&entry, session))
    }

    /// The tenant's session `session_id` in sandbox `id`.
    pub fn session(&self, tenant: &Tenant, id: &str, session_id: &str) -> Result<Arc<Session>> {
        let entry = self.get(tenant, id)?;
        lock(&entry.sessions)
            .get(session_id)
            .cloned()
            .ok_or_else(|| ManagerError::NotFound {
                what: "session",
                id: session_id.to_owned(),
            })
    }

    /// Closes a session (its interpreter is freed once no call uses it).
    pub fn close_session(&self, tenant: &Tenant, id: &str, session_id: &str) -> Result<()> {
        let entry = self.get(tenant, id)?;
        lock(&entry.sessions)
            .remove(session_id)
            .map(drop)
            .ok_or_else(|| ManagerError::NotFound {
                what: "session",
                id: session_id.to_owned(),
            })
    }

    /// Forks a session; returns the fork's id.
    pub async fn fork_session(
        &self,
        tenant: &Tenant,
        id: &str,
        session_id: &str,
    ) -> Result<(String, Arc<Session>)> {
        self.refuse_when_closing()?;
        let session = self.session(tenant, id, session_id)?;
        let fork = session.fork().await?;
        let entry = self.get(tenant, id)?;
        Ok(add_session(&entry, fork))
    }

    /// Snapshots a session into the server's private store; returns the snapshot id and size.
    pub async fn snapshot_session(
        &self,
        tenant: &Tenant,
        id: &str,
        session_id: &str,
    ) -> Result<(String, u64)> {
        self.refuse_when_closing()?;
        let session = self.session(tenant, id, session_id)?;
        let kept = lock(&self.inner.snapshots)
            .values()
            .filter(|s| &s.tenant == tenant)
            .count();
        if kept >= self.inner.config.max_snapshots_per_tenant {
            return Err(ManagerError::Busy(format!(
                "this token already keeps {kept} snapshots (the server's max_snapshots_per_tenant)"
            )));
        }
        let snapshot_id = uuid::Uuid::new_v4().to_string();
        // The name is the server's own UUID, never a client string.
        let path = self
            .inner
            .snapshot_dir
            .path()
            .join(format!("{snapshot_id}.snapshot"));
        let info = session.snapshot(&path).await?;
        lock(&self.inner.snapshots).insert(
            snapshot_id.clone(),
            Snapshot {
                tenant: tenant.clone(),
                path,
            },
        );
        Ok((snapshot_id, info.file_bytes))
    }

    /// Restores one of the tenant's snapshots as a new session in sandbox `id`.
    pub async fn restore_session(
        &self,
        tenant: &Tenant,
        id: &str,
        snapshot_id: &str,
    ) -> Result<(String, Arc<Session>)> {
        self.refuse_when_closing()?;
        let entry = self.get(tenant, id)?;
        let path = lock(&self.inner.snapshots)
            .get(snapshot_id)
            .filter(|s| &s.tenant == tenant)
            .map(|s| s.path.clone())
            .ok_or_else(|| ManagerError::NotFound {
                what: "snapshot",
                id: snapshot_id.to_owned(),
            })?;
        let session = entry.sandbox.restore_session(&path).await?;
        Ok(add_session(&entry, session))
    }

    /// Removes one of the tenant's snapshots (its file too).
    pub fn delete_snapshot(&self, tenant: &Tenant, snapshot_id: &str) -> Result<()> {
        let removed = {
            let mut snapshots = lock(&self.inner.snapshots);
            match snapshots.get(snapshot_id) {
                Some(s) if &s.tenant == tenant => snapshots.remove(snapshot_id),
                _ => None,
            }
        };
        let snapshot = removed.ok_or_else(|| ManagerError::NotFound {
            what: "snapshot",
            id: snapshot_id.to_owned(),
        })?;
        // The server's own file, named by its own UUID; gone already is as good as removed.
        let _ = std::fs::remove_file(&snapshot.path);
        Ok(())
    }

    /// Deletes every sandbox whose idle timeout has passed; returns how many.
    pub async fn reap_expired(&self) -> usize {
        let now = Instant::now();
        let expired: Vec<Arc<Entry>> = {
            let mut sandboxes = lock(&self.inner.sandboxes);
            let ids: Vec<String> = sandboxes
                .values()
                .filter(|e| e.expired(now))
                .map(|e| e.id.clone())
                .collect();
            ids.iter().filter_map(|id| sandboxes.remove(id)).collect()
        };
        for entry in &expired {
            tracing::info!(sandbox = %entry.id, tenant = entry.tenant.name(), "idle timeout: sandbox deleted");
            end(entry).await;
        }
        expired.len()
    }

    /// Runs [`reap_expired`](Self::reap_expired) every `every` until the manager is dropped.
    pub fn spawn_reaper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                Manager { inner }.reap_expired().await;
            }
        })
    }

    /// Shutdown: refuses new work, lets admitted executions finish for up to `grace`, then
    /// terminates every sandbox (what still runs ends `killed`) and removes the workspaces.
    /// Returns how many executions were still running when the grace period ended.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.inner.closing.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        let running = || {
            lock(&self.inner.sandboxes)
                .values()
                .map(|e| e.active.load(Ordering::SeqCst))
                .sum::<usize>()
        };
        while running() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = running();
        let all: Vec<Arc<Entry>> = lock(&self.inner.sandboxes)
            .drain()
            .map(|(_, e)| e)
            .collect();
        for entry in &all {
            end(entry).await;
        }
        self.inner.slots.close();
        left
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub fn is_closing(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }
}

fn add_session(entry: &Entry, session: Session) -> (String, Arc<Session>) {
    let session_id = uuid::Uuid::new_v4().to_string();
    let session = Arc::new(session);
    lock(&entry.sessions).insert(session_id.clone(), session.clone());
    (session_id, session)
}

/// Terminates a sandbox the manager no longer lists.
async fn end(entry: &Entry) {
    entry.sandbox.terminate().await;
    lock(&entry.sessions).clear();
}
