//! What the server allows: caps on what a client may ask for, counts, timeouts and sizes. Read
//! from the `--config` TOML file; every key is optional.
//!
//! ```toml
//! max_memory = "1GiB"            # a sandbox's memory_limit may not exceed this
//! max_timeout = "60s"            # nor its per-execution timeout
//! max_disk_bytes = "1GiB"        # nor its disk budget
//! max_fuel = 10000000000         # nor its fuel (unset: unlimited fuel allowed)
//! max_compile_timeout = "60s"    # nor the Rust/C/C++ compile step's timeout
//! max_compile_memory = "4GiB"    # nor the compiler's memory
//! max_sandboxes = 1000           # live sandboxes, all tenants together
//! max_concurrent_executions = 64 # executions and session cells running at once
//! max_queued_executions = 256    # waiting for a slot; beyond: RESOURCE_EXHAUSTED
//! idle_timeout = "5m"            # default time an unused sandbox lives
//! max_idle_timeout = "24h"       # longest a client may set
//! shutdown_grace = "30s"         # how long running executions may finish at shutdown
//! max_message_bytes = "16MiB"    # one gRPC message (code, a file chunk)
//! max_upload_bytes = "100MiB"    # one uploaded file
//! max_snapshots_per_tenant = 16  # session snapshots kept on the server
//! allow_native = false           # let clients ask for the native backend
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use soulbox::{MIB, parse_byte_size, parse_duration};

/// The server's caps and limits (see the module docs for the TOML form and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Largest `memory_limit` a sandbox may ask for.
    pub max_memory: u64,
    /// Largest per-execution `timeout`.
    pub max_timeout: Duration,
    /// Largest `max_disk_bytes`.
    pub max_disk_bytes: u64,
    /// Largest `fuel`; `Some` also makes it the default (a client cannot ask for unlimited).
    pub max_fuel: Option<u64>,
    /// Largest `compile.timeout` (Rust, C, C++ source).
    pub max_compile_timeout: Duration,
    /// Largest `compile.memory_limit`.
    pub max_compile_memory: u64,
    /// Live sandboxes, all tenants together.
    pub max_sandboxes: usize,
    /// Executions (and session cells) running at once.
    pub max_concurrent_executions: usize,
    /// Executions waiting for a slot before new ones are refused with `RESOURCE_EXHAUSTED`.
    pub max_queued_executions: usize,
    /// How long an unused sandbox lives unless its client sets otherwise.
    pub idle_timeout: Duration,
    /// The longest idle timeout a client may set.
    pub max_idle_timeout: Duration,
    /// At shutdown, how long running executions may take to finish before they are killed.
    pub shutdown_grace: Duration,
    /// Largest gRPC message, either direction.
    pub max_message_bytes: usize,
    /// Largest uploaded file (also bounded by the sandbox's disk budget).
    pub max_upload_bytes: u64,
    /// Session snapshots one tenant may keep on the server.
    pub max_snapshots_per_tenant: usize,
    /// Whether clients may use the native backend (processes on this host); off: every sandbox
    /// runs WebAssembly only.
    pub allow_native: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_memory: 1024 * MIB,
            max_timeout: Duration::from_secs(60),
            max_disk_bytes: 1024 * MIB,
            max_fuel: None,
            max_compile_timeout: Duration::from_secs(60),
            max_compile_memory: 4096 * MIB,
            max_sandboxes: 1000,
            max_concurrent_executions: 64,
            max_queued_executions: 256,
            idle_timeout: Duration::from_secs(300),
            max_idle_timeout: Duration::from_secs(24 * 3600),
            shutdown_grace: Duration::from_secs(30),
            max_message_bytes: 16 * 1024 * 1024,
            max_upload_bytes: 100 * MIB,
            max_snapshots_per_tenant: 16,
            allow_native: false,
        }
    }
}

/// The TOML file as written: sizes and durations as text (`"1GiB"`, `"5m"`) or plain numbers
/// (bytes, seconds).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    max_memory: Option<toml::Value>,
    max_timeout: Option<toml::Value>,
    max_disk_bytes: Option<toml::Value>,
    max_fuel: Option<u64>,
    max_compile_timeout: Option<toml::Value>,
    max_compile_memory: Option<toml::Value>,
    max_sandboxes: Option<usize>,
    max_concurrent_executions: Option<usize>,
    max_queued_executions: Option<usize>,
    idle_timeout: Option<toml::Value>,
    max_idle_timeout: Option<toml::Value>,
    shutdown_grace: Option<toml::Value>,
    max_message_bytes: Option<toml::Value>,
    max_upload_bytes: Option<toml::Value>,
    max_snapshots_per_tenant: Option<usize>,
    allow_native: Option<bool>,
}

fn size(key: &str, value: &toml::Value) -> Result<u64, String> {
    match value {
        toml::Value::Integer(n) => u64::try_from(*n).map_err(|_| format!("{key}: {n} is negative")),
        toml::Value::String(s) => parse_byte_size(s).map_err(|e| format!("{key}: {e}")),
        other => Err(format!("{key}: expected a size like \"1GiB\", got {other}")),
    }
}

