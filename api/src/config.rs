//! Sandbox configuration: limits (all on by default), environment, workspace and backend choice.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One mebibyte, for readable limits: `256 * MIB`.
pub const MIB: u64 = 1024 * 1024;

/// Which wall the code runs behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// WebAssembly for every language that has a wasm runtime or toolchain; native otherwise.
    #[default]
    Auto,
    /// Always WebAssembly under Wasmtime.
    Wasm,
    /// Always the native path (namespaces + seccomp + cgroups).
    Native,
}

impl Backend {
    /// Lower-case name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Wasm => "wasm",
            Backend::Native => "native",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "wasm" => Ok(Backend::Wasm),
            "native" => Ok(Backend::Native),
            other => Err(format!(
                "unknown backend `{other}`; expected auto, wasm or native"
            )),
        }
    }
}

/// Which flag set the engine compiles Rust, C and C++ with. The user never passes compiler flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompileProfile {
    /// Quick to compile; Rust keeps overflow checks and debug assertions.
    #[default]
    Debug,
    /// Fully optimised, no debug checks; slower to compile.
    Release,
}

impl CompileProfile {
    /// Lower-case name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CompileProfile::Debug => "debug",
            CompileProfile::Release => "release",
        }
    }
}

impl std::str::FromStr for CompileProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "debug" | "dev" => Ok(CompileProfile::Debug),
            "release" => Ok(CompileProfile::Release),
            other => Err(format!(
                "unknown compile profile `{other}`; expected debug or release"
            )),
        }
    }
}

/// Settings of the compile step that turns Rust, C or C++ source into a wasm module. The
/// compiler has its own limits, separate from the guest's: it is the first program to read
/// untrusted input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompileConfig {
    /// Flag set to compile with.
    pub profile: CompileProfile,
    /// Wall-clock limit of one compilation; beyond it the result is `compile_error`.
    pub timeout: Duration,
    /// Address-space limit of the compiler process, in bytes.
    pub memory_limit: u64,
}

impl Default for CompileConfig {
    fn default() -> Self {
        Self {
            profile: CompileProfile::Debug,
            timeout: Duration::from_secs(60),
            memory_limit: 4096 * MIB,
        }
    }
}

