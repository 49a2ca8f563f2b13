//! envd, the in-sandbox daemon's API: `/health`, `/files` (upload and download),
//! `filesystem.Filesystem/*` (unary Connect RPC, JSON codec) and `process.Process/*`
//! (`Start` streams start/data/end events as Connect frames). Files go through the engine's
//! file API; commands run on the native backend through the sandbox's one execution flow.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use soulbox::{ExecutionRequest, FileInfo, Language, Status, StreamOutput};
use tokio::sync::{mpsc, oneshot};

use super::control::parse_json;
use super::{E2b, Failure, Meta, Shape, engine_failure, lock, sdk_path, workspace_path};
use crate::manager::Entry;

/// Headers that carry a sandbox's access token on envd calls.
const ENVD_TOKEN: &[&str] = &["X-Access-Token"];
/// After refusing an over-cap upload, this much more of its body is read and dropped, so the
/// client gets to read the refusal instead of a connection reset mid-upload.
const DRAIN_MAX: u64 = 512 * 1024 * 1024;
/// Connect frame flag of the end-of-stream message.
const END_STREAM: u8 = 2;

pub(crate) fn routes(_state: &E2b) -> Router<E2b> {
    Router::new()
        .route("/health", get(health))
        .route(
            "/files",
            get(download)
                .post(upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/filesystem.Filesystem/{method}", post(filesystem))
        .route("/process.Process/{method}", post(process))
}

async fn health(State(e2b): State<E2b>, headers: HeaderMap) -> Result<StatusCode, Failure> {
    e2b.sandbox_side(&headers, ENVD_TOKEN, Shape::Rest)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct PathQuery {
    path: Option<String>,
}

async fn download(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    Query(query): Query<PathQuery>,
) -> Result<Response, Failure> {
    let (_, entry) = e2b.sandbox_side(&headers, ENVD_TOKEN, Shape::Rest)?;
    let path = query
        .path
        .ok_or_else(|| Failure::bad_request("missing the `path` query parameter"))?;
    let rel = workspace_path(&path)?;
    let data = entry
        .sandbox()
        .read_file(&rel)
        .await
        .map_err(|e| engine_failure(&e))?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Bytes::from(data),
    )
        .into_response())
}

/// How many bytes one upload may have: the server's `max_upload_bytes` and what is left of the
/// sandbox's disk budget (the file being replaced does not count as used).
async fn upload_limit(e2b: &E2b, entry: &Entry, target: &str) -> Result<(u64, String), Failure> {
    let sandbox = entry.sandbox();
    let listed = sandbox
        .list_files("")
        .await
        .map_err(|e| engine_failure(&e))?;
    let used: u64 = listed
        .iter()
        .filter(|f| !f.is_dir && f.path != target)
        .map(|f| f.size)
        .sum();
    let budget = sandbox.config().max_disk_bytes.saturating_sub(used);
    let cap = e2b.manager.config().max_upload_bytes;
    let why = format!(
        "the upload is larger than the {} bytes allowed (the server's max_upload_bytes {cap}; the \
         sandbox's max_disk_bytes {} minus {used} bytes in use)",
        budget.min(cap),
        sandbox.config().max_disk_bytes
    );
    Ok((budget.min(cap), why))
}

fn too_large(why: String) -> Failure {
    Failure::new(StatusCode::PAYLOAD_TOO_LARGE, why)
}

fn len(data: &[u8]) -> u64 {
    u64::try_from(data.len()).unwrap_or(u64::MAX)
}

async fn upload(
    State(e2b): State<E2b>,
    Query(query): Query<PathQuery>,
    request: Request,
) -> Result<Response, Failure> {
    let headers = request.headers().clone();
    let (_, entry) = e2b.sandbox_side(&headers, ENVD_TOKEN, Shape::Rest)?;
    if headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity")
    {
        return Err(Failure::bad_request(
            "compressed uploads (Content-Encoding) are not supported by SoulBox; upload without gzip",
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut written = Vec::new();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &e2b)
            .await
            .map_err(|e| Failure::bad_request(format!("malformed multipart body: {e}")))?;
        let mut fields = 0usize;
        loop {
            let field = multipart
                .next_field()
                .await
                .map_err(|e| Failure::bad_request(format!("malformed multipart body: {e}")))?;
            let Some(mut field) = field else { break };
            fields += 1;
            let path = match (&query.path, field.file_name()) {
                (Some(path), _) if fields == 1 => path.clone(),
                (_, Some(name)) => name.to_owned(),
                _ => {
                    return Err(Failure::bad_request(
                        "each multipart file part needs a file name (its path)",
                    ));
                }
            };
            let rel = workspace_path(&path)?;
            let (limit, why) = upload_limit(&e2b, &entry, &rel).await?;
            let mut data = Vec::new();
            let mut over = false;
            let mut seen = 0u64;
            while let Some(chunk) = field
                .chunk()
                .await
                .map_err(|e| Failure::bad_request(format!("malformed multipart body: {e}")))?
            {
                seen = seen.saturating_add(len(&chunk));
                if seen > limit {
                    over = true;
                    data = Vec::new();
                    if seen > DRAIN_MAX {
                        break;
                    }
                } else {
                    data.extend_from_slice(&chunk);
                }
            }
            if over {
                return Err(too_large(why));
            }
            entry
                .sandbox()
                .write_file(&rel, &data)
                .await
                .map_err(|e| engine_failure(&e))?;
            written.push(rel);
        }
    } else {
        let path = query.path.ok_or_else(|| {
            Failure::bad_request("missing the `path` query parameter naming the file to write")
        })?;
        let rel = workspace_path(&path)?;
        let (limit, why) = upload_limit(&e2b, &entry, &rel).await?;
        let mut body = request.into_body().into_data_stream();
        let mut data = Vec::new();
        let mut seen = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk
                .map_err(|e| Failure::bad_request(format!("reading the upload failed: {e}")))?;
            seen = seen.saturating_add(len(&chunk));
            if seen > limit {
                data = Vec::new();
                if seen > DRAIN_MAX {
                    break;
                }
            } else {
                data.extend_from_slice(&chunk);
            }
        }
        if seen > limit {
            return Err(too_large(why));
        }
        entry
            .sandbox()
            .write_file(&rel, &data)
            .await
            .map_err(|e| engine_failure(&e))?;
        written.push(rel);
    }
    if written.is_empty() {
        return Err(Failure::bad_request(
            "the multipart upload has no file part",
        ));
    }
    let infos: Vec<Value> = written
        .iter()
        .map(|rel| {
            json!({
                "name": rel.rsplit('/').next().unwrap_or(rel),
                "type": "file",
                "path": sdk_path(rel),
            })
        })
        .collect();
    Ok(axum::Json(Value::Array(infos)).into_response())
}

// ---- Connect RPC ---------------------------------------------------------------------------

/// Refuses a request whose Content-Type does not start with `expected`, saying `why` and what
/// was sent (415, Connect's error shape).
fn require_content_type(headers: &HeaderMap, expected: &str, why: &str) -> Result<(), Failure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with(expected) {
        return Ok(());
    }
    Err(Failure::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("{why}, not `{content_type}`"),
    ))
}

