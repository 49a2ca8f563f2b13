//! Packages for guests: `pip install`, `npm install` and `gem install` done on the host, with
//! nothing of the package run there, for interpreters that run inside the sandbox.
//!
//! 1. **Resolve** with the registry's own client (so the user's registry configuration, mirrors,
//!    proxies and certificates apply; no registry address is in the project): Python through
//!    pip's resolver in dry-run/report mode for the runtime's tags (pure-Python and WASI wheels
//!    only, the runtime's shipped distributions counted as installed), npm through a
//!    lock-only `npm install --ignore-scripts`, gems from a local `.gem` file.
//! 2. **Fetch** each file with the same client, and check it against the registry's digest
//!    (sha256 from pip's report, sha512 `integrity` from npm's lock, the gem's own
//!    `checksums.yaml`).
//! 3. **Unpack** hostile-archive safe ([`archive`]: plain relative names only, no links, caps on
//!    entries and sizes) into a staging directory, refuse native code, and rename the tree into
//!    the machine-wide content-addressed cache `$SOULBOX_HOME/packages/store/<algo>-<hex>/` in one
//!    step. Each package version is unpacked once; the resolution of a request is cached too,
//!    so a second install of the same thing reads two small files and makes no network call.
//! 4. **Lay out** ([`layer`]): the engine links a sandbox's packages into that sandbox's own
//!    directory, which the guest sees read-only on its interpreter's search path.

// Audited for the wall rule (scripts/wall-audited.txt): only $SOULBOX_HOME/packages (owned, 0700) and the installer's own temporary directories.
#![allow(clippy::disallowed_methods)]

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, RuntimeError};
use crate::progress::Progress;

pub mod archive;
mod gem;
pub mod layer;
mod npm;
mod python;

pub use crate::error::PackageError;
pub use archive::Caps;
pub use gem::write_gem;

/// Which package world a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// Python wheels (PyPI or the user's configured index), for the `python` runtimes.
    Python,
    /// npm packages, for JavaScript.
    Npm,
    /// Ruby gems.
    Gem,
}

impl Ecosystem {
    /// Its name in commands and messages (`python`, `npm`, `gem`).
    pub fn name(self) -> &'static str {
        match self {
            Ecosystem::Python => "python",
            Ecosystem::Npm => "npm",
            Ecosystem::Gem => "gem",
        }
    }

    /// Parses `python`/`pip`/`py`, `npm`/`javascript`/`js`, `gem`/`ruby`/`rb`.
    pub fn parse(name: &str) -> Option<Ecosystem> {
        match name.to_ascii_lowercase().as_str() {
            "python" | "pip" | "py" => Some(Ecosystem::Python),
            "npm" | "javascript" | "js" | "node" => Some(Ecosystem::Npm),
            "gem" | "ruby" | "rb" => Some(Ecosystem::Gem),
            _ => None,
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One exact package version: what a lock list holds and what a snapshot records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PackageRef {
    /// Its ecosystem.
    pub ecosystem: Ecosystem,
    /// Its name as the registry spells it.
    pub name: String,
    /// Its exact version.
    pub version: String,
    /// The registry's digest of the archive it came from, `sha256:<hex>` (wheels, gems) or
    /// `sha512:<hex>` (npm's `integrity`): the key of the cache entry.
    pub digest: String,
    /// Where it goes in a sandbox's layer, relative to the ecosystem's directory: `""` for a
    /// wheel (merged into `site-packages`), `name` / `@scope/name` (or a nested
    /// `a/node_modules/b`) under `node_modules`, `name-version` under `gems`.
    pub place: String,
    /// For gems: the directories of the gem to put on `$LOAD_PATH` (`lib`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require_paths: Vec<String>,
}

impl fmt::Display for PackageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

/// A package in the machine-wide cache, unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPackage {
    /// Which package.
    pub package: PackageRef,
    /// Its unpacked tree.
    pub tree: PathBuf,
}

/// What the runtime a package is for looks like.
#[derive(Debug, Clone)]
pub struct Target {
    /// The ecosystem.
    pub ecosystem: Ecosystem,
    /// The runtime's name (`python`, `quickjs`, `ruby`): part of the resolution cache key.
    pub runtime: String,
    /// Its language version (`3.15`); for Python, the tags wheels must match.
    pub language_version: String,
    /// Distributions the runtime ships (normalised name, version): counted as installed, never
    /// fetched.
    pub shipped: Vec<(String, String)>,
}

impl Target {
    /// The target for a Python runtime installed in `dir`: its version, and the distributions
    /// in its standard-library zips (`*.dist-info` at their top level).
    pub fn python(runtime: &str, version: &str, dir: &Path) -> Result<Target> {
        let mut parts = version.split('.');
        let language_version = match (parts.next(), parts.next()) {
            (Some(major), Some(minor)) => format!("{major}.{minor}"),
            _ => version.to_owned(),
        };
        Ok(Target {
            ecosystem: Ecosystem::Python,
            runtime: runtime.to_owned(),
            language_version,
            shipped: python::shipped_distributions(dir)?,
        })
    }

    /// A target with nothing shipped (JavaScript, Ruby).
    pub fn plain(ecosystem: Ecosystem, runtime: &str, version: &str) -> Target {
        Target {
            ecosystem,
            runtime: runtime.to_owned(),
            language_version: version.to_owned(),
            shipped: Vec::new(),
        }
    }

    fn key(&self, what: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(format!(
            "v1\0{}\0{}\0{}\0{what}",
            self.ecosystem, self.runtime, self.language_version
        ));
        for (name, version) in &self.shipped {
            hasher.update(format!("\0{name}=={version}"));
        }
        hex::encode(hasher.finalize())
    }
}

/// The result of an install request.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    /// The packages to lay out (the request's and their dependencies), in the cache.
    pub packages: Vec<CachedPackage>,
    /// Requested names the runtime already ships (`numpy 2.5.2`): nothing to do for them.
    pub shipped: Vec<(String, String)>,
    /// Whether nothing was fetched and no client ran (everything came from the cache).
    pub from_cache: bool,
}