/// Limits and environment of one sandbox. Every limit is on by default.
///
/// ```
/// use std::time::Duration;
/// use soulbox_api::{SandboxConfig, MIB};
/// let config = SandboxConfig::default()
///     .with_memory_limit(512 * MIB)
///     .with_timeout(Duration::from_secs(30))
///     .with_env("LANG", "C.UTF-8");
/// assert_eq!(config.memory_limit, 512 * MIB);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    /// Maximum bytes of guest memory (linear memories; cgroup memory on the native path).
    pub memory_limit: u64,
    /// Share of one core the guest may use (1.0 = a whole core). Values below 1.0 throttle.
    pub cpu_quota: f64,
    /// Wall-clock limit for one execution. For a WebAssembly module it covers compiling the
    /// module as well as running it.
    pub timeout: Duration,
    /// Instruction budget for one execution (`None`: unlimited, but still counted).
    pub fuel: Option<u64>,
    /// Maximum bytes kept per output stream (stdout and stderr each).
    pub max_output_bytes: u64,
    /// WebAssembly path: bytes by which one execution (or one session cell) may grow files, on
    /// any descriptor and by any call (writes, `pwrite` past the end, `truncate` upwards); a
    /// call beyond it fails with `ENOSPC` and the status is `disk_limit`. Rewriting bytes a file
    /// already has costs nothing; a sparse file costs its size.
    pub max_disk_bytes: u64,
    /// WebAssembly path: files, directories and links one execution (or cell) may create.
    pub max_disk_entries: u64,
    /// Native path only: syscalls allowed, by name (`read`, `openat`, ...). Adds an allow-list
    /// seccomp filter on top of the always-on deny filter: it narrows what the guest may call,
    /// never widens it. `execve` is added, since the filter is in place before the program starts.
    pub allowed_syscalls: Option<Vec<String>>,
    /// Native path only: most processes (and threads) the guest may have at once.
    pub max_processes: u32,
    /// Native path only: run with the isolation the host can give even when it is less than the
    /// full set (for example rlimits instead of cgroups when not root). Off by default: a host
    /// that cannot isolate fully refuses the run and says what is missing. Every result lists the
    /// isolation actually in effect.
    pub allow_weaker_isolation: bool,
    /// Native path, for SoulBox's own tests: behave as if the kernel had no Landlock (its system
    /// calls fail with `ENOSYS`), so that the refusal, and the walls that stand without Landlock,
    /// are tested on any kernel. It never weakens a run by itself: without Landlock a run is
    /// refused unless [`allow_weaker_isolation`](Self::allow_weaker_isolation) is set too. Not
    /// part of the serialised configuration.
    #[doc(hidden)]
    #[serde(skip)]
    pub simulate_kernel_without_landlock: bool,
    /// Whether the guest may reach the network. Off by default; WASI preview1 has no sockets anyway.
    pub network_enabled: bool,
    /// Hosts a WebAssembly guest may reach over HTTP(S), through the host (`[scheme://]host[:port]`,
    /// `*.domain` for subdomains; see [`AllowHost`](crate::AllowHost)). Empty (the default):
    /// no network. Private, loopback and link-local addresses are refused unless an entry names
    /// the IP itself. The native backend never has network, whatever this says.
    pub allow_hosts: Vec<String>,
    /// Most tool calls and HTTP requests one execution (or cell) may make through the host
    /// channel; beyond it each call fails in the guest with a `limit` error.
    pub max_tool_calls: u32,
    /// Largest request or reply (a tool call's arguments and value, an HTTP body) crossing the
    /// host channel, in bytes; a larger request fails in the guest with a `payload` error.
    pub max_host_call_bytes: u64,
    /// How long one tool handler may run before the call fails in the guest with `timeout`.
    pub tool_timeout: Duration,
    /// Response bytes one execution may receive over HTTP in total.
    pub max_network_bytes: u64,
    /// A host directory to use as the workspace (`/work` in the guest). It is created if missing and
    /// kept after the sandbox ends. `None`: a private temporary directory, removed at the end.
    /// (The seed's name for it; the builder is [`with_workspace`](Self::with_workspace), the CLI
    /// flag `--workspace`, alias `--workdir`.)
    pub persistent_storage: Option<PathBuf>,
    /// Environment variables the guest sees, and nothing else of the host's environment.
    pub env: BTreeMap<String, String>,
    /// Which backend runs the code.
    pub backend: Backend,
    /// Most files reported as artifacts of one execution.
    pub max_artifacts: usize,
    /// Artifact bytes are attached to results up to this many bytes in total (0: never attach).
    pub max_artifact_bytes: u64,
    /// How Rust, C and C++ source is compiled (profile, compiler limits).
    pub compile: CompileConfig,
    /// The runtime to use for this sandbox's language when a request names none (for example
    /// `python-lite`); ignored for requests in other languages. `None`: each language's default.
    pub runtime: Option<String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            memory_limit: 256 * MIB,
            cpu_quota: 1.0,
            timeout: Duration::from_secs(30),
            fuel: None,
            max_output_bytes: 4 * MIB,
            max_disk_bytes: 1024 * MIB,
            max_disk_entries: 100_000,
            allowed_syscalls: None,
            max_processes: 128,
            allow_weaker_isolation: false,
            simulate_kernel_without_landlock: false,
            network_enabled: false,
            allow_hosts: Vec::new(),
            max_tool_calls: 1000,
            max_host_call_bytes: MIB,
            tool_timeout: Duration::from_secs(30),
            max_network_bytes: 64 * MIB,
            persistent_storage: None,
            env: BTreeMap::new(),
            backend: Backend::Auto,
            max_artifacts: 256,
            max_artifact_bytes: 0,
            compile: CompileConfig::default(),
            runtime: None,
        }
    }
}

