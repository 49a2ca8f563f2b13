//! `soulbox run --allow-host`: the guest reaches the hosts named, nothing else, and `--json`
//! lists every request in `network` (and tool calls in `tool_calls`).

use std::io::{Read as _, Write as _};
use std::net::TcpListener;

use crate::{json, soulbox, soulbox_with_env};

/// A loopback server answering every request with `hello from the host`; its port.
fn server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            while !data.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                }
            }
            let body = "hello from the host";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn fetch_code(port: u16) -> String {
    format!(
        "import urllib.request, urllib.error\n\
         try:\n    print(urllib.request.urlopen('http://127.0.0.1:{port}/').read().decode())\n\
         except urllib.error.URLError as e:\n    print(type(e.reason).__name__)\n"
    )
}

#[test]
fn allow_host_lets_the_guest_reach_the_host_named_and_json_lists_it() {
    let port = server();
    let code = fetch_code(port);
    let allow = format!("127.0.0.1:{port}");
    let out = soulbox_with_env(
        &[
            "run",
            "--json",
            "--allow-host",
            &allow,
            "-l",
            "python",
            "-c",
            &code,
        ],
        b"",
        &[],
    );
    let v = json(&out);
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["stdout"], "hello from the host\n");
    assert_eq!(v["tool_calls"], serde_json::json!([]));
    let network = v["network"].as_array().unwrap();
    assert_eq!(network.len(), 1, "{v}");
    assert_eq!(network[0]["url"], format!("http://127.0.0.1:{port}/"));
    assert_eq!(network[0]["allowed"], true);
    assert_eq!(network[0]["status"], 200);
    assert_eq!(network[0]["bytes"], 19);

    // Without it: a permission error in the guest, a refusal in the record.
    let out = soulbox_with_env(&["run", "--json", "-l", "python", "-c", &code], b"", &[]);
    let v = json(&out);
    assert_eq!(v["stdout"], "PermissionError\n", "{v}");
    assert_eq!(v["network"][0]["allowed"], false);
    assert!(
        v["network"][0]["error"]
            .as_str()
            .unwrap()
            .contains("--allow-host 127.0.0.1:")
    );
}

#[test]
fn a_malformed_allow_host_is_a_usage_error() {
    for bad in ["ftp://example.com", "example.com:0", "a*.com"] {
        let out = soulbox(&["run", "--allow-host", bad, "examples/hello.wat"], b"");
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("allow_hosts entry"),
            "{bad}: {out:?}"
        );
    }
    let out = soulbox(
        &[
            "run",
            "--allow-host",
            "example.com",
            "--remote",
            "http://127.0.0.1:1",
            "examples/hello.wat",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--remote"));
}