fn duration(key: &str, value: &toml::Value) -> Result<Duration, String> {
    match value {
        toml::Value::Integer(n) => u64::try_from(*n)
            .map(Duration::from_secs)
            .map_err(|_| format!("{key}: {n} is negative")),
        toml::Value::String(s) => parse_duration(s).map_err(|e| format!("{key}: {e}")),
        other => Err(format!(
            "{key}: expected a duration like \"30s\", got {other}"
        )),
    }
}

impl ServerConfig {
    /// Parses the TOML text of a config file; unknown keys and bad values are errors naming the key.
    pub fn from_toml(text: &str) -> Result<ServerConfig, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut config = ServerConfig::default();
        if let Some(v) = &file.max_memory {
            config.max_memory = size("max_memory", v)?;
        }
        if let Some(v) = &file.max_timeout {
            config.max_timeout = duration("max_timeout", v)?;
        }
        if let Some(v) = &file.max_disk_bytes {
            config.max_disk_bytes = size("max_disk_bytes", v)?;
        }
        config.max_fuel = file.max_fuel.or(config.max_fuel);
        if let Some(v) = &file.max_compile_timeout {
            config.max_compile_timeout = duration("max_compile_timeout", v)?;
        }
        if let Some(v) = &file.max_compile_memory {
            config.max_compile_memory = size("max_compile_memory", v)?;
        }
        config.max_sandboxes = file.max_sandboxes.unwrap_or(config.max_sandboxes);
        config.max_concurrent_executions = file
            .max_concurrent_executions
            .unwrap_or(config.max_concurrent_executions);
        config.max_queued_executions = file
            .max_queued_executions
            .unwrap_or(config.max_queued_executions);
        if let Some(v) = &file.idle_timeout {
            config.idle_timeout = duration("idle_timeout", v)?;
        }
        if let Some(v) = &file.max_idle_timeout {
            config.max_idle_timeout = duration("max_idle_timeout", v)?;
        }
        if let Some(v) = &file.shutdown_grace {
            config.shutdown_grace = duration("shutdown_grace", v)?;
        }
        if let Some(v) = &file.max_message_bytes {
            let bytes = size("max_message_bytes", v)?;
            config.max_message_bytes = usize::try_from(bytes)
                .map_err(|_| format!("max_message_bytes: {bytes} is too large"))?;
        }
        if let Some(v) = &file.max_upload_bytes {
            config.max_upload_bytes = size("max_upload_bytes", v)?;
        }
        config.max_snapshots_per_tenant = file
            .max_snapshots_per_tenant
            .unwrap_or(config.max_snapshots_per_tenant);
        config.allow_native = file.allow_native.unwrap_or(config.allow_native);
        config.check()?;
        Ok(config)
    }

    /// Reads and parses a config file; the error names the file.
    pub fn load(path: &Path) -> Result<ServerConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
        ServerConfig::from_toml(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }

    /// Values that cannot work.
    pub fn check(&self) -> Result<(), String> {
        if self.max_concurrent_executions == 0 {
            return Err("max_concurrent_executions must be at least 1".into());
        }
        if self.max_sandboxes == 0 {
            return Err("max_sandboxes must be at least 1".into());
        }
        if self.idle_timeout.is_zero() || self.idle_timeout > self.max_idle_timeout {
            return Err(format!(
                "idle_timeout must be above zero and at most max_idle_timeout ({:?})",
                self.max_idle_timeout
            ));
        }
        // Clients upload in 256 KiB chunks (soulbox-client) and results carry output.
        if self.max_message_bytes < 1024 * 1024 {
            return Err("max_message_bytes must be at least 1MiB".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sizes_and_durations_in_both_forms() {
        let config = ServerConfig::from_toml(
            "max_memory = \"512MiB\"\nmax_timeout = 10\nidle_timeout = \"2m\"\nmax_fuel = 5\nallow_native = true",
        );
        let config = config.unwrap_or_default();
        assert_eq!(config.max_memory, 512 * MIB);
        assert_eq!(config.max_timeout, Duration::from_secs(10));
        assert_eq!(config.idle_timeout, Duration::from_secs(120));
        assert_eq!(config.max_fuel, Some(5));
        assert!(config.allow_native);
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values_naming_them() {
        let unknown = ServerConfig::from_toml("max_memroy = 1")
            .err()
            .unwrap_or_default();
        assert!(unknown.contains("max_memroy"), "{unknown}");
        let bad = ServerConfig::from_toml("max_timeout = \"soon\"")
            .err()
            .unwrap_or_default();
        assert!(bad.contains("max_timeout"), "{bad}");
        let zero = ServerConfig::from_toml("max_concurrent_executions = 0")
            .err()
            .unwrap_or_default();
        assert!(zero.contains("max_concurrent_executions"), "{zero}");
    }
}
