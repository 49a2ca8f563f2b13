//! npm: the npm client resolves the whole tree without running anything
//! (`npm install --package-lock-only --ignore-scripts` in a throwaway project), `npm pack`
//! fetches exactly the locked versions, and each tarball is checked against the lock's sha512
//! `integrity`. Packages with native addons or install scripts are refused.

// Audited for the wall rule (scripts/wall-audited.txt): only the installer's temporary directories and its fresh staging trees.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::archive::Unpacked;
use super::{
    Ecosystem, Installer, PackageError, PackageRef, Resolution, Resolved, tail, unreachable,
};
use crate::error::{Result, RuntimeError};
use crate::install::fetch::on_path;

fn npm(installer: &Installer) -> Result<Command> {
    if !on_path("npm", installer.path.as_deref()) {
        return Err(PackageError::ClientMissing {
            ecosystem: Ecosystem::Npm.name(),
            client: "npm",
            hint: "install npm (Debian/Ubuntu: `apt-get install npm`; or run `bash scripts/setup.sh`)",
        }
        .into());
    }
    let mut cmd = Command::new("npm");
    cmd.args([
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
    ]);
    Ok(cmd)
}

fn failure(text: &str, specs: &[String]) -> RuntimeError {
    if unreachable(text) {
        return PackageError::Unreachable {
            ecosystem: Ecosystem::Npm.name(),
            client: "npm",
            detail: tail(text, 3),
        }
        .into();
    }
    if text.contains("E404") || text.contains("ETARGET") || text.contains("No matching version") {
        let spec = specs
            .iter()
            .find(|s| text.contains(s.split('@').find(|p| !p.is_empty()).unwrap_or(s)))
            .cloned()
            .unwrap_or_else(|| specs.join(" "));
        return PackageError::NotFound {
            ecosystem: Ecosystem::Npm.name(),
            spec,
        }
        .into();
    }
    if text.contains("ERESOLVE") {
        return PackageError::Conflict {
            detail: tail(text, 4),
        }
        .into();
    }
    PackageError::ClientFailed {
        client: "npm",
        detail: tail(text, 4),
    }
    .into()
}

/// Resolves `specs` into the full locked tree.
pub(super) fn resolve(installer: &Installer, specs: &[String], work: &Path) -> Result<Resolution> {
    let project = work.join("project");
    std::fs::create_dir_all(&project)
        .map_err(|e| RuntimeError::io("creating the npm project", e))?;
    std::fs::write(
        project.join("package.json"),
        "{\"name\":\"soulbox-install\",\"version\":\"0.0.0\",\"private\":true}\n",
    )
    .map_err(|e| RuntimeError::io("writing the npm project", e))?;
    let mut cmd = npm(installer)?;
    cmd.args(["install", "--package-lock-only", "--omit=dev"])
        .arg("--")
        .args(specs)
        .current_dir(&project)
        .env("TMPDIR", work);
    let step = installer
        .progress
        .spinner(format!("resolving {} with npm", specs.join(" ")));
    if let Err(text) = installer.run_client(cmd, &work.join("resolve.log"))? {
        return Err(failure(&text, specs));
    }
    step.finish("resolved");
    let bytes = std::fs::read(project.join("package-lock.json"))
        .map_err(|e| RuntimeError::io("reading npm's lock", e))?;
    let lock: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| RuntimeError::io("reading npm's lock", std::io::Error::other(e)))?;
    let mut resolved = Vec::new();
    let packages = lock
        .get("packages")
        .and_then(|p| p.as_object())
        .cloned()
        .unwrap_or_default();
    for (key, entry) in packages {
        let Some(place) = key.strip_prefix("node_modules/") else {
            continue;
        };
        let flag = |name: &str| entry.get(name).and_then(|v| v.as_bool()) == Some(true);
        // Platform-specific optional packages (native binaries) are what npm itself skips on
        // a platform they do not fit; the sandbox fits none.
        if flag("optional") || flag("dev") {
            continue;
        }
        let name = entry
            .get("name")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                place
                    .rsplit("node_modules/")
                    .next()
                    .unwrap_or(place)
                    .to_owned()
            });
        let version = entry
            .get("version")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        if flag("hasInstallScript") {
            return Err(PackageError::Native {
                package: format!("{name} {version}"),
                reason:
                    "it has an install script (npm packages are installed without running anything)"
                        .into(),
            }
            .into());
        }
        if flag("link") {
            return Err(PackageError::Layer {
                package: name,
                detail: "a linked (local) package cannot be installed into a sandbox".into(),
            }
            .into());
        }
        let Some(digest) = entry
            .get("integrity")
            .and_then(|v| v.as_str())
            .and_then(|i| i.split_whitespace().find_map(super::sha512_integrity))
        else {
            return Err(PackageError::Digest {
                package: format!("{name} {version}"),
                expected: "a sha512 integrity from the registry".into(),
                actual: "none in npm's lock".into(),
            }
            .into());
        };
        resolved.push(Resolved {
            url: format!("{name}@{version}"),
            package: PackageRef {
                ecosystem: Ecosystem::Npm,
                name,
                version,
                digest,
                place: place.to_owned(),
                require_paths: Vec::new(),
            },
        });
    }
    Ok(Resolution {
        request: specs.to_vec(),
        resolved,
        shipped: Vec::new(),
    })
}

