//! The code interpreter's API: `/execute` streams a cell's output as newline-delimited JSON
//! (stdout/stderr chunks as they come, then results, an error, the execution count), and
//! `/contexts` manages contexts. A context is one SoulBox session (Python, JavaScript or
//! Ruby); each language has a default context, made on first use.
//!
//! Display data: a Python cell's open matplotlib figures are rendered to PNG after the cell
//! (what Jupyter's inline backend does) and sent as results with `png`; `plt.show()` only
//! leaves them open. The cell's final expression is the main result's `text`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use soulbox::{ExecutionResult, Language, Session, Status, StreamOutput};
use tokio::sync::mpsc;

use super::control::parse_json;
use super::{E2b, Failure, HOME, Meta, Shape, engine_failure, rfc3339};
use crate::figures::{PYTHON_SETUP, figures_png};
use crate::manager::Admission;

/// `/execute` carries the access token as `X-Access-Token`; `/contexts` calls only as
/// `E2B-Traffic-Access-Token` (the SDK sends both the same way E2B issues them).
const INTERPRETER_TOKEN: &[&str] = &["X-Access-Token", "E2B-Traffic-Access-Token"];

pub(crate) fn routes() -> Router<E2b> {
    Router::new()
        .route("/execute", post(execute))
        .route("/contexts", post(create_context).get(list_contexts))
        .route("/contexts/{id}", delete(remove_context))
        .route("/contexts/{id}/restart", post(restart_context))
        .route("/contexts/{id}/", get(unknown_context))
}

/// A sandbox's contexts.
#[derive(Default)]
pub(crate) struct Contexts {
    inner: tokio::sync::Mutex<ContextMap>,
}

#[derive(Default)]
struct ContextMap {
    by_id: HashMap<String, Arc<Context>>,
    defaults: HashMap<Language, String>,
}

/// One context: a session and its cell counter. Cells of a context run one at a time.
pub(crate) struct Context {
    id: String,
    language: Language,
    session_id: String,
    run: Arc<tokio::sync::Mutex<RunState>>,
}

#[derive(Default)]
struct RunState {
    count: u64,
    /// The last cell was stopped halfway (its client went away): restart before the next.
    interrupted: bool,
}

impl Context {
    fn json(&self) -> Value {
        json!({"id": self.id, "language": language_name(self.language), "cwd": HOME})
    }
}

fn language_name(language: Language) -> &'static str {
    match language {
        Language::JavaScript => "javascript",
        Language::Ruby => "ruby",
        _ => "python",
    }
}

/// A context language as the SDK names it; `None` is Python.
fn parse_language(name: Option<&str>) -> Result<Language, Failure> {
    let name = name.map(|n| n.trim().to_ascii_lowercase());
    match name.as_deref() {
        None | Some("") | Some("python") | Some("python3") => Ok(Language::Python),
        Some("javascript") | Some("js") => Ok(Language::JavaScript),
        Some("ruby") => Ok(Language::Ruby),
        Some(other) => Err(Failure::bad_request(format!(
            "language `{other}` is not available in SoulBox's code interpreter: contexts run \
             python, javascript or ruby"
        ))),
    }
}

async fn new_context(e2b: &E2b, meta: &Meta, language: Language) -> Result<Arc<Context>, Failure> {
    let (session_id, session) = e2b
        .manager
        .open_session(&meta.tenant, &meta.id, language)
        .await?;
    if language == Language::Python {
        let setup = session
            .execute(PYTHON_SETUP)
            .await
            .map_err(|e| engine_failure(&e))?;
        if setup.status != Status::Ok {
            tracing::warn!(sandbox = %meta.id, stderr = %setup.stderr, "e2b: python context setup failed");
        }
    }
    Ok(Arc::new(Context {
        id: uuid::Uuid::new_v4().to_string(),
        language,
        session_id,
        run: Default::default(),
    }))
}

/// The context a cell runs in: the one named, or the language's default (made on first use).
async fn context_for(
    e2b: &E2b,
    meta: &Meta,
    context_id: Option<&str>,
    language: Option<&str>,
) -> Result<Arc<Context>, Failure> {
    let mut map = meta.contexts.inner.lock().await;
    if let Some(id) = context_id {
        return map.by_id.get(id).cloned().ok_or_else(|| {
            Failure::new(
                StatusCode::NOT_FOUND,
                format!("context `{id}` does not exist"),
            )
        });
    }
    let language = parse_language(language)?;
    if let Some(ctx) = map.defaults.get(&language).and_then(|id| map.by_id.get(id)) {
        return Ok(ctx.clone());
    }
    let ctx = new_context(e2b, meta, language).await?;
    map.defaults.insert(language, ctx.id.clone());
    map.by_id.insert(ctx.id.clone(), ctx.clone());
    Ok(ctx)
}

