//! E2B's control plane: create, list, get, kill, set timeout, connect, pause and resume.
//! `timeout` (E2B: the sandbox's lifetime in seconds) becomes the manager's idle timeout,
//! which every use extends - the sandbox is deleted after that long without calls.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use soulbox::SandboxState;

use super::{E2b, ENVD_VERSION, Failure, Meta, new_secret, rfc3339};
use crate::manager::Entry;

pub(crate) fn routes() -> Router<E2b> {
    Router::new()
        .route("/sandboxes", post(create).get(list))
        .route("/v2/sandboxes", post(create).get(list))
        .route("/sandboxes/{id}", get(info).delete(kill))
        .route("/sandboxes/{id}/timeout", post(set_timeout))
        .route("/sandboxes/{id}/connect", post(connect))
        .route("/v2/sandboxes/{id}/connect", post(connect))
        .route("/sandboxes/{id}/pause", post(pause))
        .route("/sandboxes/{id}/resume", post(resume))
        .route("/sandboxes/{id}/refreshes", post(refresh))
        .route("/sandboxes/{id}/metrics", get(unsupported))
        .route("/sandboxes/{id}/logs", get(unsupported))
        .route("/v2/sandboxes/{id}/logs", get(unsupported))
        .route("/sandboxes/{id}/snapshots", post(unsupported))
        .route("/sandboxes/{id}/fork", post(unsupported))
        .route("/sandboxes/{id}/network", axum::routing::put(unsupported))
        .route("/sandboxes/metrics", get(unsupported))
}

/// The JSON body of a call, or a 400 naming what is wrong with it.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        Failure::bad_request(format!("the request body is not the JSON expected: {e}"))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewSandbox {
    #[serde(rename = "templateID")]
    template_id: Option<String>,
    timeout: Option<u64>,
    metadata: Option<serde_json::Map<String, Value>>,
    env_vars: Option<HashMap<String, String>>,
    auto_pause: Option<bool>,
}

fn sandbox_json(meta: &Meta) -> Value {
    json!({
        "templateID": meta.template,
        "sandboxID": meta.id,
        "clientID": "soulbox",
        "envdVersion": ENVD_VERSION,
        "envdAccessToken": meta.access_token,
        "trafficAccessToken": meta.access_token,
    })
}

fn detail_json(meta: &Meta, entry: &Entry) -> Value {
    let (_, left) = entry.expiry();
    let config = entry.sandbox().config();
    let state = match entry.sandbox().state() {
        SandboxState::Paused => "paused",
        _ => "running",
    };
    json!({
        "templateID": meta.template,
        "sandboxID": meta.id,
        "clientID": "soulbox",
        "startedAt": rfc3339(meta.started),
        "endAt": rfc3339(SystemTime::now() + left),
        "cpuCount": 1,
        "memoryMB": config.memory_limit / (1024 * 1024),
        "diskSizeMB": config.max_disk_bytes / (1024 * 1024),
        "state": state,
        "envdVersion": ENVD_VERSION,
        "metadata": meta.metadata,
    })
}

