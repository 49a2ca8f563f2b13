//! Installer tests against the real registries (through pip and npm, as a user's machine
//! would), plus gem fixtures built here.

use super::*;

fn python_target() -> Target {
    Target {
        ecosystem: Ecosystem::Python,
        runtime: "python".into(),
        language_version: "3.15".into(),
        shipped: vec![("numpy".into(), "2.5.2".into())],
    }
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

fn installer(home: &tempfile::TempDir) -> Installer {
    Installer::new(home.path()).progress(Progress::Hidden)
}

fn err_text(result: Result<Installed>) -> String {
    match result {
        Err(e) => e.to_string(),
        Ok(i) => panic!("installed: {i:?}"),
    }
}

#[test]
fn python_with_dependencies_then_again_from_the_cache_without_any_client() {
    let home = home();
    let specs = vec!["requests".to_owned()];
    let first = installer(&home)
        .install(&python_target(), &specs)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!first.from_cache);
    let names: Vec<&str> = first
        .packages
        .iter()
        .map(|p| p.package.name.as_str())
        .collect();
    for wanted in ["requests", "urllib3", "idna", "certifi"] {
        assert!(names.contains(&wanted), "{names:?}");
    }
    for p in &first.packages {
        assert!(p.tree.is_dir());
        assert!(
            p.package.digest.starts_with("sha256:"),
            "{}",
            p.package.digest
        );
    }
    // No client on PATH at all: a second install must not need one.
    let started = std::time::Instant::now();
    let second = installer(&home)
        .client_path(Some("".into()))
        .install(&python_target(), &specs)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("cached install took {:?}", started.elapsed());
    assert!(second.from_cache);
    assert_eq!(second.packages, first.packages);
    // Offline, the same request is served; a new one says what is missing.
    let offline = installer(&home).offline(true);
    assert!(offline.install(&python_target(), &specs).is_ok());
    let e = err_text(offline.install(&python_target(), &["rich==13.7.1".to_owned()]));
    assert!(e.contains("offline") && e.contains("rich==13.7.1"), "{e}");
    // The cache lists them; a lock of them installs offline.
    let listed = list(home.path()).unwrap_or_default();
    assert_eq!(listed.len(), first.packages.len());
    let lock: Vec<PackageRef> = first.packages.iter().map(|p| p.package.clone()).collect();
    let locked = offline
        .install_locked(&python_target(), &lock)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(locked.from_cache);
    let mut hostile = lock[0].clone();
    hostile.name = "git+https://example.invalid/x".into();
    let e = err_text(installer(&home).install_locked(&python_target(), &[hostile]));
    assert!(e.contains("a lock entry needs"), "{e}");
    assert_eq!(clear(home.path()).unwrap_or_default(), listed.len());
    assert!(list(home.path()).unwrap_or_default().is_empty());
}

#[test]
fn python_refusals_name_the_package_and_why() {
    let home = home();
    let install =
        |spec: &str| err_text(installer(&home).install(&python_target(), &[spec.to_owned()]));
    let e = install("numpy==2.2.0");
    assert!(
        e.contains("numpy") && e.contains("ships numpy 2.5.2") && e.contains("manylinux"),
        "{e}"
    );
    let e = install("pycrypto");
    assert!(e.contains("pycrypto") && e.contains("sdist"), "{e}");
    let e = install("soulbox-no-such-package-xyzzy");
    assert!(e.contains("not found"), "{e}");
    let e = install("--index-url=http://example.invalid");
    assert!(e.contains("options are not passed"), "{e}");
    for hostile in [
        "./local-project",
        "/etc",
        "pkg @ https://example.invalid/p.whl",
        "git+https://example.invalid/r",
        "file:///etc",
    ] {
        let e = install(hostile);
        assert!(e.contains("only registry packages"), "{hostile}: {e}");
    }
    let npm = Target::plain(Ecosystem::Npm, "quickjs", "0.11");
    for hostile in [
        "file:../x",
        "github:user/repo",
        "../x",
        "@scope/../../x",
        "https://example.invalid/x.tgz",
    ] {
        let e = err_text(installer(&home).install(&npm, &[hostile.to_owned()]));
        assert!(e.contains("only registry packages"), "{hostile}: {e}");
    }
    // A bare name the runtime ships is a no-op.
    let shipped = installer(&home)
        .install(&python_target(), &["numpy".to_owned()])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(shipped.packages.is_empty());
    assert_eq!(shipped.shipped, [("numpy".to_owned(), "2.5.2".to_owned())]);
}

#[test]
fn npm_tree_is_resolved_fetched_and_checked() {
    let home = home();
    let target = Target::plain(Ecosystem::Npm, "quickjs", "0.11");
    let got = installer(&home)
        .install(&target, &["debug@4.4.3".to_owned()])
        .unwrap_or_else(|e| panic!("{e}"));
    let places: Vec<&str> = got
        .packages
        .iter()
        .map(|p| p.package.place.as_str())
        .collect();
    assert!(
        places.contains(&"debug") && places.contains(&"ms"),
        "{places:?}"
    );
    for p in &got.packages {
        assert!(p.tree.join("package.json").is_file());
    }
    let e =
        err_text(installer(&home).install(&target, &["soulbox-no-such-package-xyzzy".to_owned()]));
    assert!(e.contains("not found"), "{e}");
}

#[test]
fn a_local_gem_installs_and_a_native_one_is_refused() {
    let home = home();
    let dir = home.path().join("gems-in");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let target = Target::plain(Ecosystem::Gem, "ruby", "3.4");
    let gem = write_gem(
        &dir,
        "tiny",
        "1.0.0",
        &[("lib/tiny.rb", "module Tiny; end\n")],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let spec = vec![gem.display().to_string()];
    let got = installer(&home)
        .install(&target, &spec)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.packages.len(), 1);
    let package = &got.packages[0];
    assert_eq!(package.package.place, "tiny-1.0.0");
    assert_eq!(package.package.require_paths, ["lib"]);
    assert!(package.tree.join("lib/tiny.rb").is_file());
    let again = installer(&home)
        .install(&target, &spec)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.from_cache);
    let native = write_gem(
        &dir,
        "fast",
        "2.0.0",
        &[("lib/fast.rb", "")],
        &["ext/fast/extconf.rb"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let e = err_text(installer(&home).install(&target, &[native.display().to_string()]));
    assert!(
        e.contains("fast 2.0.0") && e.contains("native extensions"),
        "{e}"
    );
    let e = err_text(installer(&home).install(&target, &["rails".to_owned()]));
    assert!(e.contains(".gem file"), "{e}");
    let hostile = write_gem(&dir, "evil", "1.0.0", &[("../../escape.rb", "")], &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let e = err_text(installer(&home).install(&target, &[hostile.display().to_string()]));
    assert!(e.contains("path traversal"), "{e}");
    assert!(!home.path().join("packages/escape.rb").exists());
}
