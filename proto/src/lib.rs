//! # soulbox-proto: SoulBox's gRPC wire format (`soulbox.v1`)
//!
//! The messages and services of `proto/soulbox/v1/*.proto`, generated at build time (protox +
//! tonic-prost-build: no `protoc` needed), and the conversions between them and the
//! [`soulbox_api`] types both ends use. The server (`soulbox-server`) and the Rust client
//! (`soulbox-client`) share this crate, so a field travels the same way in both directions.
//!
//! Conventions on the wire: sizes in bytes, durations in milliseconds (execution time in
//! microseconds), statuses as the `Status` enum, languages by name. A host-side error is a gRPC
//! status whose metadata carries [`ERROR_KIND_HEADER`] (an [`ErrorKind`] name) and whose message
//! is the engine's, saying what to do.
#![deny(missing_docs)]

use std::time::Duration;

use soulbox_api as api;
use soulbox_api::ErrorKind;

/// Generated code of package `soulbox.v1`.
#[allow(missing_docs, clippy::all, clippy::unwrap_used, clippy::expect_used)]
pub mod v1 {
    tonic::include_proto!("soulbox.v1");
}

/// The encoded `FileDescriptorSet` of `soulbox.v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/soulbox_v1_descriptor.bin"));

/// Metadata key of a failed call's [`ErrorKind`] name.
pub const ERROR_KIND_HEADER: &str = "soulbox-error-kind";

/// Every [`ErrorKind`], to read one back from its name.
const ERROR_KINDS: [ErrorKind; 21] = [
    ErrorKind::InvalidRequest,
    ErrorKind::UnknownLanguage,
    ErrorKind::Unsupported,
    ErrorKind::InvalidModule,
    ErrorKind::InvalidPath,
    ErrorKind::FileNotFound,
    ErrorKind::UnusableFile,
    ErrorKind::InvalidState,
    ErrorKind::Io,
    ErrorKind::Cache,
    ErrorKind::ToolchainMissing,
    ErrorKind::Runtime,
    ErrorKind::IsolationUnavailable,
    ErrorKind::NativeSetup,
    ErrorKind::SessionPoisoned,
    ErrorKind::SessionStart,
    ErrorKind::SnapshotMismatch,
    ErrorKind::SnapshotCorrupt,
    ErrorKind::Engine,
    ErrorKind::Package,
    ErrorKind::Other,
];

/// The [`ErrorKind`] named `name` (`Other` for a name this version does not know).
pub fn error_kind_from_name(name: &str) -> ErrorKind {
    ERROR_KINDS
        .into_iter()
        .find(|k| k.name() == name)
        .unwrap_or(ErrorKind::Other)
}

/// A wire value that does not fit the API type, with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Converts a [`api::SandboxConfig`] to the wire, leaving unset every field equal to its
/// default (so the server applies its own defaults and caps). `persistent_storage` - a host
/// directory - has no wire form: `Err` when it is set.
pub fn config_to_wire(config: &api::SandboxConfig) -> Result<v1::SandboxConfig, WireError> {
    if config.persistent_storage.is_some() {
        return Err(WireError(
            "persistent_storage names a directory on this machine; a remote sandbox cannot use one \
             (write files with write_file instead)"
                .into(),
        ));
    }
    let d = api::SandboxConfig::default();
    fn differs<T: PartialEq>(value: T, default: T) -> Option<T> {
        (value != default).then_some(value)
    }
    Ok(v1::SandboxConfig {
        memory_limit: differs(config.memory_limit, d.memory_limit),
        cpu_quota: differs(config.cpu_quota, d.cpu_quota),
        timeout_ms: differs(ms(config.timeout), ms(d.timeout)),
        fuel: config.fuel,
        max_output_bytes: differs(config.max_output_bytes, d.max_output_bytes),
        max_disk_bytes: differs(config.max_disk_bytes, d.max_disk_bytes),
        max_disk_entries: differs(config.max_disk_entries, d.max_disk_entries),
        allowed_syscalls: config.allowed_syscalls.clone().unwrap_or_default(),
        allowed_syscalls_set: config.allowed_syscalls.is_some(),
        max_processes: differs(config.max_processes, d.max_processes),
        allow_weaker_isolation: config.allow_weaker_isolation,
        network_enabled: config.network_enabled,
        env: config.env.clone().into_iter().collect(),
        backend: if config.backend == d.backend {
            String::new()
        } else {
            config.backend.name().to_owned()
        },
        max_artifacts: differs(config.max_artifacts, d.max_artifacts)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        max_artifact_bytes: differs(config.max_artifact_bytes, d.max_artifact_bytes),
        compile_profile: if config.compile.profile == d.compile.profile {
            String::new()
        } else {
            config.compile.profile.name().to_owned()
        },
        compile_timeout_ms: differs(ms(config.compile.timeout), ms(d.compile.timeout)),
        compile_memory_limit: differs(config.compile.memory_limit, d.compile.memory_limit),
        runtime: config.runtime.clone(),
    })
}