async fn create(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    super::Body(body): super::Body,
) -> Response {
    let result = async {
        let tenant = e2b.tenant(&headers)?;
        let req: NewSandbox = parse_json(&body)?;
        // Records of sandboxes that expired since are dropped here (and when listing).
        e2b.prune();
        if req.auto_pause == Some(true) {
            return Err(Failure::bad_request(
                "autoPause is not supported by SoulBox: an idle sandbox is deleted when its \
                 timeout passes",
            ));
        }
        let timeout = req.timeout.map(Duration::from_secs);
        let env_vars = req.env_vars.unwrap_or_default();
        let mut config = e2b.manager.base_config();
        config.env.extend(env_vars.clone());
        let entry = e2b.manager.create(&tenant, config, timeout).await?;
        let meta = Arc::new(Meta {
            id: entry.id().to_owned(),
            tenant,
            template: req
                .template_id
                .unwrap_or_else(|| "code-interpreter-v1".to_owned()),
            access_token: new_secret(),
            started: SystemTime::now(),
            metadata: req.metadata.unwrap_or_default(),
            env_vars,
            contexts: Default::default(),
            processes: Default::default(),
        });
        e2b.insert(meta.clone());
        tracing::info!(sandbox = %meta.id, tenant = meta.tenant.name(), "e2b: sandbox created");
        Ok::<_, Failure>((StatusCode::CREATED, Json(sandbox_json(&meta))).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    limit: Option<usize>,
    next_token: Option<String>,
    state: Option<String>,
}

async fn list(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Response, Failure> {
    let tenant = e2b.tenant(&headers)?;
    e2b.prune();
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let wanted: Option<Vec<String>> = query
        .state
        .map(|s| s.split(',').map(|p| p.trim().to_owned()).collect());
    let mut items = Vec::new();
    let mut next = None;
    for entry in e2b.manager.list(&tenant) {
        if let Some(after) = &query.next_token
            && entry.id() <= after.as_str()
        {
            continue;
        }
        let Some(meta) = super::lock(&e2b.sandboxes).get(entry.id()).cloned() else {
            continue;
        };
        let item = detail_json(&meta, &entry);
        if let Some(states) = &wanted
            && !states
                .iter()
                .any(|s| Some(s.as_str()) == item["state"].as_str())
        {
            continue;
        }
        if items.len() == limit {
            next = items
                .last()
                .and_then(|i: &Value| i["sandboxID"].as_str())
                .map(str::to_owned);
            break;
        }
        items.push(item);
    }
    let mut response = Json(Value::Array(items)).into_response();
    if let Some(token) = next.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert("x-next-token", token);
    }
    Ok(response)
}

async fn info(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let tenant = e2b.tenant(&headers)?;
    let (meta, entry) = e2b.owned(&tenant, &id)?;
    Ok(Json(detail_json(&meta, &entry)).into_response())
}

async fn kill(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Failure> {
    let tenant = e2b.tenant(&headers)?;
    e2b.manager.delete(&tenant, &id).await?;
    e2b.forget(&id);
    tracing::info!(sandbox = %id, tenant = tenant.name(), "e2b: sandbox killed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct TimeoutBody {
    timeout: u64,
}

async fn set_timeout(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    Path(id): Path<String>,
    super::Body(body): super::Body,
) -> Result<StatusCode, Failure> {
    let tenant = e2b.tenant(&headers)?;
    let req: TimeoutBody = parse_json(&body)?;
    e2b.owned(&tenant, &id)?;
    e2b.manager
        .set_timeout(&tenant, &id, Duration::from_secs(req.timeout))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ConnectBody {
    timeout: Option<u64>,
}

async fn connect(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    Path(id): Path<String>,
    super::Body(body): super::Body,
) -> Result<Response, Failure> {
    let tenant = e2b.tenant(&headers)?;
    let req: ConnectBody = parse_json(&body)?;
    let (meta, entry) = e2b.owned(&tenant, &id)?;
    if entry.sandbox().state() == SandboxState::Paused {
        entry
            .sandbox()
            .resume()
            .await
            .map_err(|e| super::engine_failure(&e))?;
    }
    if let Some(timeout) = req.timeout {
        e2b.manager
            .set_timeout(&tenant, &id, Duration::from_secs(timeout))?;
    }
    Ok((StatusCode::OK, Json(sandbox_json(&meta))).into_response())
}

async fn pause(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Failure> {
    let tenant = e2b.tenant(&headers)?;
    let (_, entry) = e2b.owned(&tenant, &id)?;
    if entry.sandbox().state() == SandboxState::Paused {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            format!("sandbox {id} is already paused"),
        ));
    }
    entry
        .sandbox()
        .pause()
        .await
        .map_err(|e| super::engine_failure(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn resume(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let tenant = e2b.tenant(&headers)?;
    let (meta, entry) = e2b.owned(&tenant, &id)?;
    if entry.sandbox().state() != SandboxState::Paused {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            format!("sandbox {id} is not paused"),
        ));
    }
    entry
        .sandbox()
        .resume()
        .await
        .map_err(|e| super::engine_failure(&e))?;
    Ok((StatusCode::CREATED, Json(sandbox_json(&meta))).into_response())
}

async fn refresh(
    State(e2b): State<E2b>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Failure> {
    let tenant = e2b.tenant(&headers)?;
    e2b.owned(&tenant, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unsupported(State(e2b): State<E2b>, headers: HeaderMap, uri: axum::http::Uri) -> Failure {
    if let Err(f) = e2b.tenant(&headers) {
        return f;
    }
    Failure::new(
        StatusCode::NOT_IMPLEMENTED,
        format!(
            "`{}` is not supported by SoulBox's E2B-compatible API (no metrics, logs, snapshots, \
             forks or network rules)",
            uri.path()
        ),
    )
}
