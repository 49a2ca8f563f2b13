//! `Network::fetch` against loopback servers.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;

/// What the test server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Handler = fn(&Seen, u16) -> (Duration, Vec<u8>);

/// A loopback HTTP/1 server answering every request with `handler(request, own port)` after
/// the delay it returns; returns its port.
async fn server(handler: Handler) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut data: Vec<u8> = Vec::new();
                let mut buf = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                    if data.first().is_some_and(|b| !b.is_ascii_uppercase()) {
                        // Not HTTP (a TLS hello): answer like a plain server would.
                        let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                        return;
                    }
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap().split(' ');
                let method = first.next().unwrap().to_owned();
                let path = first.next().unwrap().to_owned();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                    .collect();
                let mut seen = Seen {
                    method,
                    path,
                    headers,
                    body: Vec::new(),
                };
                let length: usize = seen
                    .header("content-length")
                    .map_or(0, |v| v.parse().unwrap());
                let mut body = data[head_end + 4..].to_vec();
                while body.len() < length {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => body.extend_from_slice(&buf[..n]),
                    }
                }
                seen.body = body;
                let (delay, reply) = handler(&seen, port);
                tokio::time::sleep(delay).await;
                let _ = socket.write_all(&reply).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    port
}

fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Routes: `/echo` answers with what it saw as JSON; `/redirect?to=URL&status=N` redirects;
/// `/loop` redirects to itself; `/big` sends 100,000 bytes (declared), `/chunked` as many
/// without a length; `/slow` answers after 5 s; anything else `hello`.
fn routes(seen: &Seen, _port: u16) -> (Duration, Vec<u8>) {
    let now = Duration::ZERO;
    let (path, query) = seen.path.split_once('?').unwrap_or((&seen.path, ""));
    match path {
        "/echo" => {
            let json = serde_json::json!({
                "method": seen.method,
                "headers": seen.headers,
                "body": String::from_utf8_lossy(&seen.body),
            });
            (
                now,
                response(
                    "200 OK",
                    &[("Content-Type", "application/json")],
                    json.to_string().as_bytes(),
                ),
            )
        }
        "/redirect" => {
            let mut to = "";
            let mut status = "302 Found";
            for pair in query.split('&') {
                match pair.split_once('=') {
                    Some(("to", v)) => to = v,
                    Some(("status", "303")) => status = "303 See Other",
                    Some(("status", "307")) => status = "307 Temporary Redirect",
                    _ => {}
                }
            }
            (now, response(status, &[("Location", to)], b""))
        }
        "/loop" => (now, response("302 Found", &[("Location", "/loop")], b"")),
        "/big" => (now, response("200 OK", &[], &vec![b'x'; 100_000])),
        "/chunked" => {
            let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for _ in 0..100 {
                out.extend_from_slice(b"3e8\r\n");
                out.extend_from_slice(&[b'y'; 1000]);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            (now, out)
        }
        "/slow" => (Duration::from_secs(5), response("200 OK", &[], b"late")),
        _ => (now, response("200 OK", &[("X-Test", "yes")], b"hello")),
    }
}

fn budget() -> FetchBudget {
    FetchBudget {
        max_bytes: 1 << 20,
        timeout: Duration::from_secs(10),
    }
}

fn network(entries: &[String]) -> Network {
    Network::new(
        entries
            .iter()
            .map(|e| AllowHost::parse(e).unwrap())
            .collect(),
    )
}

fn get(url: String) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url,
        headers: Vec::new(),
        body: None,
    }
}

#[tokio::test]
async fn an_allowed_ip_literal_is_reached_with_get_and_post() {
    let port = server(routes).await;
    let net = network(&[format!("127.0.0.1:{port}")]);
    let (r, records) = net
        .fetch(get(format!("http://127.0.0.1:{port}/hi#frag")), budget())
        .await;
    let r = r.unwrap();
    assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
    assert_eq!(r.body.as_deref(), Some(&b"hello"[..]));
    assert!(r.headers.contains(&("x-test".into(), "yes".into())));
    assert_eq!(r.url, format!("http://127.0.0.1:{port}/hi"));
    assert_eq!(records.len(), 1);
    assert!(records[0].allowed);
    assert_eq!((records[0].status, records[0].bytes), (Some(200), 5));

    let post = HttpRequest {
        method: "POST".into(),
        url: format!("http://127.0.0.1:{port}/echo?q=1"),
        headers: vec![
            ("Content-Type".into(), "text/plain".into()),
            ("X-Custom".into(), "v".into()),
            // Hop-by-hop and connection-level headers never leave.
            ("Connection".into(), "Upgrade".into()),
            ("Proxy-Authorization".into(), "Basic eA==".into()),
            ("Host".into(), "evil.example".into()),
            ("Content-Length".into(), "999".into()),
        ],
        body: Some(b"ping".to_vec()),
    };
    let (r, _) = net.fetch(post, budget()).await;
    let r = r.unwrap();
    let seen: serde_json::Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["body"], "ping");
    let headers: Vec<(String, String)> = serde_json::from_value(seen["headers"].clone()).unwrap();
    let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
    assert!(has("x-custom"));
    assert!(!has("proxy-authorization"));
    assert!(
        !headers
            .iter()
            .any(|(h, v)| h.eq_ignore_ascii_case("connection") && v == "Upgrade")
    );
    assert!(headers.contains(&("host".into(), format!("127.0.0.1:{port}"))));
    assert!(headers.contains(&("content-length".into(), "4".into())));
}