impl SandboxConfig {
    /// Sets [`memory_limit`](Self::memory_limit) in bytes.
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = bytes;
        self
    }
    /// Sets [`timeout`](Self::timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Sets [`fuel`](Self::fuel).
    pub fn with_fuel(mut self, fuel: u64) -> Self {
        self.fuel = Some(fuel);
        self
    }
    /// Sets [`cpu_quota`](Self::cpu_quota).
    pub fn with_cpu_quota(mut self, quota: f64) -> Self {
        self.cpu_quota = quota;
        self
    }
    /// Sets [`max_output_bytes`](Self::max_output_bytes).
    pub fn with_max_output_bytes(mut self, bytes: u64) -> Self {
        self.max_output_bytes = bytes;
        self
    }
    /// Sets [`max_disk_bytes`](Self::max_disk_bytes).
    pub fn with_max_disk_bytes(mut self, bytes: u64) -> Self {
        self.max_disk_bytes = bytes;
        self
    }
    /// Sets [`max_disk_entries`](Self::max_disk_entries).
    pub fn with_max_disk_entries(mut self, entries: u64) -> Self {
        self.max_disk_entries = entries;
        self
    }
    /// Sets [`allowed_syscalls`](Self::allowed_syscalls).
    pub fn with_allowed_syscalls(mut self, syscalls: Vec<String>) -> Self {
        self.allowed_syscalls = Some(syscalls);
        self
    }
    /// Sets [`max_processes`](Self::max_processes).
    pub fn with_max_processes(mut self, max: u32) -> Self {
        self.max_processes = max;
        self
    }
    /// Accepts weaker isolation on the native path (see
    /// [`allow_weaker_isolation`](Self::allow_weaker_isolation)).
    pub fn allow_weaker_isolation(mut self) -> Self {
        self.allow_weaker_isolation = true;
        self
    }
    /// Sets [`network_enabled`](Self::network_enabled).
    pub fn with_network(mut self, enabled: bool) -> Self {
        self.network_enabled = enabled;
        self
    }
    /// Adds a host to [`allow_hosts`](Self::allow_hosts).
    pub fn with_allow_host(mut self, host: impl Into<String>) -> Self {
        self.allow_hosts.push(host.into());
        self
    }
    /// The parsed [`allow_hosts`](Self::allow_hosts), or the first entry's error.
    pub fn parsed_allow_hosts(&self) -> Result<Vec<crate::AllowHost>, String> {
        self.allow_hosts
            .iter()
            .map(|h| crate::AllowHost::parse(h))
            .collect()
    }
    /// Uses a host directory as the workspace and keeps it (sets
    /// [`persistent_storage`](Self::persistent_storage), the seed's name for that directory).
    pub fn with_workspace(mut self, dir: impl Into<PathBuf>) -> Self {
        self.persistent_storage = Some(dir.into());
        self
    }
    /// The earlier name of [`with_workspace`](Self::with_workspace).
    #[deprecated(
        since = "0.1.0",
        note = "use `with_workspace`: the concept is the workspace"
    )]
    pub fn with_workdir(self, dir: impl Into<PathBuf>) -> Self {
        self.with_workspace(dir)
    }
    /// Adds one environment variable for the guest.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }
    /// Sets [`backend`](Self::backend).
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }
    /// Attaches artifact bytes to results, up to `bytes` in total per execution.
    pub fn with_artifact_bytes(mut self, bytes: u64) -> Self {
        self.max_artifact_bytes = bytes;
        self
    }

    /// Sets the compile profile for Rust, C and C++ ([`CompileConfig::profile`]).
    pub fn with_compile_profile(mut self, profile: CompileProfile) -> Self {
        self.compile.profile = profile;
        self
    }
    /// Sets the default [`runtime`](Self::runtime) (`python-lite`, `micropython`, ...).
    pub fn with_runtime(mut self, runtime: impl Into<String>) -> Self {
        self.runtime = Some(runtime.into());
        self
    }

    /// Checks the values for ones that cannot work, with a message saying which and why. Every
    /// limit has an upper bound as well (see [`MAX_TIMEOUT`] and its neighbours): a limit too
    /// large to be a limit is refused here rather than overflowing a deadline or an allocation
    /// later.
    pub fn validate(&self) -> Result<(), String> {
        if self.memory_limit < 64 * 1024 {
            return Err(format!(
                "memory_limit {} bytes is below one WebAssembly page (64 KiB)",
                self.memory_limit
            ));
        }
        at_most("memory_limit", self.memory_limit, MAX_MEMORY_LIMIT)?;
        if self.timeout.is_zero() {
            return Err("timeout must be greater than zero".into());
        }
        duration_at_most("timeout", self.timeout)?;
        if !(self.cpu_quota.is_finite() && self.cpu_quota > 0.0) {
            return Err(format!(
                "cpu_quota must be a positive number, got {}",
                self.cpu_quota
            ));
        }
        if self.cpu_quota > MAX_CPU_QUOTA {
            return Err(format!(
                "cpu_quota {} is above the maximum of {MAX_CPU_QUOTA} cores",
                self.cpu_quota
            ));
        }
        at_most("max_output_bytes", self.max_output_bytes, MAX_OUTPUT_BYTES)?;
        at_most("max_disk_bytes", self.max_disk_bytes, MAX_DISK_BYTES)?;
        at_most("max_disk_entries", self.max_disk_entries, MAX_DISK_ENTRIES)?;
        at_most(
            "max_artifacts",
            u64::try_from(self.max_artifacts).unwrap_or(u64::MAX),
            MAX_ARTIFACTS,
        )?;
        at_most(
            "max_artifact_bytes",
            self.max_artifact_bytes,
            MAX_ARTIFACT_BYTES,
        )?;
        if self.compile.timeout.is_zero() {
            return Err("compile timeout must be greater than zero".into());
        }
        duration_at_most("compile timeout", self.compile.timeout)?;
        if self.compile.memory_limit < 64 * MIB {
            return Err(format!(
                "compile memory limit {} bytes is too small for a compiler (at least 64 MiB)",
                self.compile.memory_limit
            ));
        }
        at_most(
            "compile memory limit",
            self.compile.memory_limit,
            MAX_MEMORY_LIMIT,
        )?;
        if self.max_processes == 0 {
            return Err("max_processes must be at least 1 (the program itself)".into());
        }
        at_most(
            "max_processes",
            u64::from(self.max_processes),
            MAX_PROCESSES,
        )?;
        if self.allow_hosts.len() > crate::MAX_ALLOW_HOSTS {
            return Err(format!(
                "allow_hosts has {} entries; at most {} are accepted",
                self.allow_hosts.len(),
                crate::MAX_ALLOW_HOSTS
            ));
        }
        self.parsed_allow_hosts()?;
        if self.max_tool_calls == 0 {
            return Err("max_tool_calls must be at least 1".into());
        }
        at_most(
            "max_tool_calls",
            u64::from(self.max_tool_calls),
            MAX_TOOL_CALLS,
        )?;
        if self.max_host_call_bytes < 1024 {
            return Err("max_host_call_bytes must be at least 1024".into());
        }
        at_most(
            "max_host_call_bytes",
            self.max_host_call_bytes,
            MAX_HOST_CALL_BYTES,
        )?;
        if self.tool_timeout.is_zero() {
            return Err("tool_timeout must be greater than zero".into());
        }
        duration_at_most("tool_timeout", self.tool_timeout)?;
        at_most(
            "max_network_bytes",
            self.max_network_bytes,
            MAX_NETWORK_BYTES,
        )?;
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(format!("invalid environment variable name `{key}`"));
            }
        }
        Ok(())
    }
}

