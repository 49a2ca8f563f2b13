//! Packages: installed on the host from the registries (through pip and npm, as for users),
//! imported by the guest from its read-only layer; refusals name the package and why.

use soulbox::{Language, MIB, SandboxConfig, Status};

use crate::runtime_sandbox;

fn config() -> SandboxConfig {
    SandboxConfig::default().with_memory_limit(512 * MIB)
}

async fn refused(sandbox: &soulbox::Sandbox, language: Language, spec: &str) -> String {
    match sandbox.install_package(language, spec).await {
        Err(e) => e.to_string(),
        Ok(report) => panic!("{spec} was installed: {report:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn python_requests_with_its_dependencies_imports_from_a_read_only_layer() {
    let sandbox = runtime_sandbox(config()).await;
    let report = sandbox
        .install_package(Language::Python, "requests")
        .await
        .expect("install requests");
    let names: Vec<&str> = report
        .installed
        .iter()
        .chain(&report.already)
        .map(|p| p.name.as_str())
        .collect();
    for dep in ["requests", "urllib3", "idna", "certifi"] {
        assert!(names.contains(&dep), "{names:?}");
    }
    // charset-normalizer ships with the runtime: never fetched, never laid out.
    assert!(!names.contains(&"charset-normalizer"), "{names:?}");
    let result = sandbox
        .execute_code(
            Language::Python,
            "import requests, importlib.metadata as m\n\
             print(requests.__version__ == m.version('requests'))\n\
             try:\n    open(requests.__file__, 'a')\nexcept OSError as e:\n    print('ro', type(e).__name__)\n\
             try:\n    open('/packages/python/evil.py', 'w')\nexcept OSError as e:\n    print('ro', type(e).__name__)\n",
        )
        .await
        .expect("run");
    assert_eq!(result.status, Status::Ok, "{}", result.stderr);
    let lines: Vec<&str> = result.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"True"), "{}", result.stdout);
    assert_eq!(lines.len(), 3, "{}", result.stdout);
    assert!(
        lines[1..].iter().all(|l| l.starts_with("ro ")),
        "{}",
        result.stdout
    );

    // A lock of this sandbox installs the same set into another, from the cache.
    let lock = sandbox.installed_packages();
    let other = runtime_sandbox(config()).await;
    let again = other.install_lock(&lock).await.expect("install the lock");
    assert!(again.from_cache);
    assert_eq!(again.installed, lock);
    let result = other
        .execute_code(
            Language::Python,
            "import requests; print(requests.__version__)",
        )
        .await
        .expect("run");
    assert_eq!(result.status, Status::Ok, "{}", result.stderr);

    // The same version again is already there; another version is refused.
    let same = sandbox
        .install_package(Language::Python, "idna")
        .await
        .expect("same idna");
    assert!(same.installed.is_empty() && same.from_cache, "{same:?}");
    let e = refused(&sandbox, Language::Python, "idna==3.10").await;
    assert!(e.contains("one version"), "{e}");
    sandbox.terminate().await;
    other.terminate().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_shipped_native_and_sdist_only_packages() {
    let sandbox = runtime_sandbox(config()).await;
    // attrs ships with the runtime: a no-op that says so, and it imports.
    for spec in ["attrs", "attrs>=23"] {
        let report = sandbox
            .install_package(Language::Python, spec)
            .await
            .expect("attrs");
        assert!(report.installed.is_empty(), "{report:?}");
        assert!(
            report.summary().contains("ships with the runtime"),
            "{}",
            report.summary()
        );
    }
    let e = refused(&sandbox, Language::Python, "numpy==2.2.0").await;
    assert!(e.contains("numpy") && e.contains("manylinux"), "{e}");
    let e = refused(&sandbox, Language::Python, "pycrypto").await;
    assert!(e.contains("pycrypto") && e.contains("sdist"), "{e}");
    let e = refused(&sandbox, Language::Python, "soulbox-no-such-package-xyzzy").await;
    assert!(e.contains("not found"), "{e}");
    let result = sandbox
        .execute_code(
            Language::Python,
            "import numpy, attrs; print(numpy.__version__, attrs.__version__)",
        )
        .await
        .expect("run");
    assert_eq!(result.stdout, "2.5.2 26.1.0\n", "{}", result.stderr);
    sandbox.terminate().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_python_session_sees_a_package_installed_during_it() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::Python).await.expect("session");
    let before = session
        .execute("try:\n    import idna\nexcept ImportError:\n    print('missing')")
        .await
        .expect("cell");
    assert_eq!(before.stdout, "missing\n", "{}", before.stderr);
    let magic = session
        .execute("%pip install -q idna")
        .await
        .expect("magic");
    assert_eq!(magic.status, Status::Ok, "{}", magic.stderr);
    assert!(magic.stdout.contains("idna"), "{}", magic.stdout);
    let wrong = session
        .execute("%pip install soulbox-no-such-package-xyzzy")
        .await
        .expect("magic");
    assert_eq!(wrong.status, Status::Error);
    assert!(wrong.stderr.contains("not found"), "{}", wrong.stderr);
    let after = session
        .execute("import idna; idna.encode('ドメイン.テスト').decode()")
        .await
        .expect("cell");
    assert_eq!(after.status, Status::Ok, "{}", after.stderr);
    // A snapshot records the sandbox's packages; a restore in a new sandbox brings them back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.snap");
    session.snapshot(&path).await.expect("snapshot");
    let other = runtime_sandbox(config()).await;
    let restored = other.restore_session(&path).await.expect("restore");
    assert!(other.installed_packages().iter().any(|p| p.name == "idna"));
    let again = restored
        .execute("import idna.codec; idna.__name__")
        .await
        .expect("cell");
    assert_eq!(again.value.as_deref(), Some("'idna'"), "{}", again.stderr);
    other.terminate().await;
    sandbox.terminate().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn javascript_esm_and_cjs_packages_are_laid_out_as_node_modules() {
    let sandbox = runtime_sandbox(SandboxConfig::default()).await;
    sandbox
        .install_packages(
            Language::JavaScript,
            &["escape-string-regexp@5.0.0".into(), "debug@4.4.3".into()],
        )
        .await
        .expect("install");
    // Bare names resolve through NODE_PATH (the layer): an ES module importing the ESM package
    // and the CommonJS one (whose default export is its module.exports)...
    let esm = "\
import esc from 'escape-string-regexp';
import debug from 'debug';
console.log(esc('a.b*c'), typeof debug, typeof debug.enable);
";
    let result = sandbox
        .execute_code(Language::JavaScript, esm)
        .await
        .expect("run");
    assert_eq!(result.status, Status::Ok, "{}", result.stderr);
    assert_eq!(
        result.stdout, "a\\.b\\*c function function\n",
        "{}",
        result.stderr
    );
    // ...and a CommonJS program requiring the CommonJS package and its dependency; the layer
    // is read-only to the guest.
    let cjs = "\
const ms = require('ms');
const debug = require('debug');
console.log(ms(60000), typeof debug.enable, require('debug/package.json').name);
const fs = require('fs');
try {
  fs.writeFileSync('/packages/node_modules/debug/evil.js', 'x');
  console.log('wrote');
} catch (e) {
  console.log('refused');
}
";
    let result = sandbox
        .execute_code(Language::JavaScript, cjs)
        .await
        .expect("run");
    assert_eq!(result.status, Status::Ok, "{}", result.stderr);
    assert_eq!(
        result.stdout, "1m function debug\nrefused\n",
        "{}",
        result.stderr
    );
    sandbox.terminate().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ruby_requires_a_pure_gem_and_native_gems_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let gem = soulbox::runtimes::packages::write_gem(
        dir.path(),
        "tiny",
        "1.0.0",
        &[("lib/tiny.rb", "module Tiny\n  VERSION = '1.0.0'\nend\n")],
        &[],
    )
    .unwrap();
    let native = soulbox::runtimes::packages::write_gem(
        dir.path(),
        "fast",
        "2.0.0",
        &[("lib/fast.rb", "")],
        &["ext/fast/extconf.rb"],
    )
    .unwrap();
    let sandbox = runtime_sandbox(SandboxConfig::default().with_memory_limit(256 * MIB)).await;
    let e = refused(&sandbox, Language::Ruby, native.to_str().unwrap()).await;
    assert!(e.contains("native extensions"), "{e}");
    sandbox
        .install_package(Language::Ruby, gem.to_str().unwrap())
        .await
        .expect("install tiny");
    let result = sandbox
        .execute_code(Language::Ruby, "require 'tiny'\nputs Tiny::VERSION")
        .await
        .expect("run");
    assert_eq!(result.stdout, "1.0.0\n", "{}", result.stderr);
    sandbox.terminate().await;
}