/// Installs packages into the machine-wide cache.
#[derive(Debug, Clone)]
pub struct Installer {
    home: PathBuf,
    offline: bool,
    progress: Progress,
    path: Option<OsString>,
    caps: Caps,
}

/// A resolved file to fetch.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Resolved {
    package: PackageRef,
    /// What the client fetches it by (a URL from pip's report, `name@version` for npm).
    url: String,
}

/// A cached resolution: the request and what it came to.
#[derive(Debug, Serialize, Deserialize)]
struct Resolution {
    request: Vec<String>,
    resolved: Vec<Resolved>,
    shipped: Vec<(String, String)>,
}

const ENTRY_MARKER: &str = "soulbox-package.json";

impl Installer {
    /// An installer using `$SOULBOX_HOME` `home`, fetching when needed, progress on stderr.
    pub fn new(home: &Path) -> Installer {
        Installer {
            home: home.to_path_buf(),
            offline: false,
            progress: Progress::Stderr,
            path: std::env::var_os("PATH"),
            caps: Caps::DEFAULT,
        }
    }

    /// Never run a registry client: install from the cache or say exactly what is missing.
    pub fn offline(mut self, offline: bool) -> Installer {
        self.offline = offline;
        self
    }

    /// Where progress goes.
    pub fn progress(mut self, progress: Progress) -> Installer {
        self.progress = progress;
        self
    }

    /// The `PATH` the registry clients are looked up in (default: this process's).
    pub fn client_path(mut self, path: Option<OsString>) -> Installer {
        self.path = path;
        self
    }

    /// Caps on each archive.
    pub fn caps(mut self, caps: Caps) -> Installer {
        self.caps = caps;
        self
    }

    /// The root of the package cache.
    pub fn root(&self) -> PathBuf {
        packages_dir(&self.home)
    }