/// A unary Connect call's JSON body.
fn unary_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Failure> {
    require_content_type(
        headers,
        "application/json",
        "SoulBox speaks Connect RPC with the JSON codec: Content-Type must be application/json",
    )?;
    parse_json(body)
}

/// The one message of a server-streaming call's request body (`application/connect+json`:
/// a flag byte, a 4-byte big-endian length, the JSON).
fn stream_request<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Failure> {
    require_content_type(
        headers,
        "application/connect+json",
        "a streaming call must be sent as application/connect+json",
    )?;
    let Some((&flags, rest)) = body.split_first() else {
        return Err(Failure::bad_request(
            "empty request: expected one Connect frame",
        ));
    };
    if flags & 1 != 0 {
        return Err(Failure::bad_request(
            "compressed Connect frames are not supported",
        ));
    }
    let (len_bytes, rest) = rest.split_at_checked(4).ok_or_else(|| {
        Failure::bad_request("malformed Connect frame: shorter than its 5-byte header")
    })?;
    let mut be = [0u8; 4];
    be.copy_from_slice(len_bytes);
    let n = usize::try_from(u32::from_be_bytes(be)).unwrap_or(usize::MAX);
    let message = rest.get(..n).ok_or_else(|| {
        Failure::bad_request(format!(
            "malformed Connect frame: it announces {n} bytes but {} follow",
            rest.len()
        ))
    })?;
    parse_json(message)
}