/// Fetches the tarballs of `wanted` with one `npm pack` run; returns their paths in order.
pub(super) fn download(
    installer: &Installer,
    wanted: &[&Resolved],
    dest: &Path,
) -> Result<Vec<PathBuf>> {
    let specs: Vec<String> = wanted.iter().map(|w| w.url.clone()).collect();
    let mut cmd = npm(installer)?;
    cmd.args(["pack", "--json", "--pack-destination"])
        .arg(dest)
        .arg("--")
        .args(&specs)
        .current_dir(dest)
        .env("TMPDIR", dest);
    let step = installer
        .progress
        .spinner(format!("downloading {} with npm", specs.join(", ")));
    let log = dest.with_extension("log");
    if let Err(text) = installer.run_client(cmd, &log)? {
        return Err(failure(&text, &specs));
    }
    step.finish("downloaded");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let start = text.find('[').unwrap_or(0);
    let packed: serde_json::Value =
        serde_json::from_str(&text[start..]).map_err(|e| PackageError::ClientFailed {
            client: "npm",
            detail: format!("npm pack printed no readable list of files: {e}"),
        })?;
    let packed = packed.as_array().cloned().unwrap_or_default();
    wanted
        .iter()
        .map(|item| {
            let file = packed
                .iter()
                .find(|p| {
                    p.get("name").and_then(|v| v.as_str()) == Some(item.package.name.as_str())
                        && p.get("version").and_then(|v| v.as_str())
                            == Some(item.package.version.as_str())
                })
                .and_then(|p| p.get("filename").and_then(|v| v.as_str()))
                .filter(|f| !f.contains('/') && !f.starts_with('.'))
                .ok_or_else(|| PackageError::ClientFailed {
                    client: "npm",
                    detail: format!("npm pack did not report a file for {}", item.package),
                })?;
            Ok(dest.join(file))
        })
        .collect()
}

/// Refuses native addons: `binding.gyp`, `.node` files, `gypfile`, install scripts.
pub(super) fn check_tree(package: &PackageRef, tree: &Path, unpacked: &Unpacked) -> Result<()> {
    let refuse = |reason: String| -> RuntimeError {
        PackageError::Native {
            package: package.to_string(),
            reason,
        }
        .into()
    };
    for file in &unpacked.files {
        if file == "binding.gyp" || file.ends_with(".node") {
            return Err(refuse(format!(
                "it is a native addon ({file}), which cannot run in the sandbox"
            )));
        }
    }
    let manifest = std::fs::read(tree.join("package.json"))
        .map_err(|e| refuse(format!("it has no readable package.json ({e})")))?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest)
        .map_err(|e| refuse(format!("its package.json is not JSON ({e})")))?;
    if manifest.get("gypfile").and_then(|v| v.as_bool()) == Some(true) {
        return Err(refuse(
            "it is a native addon (`gypfile` in package.json)".into(),
        ));
    }
    if let Some(scripts) = manifest.get("scripts").and_then(|s| s.as_object()) {
        for hook in ["preinstall", "install", "postinstall"] {
            if scripts.contains_key(hook) {
                return Err(refuse(format!(
                    "it has an `{hook}` script (npm packages are installed without running anything)"
                )));
            }
        }
    }
    Ok(())
}
