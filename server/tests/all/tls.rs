//! TLS: the server with a certificate, the client verifying it against its CA.

use std::path::Path;
use std::process::Command;

use soulbox::{Language, SandboxConfig};
use soulbox_client::Client;
use soulbox_server::{Manager, ServeOptions, Tls, Tokens};

use crate::{TOKEN, engine};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a `localhost` certificate it signed, in `dir`.
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=soulbox test CA",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_server_serves_a_client_that_trusts_its_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    certificates(dir.path());
    let read = |name: &str| std::fs::read(dir.path().join(name)).expect(name);
    let manager = Manager::new(engine(), Default::default()).expect("manager");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let mut options = ServeOptions::new(Tokens::new([TOKEN]).expect("tokens"));
    options.tls = Some(Tls {
        cert: read("server.pem"),
        key: read("server.key"),
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(soulbox_server::serve(
        manager,
        options,
        listener,
        async move {
            let _ = stopped.await;
        },
    ));

    let url = format!("https://localhost:{port}");
    let client = Client::connect(&url)
        .token(TOKEN)
        .tls_ca(read("ca.pem"))
        .await
        .expect("connect over TLS");
    let sandbox = client
        .create(SandboxConfig::default())
        .await
        .expect("create");
    let result = sandbox
        .execute_code(Language::Wasm, crate::wat_print("over tls\n"))
        .await
        .expect("runs");
    assert_eq!(result.stdout, "over tls\n");

    // Without the CA the client says how to give it; plain HTTP/2 to a TLS port fails.
    let err = Client::connect(&url)
        .token(TOKEN)
        .await
        .err()
        .expect("no CA");
    assert!(err.message().contains("tls_ca"), "{err}");
    let plain = Client::connect(format!("http://127.0.0.1:{port}"))
        .token(TOKEN)
        .await;
    let refused = match plain {
        Ok(client) => client.list().await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "plain HTTP/2 must not reach a TLS server");
    let _ = stop.send(());
    server.await.expect("task").expect("served");
}