#[tokio::test]
async fn what_the_list_does_not_name_is_denied_before_connecting() {
    let port = server(routes).await;
    let (r, records) = Network::default()
        .fetch(get(format!("http://127.0.0.1:{port}/")), budget())
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, ToolErrorKind::Denied);
    assert!(e.message.contains("allow_hosts is empty"), "{e}");
    assert!(!records[0].allowed);

    let net = network(&[format!("127.0.0.1:{}", port.wrapping_add(1).max(1))]);
    let (r, records) = net
        .fetch(get(format!("http://127.0.0.1:{port}/")), budget())
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, ToolErrorKind::Denied);
    assert!(
        e.message
            .contains(&format!("--allow-host 127.0.0.1:{port}")),
        "{e}"
    );
    assert_eq!(records.len(), 1);
    assert!(!records[0].allowed);
    assert_eq!(records[0].status, None);
    // Scheme matters too.
    let net = network(&[format!("https://127.0.0.1:{port}")]);
    let (r, _) = net
        .fetch(get(format!("http://127.0.0.1:{port}/")), budget())
        .await;
    assert_eq!(r.unwrap_err().kind, ToolErrorKind::Denied);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_even_when_listed() {
    let port = server(routes).await;
    for host in ["localhost", "*.localhost"] {
        let net = network(&[format!("{host}:{port}")]);
        let url = if host == "localhost" {
            format!("http://localhost:{port}/")
        } else {
            format!("http://a.localhost:{port}/")
        };
        let (r, records) = net.fetch(get(url), budget()).await;
        let e = r.unwrap_err();
        // `a.localhost` may not resolve at all on some hosts; it must never connect.
        assert!(
            matches!(e.kind, ToolErrorKind::Denied | ToolErrorKind::Network),
            "{e}"
        );
        if host == "localhost" {
            assert_eq!(e.kind, ToolErrorKind::Denied);
            assert!(e.message.contains("loopback"), "{e}");
            assert!(e.message.contains("names the IP itself"), "{e}");
        }
        assert!(!records[0].allowed);
    }
    // Other spellings of a loopback address are the same address.
    for url in [
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
    ] {
        let net = network(&[format!("example.com:{port}")]);
        let (r, _) = net.fetch(get(url.clone()), budget()).await;
        assert_eq!(r.unwrap_err().kind, ToolErrorKind::Denied, "{url}");
    }
    // ... and listing the IP literal reaches it whatever the spelling.
    let net = network(&[format!("127.0.0.1:{port}")]);
    let (r, _) = net
        .fetch(get(format!("http://2130706433:{port}/")), budget())
        .await;
    assert_eq!(r.unwrap().status, 200);
}

#[tokio::test]
async fn redirects_are_followed_and_each_hop_is_checked() {
    let port = server(routes).await;
    let other = server(routes).await;
    let net = network(&[format!("127.0.0.1:{port}")]);
    // Within the list: followed, both hops recorded.
    let (r, records) = net
        .fetch(
            get(format!("http://127.0.0.1:{port}/redirect?to=/echo")),
            budget(),
        )
        .await;
    assert_eq!(r.unwrap().url, format!("http://127.0.0.1:{port}/echo"));
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].status, Some(302));
    assert_eq!(records[1].status, Some(200));

    // To a port the list does not name: refused, and the refusal is its own record.
    let (r, records) = net
        .fetch(
            get(format!(
                "http://127.0.0.1:{port}/redirect?to=http://127.0.0.1:{other}/"
            )),
            budget(),
        )
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, ToolErrorKind::Denied);
    assert_eq!(records.len(), 2);
    assert!(records[0].allowed && !records[1].allowed);
    assert_eq!(records[1].url, format!("http://127.0.0.1:{other}/"));

    // To a name resolving to loopback: refused as well.
    let net2 = network(&[format!("127.0.0.1:{port}"), format!("localhost:{other}")]);
    let (r, _) = net2
        .fetch(
            get(format!(
                "http://127.0.0.1:{port}/redirect?to=http://localhost:{other}/"
            )),
            budget(),
        )
        .await;
    assert_eq!(r.unwrap_err().kind, ToolErrorKind::Denied);

    // 303 after a POST: a GET without the body.
    let post = HttpRequest {
        method: "POST".into(),
        url: format!("http://127.0.0.1:{port}/redirect?to=/echo&status=303"),
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: Some(b"data".to_vec()),
    };
    let (r, _) = net.fetch(post.clone(), budget()).await;
    let seen: serde_json::Value =
        serde_json::from_slice(r.unwrap().body.as_deref().unwrap()).unwrap();
    assert_eq!(
        (seen["method"].as_str(), seen["body"].as_str()),
        (Some("GET"), Some(""))
    );
    // 307 keeps both.
    let post = HttpRequest {
        url: format!("http://127.0.0.1:{port}/redirect?to=/echo&status=307"),
        ..post
    };
    let (r, _) = net.fetch(post, budget()).await;
    let seen: serde_json::Value =
        serde_json::from_slice(r.unwrap().body.as_deref().unwrap()).unwrap();
    assert_eq!(
        (seen["method"].as_str(), seen["body"].as_str()),
        (Some("POST"), Some("data"))
    );

    // Credentials stay behind when the origin changes.
    let both = network(&[format!("127.0.0.1:{port}"), format!("127.0.0.1:{other}")]);
    let request = HttpRequest {
        headers: vec![("Authorization".into(), "Bearer secret".into())],
        ..get(format!(
            "http://127.0.0.1:{port}/redirect?to=http://127.0.0.1:{other}/echo"
        ))
    };
    let (r, _) = both.fetch(request, budget()).await;
    let body = r.unwrap().body.unwrap();
    assert!(!String::from_utf8_lossy(&body).contains("secret"));
}