    /// Installs `specs` (requirement specifiers, npm specs, or paths of `.gem` files) and their
    /// dependencies for `target` into the cache, returning what a sandbox lays out.
    pub fn install(&self, target: &Target, specs: &[String]) -> Result<Installed> {
        if specs.is_empty() {
            return Ok(Installed {
                from_cache: true,
                ..Installed::default()
            });
        }
        for spec in specs {
            if let Err(reason) = check_spec(target.ecosystem, spec) {
                return Err(PackageError::BadSpec {
                    spec: spec.clone(),
                    reason,
                }
                .into());
            }
        }
        crate::home::prepare(&self.home)?;
        if target.ecosystem == Ecosystem::Gem {
            // A gem comes from a local file: nothing to resolve, nothing to fetch.
            return gem::install(self, specs);
        }
        let key = target.key(&specs.join("\n"));
        if let Some(resolution) = self.cached_resolution(target.ecosystem, &key)
            && let Some(packages) = self.all_cached(&resolution.resolved)
        {
            return Ok(Installed {
                packages,
                shipped: resolution.shipped,
                from_cache: true,
            });
        }
        if self.offline {
            return Err(self.offline_error(target, specs, &key));
        }
        let work = self.work_dir()?;
        let resolution = match target.ecosystem {
            Ecosystem::Python => python::resolve(self, target, specs, work.path())?,
            _ => npm::resolve(self, specs, work.path())?,
        };
        let packages = self.fetch_all(target.ecosystem, &resolution.resolved, work.path())?;
        self.store_resolution(target.ecosystem, &key, &resolution)?;
        Ok(Installed {
            packages,
            shipped: resolution.shipped,
            from_cache: false,
        })
    }

    /// Installs gems given as (name for messages, bytes of the `.gem` file): how a door whose
    /// caller may not name host files hands over a gem it read from the sandbox's workspace.
    pub fn install_gems(&self, gems: Vec<(String, Vec<u8>)>) -> Result<Installed> {
        crate::home::prepare(&self.home)?;
        gem::install_bytes(self, gems)
    }

    /// Installs exactly the packages of a lock list (versions and digests as recorded), from the
    /// cache when they are there, else from the registry with their dependencies not resolved
    /// again (the lock lists them all) and each archive's sha256 checked against the lock.
    pub fn install_locked(&self, target: &Target, lock: &[PackageRef]) -> Result<Installed> {
        crate::home::prepare(&self.home)?;
        let mut packages = Vec::new();
        let mut missing = Vec::new();
        for entry in lock {
            let plain = |s: &str, extra: &[char]| {
                !s.is_empty()
                    && !s.starts_with(['.', '-'])
                    && s.chars().all(|c| {
                        c.is_ascii_alphanumeric() || "._-+!".contains(c) || extra.contains(&c)
                    })
            };
            let scoped = target.ecosystem == Ecosystem::Npm && entry.name.starts_with('@');
            let name_ok = if scoped {
                entry.name[1..]
                    .split_once('/')
                    .is_some_and(|(scope, name)| plain(scope, &[]) && plain(name, &[]))
            } else {
                plain(&entry.name, &[])
            };
            if !name_ok || !plain(&entry.version, &[]) || store_name(&entry.digest).is_none() {
                return Err(PackageError::BadSpec {
                    spec: format!("{} {}", entry.name, entry.version),
                    reason: "a lock entry needs a registry package name, an exact version and a sha256/sha512 digest".into(),
                }
                .into());
            }
            if entry.ecosystem != target.ecosystem {
                return Err(PackageError::BadSpec {
                    spec: format!("{} {}", entry.name, entry.version),
                    reason: format!(
                        "the lock entry is a {} package, not {}",
                        entry.ecosystem, target.ecosystem
                    ),
                }
                .into());
            }
            match self.cached(entry) {
                Some(found) => packages.push(found),
                None => missing.push(entry.clone()),
            }
        }
        if missing.is_empty() {
            return Ok(Installed {
                packages,
                shipped: Vec::new(),
                from_cache: true,
            });
        }
        if self.offline || target.ecosystem == Ecosystem::Gem {
            return Err(PackageError::Offline {
                ecosystem: target.ecosystem.name(),
                missing: missing.iter().map(ToString::to_string).collect(),
            }
            .into());
        }
        let work = self.work_dir()?;
        let specs: Vec<String> = missing
            .iter()
            .map(|p| match target.ecosystem {
                Ecosystem::Npm => format!("{}@{}", p.name, p.version),
                _ => format!("{}=={}", p.name, p.version),
            })
            .collect();
        let resolution = match target.ecosystem {
            Ecosystem::Python => python::resolve_exact(self, target, &specs, work.path())?,
            _ => npm::resolve(self, &specs, work.path())?,
        };
        let mut wanted = Vec::new();
        for entry in &missing {
            let found = resolution
                .resolved
                .iter()
                .find(|r| r.package.name == entry.name && r.package.version == entry.version)
                .ok_or_else(|| PackageError::NotFound {
                    ecosystem: target.ecosystem.name(),
                    spec: entry.to_string(),
                })?;
            if found.package.digest != entry.digest {
                return Err(PackageError::Digest {
                    package: entry.to_string(),
                    expected: format!("{} (from the lock)", entry.digest),
                    actual: format!("{} (from the registry)", found.package.digest),
                }
                .into());
            }
            let mut locked = found.clone();
            locked.package.place = entry.place.clone();
            wanted.push(locked);
        }
        packages.extend(self.fetch_all(target.ecosystem, &wanted, work.path())?);
        Ok(Installed {
            packages,
            shipped: Vec::new(),
            from_cache: false,
        })
    }

