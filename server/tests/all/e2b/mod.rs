//! The E2B-compatible door, driven by the official, unmodified `e2b-code-interpreter` Python
//! SDK (pinned; scripts/setup.sh installs it into `$SOULBOX_HOME/clients/agent-venv`), the E2B
//! JavaScript SDK (`@e2b/code-interpreter`, pinned, in `$SOULBOX_HOME/clients/e2b-js`), and by
//! raw HTTP for the malformed requests no SDK would send.

mod raw;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use soulbox_server::{Manager, ServerConfig, Tokens};

use crate::{OTHER_TOKEN, TOKEN, engine};

pub fn venv_python() -> PathBuf {
    let home = soulbox::default_home().expect("SOULBOX_HOME");
    home.join("clients/agent-venv/bin/python")
}

/// The E2B door of a server running in this process.
pub struct E2bServer {
    pub url: String,
    pub manager: Manager,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl E2bServer {
    pub async fn start(config: ServerConfig) -> E2bServer {
        let manager = Manager::new(engine(), config).expect("manager");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let tokens = Tokens::new([TOKEN, OTHER_TOKEN]).expect("tokens");
        let task = tokio::spawn(soulbox_server::serve_e2b(
            manager.clone(),
            tokens,
            listener,
            std::future::pending(),
        ));
        E2bServer { url, manager, task }
    }

    /// Runs `script` with the venv's python, the SDK pointed at this server; its stdout's last
    /// line parsed as JSON.
    pub async fn run_python(&self, script: &str) -> Value {
        let python = venv_python();
        assert!(
            python.exists(),
            "{} is missing: run scripts/setup.sh (it installs the E2B and MCP SDKs)",
            python.display()
        );
        let mut command = Command::new(python);
        command
            .arg("-c")
            .arg(script)
            .env("E2B_API_URL", &self.url)
            .env("E2B_SANDBOX_URL", &self.url)
            .env("E2B_API_KEY", TOKEN)
            .env("OTHER_KEY", OTHER_TOKEN)
            .env_remove("E2B_DEBUG")
            .env_remove("E2B_DOMAIN");
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("join")
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "the SDK script failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
    }
}

impl Drop for E2bServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unmodified_e2b_sdk_runs_code_files_and_lifecycle() {
    let config = ServerConfig::default();
    let server = E2bServer::start(config).await;
    let out = server.run_python(include_str!("sdk.py")).await;
    println!("{out:#}");
    assert_eq!(out["answer"], "42");
    assert_eq!(out["state"], "82");
    assert_eq!(
        out["stdout_callbacks"],
        serde_json::json!(["line 0\n", "line 1\n", "line 2\n"])
    );
    assert_eq!(out["png_results"], 1);
    assert_eq!(out["png_magic"], "89504e470d0a1a0a");
    assert_eq!(out["error_name"], "ZeroDivisionError");
    assert_eq!(out["error_value"], "division by zero");
    assert_eq!(out["ctx_x"], "'other'");
    assert_eq!(out["default_x"], "41");
    assert_eq!(out["js"], "42");
    assert_eq!(out["js_state"], "40");
    assert_eq!(out["ruby"], "6");
    assert_eq!(out["pip_cell_error"], serde_json::Value::Null, "{out}");
    assert_eq!(
        out["pip_then_import"], "'xn--eckwd4c7c.xn--zckzah'",
        "{out}"
    );
    assert_eq!(out["r_context"][0], "SandboxException");
    assert!(
        out["r_context"][1]
            .as_str()
            .unwrap_or("")
            .contains("python, javascript or ruby"),
        "{}",
        out["r_context"]
    );
    assert_eq!(out["write_path"], "/home/user/data/notes.txt");
    assert_eq!(out["read"], "hello from the SDK");
    assert_eq!(out["list"], serde_json::json!(["notes.txt"]));
    assert_eq!(out["code_reads_file"], "'hello from the SDK'");
    assert_eq!(out["sdk_reads_code_file"], "by code");
    assert_eq!(out["exists"], serde_json::json!([true, false]));
    assert_eq!(out["make_dir"], true);
    assert_eq!(out["renamed"], "by code");
    assert_eq!(out["removed"], false);
    assert_eq!(out["bytes_round_trip"], true);
    assert_eq!(out["missing"], "FileNotFoundException");
    assert_eq!(out["outside"][0], "InvalidArgumentException");
    // allow_native is off in this server: commands fail, saying why.
    assert!(
        out["command"][1]
            .as_str()
            .unwrap_or("")
            .contains("allow_native"),
        "{}",
        out["command"]
    );
    assert_eq!(out["cell_timeout"], "TimeoutException");
    assert_eq!(out["after_timeout"], "42");
    assert_eq!(out["info_state"], "running");
    assert_eq!(out["listed"], true);
    assert_eq!(out["other_sees"], false);
    assert_eq!(out["other_kill"], false);
    assert_eq!(out["env_in_code"], "'from-create'");
    assert_eq!(out["pages"], true);
    assert_eq!(out["async"], "45");
    assert_eq!(out["other_connect"], "SandboxNotFoundException");
    assert_eq!(out["reconnected"], "42");
    // The interrupted cell's context was restarted: its earlier state is gone, and the next
    // cell says so on stderr.
    assert_eq!(out["restart_note"], true);
    assert_eq!(out["running"], true);
    assert_eq!(out["killed"], true);
    assert_eq!(out["running_after_kill"], false);
    assert_eq!(out["after_kill"], "TimeoutException");
    assert_eq!(server.manager.sandbox_count(), 0);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_run_on_the_native_backend() {
    let config = ServerConfig {
        allow_native: true,
        ..ServerConfig::default()
    };
    let server = E2bServer::start(config).await;
    let out = server.run_python(include_str!("commands.py")).await;
    println!("{out:#}");
    assert_eq!(out["run"], serde_json::json!([0, "hi\nhello\n", "oops\n"]));
    assert_eq!(out["fail"], serde_json::json!(["CommandExitException", 3]));
    assert_eq!(out["sees_workspace"], "from the SDK");
    assert_eq!(out["sdk_sees_output"], "made\n");
    assert_eq!(out["listed"], true);
    assert_eq!(out["kill"], true);
    assert_eq!(
        out["killed_wait"],
        serde_json::json!(["CommandExitException", -1])
    );
    assert_eq!(out["listed_after"], 0);
    assert_eq!(server.manager.sandbox_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unmodified_e2b_javascript_sdk_runs_code_and_files() {
    let server = E2bServer::start(ServerConfig::default()).await;
    let home = soulbox::default_home().expect("SOULBOX_HOME");
    let prefix = home.join("clients/e2b-js");
    assert!(
        prefix.join("node_modules/@e2b/code-interpreter").exists(),
        "{} is missing: run scripts/setup.sh (it installs the E2B JavaScript SDK)",
        prefix.display()
    );
    let mut command = Command::new("node");
    command
        .args(["--input-type=module", "-e", include_str!("sdk.mjs")])
        .current_dir(&prefix)
        .env("E2B_API_URL", &server.url)
        .env("E2B_SANDBOX_URL", &server.url)
        .env("E2B_API_KEY", TOKEN)
        .env_remove("E2B_DEBUG");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let out: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(out["answer"], "42");
    assert_eq!(out["seen"], serde_json::json!(["l 0\n", "l 1\n"]));
    assert_eq!(out["png"], 1);
    assert_eq!(out["err"], "ZeroDivisionError");
    assert_eq!(out["read"], "hello js");
    assert_eq!(out["list"], serde_json::json!(["a.txt"]));
    assert!(
        out["cmd"].as_str().unwrap_or("").contains("allow_native"),
        "{}",
        out["cmd"]
    );
    assert_eq!(out["info"], "running");
    assert_eq!(out["killed"], true);
    assert_eq!(server.manager.sandbox_count(), 0);
}