/// One Connect frame.
fn frame(flags: u8, message: &Value) -> Bytes {
    let json = serde_json::to_vec(message).unwrap_or_else(|_| b"{}".to_vec());
    let mut out = Vec::with_capacity(json.len() + 5);
    out.push(flags);
    out.extend_from_slice(&u32::try_from(json.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&json);
    Bytes::from(out)
}

fn end_frame(error: Option<&Failure>) -> Bytes {
    let body = match error {
        Some(f) => json!({"error": {"code": f.connect_code(), "message": f.message}}),
        None => json!({}),
    };
    frame(END_STREAM, &body)
}

/// A streaming response: `frames` as they come, already ended by the producer.
fn stream_response(rx: mpsc::Receiver<Bytes>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/connect+json")],
        super::channel_body(rx),
    )
        .into_response()
}

/// A streaming call refused before it started: HTTP 200 and an end-of-stream error frame.
fn stream_failure(failure: &Failure) -> Response {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(end_frame(Some(failure)));
    stream_response(rx)
}

// ---- filesystem.Filesystem -------------------------------------------------------------------

fn entry_json(rel: &str, is_dir: bool, size: u64) -> Value {
    let name = if rel.is_empty() {
        "user"
    } else {
        rel.rsplit('/').next().unwrap_or(rel)
    };
    json!({
        "name": name,
        "type": if is_dir { "FILE_TYPE_DIRECTORY" } else { "FILE_TYPE_FILE" },
        "path": sdk_path(rel),
        "size": size,
        "mode": if is_dir { 0o755 } else { 0o644 },
        "permissions": if is_dir { "drwxr-xr-x" } else { "-rw-r--r--" },
        "owner": "user",
        "group": "user",
    })
}

fn info_json(info: &FileInfo) -> Value {
    entry_json(&info.path, info.is_dir, info.size)
}

/// The entry at workspace path `rel`, or `None` when nothing is there.
async fn stat(entry: &Entry, rel: &str) -> Result<Option<Value>, Failure> {
    if rel.is_empty() {
        return Ok(Some(entry_json("", true, 0)));
    }
    let parent = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
    match entry.sandbox().list_files(parent).await {
        Ok(files) => Ok(files.iter().find(|f| f.path == rel).map(info_json)),
        Err(e) if e.kind() == soulbox::ErrorKind::FileNotFound => Ok(None),
        Err(e) => Err(engine_failure(&e)),
    }
}

#[derive(Deserialize)]
struct PathBody {
    path: String,
    depth: Option<u32>,
}

#[derive(Deserialize)]
struct MoveBody {
    source: String,
    destination: String,
}