    fn offline_error(&self, target: &Target, specs: &[String], key: &str) -> RuntimeError {
        let missing = match self.cached_resolution(target.ecosystem, key) {
            Some(resolution) => resolution
                .resolved
                .iter()
                .filter(|r| self.cached(&r.package).is_none())
                .map(|r| r.package.to_string())
                .collect(),
            None => specs
                .iter()
                .map(|s| format!("{s} (never resolved on this machine)"))
                .collect(),
        };
        PackageError::Offline {
            ecosystem: target.ecosystem.name(),
            missing,
        }
        .into()
    }

    fn work_dir(&self) -> Result<tempfile::TempDir> {
        let root = self.root();
        std::fs::create_dir_all(&root)
            .map_err(|e| RuntimeError::io(format!("creating {}", root.display()), e))?;
        tempfile::Builder::new()
            .prefix(".install-")
            .tempdir_in(&root)
            .map_err(|e| RuntimeError::io(format!("creating a directory in {}", root.display()), e))
    }

    /// The cache entry of `package`, if complete.
    fn cached(&self, package: &PackageRef) -> Option<CachedPackage> {
        let entry = self.root().join("store").join(store_name(&package.digest)?);
        let marker: PackageRef =
            serde_json::from_slice(&std::fs::read(entry.join(ENTRY_MARKER)).ok()?).ok()?;
        (marker.name == package.name && marker.version == package.version).then(|| CachedPackage {
            package: PackageRef {
                place: package.place.clone(),
                ..marker
            },
            tree: entry.join("tree"),
        })
    }

    fn all_cached(&self, resolved: &[Resolved]) -> Option<Vec<CachedPackage>> {
        resolved.iter().map(|r| self.cached(&r.package)).collect()
    }

