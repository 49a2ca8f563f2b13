//! Requests no SDK sends: malformed frames and bodies, missing headers, unknown ids, an
//! upload over the cap. Each gets a clear error in the protocol's own shape, and the server
//! keeps serving.

use serde_json::{Value, json};
use soulbox::MIB;
use soulbox_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::E2bServer;
use crate::TOKEN;

pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&body[..end]).to_string();
        let size = usize::from_str_radix(size_text.trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = end + 2;
        out.extend_from_slice(&body[start..(start + size).min(body.len())]);
        body = &body[(start + size + 2).min(body.len())..];
    }
}

/// One HTTP/1.1 request on its own connection; `chunks`: the body, sent chunked when more
/// than one.
pub async fn send(
    server: &E2bServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    chunks: &[&[u8]],
) -> Reply {
    let addr = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let chunked = chunks.len() > 1;
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    } else {
        let len = chunks.first().map_or(0, |c| c.len());
        head.push_str(&format!("Content-Length: {len}\r\n\r\n"));
    }
    stream.write_all(head.as_bytes()).await.expect("write head");
    for chunk in chunks {
        let sent = if chunked {
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(chunk);
            framed.extend_from_slice(b"\r\n");
            stream.write_all(&framed).await
        } else {
            stream.write_all(chunk).await
        };
        if sent.is_err() {
            break;
        }
    }
    if chunked {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {}", String::from_utf8_lossy(&raw)));
    let headers = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = &raw[split + 4..];
    let body = if headers.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// A Connect frame.
fn frame(flags: u8, json: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&u32::try_from(json.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(json);
    out
}

/// The JSON messages of a Connect streaming reply, and the end-of-stream message.
fn frames(body: &[u8]) -> (Vec<Value>, Value) {
    let mut rest = body;
    let mut messages = Vec::new();
    while rest.len() >= 5 {
        let n = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let message: Value = serde_json::from_slice(&rest[5..5 + n]).expect("frame JSON");
        if rest[0] & 2 != 0 {
            return (messages, message);
        }
        messages.push(message);
        rest = &rest[5 + n..];
    }
    panic!(
        "no end-of-stream frame in {}",
        String::from_utf8_lossy(body)
    );
}

fn assert_rest_error(reply: &Reply, status: u16, needle: &str) {
    assert_eq!(
        reply.status,
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = reply.json();
    assert_eq!(body["code"], status, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "`{needle}` not in `{message}`");
}

fn assert_connect_error(reply: &Reply, status: u16, code: &str, needle: &str) {
    assert_eq!(
        reply.status,
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = reply.json();
    assert_eq!(body["code"], code, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "`{needle}` not in `{message}`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_in_each_protocols_shape() {
    let config = ServerConfig {
        max_upload_bytes: 10 * MIB,
        ..ServerConfig::default()
    };
    let server = E2bServer::start(config).await;
    let key = [("X-API-KEY", TOKEN)];
    let json_type = ("Content-Type", "application/json");

    // Control plane: missing and wrong keys, malformed bodies, unknown ids.
    let r = send(&server, "GET", "/v2/sandboxes", &[], &[]).await;
    assert_rest_error(&r, 401, "X-API-KEY");
    let r = send(
        &server,
        "GET",
        "/v2/sandboxes",
        &[("X-API-KEY", "not-a-token-of-this-server")],
        &[],
    )
    .await;
    assert_rest_error(&r, 401, "unknown token");
    let r = send(
        &server,
        "POST",
        "/v2/sandboxes",
        &[key[0], json_type],
        &[b"{\"templateID\": "],
    )
    .await;
    assert_rest_error(&r, 400, "not the JSON expected");
    let r = send(
        &server,
        "POST",
        "/v2/sandboxes",
        &[key[0], json_type],
        &[b"{\"timeout\": 999999999}"],
    )
    .await;
    assert_rest_error(&r, 400, "max_idle_timeout");
    let r = send(&server, "GET", "/sandboxes/no-such-sandbox", &key, &[]).await;
    assert_rest_error(&r, 404, "no-such-sandbox");
    let r = send(&server, "DELETE", "/sandboxes/no-such-sandbox", &key, &[]).await;
    assert_rest_error(&r, 404, "not found");
    let r = send(
        &server,
        "POST",
        "/sandboxes/no-such-sandbox/timeout",
        &[key[0], json_type],
        &[b"{\"timeout\": 10}"],
    )
    .await;
    assert_rest_error(&r, 404, "not found");
    let r = send(&server, "GET", "/no/such/endpoint", &key, &[]).await;
    assert_rest_error(&r, 404, "no such endpoint");

    // A sandbox to aim sandbox-side calls at.
    let r = send(
        &server,
        "POST",
        "/v2/sandboxes",
        &[key[0], json_type],
        &[b"{\"templateID\":\"code-interpreter-v1\"}"],
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json();
    let id = created["sandboxID"].as_str().expect("id").to_owned();
    let access = created["envdAccessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let sandbox = ("E2b-Sandbox-Id", id.as_str());
    let token = ("X-Access-Token", access.as_str());
    let connect_json = ("Content-Type", "application/json");
    let connect_stream = ("Content-Type", "application/connect+json");

    // Sandbox side: unknown sandbox, missing and wrong access tokens.
    let list = br#"{"path": "/home/user", "depth": 1}"#;
    let r = send(
        &server,
        "POST",
        "/filesystem.Filesystem/ListDir",
        &[("E2b-Sandbox-Id", "nope"), token, connect_json],
        &[list],
    )
    .await;
    assert_connect_error(&r, 502, "unavailable", "was not found");
    let r = send(
        &server,
        "GET",
        "/files?path=a.txt",
        &[("E2b-Sandbox-Id", "nope"), token],
        &[],
    )
    .await;
    assert_rest_error(&r, 502, "was not found");
    let r = send(
        &server,
        "POST",
        "/filesystem.Filesystem/ListDir",
        &[sandbox, connect_json],
        &[list],
    )
    .await;
    assert_connect_error(&r, 401, "unauthenticated", "X-Access-Token");
    let r = send(
        &server,
        "POST",
        "/filesystem.Filesystem/ListDir",
        &[sandbox, ("X-Access-Token", "guess"), connect_json],
        &[list],
    )
    .await;
    assert_connect_error(&r, 401, "unauthenticated", "does not belong");
    let r = send(
        &server,
        "POST",
        "/execute",
        &[sandbox, json_type],
        &[b"{\"code\": \"1\"}"],
    )
    .await;
    assert_rest_error(&r, 401, "X-Access-Token");

    // Malformed Connect calls.
    let r = send(
        &server,
        "POST",
        "/filesystem.Filesystem/ListDir",
        &[sandbox, token, connect_json],
        &[b"{\"path\": 7"],
    )
    .await;
    assert_connect_error(&r, 400, "invalid_argument", "not the JSON expected");
    let r = send(
        &server,
        "POST",
        "/filesystem.Filesystem/ListDir",
        &[sandbox, token, ("Content-Type", "application/proto")],
        &[list],
    )
    .await;
    assert_connect_error(&r, 415, "internal", "JSON codec");
    let r = send(
        &server,
        "POST",
        "/filesystem.Filesystem/WatchDir",
        &[sandbox, token, connect_json],
        &[list],
    )
    .await;
    assert_connect_error(&r, 501, "unimplemented", "WatchDir");
    let r = send(
        &server,
        "POST",
        "/filesystem.Filesystem/ListDir",
        &[sandbox, token, connect_json],
        &[br#"{"path": "/etc"}"#],
    )
    .await;
    assert_connect_error(&r, 400, "invalid_argument", "outside the sandbox");
    for bad in [
        frame(0, b"{\"process\"")[..9].to_vec(),
        b"\x00\x00".to_vec(),
        frame(0, b"[1, 2]"),
        frame(1, b"{}"),
    ] {
        let r = send(
            &server,
            "POST",
            "/process.Process/Start",
            &[sandbox, token, connect_stream],
            &[&bad],
        )
        .await;
        assert_eq!(r.status, 200);
        assert!(
            r.headers.contains("content-type: application/connect+json"),
            "{}",
            r.headers
        );
        let (messages, end) = frames(&r.body);
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(end["error"]["code"], "invalid_argument", "{end}");
    }

    // Code interpreter: malformed body, unknown context.
    let r = send(
        &server,
        "POST",
        "/execute",
        &[sandbox, token, json_type],
        &[b"{\"cod\": 1}"],
    )
    .await;
    assert_rest_error(&r, 400, "missing field `code`");
    let r = send(
        &server,
        "POST",
        "/execute",
        &[sandbox, token, json_type],
        &[br#"{"code": "1", "context_id": "nope"}"#],
    )
    .await;
    assert_rest_error(&r, 404, "context `nope`");

    // An upload of 100 MiB, ten times the cap, streamed chunked: refused with 413, in full.
    let chunk = vec![b'x'; MIB as usize];
    let chunks: Vec<&[u8]> = (0..100).map(|_| chunk.as_slice()).collect();
    let r = send(
        &server,
        "POST",
        "/files?path=/home/user/big.bin",
        &[sandbox, token, ("Content-Type", "application/octet-stream")],
        &chunks,
    )
    .await;
    assert_rest_error(&r, 413, "max_upload_bytes");
    let r = send(
        &server,
        "GET",
        "/files?path=/home/user/big.bin",
        &[sandbox, token],
        &[],
    )
    .await;
    assert_rest_error(&r, 404, "big.bin");

    // The server still serves: a cell runs and streams its NDJSON.
    let r = send(
        &server,
        "POST",
        "/execute",
        &[sandbox, token, json_type],
        &[br#"{"code": "print('hi')\n6 * 7"}"#],
    )
    .await;
    assert_eq!(r.status, 200);
    let lines: Vec<Value> = String::from_utf8_lossy(&r.body)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect();
    let kinds: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["type"].as_str())
        .filter(|k| *k != "keepalive")
        .collect();
    assert_eq!(
        kinds,
        [
            "stdout",
            "result",
            "number_of_executions",
            "end_of_execution"
        ],
        "{lines:?}"
    );
    assert_eq!(
        lines
            .iter()
            .find(|l| l["type"] == "result")
            .map(|l| l["text"].clone()),
        Some(json!("42"))
    );
    let r = send(&server, "DELETE", &format!("/sandboxes/{id}"), &key, &[]).await;
    assert_eq!(r.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_gets_a_clear_error_for_an_upload_over_the_cap() {
    let config = ServerConfig {
        max_upload_bytes: 10 * MIB,
        ..ServerConfig::default()
    };
    let server = E2bServer::start(config).await;
    let out = server
        .run_python(
            r#"
import json
from e2b_code_interpreter import Sandbox
sbx = Sandbox.create()
out = {}
for mode in ["multipart", "octet-stream"]:
    try:
        sbx.files.write("/home/user/big.bin", b"x" * (100 * 1024 * 1024), use_octet_stream=(mode == "octet-stream"))
        out[mode] = "written"
    except Exception as e:
        out[mode] = [type(e).__name__, str(e)]
out["after"] = sbx.run_code("6 * 7").text
out["small"] = sbx.files.write("/home/user/small.bin", b"x" * 1024).path
sbx.kill()
print(json.dumps(out))
"#,
        )
        .await;
    for mode in ["multipart", "octet-stream"] {
        let message = out[mode][1].as_str().unwrap_or_default();
        assert!(
            message.contains("413") && message.contains("max_upload_bytes"),
            "{mode}: {}",
            out[mode]
        );
    }
    assert_eq!(out["after"], "42");
    assert_eq!(out["small"], "/home/user/small.bin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_over_the_time_limit_is_a_timeout_error_and_its_context_restarts() {
    let config = ServerConfig {
        max_timeout: std::time::Duration::from_secs(2),
        ..ServerConfig::default()
    };
    let server = E2bServer::start(config).await;
    let json_type = ("Content-Type", "application/json");
    let r = send(
        &server,
        "POST",
        "/sandboxes",
        &[("X-API-KEY", TOKEN), json_type],
        &[b"{}"],
    )
    .await;
    assert_eq!(r.status, 201);
    let created = r.json();
    let id = created["sandboxID"].as_str().expect("id").to_owned();
    let access = created["envdAccessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let headers = [
        ("E2b-Sandbox-Id", id.as_str()),
        ("X-Access-Token", access.as_str()),
        json_type,
    ];
    let cell = |code: &'static str| {
        let body = json!({"code": code}).to_string();
        let server = &server;
        async move {
            let r = send(server, "POST", "/execute", &headers, &[body.as_bytes()]).await;
            assert_eq!(r.status, 200);
            String::from_utf8_lossy(&r.body)
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("NDJSON"))
                .filter(|l| l["type"] != "keepalive")
                .collect::<Vec<Value>>()
        }
    };
    cell("x = 1").await;
    let lines = cell("while True:\n    pass").await;
    let error = lines
        .iter()
        .find(|l| l["type"] == "error")
        .expect("an error line");
    assert_eq!(error["name"], "TimeoutError", "{lines:?}");
    // The interrupted interpreter is replaced: the next cell runs, says so, and x is gone.
    let lines = cell("'x' in globals()").await;
    assert!(
        lines.iter().any(
            |l| l["type"] == "stderr" && l["text"].as_str().unwrap_or("").contains("restarted")
        ),
        "{lines:?}"
    );
    let result = lines
        .iter()
        .find(|l| l["type"] == "result")
        .expect("a result");
    assert_eq!(result["text"], "False");
    let counted = lines
        .iter()
        .find(|l| l["type"] == "number_of_executions")
        .expect("count");
    assert_eq!(counted["execution_count"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_over_max_message_bytes_is_refused_in_shape() {
    let config = ServerConfig {
        max_message_bytes: MIB as usize,
        ..ServerConfig::default()
    };
    let server = E2bServer::start(config).await;
    let big = vec![b' '; 3 * MIB as usize];
    let r = send(
        &server,
        "POST",
        "/v2/sandboxes",
        &[("X-API-KEY", TOKEN)],
        &[&big],
    )
    .await;
    assert_rest_error(&r, 413, "max_message_bytes");
    let r = send(
        &server,
        "POST",
        "/filesystem.Filesystem/ListDir",
        &[("Content-Type", "application/json")],
        &[&big],
    )
    .await;
    assert_connect_error(&r, 413, "resource_exhausted", "max_message_bytes");
    let r = send(
        &server,
        "GET",
        "/v2/sandboxes",
        &[("X-API-KEY", TOKEN)],
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
}