/// Largest `max_tool_calls`.
pub const MAX_TOOL_CALLS: u64 = 1 << 20;
/// Largest `max_host_call_bytes` (what one call may copy into or out of a guest).
pub const MAX_HOST_CALL_BYTES: u64 = 256 * MIB;
/// Largest `max_network_bytes`.
pub const MAX_NETWORK_BYTES: u64 = 1 << 36;

/// Longest wall-clock limit of one execution or one compilation (a day): far beyond any real
/// run, and small enough that no deadline computed from it can overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// Largest memory limit (1 TiB), for guests and for the compiler.
pub const MAX_MEMORY_LIMIT: u64 = 1 << 40;
/// Largest `cpu_quota`, in cores.
pub const MAX_CPU_QUOTA: f64 = 1024.0;
/// Largest `max_output_bytes` (1 GiB): output is kept in host memory.
pub const MAX_OUTPUT_BYTES: u64 = 1 << 30;
/// Largest `max_disk_bytes` (16 TiB).
pub const MAX_DISK_BYTES: u64 = 1 << 44;
/// Largest `max_disk_entries`.
pub const MAX_DISK_ENTRIES: u64 = 1 << 32;
/// Largest `max_artifacts`.
pub const MAX_ARTIFACTS: u64 = 1 << 20;
/// Largest `max_artifact_bytes` (1 GiB): attached artifacts are kept in host memory.
pub const MAX_ARTIFACT_BYTES: u64 = 1 << 30;
/// Largest `max_processes` (the kernel's own ceiling on pids).
pub const MAX_PROCESSES: u64 = 1 << 22;

fn at_most(what: &str, value: u64, max: u64) -> Result<(), String> {
    if value > max {
        return Err(format!(
            "{what} {value} is above the maximum of {max}; use a smaller value"
        ));
    }
    Ok(())
}

