//! Allow-listed HTTP from guests: Python's urllib and http.client reach a loopback server the
//! sandbox's `allow_hosts` names (as an IP literal), and nothing else - not an unlisted port,
//! not a redirect leaving the list, not a name resolving to loopback. Every request is in
//! `result.network`. Offline: loopback servers only.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use soulbox::{Backend, Language, MIB, SandboxConfig, Status};

use crate::{run_code, runtime_sandbox};

/// A loopback HTTP/1.1 server on its own thread (independent of any async runtime). Routes:
/// `/json` a JSON object; `/echo` the request it saw, as JSON; `/missing` a 404;
/// `/redirect?to=URL` a 302; `/big` 200,000 bytes; `/slow` answers after 5 s.
struct Server {
    port: u16,
}

impl Server {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("its address").port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                std::thread::spawn(move || serve(stream));
            }
        });
        Self { port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn allow(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn serve(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
    let (method, target) = (request_line[0].to_owned(), request_line[1].to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap_or(0));
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let reply = |status: &str, extra: &[(&str, &str)], body: &[u8]| {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (n, v) in extra {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(body);
        out
    };
    let response = match path {
        "/json" => reply(
            "200 OK",
            &[
                ("Content-Type", "application/json"),
                ("X-Served-By", "test"),
            ],
            br#"{"answer": 42, "items": [1, 2, 3]}"#,
        ),
        "/echo" => {
            let seen = serde_json::json!({
                "method": method,
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            });
            reply(
                "201 Created",
                &[("Content-Type", "application/json")],
                seen.to_string().as_bytes(),
            )
        }
        "/missing" => reply("404 Not Found", &[], b"no such thing"),
        "/redirect" => {
            let to = query.strip_prefix("to=").unwrap_or("/json");
            reply("302 Found", &[("Location", to)], b"")
        }
        "/big" => reply("200 OK", &[], &vec![b'x'; 200_000]),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(5));
            reply("200 OK", &[], b"late")
        }
        _ => reply("200 OK", &[], b"hello"),
    };
    let _ = stream.write_all(&response);
}

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_secs(60))
}

async fn py(config: SandboxConfig, code: &str) -> soulbox::ExecutionResult {
    run_code(config, Language::Python, None, code, "").await
}

#[tokio::test]
async fn python_reaches_an_allowed_server_with_urllib_and_http_client() {
    let server = Server::start();
    let code = format!(
        r#"
import json, urllib.request, urllib.error, http.client
r = urllib.request.urlopen("{json}")
print(r.status, r.headers["X-Served-By"], json.loads(r.read())["answer"])
req = urllib.request.Request("{echo}", data=b'{{"q": 1}}', method="POST",
                             headers={{"Content-Type": "application/json", "X-Token": "abc"}})
with urllib.request.build_opener().open(req) as r:
    seen = json.loads(r.read())
    print(r.status, seen["method"], seen["body"], dict(seen["headers"])["x-token"])
try:
    urllib.request.urlopen("{missing}")
except urllib.error.HTTPError as e:
    print("HTTPError", e.code, e.read().decode())
c = http.client.HTTPConnection("127.0.0.1", {port})
c.request("PUT", "/echo", body="put-body", headers={{"X-A": "1"}})
r = c.getresponse()
print(r.status, r.reason, json.loads(r.read())["body"])
"#,
        json = server.url("/json"),
        echo = server.url("/echo"),
        missing = server.url("/missing"),
        port = server.port,
    );
    let r = py(config().with_allow_host(server.allow()), &code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.stdout,
        "200 test 42\n201 POST {\"q\": 1} abc\nHTTPError 404 no such thing\n201 Created put-body\n"
    );
    assert_eq!(r.network.len(), 4, "{:?}", r.network);
    assert!(r.network.iter().all(|n| n.allowed && n.error.is_none()));
    assert_eq!(r.network[0].url, server.url("/json"));
    assert_eq!(r.network[0].status, Some(200));
    assert_eq!(r.network[0].bytes, 34);
    assert_eq!(r.network[1].method, "POST");
    assert_eq!(r.network[2].status, Some(404));
}

