//! A sandbox's package layer: one directory per sandbox, next to the cache (same filesystem),
//! into which its packages are hard-linked from the content-addressed store (a copy where a
//! link is impossible), so laying out a cached package costs one link per file. The guest sees
//! it read-only at [`GUEST_ROOT`]:
//!
//! - `python/`: one merged `site-packages` (wheels' files and `*.dist-info`), appended to
//!   `sys.path`;
//! - `node_modules/<name>` (`@scope/name`, nested `a/node_modules/b`): a Node-style tree, the
//!   guest's `NODE_PATH`;
//! - `gems/<name>-<version>/`: each gem's files, its require paths on `$LOAD_PATH`.

// Audited for the wall rule (scripts/wall-audited.txt): only the sandbox's layer directory (the guest's view of it is read-only) and the package store, both under $SOULBOX_HOME/packages.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use super::archive::plain_relative;
use super::{CachedPackage, Ecosystem, PackageError, PackageRef};
use crate::error::{Result, RuntimeError};

/// Where the guest sees the layer.
pub const GUEST_ROOT: &str = "/packages";
/// The guest's Python `site-packages` in the layer.
pub const GUEST_PYTHON: &str = "/packages/python";
/// The guest's `NODE_PATH`.
pub const GUEST_NODE_MODULES: &str = "/packages/node_modules";

/// What a run needs to see a sandbox's packages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    /// The layer directory on the host (preopened read-only at [`GUEST_ROOT`]).
    pub host: PathBuf,
    /// Ruby: guest directories for `$LOAD_PATH`, in install order.
    pub ruby_load_paths: Vec<String>,
}

/// Creates a fresh, empty layer directory for one sandbox under `home`'s package directory.
pub fn create(home: &Path) -> Result<tempfile::TempDir> {
    crate::home::prepare(home)?;
    let root = super::packages_dir(home).join("layers");
    std::fs::create_dir_all(&root)
        .map_err(|e| RuntimeError::io(format!("creating {}", root.display()), e))?;
    tempfile::Builder::new()
        .prefix("sandbox-")
        .tempdir_in(&root)
        .map_err(|e| RuntimeError::io(format!("creating a layer in {}", root.display()), e))
}

/// The guest's `$LOAD_PATH` entries of a gem.
pub fn ruby_load_paths(package: &PackageRef) -> Vec<String> {
    package
        .require_paths
        .iter()
        .map(|p| format!("{GUEST_ROOT}/gems/{}/{p}", package.place))
        .collect()
}

/// Links `package` from the store into the layer at `layer`.
pub fn lay_out(layer: &Path, package: &CachedPackage) -> Result<()> {
    let clash = |detail: String| -> RuntimeError {
        PackageError::Layer {
            package: package.package.to_string(),
            detail,
        }
        .into()
    };
    let dest = match package.package.ecosystem {
        Ecosystem::Python => layer.join("python"),
        Ecosystem::Npm => {
            let place = plain_relative(&package.package.place).map_err(clash)?;
            layer.join("node_modules").join(place)
        }
        Ecosystem::Gem => {
            let place = plain_relative(&package.package.place).map_err(clash)?;
            layer.join("gems").join(place)
        }
    };
    std::fs::create_dir_all(&dest)
        .map_err(|e| RuntimeError::io(format!("creating {}", dest.display()), e))?;
    link_tree(&package.tree, &dest).map_err(clash)
}

/// Hard-links every regular file under `from` to the same place under `to` (directories
/// created). A file already there is a clash (two packages claiming one path).
fn link_tree(from: &Path, to: &Path) -> std::result::Result<(), String> {
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = from.join(&relative);
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
            let kind = entry
                .file_type()
                .map_err(|e| format!("reading {}: {e}", dir.display()))?;
            let child = relative.join(entry.file_name());
            let target = to.join(&child);
            if kind.is_dir() {
                match std::fs::create_dir(&target) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(format!("creating {}: {e}", target.display())),
                }
                pending.push(child);
            } else if kind.is_file() {
                let source = from.join(&child);
                if let Err(e) = std::fs::hard_link(&source, &target) {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        return Err(format!(
                            "{} is already provided by another package in this sandbox",
                            child.display()
                        ));
                    }
                    std::fs::copy(&source, &target)
                        .map_err(|e| format!("copying {}: {e}", child.display()))?;
                }
            }
        }
    }
    Ok(())
}
