//! `soulbox run --remote URL` and `soulbox repl --remote URL`: the same runs through a SoulBox
//! server, with the Rust client (`soulbox-client`).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use soulbox::{ExecutionRequest, ExecutionResult, SandboxConfig, Stdin};
use soulbox_client::{Client, RemoteSandbox};

/// Most bytes of our stdin sent to a remote guest (it travels in one message).
const MAX_REMOTE_STDIN: u64 = 8 * 1024 * 1024;

/// Connects with the token (from `--token` or `SOULBOX_TOKEN`).
pub(crate) async fn connect(url: &str, token: Option<&str>) -> Result<Client, String> {
    let mut connect = Client::connect(url);
    if let Some(token) = token {
        connect = connect.token(token);
    }
    connect.await.map_err(|e| e.to_string())
}

/// Creates a sandbox on the server for `config`, whose workspace directory (a host directory) is not sent:
/// its files are uploaded instead. Returns the sandbox and that directory.
pub(crate) async fn create(
    client: &Client,
    mut config: SandboxConfig,
) -> Result<(RemoteSandbox, Option<PathBuf>), String> {
    let local_workspace = config.persistent_storage.take();
    // As locally: a missing workspace directory is created.
    if let Some(dir) = &local_workspace {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let sandbox = client.create(config).await.map_err(|e| e.to_string())?;
    if let Some(dir) = &local_workspace
        && let Err(e) = upload(&sandbox, dir, dir).await
    {
        let _ = sandbox.terminate().await;
        return Err(e);
    }
    Ok((sandbox, local_workspace))
}

/// Runs `request` in a new sandbox on the server at `url`, streaming output unless `json`.
pub(crate) async fn execute(
    url: &str,
    token: Option<&str>,
    config: SandboxConfig,
    mut request: ExecutionRequest,
    json: bool,
) -> Result<ExecutionResult, String> {
    if request.stdin == Stdin::Inherit {
        request.stdin = Stdin::Bytes(read_stdin()?);
    }
    let client = connect(url, token).await?;
    let (sandbox, local_workspace) = create(&client, config).await?;
    let outcome = async {
        let result = if json {
            sandbox.execute(request).await.map_err(|e| e.to_string())?
        } else {
            crate::stream::print_events(sandbox.stream(request))
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the server ended the run without a result")?
        };
        if let Some(dir) = &local_workspace {
            download(&sandbox, &result, dir).await?;
        }
        Ok(result)
    }
    .await;
    let _ = sandbox.terminate().await;
    outcome
}

fn read_stdin() -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_REMOTE_STDIN + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    if u64::try_from(data.len()).unwrap_or(u64::MAX) > MAX_REMOTE_STDIN {
        return Err(format!(
            "stdin is larger than the {MAX_REMOTE_STDIN} bytes sent to a remote run"
        ));
    }
    Ok(data)
}

/// Uploads the regular files under `dir` (links are not followed).
async fn upload(sandbox: &RemoteSandbox, root: &Path, dir: &Path) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
        let path = entry.path();
        if kind.is_dir() {
            Box::pin(upload(sandbox, root, &path)).await?;
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(root)
                .map_err(|_| format!("{} is outside {}", path.display(), root.display()))?;
            let name = relative
                .to_str()
                .ok_or_else(|| format!("{} is not UTF-8", relative.display()))?;
            let data =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            sandbox
                .write_file(name, data)
                .await
                .map_err(|e| format!("uploading {name}: {e}"))?;
        }
    }
    Ok(())
}

/// Downloads the run's artifacts into `dir`. A path the server sends is used only when it is
/// plainly relative (no `..`, no root): the server is not trusted to write anywhere else.
async fn download(
    sandbox: &RemoteSandbox,
    result: &ExecutionResult,
    dir: &Path,
) -> Result<(), String> {
    for artifact in &result.artifacts {
        let name = artifact.path.trim_start_matches("/work/");
        let relative = Path::new(name);
        if relative.as_os_str().is_empty()
            || !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(format!(
                "the server named an artifact `{}`; not writing it",
                artifact.path
            ));
        }
        let data = sandbox
            .read_file(name)
            .await
            .map_err(|e| format!("downloading {name}: {e}"))?;
        let target = dir.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, data)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    Ok(())
}