    fn cached_resolution(&self, ecosystem: Ecosystem, key: &str) -> Option<Resolution> {
        let path = self
            .root()
            .join("resolved")
            .join(ecosystem.name())
            .join(format!("{key}.json"));
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    fn store_resolution(
        &self,
        ecosystem: Ecosystem,
        key: &str,
        resolution: &Resolution,
    ) -> Result<()> {
        let dir = self.root().join("resolved").join(ecosystem.name());
        std::fs::create_dir_all(&dir)
            .map_err(|e| RuntimeError::io(format!("creating {}", dir.display()), e))?;
        let bytes = serde_json::to_vec_pretty(resolution)
            .map_err(|e| RuntimeError::io("writing a resolution", std::io::Error::other(e)))?;
        let temp = tempfile::NamedTempFile::new_in(&dir)
            .map_err(|e| RuntimeError::io(format!("writing in {}", dir.display()), e))?;
        std::fs::write(temp.path(), bytes)
            .map_err(|e| RuntimeError::io("writing a resolution", e))?;
        temp.persist(dir.join(format!("{key}.json")))
            .map_err(|e| RuntimeError::io("writing a resolution", e.error))?;
        Ok(())
    }

    /// Fetches what is not cached yet (one client run for all of them), checks each digest,
    /// unpacks and stores it.
    fn fetch_all(
        &self,
        ecosystem: Ecosystem,
        resolved: &[Resolved],
        work: &Path,
    ) -> Result<Vec<CachedPackage>> {
        let missing: Vec<&Resolved> = resolved
            .iter()
            .filter(|r| self.cached(&r.package).is_none())
            .collect();
        if !missing.is_empty() {
            let download = work.join("download");
            std::fs::create_dir_all(&download)
                .map_err(|e| RuntimeError::io("creating the download directory", e))?;
            let files = match ecosystem {
                Ecosystem::Python => python::download(self, &missing, &download)?,
                _ => npm::download(self, &missing, &download)?,
            };
            for (wanted, file) in missing.iter().zip(files) {
                check_digest(&wanted.package, &file)?;
                self.store(ecosystem, &wanted.package, &file, work)?;
            }
        }
        resolved
            .iter()
            .map(|r| {
                self.cached(&r.package).ok_or_else(|| {
                    PackageError::Archive {
                        package: r.package.to_string(),
                        detail: "it is not in the cache after it was stored".into(),
                    }
                    .into()
                })
            })
            .collect()
    }

    /// Unpacks `archive` (already checked against its digest) into the store, refusing native
    /// code.
    fn store(
        &self,
        ecosystem: Ecosystem,
        package: &PackageRef,
        archive: &Path,
        work: &Path,
    ) -> Result<()> {
        let step = self.progress.spinner(format!("{package}: unpacking"));
        let staged = tempfile::Builder::new()
            .prefix("stage-")
            .tempdir_in(work)
            .map_err(|e| RuntimeError::io("creating a staging directory", e))?;
        let tree = staged.path().join("tree");
        std::fs::create_dir(&tree).map_err(|e| RuntimeError::io("creating the staging tree", e))?;
        let format = match ecosystem {
            Ecosystem::Python => archive::Format::Zip,
            _ => archive::Format::TarGz { strip_first: true },
        };
        let unpacked = archive::unpack(archive, format, &tree, self.caps).map_err(|detail| {
            PackageError::Archive {
                package: package.to_string(),
                detail,
            }
        })?;
        match ecosystem {
            Ecosystem::Python => python::check_tree(package, &unpacked, &tree)?,
            _ => npm::check_tree(package, &tree, &unpacked)?,
        }
        self.commit(package, staged.path())?;
        step.finish("cached");
        Ok(())
    }

    /// Writes the marker last and renames the staged entry into the store (another process's
    /// finished copy of the same digest is as good as ours).
    fn commit(&self, package: &PackageRef, staged: &Path) -> Result<()> {
        let marker = serde_json::to_vec_pretty(package).map_err(|e| {
            RuntimeError::io("writing the package marker", std::io::Error::other(e))
        })?;
        std::fs::write(staged.join(ENTRY_MARKER), marker)
            .map_err(|e| RuntimeError::io("writing the package marker", e))?;
        let store = self.root().join("store");
        std::fs::create_dir_all(&store)
            .map_err(|e| RuntimeError::io(format!("creating {}", store.display()), e))?;
        let name = store_name(&package.digest).ok_or_else(|| PackageError::Digest {
            package: package.to_string(),
            expected: "a sha256 or sha512 digest".into(),
            actual: package.digest.clone(),
        })?;
        let dest = store.join(name);
        if dest.exists() && self.cached(package).is_none() {
            let trash = staged.with_extension("old");
            std::fs::rename(&dest, &trash)
                .map_err(|e| RuntimeError::io(format!("replacing {}", dest.display()), e))?;
            let _ = std::fs::remove_dir_all(&trash);
        }
        match std::fs::rename(staged, &dest) {
            Ok(()) => Ok(()),
            Err(_) if self.cached(package).is_some() => Ok(()),
            Err(e) => Err(RuntimeError::io(
                format!("moving the package into {}", dest.display()),
                e,
            )),
        }
    }

    /// Runs a registry client with its output in `log`; on failure returns the log's text.
    fn run_client(&self, mut cmd: Command, log: &Path) -> Result<std::result::Result<(), String>> {
        let out = std::fs::File::create(log)
            .map_err(|e| RuntimeError::io("creating the client log", e))?;
        let err = out
            .try_clone()
            .map_err(|e| RuntimeError::io("creating the client log", e))?;
        if let Some(path) = &self.path {
            cmd.env("PATH", path);
        }
        let status = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| RuntimeError::io(format!("starting {cmd:?}"), e))?;
        if status.success() {
            return Ok(Ok(()));
        }
        Ok(Err(std::fs::read_to_string(log).unwrap_or_default()))
    }
}