fn duration_at_most(what: &str, value: Duration) -> Result<(), String> {
    if value > MAX_TIMEOUT {
        return Err(format!(
            "{what} {}s is above the maximum of {}s (24h); use a shorter one",
            value.as_secs(),
            MAX_TIMEOUT.as_secs()
        ));
    }
    Ok(())
}

/// Parses a byte size: plain bytes (`1048576`), binary units (`64K`, `64KiB`, `256M`, `256MiB`,
/// `1G`, `1GiB`) or decimal units (`64KB`, `256MB`, `1GB`). Case-insensitive; fractions allowed (`1.5G`).
///
/// ```
/// assert_eq!(soulbox_api::parse_byte_size("64MiB"), Ok(64 << 20));
/// assert_eq!(soulbox_api::parse_byte_size("1G"), Ok(1 << 30));
/// assert_eq!(soulbox_api::parse_byte_size("1000"), Ok(1000));
/// assert!(soulbox_api::parse_byte_size("lots").is_err());
/// ```
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| size_error(text))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(size_error(text)),
    };
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(size_error(text));
    }
    Ok(bytes as u64)
}

fn size_error(text: &str) -> String {
    format!(
        "invalid size `{text}`; use bytes or a number with a unit: 64MiB, 512M, 1G, 1GiB, 100MB"
    )
}

/// Parses a duration: `500ms`, `5s`, `1.5s`, `2m`, `1h`, `250us`, or a bare number of seconds.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(soulbox_api::parse_duration("1s"), Ok(Duration::from_secs(1)));
/// assert_eq!(soulbox_api::parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(soulbox_api::parse_duration("2"), Ok(Duration::from_secs(2)));
/// assert!(soulbox_api::parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| duration_error(text))?;
    let seconds = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "ns" => value / 1e9,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(duration_error(text)),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| duration_error(text))
}

fn duration_error(text: &str) -> String {
    format!("invalid duration `{text}`; use e.g. 500ms, 5s, 1.5s, 2m or a number of seconds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_byte_size("64mib"), Ok(64 * MIB));
        assert_eq!(parse_byte_size("1.5K"), Ok(1536));
        assert_eq!(parse_byte_size("100MB"), Ok(100_000_000));
        assert!(parse_byte_size("").is_err());
        assert!(parse_byte_size("-5M").is_err());
        assert!(parse_byte_size("5 parsecs").is_err());
        assert!(parse_byte_size("99999999999999999999999T").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("1e400").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn defaults_are_safe_and_valid() {
        let c = SandboxConfig::default();
        assert!(c.validate().is_ok());
        assert!(!c.network_enabled);
        assert!(c.memory_limit <= 256 * MIB);
        assert!(c.env.is_empty());
    }

    #[test]
    fn validation_rejects_nonsense() {
        assert!(
            SandboxConfig::default()
                .with_memory_limit(10)
                .validate()
                .is_err()
        );
        assert!(
            SandboxConfig::default()
                .with_timeout(Duration::ZERO)
                .validate()
                .is_err()
        );
        assert!(
            SandboxConfig::default()
                .with_cpu_quota(f64::NAN)
                .validate()
                .is_err()
        );
        assert!(
            SandboxConfig::default()
                .with_env("A=B", "c")
                .validate()
                .is_err()
        );
    }

    #[test]
    fn validation_bounds_every_limit_from_above() {
        let huge = Duration::from_secs(18_446_744_073_709_549_568);
        let err = SandboxConfig::default()
            .with_timeout(huge)
            .validate()
            .expect_err("huge timeout");
        assert!(err.contains("timeout") && err.contains("maximum"), "{err}");
        assert!(
            SandboxConfig::default()
                .with_timeout(MAX_TIMEOUT)
                .validate()
                .is_ok()
        );
        let mut compile = SandboxConfig::default();
        compile.compile.timeout = MAX_TIMEOUT + Duration::from_nanos(1);
        assert!(compile.validate().is_err());
        let over = [
            SandboxConfig::default().with_memory_limit(MAX_MEMORY_LIMIT + 1),
            SandboxConfig::default().with_cpu_quota(MAX_CPU_QUOTA * 2.0),
            SandboxConfig::default().with_max_output_bytes(u64::MAX),
            SandboxConfig::default().with_max_disk_bytes(u64::MAX),
            SandboxConfig::default().with_max_disk_entries(u64::MAX),
            SandboxConfig::default().with_artifact_bytes(u64::MAX),
            SandboxConfig::default().with_max_processes(u32::MAX),
        ];
        for config in over {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