#[tokio::test]
async fn an_unlisted_server_is_a_permission_error_and_is_recorded() {
    let server = Server::start();
    let other = Server::start();
    let code = format!(
        r#"
import urllib.request, urllib.error, http.client
try:
    urllib.request.urlopen("{url}")
except urllib.error.URLError as e:
    print(type(e.reason).__name__, e.reason.kind)
    print(e.reason)
try:
    http.client.HTTPConnection("127.0.0.1", {port}).request("GET", "/")
except PermissionError as e:
    print("http.client", type(e).__name__)
"#,
        url = server.url("/json"),
        port = server.port,
    );
    // Nothing allowed, then only another port.
    for config in [config(), config().with_allow_host(other.allow())] {
        let r = py(config, &code).await;
        assert_eq!(r.status, Status::Ok, "{r:?}");
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(lines[0], "PermissionError denied", "{}", r.stdout);
        assert!(
            lines[1].contains(&format!("127.0.0.1:{}", server.port)),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("--allow-host"), "{}", lines[1]);
        assert_eq!(lines[2], "http.client PermissionError");
        assert_eq!(r.network.len(), 2, "{:?}", r.network);
        assert!(r.network.iter().all(|n| !n.allowed && n.status.is_none()));
        assert!(
            r.network[0]
                .error
                .as_deref()
                .unwrap()
                .starts_with("denied: ")
        );
    }
}

#[tokio::test]
async fn a_redirect_leaving_the_list_is_refused() {
    let server = Server::start();
    let other = Server::start();
    let code = format!(
        r#"
import urllib.request, urllib.error
try:
    urllib.request.urlopen("{url}")
    print("reached")
except urllib.error.URLError as e:
    print(type(e.reason).__name__)
print(urllib.request.urlopen("{inside}").read().decode()[:12])
"#,
        url = server.url(&format!("/redirect?to={}", other.url("/json"))),
        inside = server.url("/redirect?to=/json"),
    );
    let r = py(config().with_allow_host(server.allow()), &code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "PermissionError\n{\"answer\": 4\n");
    let hops: Vec<(bool, Option<u16>)> = r.network.iter().map(|n| (n.allowed, n.status)).collect();
    assert_eq!(
        hops,
        [
            (true, Some(302)),
            (false, None),
            (true, Some(302)),
            (true, Some(200))
        ]
    );
    assert_eq!(r.network[1].url, other.url("/json"));
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_though_listed() {
    let server = Server::start();
    let code = format!(
        r#"
import urllib.request, urllib.error
try:
    urllib.request.urlopen("http://localhost:{port}/json")
    print("reached")
except urllib.error.URLError as e:
    print(type(e.reason).__name__, "loopback" in str(e.reason))
"#,
        port = server.port
    );
    let r = py(
        config().with_allow_host(format!("localhost:{}", server.port)),
        &code,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "PermissionError True\n");
    assert!(!r.network[0].allowed);
}

#[tokio::test]
async fn a_response_over_the_budget_is_cut_with_a_payload_error() {
    let server = Server::start();
    let code = format!(
        r#"
import urllib.request, urllib.error
try:
    urllib.request.urlopen("{url}")
except urllib.error.URLError as e:
    print(type(e.reason).__name__, e.reason.kind)
"#,
        url = server.url("/big")
    );
    // By the payload cap of one host call...
    let mut small_calls = config().with_allow_host(server.allow());
    small_calls.max_host_call_bytes = 64 * 1024;
    // ... and by the execution's network budget.
    let mut small_budget = config().with_allow_host(server.allow());
    small_budget.max_network_bytes = 50_000;
    for config in [small_calls, small_budget] {
        let r = py(config, &code).await;
        assert_eq!(r.status, Status::Ok, "{r:?}");
        assert_eq!(r.stdout, "OSError payload\n");
        assert!(r.network[0].allowed);
        assert!(
            r.network[0]
                .error
                .as_deref()
                .unwrap()
                .starts_with("payload: ")
        );
    }
}

#[tokio::test]
async fn a_slow_server_runs_into_the_timeout() {
    let server = Server::start();
    let code = format!(
        r#"
import urllib.request, urllib.error
try:
    urllib.request.urlopen("{url}")
except urllib.error.URLError as e:
    print(type(e.reason).__name__, e.reason.kind)
"#,
        url = server.url("/slow")
    );
    let mut config = config().with_allow_host(server.allow());
    config.tool_timeout = Duration::from_secs(1);
    let r = py(config, &code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "TimeoutError timeout\n");
    assert!(
        r.network[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with("timeout: ")
    );
}

#[tokio::test]
async fn the_native_backend_has_no_network_and_refuses_an_allow_list() {
    let sandbox = runtime_sandbox(
        SandboxConfig::default()
            .with_backend(Backend::Native)
            .with_allow_host("127.0.0.1:8080"),
    )
    .await;
    let e = sandbox
        .execute_code(Language::Shell, "echo hi")
        .await
        .expect_err("an allow-list on the native backend is refused");
    let message = e.to_string();
    assert!(
        message.contains("native backend has no network"),
        "{message}"
    );
    assert!(message.contains("--backend wasm"), "{message}");
    sandbox.terminate().await;
}