/// A spec must name a registry package: a name with optional extras, version range and
/// markers. Options, paths, URLs, VCS and `file:` specs are refused: they would make the client
/// read host files, reach other hosts or build (run) a project on the host.
fn check_spec(ecosystem: Ecosystem, spec: &str) -> std::result::Result<(), String> {
    let spec = spec.trim();
    if spec.is_empty() || spec.starts_with('-') || spec.contains('\0') {
        return Err(
            "a package spec is a name with an optional version (options are not passed to the client)".into(),
        );
    }
    if ecosystem == Ecosystem::Gem {
        return Ok(());
    }
    let name_part = match ecosystem {
        // `@scope/name@range`: one `/`, inside the scope.
        Ecosystem::Npm => spec
            .strip_prefix('@')
            .and_then(|rest| rest.split_once('/'))
            .map_or(spec, |(_, rest)| rest),
        _ => spec,
    };
    let forbidden = ['/', '\\', ':'];
    if name_part.contains(forbidden)
        || spec.starts_with('.')
        || (ecosystem == Ecosystem::Python && spec.contains('@'))
    {
        return Err(
            "only registry packages can be installed (a name and version range), not paths, URLs, VCS or file: specs".into(),
        );
    }
    Ok(())
}

/// Checks `file` against the package's digest (the registry's, or a lock's).
fn check_digest(package: &PackageRef, file: &Path) -> Result<()> {
    let bytes = std::fs::read(file)
        .map_err(|e| RuntimeError::io(format!("reading {}", file.display()), e))?;
    let actual = match package.digest.split_once(':') {
        Some(("sha512", _)) => format!("sha512:{}", hex::encode(sha2::Sha512::digest(&bytes))),
        _ => format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
    };
    if store_name(&package.digest).is_none() || actual != package.digest {
        return Err(PackageError::Digest {
            package: package.to_string(),
            expected: package.digest.clone(),
            actual,
        }
        .into());
    }
    Ok(())
}

/// The store directory of a digest (`sha256:<hex>` -> `sha256-<hex>`), if it is well formed.
fn store_name(digest: &str) -> Option<String> {
    let (algo, hex) = digest.split_once(':')?;
    let len = match algo {
        "sha256" => 64,
        "sha512" => 128,
        _ => return None,
    };
    (hex.len() == len
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| format!("{algo}-{hex}"))
}

/// `sha512-<base64>` (an npm `integrity`) as `sha512:<hex>`.
fn sha512_integrity(integrity: &str) -> Option<String> {
    use base64::Engine as _;
    let b64 = integrity.strip_prefix("sha512-")?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    (bytes.len() == 64).then(|| format!("sha512:{}", hex::encode(bytes)))
}

/// Where packages live under a SoulBox home.
pub fn packages_dir(home: &Path) -> PathBuf {
    home.join("packages")
}

/// The packages in the machine-wide cache.
pub fn list(home: &Path) -> Result<Vec<PackageRef>> {
    let store = packages_dir(home).join("store");
    let entries = match std::fs::read_dir(&store) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RuntimeError::io(format!("listing {}", store.display()), e)),
    };
    let mut out: Vec<PackageRef> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join(ENTRY_MARKER)).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect();
    out.sort_by(|a, b| {
        (a.ecosystem.name(), &a.name, &a.version).cmp(&(b.ecosystem.name(), &b.name, &b.version))
    });
    Ok(out)
}

/// Empties the cache (packages and resolutions); returns how many packages were removed.
/// Sandboxes that already laid packages out keep their own links.
pub fn clear(home: &Path) -> Result<usize> {
    let count = list(home)?.len();
    let root = packages_dir(home);
    for sub in ["store", "resolved", "shipped"] {
        let dir = root.join(sub);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RuntimeError::io(format!("removing {}", dir.display()), e)),
        }
    }
    Ok(count)
}

/// The tail of a client's output, for an error message.
fn tail(text: &str, lines: usize) -> String {
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .rev()
        .take(lines)
        .collect();
    kept.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Whether `text` (a client's output) says the registry could not be reached.
fn unreachable(text: &str) -> bool {
    [
        "Failed to establish a new connection",
        "Max retries exceeded",
        "Network is unreachable",
        "Name or service not known",
        "Temporary failure in name resolution",
        "Connection refused",
        "ECONNREFUSED",
        "ENOTFOUND",
        "EAI_AGAIN",
        "ETIMEDOUT",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests;
