//! The agent doors as binaries, with the official clients (installed by scripts/setup.sh into
//! `$SOULBOX_HOME/clients/agent-venv`): the README's E2B SDK script, unmodified, against
//! `soulbox serve --e2b-listen`, and `soulbox mcp` over stdio with the MCP Python SDK.

use std::path::PathBuf;
use std::process::Command;

use crate::repo;
use crate::serve::{TOKEN, start_with};

fn venv_python() -> PathBuf {
    let home = soulbox::default_home().expect("SOULBOX_HOME");
    let python = home.join("clients/agent-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh (it installs the E2B and MCP SDKs)",
        python.display()
    );
    python
}

/// The README's E2B example: the python block of the "Use SoulBox from the E2B SDK" section.
fn readme_script() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let section = readme
        .split("## Use SoulBox from the E2B SDK")
        .nth(1)
        .expect("the README has the E2B section");
    let block = section
        .split("```python\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a python block");
    block.to_owned()
}

#[test]
fn the_readme_e2b_script_runs_unmodified_against_soulbox_serve() {
    let server = start_with(&["--e2b-listen", "127.0.0.1:0"]);
    let e2b_url = server.e2b_url.clone().expect("the E2B address");
    let output = Command::new(venv_python())
        .arg("-c")
        .arg(readme_script())
        .env("E2B_API_KEY", TOKEN)
        .env("E2B_API_URL", &e2b_url)
        .env("E2B_SANDBOX_URL", &e2b_url)
        .env_remove("E2B_DEBUG")
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "42",
            "streamed: hello",
            "6 [['text', 'png'], ['text']]",
            "ZeroDivisionError",
            "6",
            "['data.csv']"
        ],
        "stderr:\n{stderr}"
    );
    // SIGTERM stops both listeners.
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    let sent = unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let mut server = server;
    let status = server.child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
}

#[test]
fn soulbox_mcp_over_stdio_with_the_official_mcp_sdk() {
    let output = Command::new(venv_python())
        .arg("-c")
        .arg(include_str!("../../../server/tests/all/mcp.py"))
        .arg("stdio")
        .arg(env!("CARGO_BIN_EXE_soulbox"))
        .arg("mcp")
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let out: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON");
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
    assert_eq!(out["error"], serde_json::json!([true, true]));
    assert_eq!(out["escape"][0], true);
    assert_eq!(out["closed"], "closed");
}