async fn filesystem(
    State(e2b): State<E2b>,
    Path(method): Path<String>,
    headers: HeaderMap,
    super::Body(body): super::Body,
) -> Response {
    let result = async {
        let (_, entry) = e2b.sandbox_side(&headers, ENVD_TOKEN, Shape::Connect)?;
        let not_found = |path: &str| {
            Failure::new(
                StatusCode::NOT_FOUND,
                format!("path `{path}` does not exist"),
            )
        };
        let reply = match method.as_str() {
            "ListDir" => {
                let req: PathBody = unary_body(&headers, &body)?;
                let rel = workspace_path(&req.path)?;
                let depth = req.depth.unwrap_or(1).max(1);
                let files = entry.sandbox().list_files(&rel).await.map_err(|e| {
                    if e.kind() == soulbox::ErrorKind::FileNotFound {
                        not_found(&req.path)
                    } else {
                        engine_failure(&e)
                    }
                })?;
                let base = if rel.is_empty() {
                    0
                } else {
                    rel.split('/').count()
                };
                let entries: Vec<Value> = files
                    .iter()
                    .filter(|f| f.path != rel)
                    .filter(|f| f.path.split('/').count() - base <= depth as usize)
                    .map(info_json)
                    .collect();
                json!({ "entries": entries })
            }
            "Stat" => {
                let req: PathBody = unary_body(&headers, &body)?;
                let rel = workspace_path(&req.path)?;
                let found = stat(&entry, &rel)
                    .await?
                    .ok_or_else(|| not_found(&req.path))?;
                json!({ "entry": found })
            }
            "MakeDir" => {
                let req: PathBody = unary_body(&headers, &body)?;
                let rel = workspace_path(&req.path)?;
                if stat(&entry, &rel).await?.is_some() {
                    return Err(Failure::new(
                        StatusCode::CONFLICT,
                        format!("`{}` already exists", req.path),
                    ));
                }
                entry
                    .sandbox()
                    .make_dir(&rel)
                    .await
                    .map_err(|e| engine_failure(&e))?;
                json!({ "entry": entry_json(&rel, true, 0) })
            }
            "Remove" => {
                let req: PathBody = unary_body(&headers, &body)?;
                let rel = workspace_path(&req.path)?;
                entry
                    .sandbox()
                    .remove_file(&rel)
                    .await
                    .map_err(|e| engine_failure(&e))?;
                json!({})
            }
            "Move" => {
                let req: MoveBody = unary_body(&headers, &body)?;
                let from = workspace_path(&req.source)?;
                let to = workspace_path(&req.destination)?;
                entry
                    .sandbox()
                    .rename_file(&from, &to)
                    .await
                    .map_err(|e| engine_failure(&e))?;
                let moved = stat(&entry, &to)
                    .await?
                    .ok_or_else(|| not_found(&req.destination))?;
                json!({ "entry": moved })
            }
            other => {
                return Err(Failure::new(
                    StatusCode::NOT_IMPLEMENTED,
                    format!(
                        "filesystem.Filesystem/{other} is not supported by SoulBox (ListDir, \
                         Stat, MakeDir, Remove and Move are; directory watching is not)"
                    ),
                ));
            }
        };
        Ok::<_, Failure>(axum::Json(reply).into_response())
    }
    .await;
    result.unwrap_or_else(|f| f.shaped(Shape::Connect).into_response())
}

// ---- process.Process ---------------------------------------------------------------------------

/// The commands running in one sandbox.
#[derive(Default)]
pub(crate) struct Processes {
    next_pid: AtomicU32,
    running: Mutex<HashMap<u32, Running>>,
}

struct Running {
    tag: Option<String>,
    config: Value,
    kill: Option<oneshot::Sender<()>>,
}

#[derive(Deserialize)]
struct ProcessConfig {
    cmd: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    envs: HashMap<String, String>,
    cwd: Option<String>,
}

#[derive(Deserialize)]
struct StartRequest {
    process: ProcessConfig,
    tag: Option<String>,
    #[serde(default)]
    stdin: Option<bool>,
    pty: Option<Value>,
}

#[derive(Deserialize)]
struct Selector {
    pid: Option<u32>,
    tag: Option<String>,
}

#[derive(Deserialize)]
struct SignalRequest {
    process: Selector,
    signal: Option<String>,
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The shell script a process config runs: `bash -l -c SCRIPT` (what `commands.run` sends) is
/// the script itself; any other command line is quoted into one.
fn script_of(config: &ProcessConfig) -> String {
    let shell = matches!(
        config.cmd.as_str(),
        "/bin/bash" | "bash" | "/bin/sh" | "sh" | "/usr/bin/bash"
    );
    if shell {
        let args: Vec<&str> = config
            .args
            .iter()
            .map(String::as_str)
            .filter(|a| *a != "-l" && *a != "--login")
            .collect();
        if let ["-c", script] = args.as_slice() {
            return (*script).to_owned();
        }
    }
    std::iter::once(&config.cmd)
        .chain(config.args.iter())
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn process(
    State(e2b): State<E2b>,
    Path(method): Path<String>,
    headers: HeaderMap,
    super::Body(body): super::Body,
) -> Response {
    match method.as_str() {
        "Start" => match start(&e2b, &headers, &body).await {
            Ok(response) => response,
            Err(f) => stream_failure(&f),
        },
        "Connect" | "StreamInput" => stream_failure(&Failure::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "process.Process/{method} is not supported by SoulBox: a command's output \
                 streams only to the call that started it, and stdin is not streamed"
            ),
        )),
        _ => unary_process(&e2b, &method, &headers, &body)
            .await
            .unwrap_or_else(|f| f.shaped(Shape::Connect).into_response()),
    }
}

