//! What one door serialises, another reads back unchanged; names on the wire are snake_case.

use std::time::Duration;

use soulbox_api::{
    ApiError, Artifact, Backend, CompileProfile, ErrorKind, ExecutionResult, FileInfo, Language,
    MIB, SandboxConfig, Status, parse_byte_size, parse_duration,
};

fn round_trip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let json = match serde_json::to_string(value) {
        Ok(json) => json,
        Err(e) => panic!("does not serialise: {e}"),
    };
    match serde_json::from_str(&json) {
        Ok(back) => back,
        Err(e) => panic!("does not read back {json}: {e}"),
    }
}

#[test]
fn sandbox_config_round_trips() {
    let mut config = SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_millis(1500))
        .with_fuel(1_000_000)
        .with_env("LANG", "C.UTF-8")
        .with_backend(Backend::Native)
        .with_compile_profile(CompileProfile::Release)
        .with_runtime("python-lite")
        .with_allowed_syscalls(vec!["read".into(), "write".into()]);
    config.simulate_kernel_without_landlock = false;
    assert_eq!(round_trip(&config), config);
    let json = serde_json::to_value(&config).expect("serialises");
    assert_eq!(json["backend"], "native");
    assert_eq!(json["compile"]["profile"], "release");
}

#[test]
fn a_partial_config_takes_defaults() {
    let config: SandboxConfig =
        serde_json::from_str(r#"{"memory_limit": 1048576}"#).expect("deserialises");
    assert_eq!(config.memory_limit, MIB);
    assert_eq!(config.timeout, SandboxConfig::default().timeout);
    assert!(config.validate().is_ok());
}

#[test]
fn execution_result_round_trips() {
    let result = ExecutionResult {
        status: Status::MemoryLimit,
        stdout: "partial\n".into(),
        stderr: String::new(),
        exit_code: None,
        execution_time: Duration::from_millis(42),
        memory_usage: 64 * MIB,
        fuel_consumed: 12345,
        artifacts: vec![Artifact {
            path: "out/plot.png".into(),
            mime_type: "image/png".into(),
            size: 3,
            data: Some(vec![1, 2, 3]),
        }],
        error: Some("memory limit of 64 MiB reached".into()),
        isolation: vec!["wasm".into(), "workspace-only-fs".into()],
        value: Some("42".into()),
        tool_calls: vec![soulbox_api::ToolCall {
            name: "weather".into(),
            arguments: "{\"city\":\"Paris\"}".into(),
            duration: std::time::Duration::from_millis(3),
            ok: false,
            error: Some("handler: no such city".into()),
        }],
        network: vec![soulbox_api::NetworkRequest {
            method: "GET".into(),
            url: "http://127.0.0.1:9/".into(),
            allowed: false,
            status: None,
            bytes: 0,
            error: Some("denied: not in allow_hosts".into()),
        }],
    };
    assert_eq!(round_trip(&result), result);
    let json = serde_json::to_value(&result).expect("serialises");
    assert_eq!(json["status"], "memory_limit");
}

#[test]
fn status_names_are_snake_case() {
    let all = [
        Status::Ok,
        Status::Error,
        Status::Timeout,
        Status::MemoryLimit,
        Status::FuelExhausted,
        Status::OutputLimit,
        Status::DiskLimit,
        Status::Trap,
        Status::CompileError,
        Status::Killed,
    ];
    for status in all {
        let json = serde_json::to_string(&status).expect("serialises");
        assert_eq!(json, format!("\"{}\"", status.name()));
        assert_eq!(round_trip(&status), status);
    }
    assert_eq!(Status::FuelExhausted.name(), "fuel_exhausted");
}

#[test]
fn languages_and_files_round_trip() {
    for lang in Language::ALL {
        assert_eq!(round_trip(&lang), lang);
    }
    assert_eq!(
        serde_json::to_string(&Language::JavaScript).expect("serialises"),
        "\"javascript\""
    );
    // Earlier versions wrote the derive's default; their JSON still reads.
    let old: Language = serde_json::from_str("\"java_script\"").expect("old name reads");
    assert_eq!(old, Language::JavaScript);
    for lang in Language::ALL {
        let json = serde_json::to_string(&lang).expect("serialises");
        assert_eq!(json, format!("\"{lang}\""), "wire name is the display name");
    }
    let file = FileInfo {
        path: "data/x.csv".into(),
        size: 10,
        is_dir: false,
    };
    assert_eq!(round_trip(&file), file);
}

#[test]
fn errors_travel_as_data() {
    let err = ApiError::new(ErrorKind::SessionPoisoned, "session is poisoned: timeout");
    assert_eq!(round_trip(&err), err);
    let json = serde_json::to_value(&err).expect("serialises");
    assert_eq!(json["kind"], "session_poisoned");
    let unknown: ApiError =
        serde_json::from_str(r#"{"kind":"from_the_future","message":"m"}"#).expect("reads");
    assert_eq!(unknown.kind, ErrorKind::Other);
    let parse = "cobol".parse::<Language>().map_err(ApiError::from);
    assert_eq!(parse.map_err(|e| e.kind), Err(ErrorKind::UnknownLanguage));
}

#[test]
fn sizes_and_durations_parse() {
    assert_eq!(parse_byte_size("256M"), Ok(256 * MIB));
    assert_eq!(parse_byte_size("1GB"), Ok(1_000_000_000));
    assert!(parse_byte_size("lots").is_err());
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert!(parse_duration("soon").is_err());
}