#[derive(Deserialize)]
struct NewContext {
    language: Option<String>,
    cwd: Option<String>,
}

async fn create_context(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    super::Body(body): super::Body,
) -> Result<Response, Failure> {
    let (meta, _) = e2b.sandbox_side(&headers, INTERPRETER_TOKEN, Shape::Rest)?;
    let req: NewContext = parse_json(&body)?;
    if let Some(cwd) = &req.cwd
        && !super::workspace_path(cwd)?.is_empty()
    {
        return Err(Failure::bad_request(format!(
            "cwd `{cwd}`: SoulBox contexts run in {HOME} (the workspace) only"
        )));
    }
    let language = parse_language(req.language.as_deref())?;
    let ctx = new_context(&e2b, &meta, language).await?;
    meta.contexts
        .inner
        .lock()
        .await
        .by_id
        .insert(ctx.id.clone(), ctx.clone());
    Ok(axum::Json(ctx.json()).into_response())
}

async fn list_contexts(State(e2b): State<E2b>, headers: HeaderMap) -> Result<Response, Failure> {
    let (meta, _) = e2b.sandbox_side(&headers, INTERPRETER_TOKEN, Shape::Rest)?;
    let map = meta.contexts.inner.lock().await;
    let mut list: Vec<Value> = map.by_id.values().map(|c| c.json()).collect();
    list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(axum::Json(Value::Array(list)).into_response())
}

async fn remove_context(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Failure> {
    let (meta, _) = e2b.sandbox_side(&headers, INTERPRETER_TOKEN, Shape::Rest)?;
    let mut map = meta.contexts.inner.lock().await;
    let ctx = map.by_id.remove(&id).ok_or_else(|| {
        Failure::new(
            StatusCode::NOT_FOUND,
            format!("context `{id}` does not exist"),
        )
    })?;
    map.defaults.retain(|_, default| *default != id);
    drop(map);
    let _ = e2b
        .manager
        .close_session(&meta.tenant, &meta.id, &ctx.session_id);
    Ok(StatusCode::NO_CONTENT)
}

async fn restart_context(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Failure> {
    let (meta, _) = e2b.sandbox_side(&headers, INTERPRETER_TOKEN, Shape::Rest)?;
    let ctx = context_for(&e2b, &meta, Some(&id), None).await?;
    let mut run = ctx.run.lock().await;
    let session = e2b
        .manager
        .session(&meta.tenant, &meta.id, &ctx.session_id)?;
    restart(&session).await?;
    run.interrupted = false;
    Ok(StatusCode::NO_CONTENT)
}

async fn unknown_context(Path(id): Path<String>) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        format!("context `{id}` has no such endpoint"),
    )
}

async fn restart(session: &Session) -> Result<(), Failure> {
    session.reset().await.map_err(|e| engine_failure(&e))?;
    if session.language() == Language::Python {
        session
            .execute(PYTHON_SETUP)
            .await
            .map_err(|e| engine_failure(&e))?;
    }
    Ok(())
}

#[derive(Deserialize)]
struct ExecuteRequest {
    code: String,
    context_id: Option<String>,
    language: Option<String>,
    env_vars: Option<HashMap<String, String>>,
}

/// One NDJSON line. Besides `\n`, Python's `str.splitlines` (which the SDK may split with)
/// breaks at U+0085, U+2028 and U+2029: those are escaped too (serde_json already escapes
/// the ASCII control characters).
fn line(value: &Value) -> Bytes {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    let mut text = text
        .replace('\u{85}', "\\u0085")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    text.push('\n');
    Bytes::from(text)
}

fn output_line(kind: &str, text: &str) -> Bytes {
    line(&json!({"type": kind, "text": text, "timestamp": rfc3339(SystemTime::now())}))
}

/// Decodes UTF-8 across chunk boundaries: a character split between two chunks is held back.
#[derive(Default)]
struct Utf8Carry(Vec<u8>);

impl Utf8Carry {
    fn push(&mut self, chunk: &[u8]) -> String {
        self.0.extend_from_slice(chunk);
        let valid = match std::str::from_utf8(&self.0) {
            Ok(_) => self.0.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.0.len(),
        };
        let rest = self.0.split_off(valid);
        let text = String::from_utf8_lossy(&self.0).into_owned();
        self.0 = rest;
        text
    }

    fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.0).into_owned();
        self.0.clear();
        text
    }
}

async fn execute(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    super::Body(body): super::Body,
) -> Result<Response, Failure> {
    let (meta, _) = e2b.sandbox_side(&headers, INTERPRETER_TOKEN, Shape::Rest)?;
    let req: ExecuteRequest = parse_json(&body)?;
    if req.env_vars.as_ref().is_some_and(|e| !e.is_empty()) {
        return Err(Failure::bad_request(
            "per-cell env_vars are not supported by SoulBox; pass envVars when creating the sandbox",
        ));
    }
    if req.context_id.is_some() && req.language.is_some() {
        return Err(Failure::bad_request(
            "give either context_id or language, not both",
        ));
    }
    let ctx = context_for(
        &e2b,
        &meta,
        req.context_id.as_deref(),
        req.language.as_deref(),
    )
    .await?;
    let run = ctx.run.clone().lock_owned().await;
    let session = e2b
        .manager
        .session(&meta.tenant, &meta.id, &ctx.session_id)?;
    let admission = e2b.manager.admit(&meta.tenant, &meta.id).await?;
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(run_cell(session, run, req.code, tx, admission));
    let body = super::channel_body(rx);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response())
}

/// Why a cell ended without a normal exit, as an error name.
fn limit_name(status: Status) -> &'static str {
    match status {
        Status::Timeout => "TimeoutError",
        Status::MemoryLimit => "MemoryError",
        Status::FuelExhausted => "FuelExhaustedError",
        Status::OutputLimit => "OutputLimitError",
        Status::DiskLimit => "DiskLimitError",
        Status::Trap => "Trap",
        Status::CompileError => "CompileError",
        Status::Killed => "KilledError",
        Status::Ok | Status::Error => "Error",
    }
}

/// The exception's name and message from an error's stderr: Python's `Name: message` last
/// line, JavaScript's `Name: message` first line, Ruby's `...: message (Name)`.
pub(crate) fn exception(language: Language, stderr: &str) -> (String, String) {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let pick = match language {
        Language::JavaScript => lines.first(),
        _ => lines.last(),
    };
    let Some(text) = pick else {
        return ("Error".to_owned(), String::new());
    };
    let text = text.trim();
    if language == Language::Ruby
        && let Some(open) = text.rfind(" (")
        && text.ends_with(')')
    {
        let name = &text[open + 2..text.len() - 1];
        let message = text[..open]
            .rsplit_once(": ")
            .map_or(&text[..open], |(_, m)| m);
        return (name.to_owned(), message.to_owned());
    }
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    };
    match text.split_once(':') {
        Some((name, message)) if is_name(name.trim()) => {
            let name = name.trim().rsplit('.').next().unwrap_or(name).to_owned();
            (name, message.trim().to_owned())
        }
        _ if is_name(text) => (text.to_owned(), String::new()),
        _ => ("Error".to_owned(), text.to_owned()),
    }
}