async fn unary_process(
    e2b: &E2b,
    method: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Failure> {
    let (meta, _) = e2b.sandbox_side(headers, ENVD_TOKEN, Shape::Connect)?;
    let reply = match method {
        "List" => {
            let running = lock(&meta.processes.running);
            let processes: Vec<Value> = running
                .iter()
                .map(|(pid, r)| {
                    let mut info = json!({"pid": pid, "config": r.config});
                    if let Some(tag) = &r.tag {
                        info["tag"] = json!(tag);
                    }
                    info
                })
                .collect();
            json!({ "processes": processes })
        }
        "SendSignal" => {
            let req: SignalRequest = unary_body(headers, body)?;
            let signal = req.signal.unwrap_or_default();
            if signal != "SIGNAL_SIGKILL" && signal != "SIGNAL_SIGTERM" {
                return Err(Failure::bad_request(format!(
                    "signal `{signal}` is not supported; SIGKILL and SIGTERM end the command"
                )));
            }
            let mut running = lock(&meta.processes.running);
            let pid = match (req.process.pid, &req.process.tag) {
                (Some(pid), _) => Some(pid),
                (None, Some(tag)) => running
                    .iter()
                    .find(|(_, r)| r.tag.as_deref() == Some(tag))
                    .map(|(pid, _)| *pid),
                (None, None) => None,
            };
            let kill = pid
                .and_then(|pid| running.get_mut(&pid))
                .and_then(|r| r.kill.take())
                .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "no such running process"))?;
            let _ = kill.send(());
            json!({})
        }
        "SendInput" | "CloseStdin" | "Update" => {
            return Err(Failure::new(
                StatusCode::NOT_IMPLEMENTED,
                format!(
                    "process.Process/{method} is not supported by SoulBox: commands get no \
                     interactive stdin and no terminal"
                ),
            ));
        }
        other => {
            return Err(Failure::new(
                StatusCode::NOT_IMPLEMENTED,
                format!("process.Process/{other} does not exist"),
            ));
        }
    };
    Ok(axum::Json(reply).into_response())
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

async fn start(e2b: &E2b, headers: &HeaderMap, body: &[u8]) -> Result<Response, Failure> {
    let (meta, entry) = e2b.sandbox_side(headers, ENVD_TOKEN, Shape::Connect)?;
    let req: StartRequest = stream_request(headers, body)?;
    if req.pty.is_some() {
        return Err(Failure::new(
            StatusCode::NOT_IMPLEMENTED,
            "terminals (pty) are not supported by SoulBox",
        ));
    }
    if req.stdin == Some(true) {
        return Err(Failure::new(
            StatusCode::NOT_IMPLEMENTED,
            "interactive stdin for commands is not supported by SoulBox",
        ));
    }
    if let Some(cwd) = &req.process.cwd
        && !workspace_path(cwd)?.is_empty()
    {
        return Err(Failure::bad_request(format!(
            "cwd `{cwd}`: commands run in {} (the workspace) only",
            super::HOME
        )));
    }
    if !e2b.manager.config().allow_native {
        return Err(Failure::new(
            StatusCode::PRECONDITION_FAILED,
            "commands run on SoulBox's native backend (namespaces, seccomp, Landlock, cgroups), \
             which this server disables (allow_native = false in its config); only code \
             (run_code) and files are available",
        ));
    }
    let script = script_of(&req.process);
    let mut request = ExecutionRequest::new(Language::Shell, script.into_bytes());
    let mut env: Vec<(String, String)> = meta
        .env_vars
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend(req.process.envs.iter().map(|(k, v)| (k.clone(), v.clone())));
    request.env = env;
    let admission = e2b.manager.admit(&meta.tenant, &meta.id).await?;
    let pid = meta.processes.next_pid.fetch_add(1, Ordering::SeqCst) + 1;
    let (kill_tx, kill_rx) = oneshot::channel();
    let config = json!({
        "cmd": req.process.cmd,
        "args": req.process.args,
        "envs": req.process.envs,
        "cwd": req.process.cwd,
    });
    lock(&meta.processes.running).insert(
        pid,
        Running {
            tag: req.tag,
            config,
            kill: Some(kill_tx),
        },
    );
    let events = entry.sandbox().stream(request);
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(run_command(meta, pid, events, tx, kill_rx, admission));
    Ok(stream_response(rx))
}

