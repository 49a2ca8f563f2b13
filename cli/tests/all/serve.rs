//! `soulbox serve` as a binary, and `soulbox run --remote` / `repl --remote` against it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{json, soulbox_with_env};

/// The one tenant's token of the servers these tests start.
pub(crate) const TOKEN: &str = "cli-test-token-0123456789abcdef";

/// A running `soulbox serve`, killed when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    /// The gRPC address.
    pub(crate) url: String,
    /// The E2B-compatible API's address, when started with `--e2b-listen`.
    pub(crate) e2b_url: Option<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `soulbox serve` on a free loopback port with one token ([`TOKEN`]) and `extra`
/// arguments (`--e2b-listen 127.0.0.1:0`), and waits for the addresses it prints; its engine
/// uses the real `$SOULBOX_HOME` (the installed runtimes).
pub(crate) fn start_with(extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("# test tenant\n{TOKEN}\n")).expect("token file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_soulbox"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .arg("--token-file")
        .arg(&tokens)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn soulbox serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("soulbox serve: listening on ") {
                let _ = tx.send((false, url.to_owned()));
            } else if let Some(rest) = line.strip_prefix("soulbox serve: E2B-compatible API on ") {
                let url = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send((true, url.to_owned()));
            }
        }
    });
    let wants_e2b = extra.contains(&"--e2b-listen");
    let (mut url, mut e2b_url) = (None, None);
    while url.is_none() || (wants_e2b && e2b_url.is_none()) {
        let (e2b, address) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server printed its addresses");
        *if e2b { &mut e2b_url } else { &mut url } = Some(address);
    }
    Server {
        child,
        url: url.unwrap_or_default(),
        e2b_url,
        _dir: dir,
    }
}

fn start() -> Server {
    start_with(&[])
}

#[test]
fn run_and_repl_against_the_serve_binary_then_sigterm_stops_it() {
    let mut server = start();
    let env = [("SOULBOX_TOKEN", TOKEN)];
    let out = soulbox_with_env(
        &[
            "run",
            "--remote",
            &server.url,
            "-l",
            "python",
            "--json",
            "-c",
            "import sys\nprint(sys.stdin.read() * 2)\nsys.exit(4)",
        ],
        b"ab",
        &env,
    );
    let value = json(&out);
    assert_eq!(value["status"], "error", "{value}");
    assert_eq!(value["stdout"], "abab\n", "{value}");
    assert_eq!(value["exit_code"], 4, "{value}");
    assert_eq!(out.status.code(), Some(4), "same exit code as a local run");

    // Plain mode streams output; a timeout is exit 124 as locally.
    let out = soulbox_with_env(
        &[
            "run",
            "--remote",
            &server.url,
            "--timeout",
            "500ms",
            "-l",
            "javascript",
            "-c",
            "console.log('hi'); while (true) {}",
        ],
        b"",
        &env,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(
        out.status.code(),
        Some(124),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // --workdir: files go up, artifacts come back.
    let workdir = tempfile::tempdir().expect("workdir");
    std::fs::write(workdir.path().join("in.txt"), "21").expect("input");
    let out = soulbox_with_env(
        &[
            "run",
            "--remote",
            &server.url,
            "--workdir",
            workdir.path().to_str().expect("utf-8"),
            "-l",
            "python",
            "-c",
            "open('out.txt','w').write(str(int(open('in.txt').read()) * 2))",
        ],
        b"",
        &env,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(workdir.path().join("out.txt")).expect("artifact"),
        "42"
    );
    // A workdir that does not exist yet is created, as for a local run.
    let fresh = workdir.path().join("fresh");
    let out = soulbox_with_env(
        &[
            "run",
            "--remote",
            &server.url,
            "--workdir",
            fresh.to_str().expect("utf-8"),
            "-l",
            "python",
            "-c",
            "open('made.txt', 'w').write('m')",
        ],
        b"",
        &env,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(fresh.join("made.txt")).expect("artifact"),
        "m"
    );

    let out = soulbox_with_env(
        &["repl", "--remote", &server.url, "-l", "python"],
        b"x = 41\n%%\nx + 1\n",
        &env,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "42\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));

    // A wrong token: the engine-failure exit code and the server's message.
    let out = soulbox_with_env(
        &[
            "run",
            "--remote",
            &server.url,
            "-l",
            "python",
            "-c",
            "print(1)",
        ],
        b"",
        &[("SOULBOX_TOKEN", "wrong-token-0123456789abcdef")],
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown token"),
        "{out:?}"
    );

    // SIGTERM: a clean stop.
    let pid = libc::pid_t::try_from(server.child.id()).expect("pid");
    // SAFETY: kill(2) on the child this test spawned and still owns; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_public_address_without_a_token_file_is_refused() {
    let out = crate::soulbox(&["serve", "--listen", "0.0.0.0:0"], b"");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--token-file") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
}
