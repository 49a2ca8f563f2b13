//! The MCP door over streamable HTTP (`/mcp` on the HTTP listener), driven by the official MCP
//! Python SDK (`mcp`, pinned; scripts/setup.sh installs it). The stdio form is tested with the
//! `soulbox mcp` binary in the CLI's tests, with the same script.

use std::process::Command;

use soulbox_server::ServerConfig;

use crate::TOKEN;
use crate::e2b::{E2bServer, venv_python};

/// Checks what the script in `mcp.py` observed (shared with the CLI's stdio test).
pub fn check(out: &serde_json::Value) {
    assert_eq!(
        out["tools"],
        serde_json::json!([
            "close_session",
            "create_session",
            "install_package",
            "list_files",
            "read_file",
            "run_code",
            "write_file"
        ])
    );
    assert_eq!(out["described"], true);
    let install = &out["install"];
    assert!(
        install[0].as_str().unwrap_or("").contains("idna"),
        "{install}"
    );
    assert!(
        install[1]
            .as_str()
            .unwrap_or("")
            .contains("xn--bcher-kva.de"),
        "{install}"
    );
    assert_eq!(install[2], true, "{install}");
    assert!(
        install[3].as_str().unwrap_or("").contains("sdist"),
        "{install}"
    );
    assert_eq!(out["run"][0], false);
    assert!(
        out["run"][1].as_str().unwrap_or("").contains("42"),
        "{}",
        out["run"]
    );
    assert!(
        out["session"].as_str().unwrap_or("").contains("value: 42"),
        "{}",
        out["session"]
    );
    assert_eq!(out["images"], serde_json::json!(["image/png"]));
    assert_eq!(out["png"], "89504e47");
    assert_eq!(out["read"], "hello");
    assert!(
        out["listed"]
            .as_str()
            .unwrap_or("")
            .contains("notes/a.txt (5 bytes)"),
        "{}",
        out["listed"]
    );
    assert_eq!(out["error"], serde_json::json!([true, true]));
    assert_eq!(out["escape"][0], true);
    assert_eq!(out["closed"], "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_streamable_http_with_the_official_python_sdk() {
    let server = E2bServer::start(ServerConfig::default()).await;
    let url = format!("{}/mcp", server.url);
    let mut command = Command::new(venv_python());
    command
        .arg("-c")
        .arg(include_str!("mcp.py"))
        .arg("http")
        .arg(&url)
        .env("SOULBOX_TOKEN", TOKEN);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let out: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON");
    println!("{out:#}");
    check(&out);
    assert_eq!(out["no_token"][0], 401);
    assert!(
        out["no_token"][1].as_str().unwrap_or("").contains("Bearer"),
        "{}",
        out["no_token"]
    );
    // One sandbox for the tenant, made through the manager.
    assert_eq!(server.manager.sandbox_count(), 1);
}