/// Drives one command: its events become frames; a dropped client or a kill stops it.
async fn run_command(
    meta: std::sync::Arc<Meta>,
    pid: u32,
    events: impl futures::Stream<Item = soulbox::Result<StreamOutput>> + Send + 'static,
    tx: mpsc::Sender<Bytes>,
    mut kill: oneshot::Receiver<()>,
    admission: crate::manager::Admission,
) {
    let _admission = admission;
    let started = frame(0, &json!({"event": {"start": {"pid": pid}}}));
    let mut events = std::pin::pin!(events);
    let mut keepalive = tokio::time::interval(Duration::from_secs(2));
    keepalive.tick().await;
    let mut ended = None;
    if tx.send(started).await.is_ok() {
        loop {
            let out = tokio::select! {
                event = events.next() => match event {
                    Some(Ok(StreamOutput::Stdout(b))) => frame(0, &json!({"event": {"data": {"stdout": b64(&b)}}})),
                    Some(Ok(StreamOutput::Stderr(b))) => frame(0, &json!({"event": {"data": {"stderr": b64(&b)}}})),
                    Some(Ok(StreamOutput::Exit(result))) => {
                        let (code, exited, status) = match (result.status, result.exit_code) {
                            (Status::Ok | Status::Error, Some(code)) => (code, true, format!("exit status {code}")),
                            (Status::Killed, _) => (-1, false, "signal: killed".to_owned()),
                            (other, code) => (code.unwrap_or(-1), false, format!(
                                "{other}: {}", result.error.clone().unwrap_or_default())),
                        };
                        let mut end = json!({"exitCode": code, "exited": exited, "status": status});
                        if !exited {
                            end["error"] = json!(status);
                        }
                        let _ = tx.send(frame(0, &json!({"event": {"end": end}}))).await;
                        break;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => { ended = Some(engine_failure(&e)); break; }
                    None => break,
                },
                _ = &mut kill => {
                    let end = json!({"exitCode": -1, "exited": false, "status": "signal: killed", "error": "signal: killed"});
                    let _ = tx.send(frame(0, &json!({"event": {"end": end}}))).await;
                    break;
                }
                _ = keepalive.tick() => frame(0, &json!({"event": {"keepalive": {}}})),
            };
            if tx.send(out).await.is_err() {
                // The client went away: dropping the event stream stops the command.
                break;
            }
        }
    }
    lock(&meta.processes.running).remove(&pid);
    let _ = tx.send(end_frame(ended.as_ref())).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_become_scripts() {
        let run = ProcessConfig {
            cmd: "/bin/bash".into(),
            args: vec!["-l".into(), "-c".into(), "echo hi && ls".into()],
            envs: HashMap::new(),
            cwd: None,
        };
        assert_eq!(script_of(&run), "echo hi && ls");
        let other = ProcessConfig {
            cmd: "python3".into(),
            args: vec!["-c".into(), "print('a b')".into()],
            envs: HashMap::new(),
            cwd: None,
        };
        assert_eq!(script_of(&other), r#"python3 -c 'print('\''a b'\'')'"#);
    }

    #[test]
    fn reads_one_connect_frame_and_refuses_malformed_ones() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/connect+json"
                .parse()
                .unwrap_or_else(|_| axum::http::HeaderValue::from_static("x")),
        );
        let good = frame(0, &json!({"path": "a"}));
        let parsed: Result<PathBody, _> = stream_request(&headers, &good);
        assert_eq!(parsed.ok().map(|p| p.path), Some("a".to_owned()));
        for bad in [
            &b""[..],
            &b"\x00\x00\x00"[..],
            &b"\x00\x00\x00\x00\x09{}"[..],
            &b"\x01\x00\x00\x00\x02{}"[..],
        ] {
            let parsed: Result<PathBody, _> = stream_request(&headers, bad);
            assert_eq!(
                parsed.err().map(|f| f.status),
                Some(StatusCode::BAD_REQUEST)
            );
        }
    }
}
