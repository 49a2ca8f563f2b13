//! What a backend is handed for one guest, whichever backend runs it: the sandbox's limits, the
//! workspace, the environment and stdin, where its output streams and the signals that stop
//! it. The wasm backend adds its program and deadline ([`WasmRun`](crate::wasm::WasmRun)), the
//! native one its program and the open workspace directory (`native::NativeRun`); a session's
//! guest gets one for each start, fork and restore.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use crate::stop::RunSignals;
use crate::{SandboxConfig, Stdin, StreamOutput};

/// One guest's place and limits (see the module docs).
pub(crate) struct GuestContext<'a> {
    /// The sandbox's limits.
    pub config: &'a SandboxConfig,
    /// The workspace's host directory (`/work` in the guest).
    pub workspace: &'a Path,
    /// The caller's variables: the sandbox's, then the request's (a driver's own come first).
    pub env: Vec<(String, String)>,
    /// What the guest reads on stdin.
    pub stdin: Stdin,
    /// Where output goes as the guest writes it (streaming callers).
    pub events: Option<UnboundedSender<StreamOutput>>,
    /// Why the run was stopped, and how the host stops it.
    pub signals: Arc<RunSignals>,
    /// The sandbox's package layer, for a session's guest (one-shot runs get theirs through
    /// the plan's invocation).
    pub packages: Option<soulbox_runtimes::packages::layer::Layer>,
    /// The execution's host channel (tools, allow-listed HTTP); `None` refuses every call.
    pub channel: Option<Arc<soulbox_host::HostChannel>>,
}