/// Reads a wire config onto `base` (the defaults the receiver applies to unset fields).
pub fn config_from_wire(
    wire: &v1::SandboxConfig,
    mut base: api::SandboxConfig,
) -> Result<api::SandboxConfig, WireError> {
    if let Some(v) = wire.memory_limit {
        base.memory_limit = v;
    }
    if let Some(v) = wire.cpu_quota {
        base.cpu_quota = v;
    }
    if let Some(v) = wire.timeout_ms {
        base.timeout = Duration::from_millis(v);
    }
    if wire.fuel.is_some() {
        base.fuel = wire.fuel;
    }
    if let Some(v) = wire.max_output_bytes {
        base.max_output_bytes = v;
    }
    if let Some(v) = wire.max_disk_bytes {
        base.max_disk_bytes = v;
    }
    if let Some(v) = wire.max_disk_entries {
        base.max_disk_entries = v;
    }
    if wire.allowed_syscalls_set || !wire.allowed_syscalls.is_empty() {
        base.allowed_syscalls = Some(wire.allowed_syscalls.clone());
    }
    if let Some(v) = wire.max_processes {
        base.max_processes = v;
    }
    base.allow_weaker_isolation |= wire.allow_weaker_isolation;
    base.network_enabled |= wire.network_enabled;
    base.env.extend(wire.env.clone());
    if !wire.backend.is_empty() {
        base.backend = wire.backend.parse().map_err(WireError)?;
    }
    if let Some(v) = wire.max_artifacts {
        base.max_artifacts = usize::try_from(v).unwrap_or(usize::MAX);
    }
    if let Some(v) = wire.max_artifact_bytes {
        base.max_artifact_bytes = v;
    }
    if !wire.compile_profile.is_empty() {
        base.compile.profile = wire.compile_profile.parse().map_err(WireError)?;
    }
    if let Some(v) = wire.compile_timeout_ms {
        base.compile.timeout = Duration::from_millis(v);
    }
    if let Some(v) = wire.compile_memory_limit {
        base.compile.memory_limit = v;
    }
    if wire.runtime.is_some() {
        base.runtime = wire.runtime.clone();
    }
    Ok(base)
}