#[tokio::test]
async fn a_redirect_loop_stops_after_ten() {
    let port = server(routes).await;
    let net = network(&[format!("127.0.0.1:{port}")]);
    let (r, records) = net
        .fetch(get(format!("http://127.0.0.1:{port}/loop")), budget())
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, ToolErrorKind::Network);
    assert!(e.message.contains("more than 10"), "{e}");
    assert_eq!(records.len(), 11);
}

#[tokio::test]
async fn a_response_beyond_the_budget_is_cut() {
    let port = server(routes).await;
    let net = network(&[format!("127.0.0.1:{port}")]);
    let small = FetchBudget {
        max_bytes: 50_000,
        ..budget()
    };
    for path in ["big", "chunked"] {
        let (r, records) = net
            .fetch(get(format!("http://127.0.0.1:{port}/{path}")), small)
            .await;
        let e = r.unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::Payload, "{path}: {e}");
        assert!(e.message.contains("at most 50000"), "{e}");
        assert!(records[0].allowed && records[0].error.is_some());
    }
    let (r, _) = net
        .fetch(get(format!("http://127.0.0.1:{port}/chunked")), budget())
        .await;
    assert_eq!(r.unwrap().body.unwrap().len(), 100_000);
}

#[tokio::test]
async fn a_slow_server_runs_into_the_timeout() {
    let port = server(routes).await;
    let net = network(&[format!("127.0.0.1:{port}")]);
    let short = FetchBudget {
        timeout: Duration::from_millis(300),
        ..budget()
    };
    let (r, records) = net
        .fetch(get(format!("http://127.0.0.1:{port}/slow")), short)
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, ToolErrorKind::Timeout);
    assert!(records[0].allowed);
    assert!(records[0].error.as_deref().unwrap().starts_with("timeout"));
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let port = server(routes).await;
    let net = network(&[format!("127.0.0.1:{port}")]);
    for (method, url, says) in [
        ("GET", "ftp://127.0.0.1/".to_owned(), "only http and https"),
        ("GET", "not a url".to_owned(), "not a URL"),
        (
            "GET",
            format!("http://u:p@127.0.0.1:{port}/"),
            "credentials",
        ),
        (
            "BAD METHOD",
            format!("http://127.0.0.1:{port}/"),
            "not an HTTP method",
        ),
        ("CONNECT", format!("http://127.0.0.1:{port}/"), "CONNECT"),
    ] {
        let request = HttpRequest {
            method: method.into(),
            ..get(url)
        };
        let (r, records) = net.fetch(request, budget()).await;
        let e = r.unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::InvalidArguments, "{e}");
        assert!(e.message.contains(says), "{e}");
        assert!(!records[0].allowed);
    }
    let request = HttpRequest {
        headers: vec![("X-Bad".into(), "a\r\nInjected: 1".into())],
        ..get(format!("http://127.0.0.1:{port}/"))
    };
    let (r, _) = net.fetch(request, budget()).await;
    assert_eq!(r.unwrap_err().kind, ToolErrorKind::InvalidArguments);
}

#[tokio::test]
async fn https_to_a_plain_server_fails_in_the_handshake() {
    let port = server(routes).await;
    let net = network(&[format!("127.0.0.1:{port}")]);
    let (r, records) = net
        .fetch(get(format!("https://127.0.0.1:{port}/")), budget())
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, ToolErrorKind::Network);
    assert!(e.message.contains("TLS"), "{e}");
    assert!(records[0].allowed);
}