/// Runs one cell and writes its NDJSON lines to `tx`. A client that goes away (a send fails)
/// stops the cell; the context is restarted before its next cell.
async fn run_cell(
    session: Arc<Session>,
    mut run: tokio::sync::OwnedMutexGuard<RunState>,
    code: String,
    tx: mpsc::Sender<Bytes>,
    admission: Admission,
) {
    let _admission = admission;
    let language = session.language();
    if run.interrupted || session.is_poisoned().await {
        let note = "[soulbox] the previous cell in this context was stopped before it finished \
                    (timeout or disconnect); the context was restarted and its earlier state is gone\n";
        if let Err(f) = restart(&session).await {
            let _ = tx
                .send(error_line("ContextRestartError", &f.message, ""))
                .await;
            let _ = tx.send(line(&json!({"type": "end_of_execution"}))).await;
            return;
        }
        run.interrupted = false;
        if tx.send(output_line("stderr", note)).await.is_err() {
            return;
        }
    }
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let cell = session.execute_streaming(code.into_bytes(), events_tx);
    let mut cell = std::pin::pin!(cell);
    // A line the SDK ignores, sent while a cell is quiet: writing it is how a client that went
    // away is noticed (HTTP/1.1 gives no other sign until the next write).
    let mut keepalive = tokio::time::interval(Duration::from_secs(1));
    keepalive.tick().await;
    let (mut out, mut err) = (Utf8Carry::default(), Utf8Carry::default());
    let outcome = loop {
        let next = tokio::select! {
            biased;
            Some(event) = events.recv() => match event {
                StreamOutput::Stdout(b) => output_line("stdout", &out.push(&b)),
                StreamOutput::Stderr(b) => output_line("stderr", &err.push(&b)),
                _ => continue,
            },
            result = &mut cell => break result,
            _ = keepalive.tick() => line(&json!({"type": "keepalive"})),
        };
        if tx.send(next).await.is_err() {
            run.interrupted = true;
            return;
        }
    };
    let mut lines = Vec::new();
    while let Ok(event) = events.try_recv() {
        match event {
            StreamOutput::Stdout(b) => lines.push(output_line("stdout", &out.push(&b))),
            StreamOutput::Stderr(b) => lines.push(output_line("stderr", &err.push(&b))),
            _ => {}
        }
    }
    for (kind, carry) in [("stdout", &mut out), ("stderr", &mut err)] {
        let rest = carry.finish();
        if !rest.is_empty() {
            lines.push(output_line(kind, &rest));
        }
    }
    run.count += 1;
    match outcome {
        Ok(result) => {
            if language == Language::Python && matches!(result.status, Status::Ok | Status::Error) {
                lines.extend(figures(&session).await);
            }
            lines.extend(result_lines(language, &result));
        }
        Err(e) => lines.push(error_line(e.kind().name(), &e.to_string(), "")),
    }
    lines.push(line(
        &json!({"type": "number_of_executions", "execution_count": run.count}),
    ));
    lines.push(line(&json!({"type": "end_of_execution"})));
    for l in lines {
        if tx.send(l).await.is_err() {
            return;
        }
    }
}

fn error_line(name: &str, value: &str, traceback: &str) -> Bytes {
    line(&json!({"type": "error", "name": name, "value": value, "traceback": traceback}))
}

fn result_lines(language: Language, result: &ExecutionResult) -> Vec<Bytes> {
    let mut lines = Vec::new();
    match result.status {
        Status::Ok => {
            if let Some(value) = &result.value {
                lines.push(line(
                    &json!({"type": "result", "text": value, "is_main_result": true}),
                ));
            }
        }
        Status::Error => {
            let (name, value) = exception(language, &result.stderr);
            lines.push(error_line(&name, &value, &result.stderr));
        }
        other => {
            let why = result
                .error
                .clone()
                .unwrap_or_else(|| other.name().to_owned());
            lines.push(error_line(limit_name(other), &why, &result.stderr));
        }
    }
    lines
}

/// The open matplotlib figures as PNG results (nothing when the cell made none).
async fn figures(session: &Session) -> Vec<Bytes> {
    match figures_png(session).await {
        Ok(pngs) => pngs
            .into_iter()
            .map(|(png, text)| {
                line(&json!({
                    "type": "result",
                    "png": png,
                    "text": text,
                    "is_main_result": false,
                }))
            })
            .collect(),
        Err(e) => vec![output_line(
            "stderr",
            &format!("[soulbox] rendering the cell's figures failed: {e}\n"),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_exceptions_in_each_language() {
        let py = "Traceback (most recent call last):\n  File \"<cell>\", line 1\nZeroDivisionError: division by zero\n";
        assert_eq!(
            exception(Language::Python, py),
            ("ZeroDivisionError".into(), "division by zero".into())
        );
        let js = "ReferenceError: x is not defined\n    at <eval> (cell:1)\n";
        assert_eq!(
            exception(Language::JavaScript, js),
            ("ReferenceError".into(), "x is not defined".into())
        );
        let rb =
            "cell:1:in '<main>': undefined local variable or method 'x' for main (NameError)\n";
        assert_eq!(exception(Language::Ruby, rb).0, "NameError");
        assert_eq!(exception(Language::Python, "").0, "Error");
    }

    #[test]
    fn ndjson_lines_never_split_early() {
        let l = line(&json!({"text": "a\u{2028}b\u{85}c\nd\u{c}"}));
        let text = String::from_utf8_lossy(&l).into_owned();
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.ends_with('\n') && !text.contains('\u{2028}') && !text.contains('\u{85}'));
    }

    #[test]
    fn utf8_split_across_chunks_is_kept_whole() {
        let mut carry = Utf8Carry::default();
        let bytes = "é".as_bytes();
        assert_eq!(carry.push(&bytes[..1]), "");
        assert_eq!(carry.push(&bytes[1..]), "é");
    }
}