/// A request on the wire. `Stdin::Inherit` (the caller's own stdin) cannot cross a network:
/// the caller reads it and sends bytes; here it becomes empty stdin.
pub fn request_to_wire(request: &api::ExecutionRequest) -> v1::ExecutionRequest {
    v1::ExecutionRequest {
        language: request.language.to_string(),
        code: request.code.clone(),
        args: request.args.clone(),
        stdin: match &request.stdin {
            api::Stdin::Bytes(b) => b.clone(),
            api::Stdin::Empty | api::Stdin::Inherit => Vec::new(),
        },
        env: request
            .env
            .iter()
            .map(|(key, value)| v1::EnvVar {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        runtime: request.runtime.clone(),
        file_name: request.file_name.clone(),
    }
}

/// A wire request as an [`api::ExecutionRequest`]; `Err` names an unknown language.
pub fn request_from_wire(wire: v1::ExecutionRequest) -> Result<api::ExecutionRequest, WireError> {
    let language: api::Language = wire
        .language
        .parse()
        .map_err(|e: api::UnknownLanguage| WireError(e.to_string()))?;
    let mut request = api::ExecutionRequest::new(language, wire.code).with_args(wire.args);
    if !wire.stdin.is_empty() {
        request = request.with_stdin(wire.stdin);
    }
    request.env = wire.env.into_iter().map(|e| (e.key, e.value)).collect();
    request.runtime = wire.runtime;
    request.file_name = wire.file_name;
    Ok(request)
}

/// The wire form of a [`api::Status`].
pub fn status_to_wire(status: api::Status) -> v1::Status {
    match status {
        api::Status::Ok => v1::Status::Ok,
        api::Status::Error => v1::Status::Error,
        api::Status::Timeout => v1::Status::Timeout,
        api::Status::MemoryLimit => v1::Status::MemoryLimit,
        api::Status::FuelExhausted => v1::Status::FuelExhausted,
        api::Status::OutputLimit => v1::Status::OutputLimit,
        api::Status::DiskLimit => v1::Status::DiskLimit,
        api::Status::Trap => v1::Status::Trap,
        api::Status::CompileError => v1::Status::CompileError,
        api::Status::Killed => v1::Status::Killed,
    }
}

/// A wire status as a [`api::Status`]; `Err` for `STATUS_UNSPECIFIED` or an unknown number.
pub fn status_from_wire(status: i32) -> Result<api::Status, WireError> {
    match v1::Status::try_from(status) {
        Ok(v1::Status::Ok) => Ok(api::Status::Ok),
        Ok(v1::Status::Error) => Ok(api::Status::Error),
        Ok(v1::Status::Timeout) => Ok(api::Status::Timeout),
        Ok(v1::Status::MemoryLimit) => Ok(api::Status::MemoryLimit),
        Ok(v1::Status::FuelExhausted) => Ok(api::Status::FuelExhausted),
        Ok(v1::Status::OutputLimit) => Ok(api::Status::OutputLimit),
        Ok(v1::Status::DiskLimit) => Ok(api::Status::DiskLimit),
        Ok(v1::Status::Trap) => Ok(api::Status::Trap),
        Ok(v1::Status::CompileError) => Ok(api::Status::CompileError),
        Ok(v1::Status::Killed) => Ok(api::Status::Killed),
        Ok(v1::Status::Unspecified) | Err(_) => Err(WireError(format!(
            "the server sent an unknown execution status ({status})"
        ))),
    }
}

/// The wire form of an [`api::Artifact`].
pub fn artifact_to_wire(artifact: &api::Artifact) -> v1::Artifact {
    v1::Artifact {
        path: artifact.path.clone(),
        mime_type: artifact.mime_type.clone(),
        size: artifact.size,
        data: artifact.data.clone(),
    }
}

/// A wire artifact as an [`api::Artifact`].
pub fn artifact_from_wire(wire: v1::Artifact) -> api::Artifact {
    api::Artifact {
        path: wire.path,
        mime_type: wire.mime_type,
        size: wire.size,
        data: wire.data,
    }
}

/// The wire form of an [`api::ExecutionResult`].
pub fn result_to_wire(result: &api::ExecutionResult) -> v1::ExecutionResult {
    v1::ExecutionResult {
        status: status_to_wire(result.status).into(),
        stdout: result.stdout.clone(),
        stderr: result.stderr.clone(),
        exit_code: result.exit_code,
        execution_time_us: u64::try_from(result.execution_time.as_micros()).unwrap_or(u64::MAX),
        memory_usage: result.memory_usage,
        fuel_consumed: result.fuel_consumed,
        artifacts: result.artifacts.iter().map(artifact_to_wire).collect(),
        error: result.error.clone(),
        isolation: result.isolation.clone(),
        value: result.value.clone(),
        tool_calls: result
            .tool_calls
            .iter()
            .map(|c| v1::ToolCall {
                name: c.name.clone(),
                arguments: c.arguments.clone(),
                duration_us: u64::try_from(c.duration.as_micros()).unwrap_or(u64::MAX),
                ok: c.ok,
                error: c.error.clone(),
            })
            .collect(),
        network: result
            .network
            .iter()
            .map(|n| v1::NetworkRequest {
                method: n.method.clone(),
                url: n.url.clone(),
                allowed: n.allowed,
                status: n.status.map(u32::from),
                bytes: n.bytes,
                error: n.error.clone(),
            })
            .collect(),
    }
}

/// A wire result as an [`api::ExecutionResult`].
pub fn result_from_wire(wire: v1::ExecutionResult) -> Result<api::ExecutionResult, WireError> {
    Ok(api::ExecutionResult {
        status: status_from_wire(wire.status)?,
        stdout: wire.stdout,
        stderr: wire.stderr,
        exit_code: wire.exit_code,
        execution_time: Duration::from_micros(wire.execution_time_us),
        memory_usage: wire.memory_usage,
        fuel_consumed: wire.fuel_consumed,
        artifacts: wire.artifacts.into_iter().map(artifact_from_wire).collect(),
        error: wire.error,
        isolation: wire.isolation,
        value: wire.value,
        tool_calls: wire
            .tool_calls
            .into_iter()
            .map(|c| api::ToolCall {
                name: c.name,
                arguments: c.arguments,
                duration: Duration::from_micros(c.duration_us),
                ok: c.ok,
                error: c.error,
            })
            .collect(),
        network: wire
            .network
            .into_iter()
            .map(|n| {
                Ok(api::NetworkRequest {
                    method: n.method,
                    url: n.url,
                    allowed: n.allowed,
                    status: n
                        .status
                        .map(|s| {
                            u16::try_from(s).map_err(|_| {
                                WireError(format!("HTTP status {s} is not a status code"))
                            })
                        })
                        .transpose()?,
                    bytes: n.bytes,
                    error: n.error,
                })
            })
            .collect::<Result<_, WireError>>()?,
    })
}

/// The wire form of a stream event.
pub fn event_to_wire(event: &api::StreamOutput) -> v1::ExecutionEvent {
    use v1::execution_event::Event;
    let event = match event {
        api::StreamOutput::Stdout(b) => Event::Stdout(b.to_vec()),
        api::StreamOutput::Stderr(b) => Event::Stderr(b.to_vec()),
        api::StreamOutput::Artifact(a) => Event::Artifact(artifact_to_wire(a)),
        api::StreamOutput::Image(a) => Event::Image(artifact_to_wire(a)),
        api::StreamOutput::Exit(r) => Event::Result(result_to_wire(r)),
    };
    v1::ExecutionEvent { event: Some(event) }
}

/// A wire event as a [`api::StreamOutput`]; `Err` for an empty event or a bad result.
pub fn event_from_wire(wire: v1::ExecutionEvent) -> Result<api::StreamOutput, WireError> {
    use v1::execution_event::Event;
    Ok(match wire.event {
        Some(Event::Stdout(b)) => api::StreamOutput::Stdout(b.into()),
        Some(Event::Stderr(b)) => api::StreamOutput::Stderr(b.into()),
        Some(Event::Artifact(a)) => api::StreamOutput::Artifact(artifact_from_wire(a)),
        Some(Event::Image(a)) => api::StreamOutput::Image(artifact_from_wire(a)),
        Some(Event::Result(r)) => api::StreamOutput::Exit(Box::new(result_from_wire(r)?)),
        None => return Err(WireError("the server sent an empty execution event".into())),
    })
}

/// The wire form of a workspace entry.
pub fn file_info_to_wire(info: &api::FileInfo) -> v1::FileInfo {
    v1::FileInfo {
        path: info.path.clone(),
        size: info.size,
        is_dir: info.is_dir,
    }
}

/// A wire workspace entry as an [`api::FileInfo`].
pub fn file_info_from_wire(wire: v1::FileInfo) -> api::FileInfo {
    api::FileInfo {
        path: wire.path,
        size: wire.size,
        is_dir: wire.is_dir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_sends_nothing_and_reads_back_as_the_base() {
        let wire = config_to_wire(&api::SandboxConfig::default());
        assert_eq!(wire, Ok(v1::SandboxConfig::default()));
        let base = api::SandboxConfig::default().with_timeout(Duration::from_secs(3));
        assert_eq!(
            config_from_wire(&v1::SandboxConfig::default(), base.clone()),
            Ok(base)
        );
    }

    #[test]
    fn config_round_trips() {
        let config = api::SandboxConfig::default()
            .with_memory_limit(64 * api::MIB)
            .with_timeout(Duration::from_millis(1500))
            .with_fuel(10)
            .with_env("A", "b")
            .with_backend(api::Backend::Wasm)
            .with_runtime("python-lite")
            .with_allowed_syscalls(Vec::new())
            .with_compile_profile(api::CompileProfile::Release);
        let wire = config_to_wire(&config).map_err(|e| e.0);
        let back =
            wire.and_then(|w| config_from_wire(&w, api::SandboxConfig::default()).map_err(|e| e.0));
        assert_eq!(back, Ok(config));
    }

    #[test]
    fn a_host_directory_has_no_wire_form() {
        let config = api::SandboxConfig::default().with_workspace("/tmp/x");
        let err = config_to_wire(&config)
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert!(err.contains("persistent_storage"), "{err}");
    }

    #[test]
    fn every_status_and_error_kind_round_trips() {
        for status in [
            api::Status::Ok,
            api::Status::Error,
            api::Status::Timeout,
            api::Status::MemoryLimit,
            api::Status::FuelExhausted,
            api::Status::OutputLimit,
            api::Status::DiskLimit,
            api::Status::Trap,
            api::Status::CompileError,
            api::Status::Killed,
        ] {
            assert_eq!(status_from_wire(status_to_wire(status).into()), Ok(status));
        }
        assert!(status_from_wire(0).is_err());
        for kind in ERROR_KINDS {
            assert_eq!(error_kind_from_name(kind.name()), kind);
        }
        assert_eq!(error_kind_from_name("no-such-kind"), ErrorKind::Other);
    }

    #[test]
    fn result_and_events_round_trip() {
        let result = api::ExecutionResult {
            status: api::Status::MemoryLimit,
            stdout: "out".into(),
            stderr: "err".into(),
            exit_code: Some(3),
            execution_time: Duration::from_micros(1234),
            memory_usage: 5,
            fuel_consumed: 6,
            artifacts: vec![api::Artifact {
                path: "a.png".into(),
                mime_type: "image/png".into(),
                size: 2,
                data: Some(vec![1, 2]),
            }],
            error: Some("why".into()),
            isolation: vec!["wasm".into()],
            value: Some("42".into()),
            tool_calls: vec![api::ToolCall {
                name: "weather".into(),
                arguments: "{}".into(),
                duration: Duration::from_micros(1500),
                ok: false,
                error: Some("handler: down".into()),
            }],
            network: vec![api::NetworkRequest {
                method: "GET".into(),
                url: "http://127.0.0.1:9/".into(),
                allowed: true,
                status: Some(200),
                bytes: 12,
                error: None,
            }],
        };
        assert_eq!(
            result_from_wire(result_to_wire(&result)),
            Ok(result.clone())
        );
        let event = api::StreamOutput::Exit(Box::new(result));
        assert_eq!(event_from_wire(event_to_wire(&event)), Ok(event));
        assert!(event_from_wire(v1::ExecutionEvent { event: None }).is_err());
    }

    #[test]
    fn request_round_trips() {
        let request = api::ExecutionRequest::new(api::Language::Ruby, "puts 1")
            .with_args(["a"])
            .with_stdin("in")
            .with_env("K", "V")
            .with_file_name("x.rb");
        assert_eq!(request_from_wire(request_to_wire(&request)), Ok(request));
        let mut bad = request_to_wire(&api::ExecutionRequest::new(api::Language::Python, ""));
        bad.language = "cobol".into();
        assert!(request_from_wire(bad).is_err());
    }
}
