//! `Sandboxes/InstallPackage`: packages installed through the engine's one flow, imported by
//! later runs; refusals in gRPC's error shape; tenants, caps and hostile specs refused.

use soulbox::{Language, MIB, SandboxConfig, Status, api::ErrorKind};
use soulbox_proto::v1;
use soulbox_proto::v1::sandboxes_client::SandboxesClient;
use tonic::Code;

use crate::{OTHER_TOKEN, TestServer};

fn config() -> SandboxConfig {
    SandboxConfig::default().with_memory_limit(512 * MIB)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_install_is_imported_by_later_runs() {
    let server = TestServer::start(Default::default()).await;
    let sandbox = server.sandbox_with(config()).await;
    let report = sandbox
        .install_package(Language::Python, "idna")
        .await
        .expect("install idna");
    let idna = report
        .installed
        .iter()
        .chain(&report.already)
        .find(|p| p.name == "idna")
        .unwrap_or_else(|| panic!("idna not in {report:?}"));
    assert_eq!(idna.ecosystem, "python");
    assert!(
        idna.digest.starts_with("sha256:") && idna.digest.len() == 7 + 64,
        "{idna:?}"
    );
    assert!(report.summary.contains("idna"), "{}", report.summary);
    let result = sandbox
        .execute_code(
            Language::Python,
            "import idna, importlib.metadata as m\nprint(idna.encode('ドメイン.テスト').decode(), m.version('idna'))",
        )
        .await
        .expect("run");
    assert_eq!(result.status, Status::Ok, "{}", result.stderr);
    assert_eq!(
        result.stdout,
        format!("xn--eckwd4c7c.xn--zckzah {}\n", idna.version)
    );
    // Again: already there, from the cache; offline too.
    let again = sandbox
        .install_packages(Language::Python, &["idna"], true)
        .await
        .expect("again, offline");
    assert!(again.installed.is_empty() && again.from_cache, "{again:?}");
    assert_eq!(again.already.len(), 1, "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_packages_are_failed_precondition_with_the_reason() {
    let server = TestServer::start(Default::default()).await;
    let sandbox = server.sandbox_with(config()).await;
    let err = sandbox
        .install_package(Language::Python, "numpy==2.2.0")
        .await
        .expect_err("native numpy");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    assert_eq!(err.kind(), ErrorKind::Package, "{err}");
    assert!(
        err.message().contains("numpy") && err.message().contains("manylinux"),
        "{err}"
    );
    let err = sandbox
        .install_package(Language::Python, "pycrypto")
        .await
        .expect_err("sdist only");
    assert_eq!(err.kind(), ErrorKind::Package, "{err}");
    assert!(
        err.message().contains("pycrypto") && err.message().contains("sdist"),
        "{err}"
    );
    // Offline, a package not in the cache says so.
    let err = sandbox
        .install_packages(Language::Python, &["soulbox-not-cached-xyzzy==1.0"], true)
        .await
        .expect_err("offline, not cached");
    assert_eq!(err.kind(), ErrorKind::Package, "{err}");
    assert!(err.message().contains("soulbox-not-cached-xyzzy"), "{err}");
    // The runtime's own numpy is still there.
    let result = sandbox
        .execute_code(Language::Python, "import numpy; print(numpy.__version__)")
        .await
        .expect("run");
    assert_eq!(result.stdout, "2.5.2\n", "{}", result.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_specs_and_requests_are_invalid_arguments() {
    let server = TestServer::start(Default::default()).await;
    let sandbox = server.sandbox().await;
    let hostile = [
        "",
        "   ",
        "/etc/passwd",
        "../../x.whl",
        "https://example.invalid/x.whl",
        "git+https://example.invalid/x",
        "idna @ file:///etc/passwd",
        "--index-url=http://evil.invalid",
        "-r/etc/passwd",
    ];
    for spec in hostile {
        let err = sandbox
            .install_package(Language::Python, spec)
            .await
            .expect_err(spec);
        assert_eq!(err.code(), Code::InvalidArgument, "{spec:?}: {err}");
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{spec:?}: {err}");
    }
    for spec in ["file:../x", "/abs/dir", "git+ssh://x/y"] {
        let err = sandbox
            .install_package(Language::JavaScript, spec)
            .await
            .expect_err(spec);
        assert_eq!(err.code(), Code::InvalidArgument, "{spec:?}: {err}");
    }
    // No specs, too many, one too long.
    let none: [&str; 0] = [];
    let err = sandbox
        .install_packages(Language::Python, &none, false)
        .await
        .expect_err("no specs");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    assert!(err.message().contains("empty"), "{err}");
    let many = vec!["idna"; 65];
    let err = sandbox
        .install_packages(Language::Python, &many, false)
        .await
        .expect_err("65 specs");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    assert!(err.message().contains("at most 64"), "{err}");
    let long = "a".repeat(513);
    let err = sandbox
        .install_package(Language::Python, &long)
        .await
        .expect_err("long spec");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    assert!(err.message().contains("at most 512"), "{err}");
    // A language without packages.
    let err = sandbox
        .install_package(Language::Rust, "serde")
        .await
        .expect_err("rust");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    // A Ruby gem must be a workspace file: a host path is not read.
    for path in ["/etc/passwd", "../../../etc/passwd", "missing.gem"] {
        let err = sandbox
            .install_package(Language::Ruby, path)
            .await
            .expect_err(path);
        assert!(
            matches!(err.kind(), ErrorKind::InvalidPath | ErrorKind::FileNotFound),
            "{path}: {err}"
        );
    }
    // A workspace file that is not a gem is refused as a package.
    sandbox
        .write_file("fake.gem", b"not a gem at all")
        .await
        .expect("write");
    let err = sandbox
        .install_package(Language::Ruby, "fake.gem")
        .await
        .expect_err("fake gem");
    assert!(
        matches!(err.code(), Code::InvalidArgument | Code::FailedPrecondition),
        "{err}"
    );
    assert!(err.message().contains("fake.gem"), "{err}");
    // Nothing was installed by any of it.
    let result = sandbox
        .execute_code(
            Language::Python,
            "import os; print(os.listdir('/packages'))",
        )
        .await
        .expect("run");
    assert_eq!(result.status, Status::Ok, "{}", result.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_cannot_install_into_my_sandbox() {
    let server = TestServer::start(Default::default()).await;
    let mine = server.sandbox().await;
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut stub = SandboxesClient::new(channel);
    let mut request = tonic::Request::new(v1::InstallPackageRequest {
        sandbox_id: mine.id().to_owned(),
        language: "python".into(),
        specs: vec!["idna".into()],
        offline: false,
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {OTHER_TOKEN}").parse().expect("header"),
    );
    let err = stub.install_package(request).await.expect_err("not mine");
    assert_eq!(err.code(), Code::NotFound, "{err}");
    // Without a token at all.
    let anonymous = stub
        .install_package(v1::InstallPackageRequest {
            sandbox_id: mine.id().to_owned(),
            language: "python".into(),
            specs: vec!["idna".into()],
            offline: false,
        })
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous}");
    // Nothing was installed in my sandbox.
    let result = mine
        .execute_code(
            Language::Python,
            "try:\n    import idna\n    print('there')\nexcept ImportError:\n    print('missing')",
        )
        .await
        .expect("run");
    assert_eq!(result.stdout, "missing\n", "{}", result.stderr);
}
