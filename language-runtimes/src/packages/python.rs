//! Python: pip's own resolver, in dry-run/report mode for the runtime's tags, decides the whole
//! set in one call (running no package code: `--only-binary=:all:`); `pip download --no-deps`
//! then fetches exactly the files the report names, and each one's sha256 is checked against
//! the report's (the registry's) digest.
//!
//! Wheels only: pure-Python (`py3-none-any`) and wheels tagged for WASI. The distributions the
//! runtime image ships (numpy, pandas, ...) count as installed: each becomes a tiny stub wheel
//! (name and version, no dependencies) in a `--find-links` directory and a `==` constraint, so
//! pip keeps them, never fetches them, and refuses a request for another version.

// Audited for the wall rule (scripts/wall-audited.txt): only the runtime's own install directory (read) and the installer's temporary directories.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::archive::Unpacked;
use super::{
    Ecosystem, Installer, PackageError, PackageRef, Resolution, Resolved, Target, tail, unreachable,
};
use crate::error::{Result, RuntimeError};
use crate::install::fetch::pip_command;

/// Platform tags a wheel may have to be installed (besides `any`).
const WASI_PLATFORMS: &[&str] = &["wasi_0_0_0_wasm32", "wasm32_wasi"];

/// `Foo_bar.Baz` -> `foo-bar-baz` (PEP 503).
pub(super) fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            dash = true;
        } else {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The project name at the start of a requirement specifier (`rich==13.7.1` -> `rich`).
pub(super) fn requirement_name(spec: &str) -> &str {
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    &spec[..end]
}

/// The distributions in the top level of the runtime's standard-library zips (`lib/*.zip`),
/// from their `<name>-<version>.dist-info` directories.
pub(super) fn shipped_distributions(dir: &Path) -> Result<Vec<(String, String)>> {
    let lib = dir.join("lib");
    let Ok(entries) = std::fs::read_dir(&lib) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "zip") {
            continue;
        }
        let file = std::fs::File::open(&path)
            .map_err(|e| RuntimeError::io(format!("opening {}", path.display()), e))?;
        let zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
            RuntimeError::io(
                format!("reading {}", path.display()),
                std::io::Error::other(e),
            )
        })?;
        for name in zip.file_names() {
            let Some(top) = name.split('/').next() else {
                continue;
            };
            let Some(stem) = top.strip_suffix(".dist-info") else {
                continue;
            };
            if let Some((dist, version)) = stem.split_once('-') {
                found.push((normalise(dist), version.to_owned()));
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn pip(installer: &Installer) -> Result<Command> {
    pip_command(installer.path.as_deref()).ok_or_else(|| {
        PackageError::ClientMissing {
            ecosystem: Ecosystem::Python.name(),
            client: "pip",
            hint: "install pip (Debian/Ubuntu: `apt-get install python3-pip`; or run `bash scripts/setup.sh`)",
        }
        .into()
    })
}

/// The target's tags as pip options.
fn tag_options(target: &Target) -> Vec<String> {
    let compact = target.language_version.replace('.', "");
    let mut args = vec![
        "--only-binary=:all:".to_owned(),
        "--platform".to_owned(),
        "any".to_owned(),
    ];
    for platform in WASI_PLATFORMS {
        args.extend(["--platform".to_owned(), (*platform).to_owned()]);
    }
    args.extend([
        "--python-version".to_owned(),
        target.language_version.clone(),
        "--implementation".to_owned(),
        "cp".to_owned(),
    ]);
    for abi in ["none".to_owned(), "abi3".to_owned(), format!("cp{compact}")] {
        args.extend(["--abi".to_owned(), abi]);
    }
    args.extend(
        [
            "--no-input",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
        ]
        .map(str::to_owned),
    );
    args
}

fn wanted_tags(target: &Target) -> String {
    format!(
        "py3-none-any or a WASI wheel for CPython {}",
        target.language_version
    )
}

/// Writes one stub wheel per shipped distribution (metadata only) and the constraints file.
fn write_stubs(target: &Target, work: &Path) -> Result<(PathBuf, PathBuf)> {
    let stubs = work.join("shipped");
    std::fs::create_dir_all(&stubs)
        .map_err(|e| RuntimeError::io("creating the shipped-stub directory", e))?;
    let mut constraints = String::new();
    for (name, version) in &target.shipped {
        let dist = name.replace('-', "_");
        let info = format!("{dist}-{version}.dist-info");
        let path = stubs.join(format!("{dist}-{version}-py3-none-any.whl"));
        let file = std::fs::File::create(&path)
            .map_err(|e| RuntimeError::io(format!("creating {}", path.display()), e))?;
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let files = [
            (
                format!("{info}/METADATA"),
                format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
            ),
            (
                format!("{info}/WHEEL"),
                "Wheel-Version: 1.0\nGenerator: soulbox\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                    .to_owned(),
            ),
            (format!("{info}/RECORD"), String::new()),
        ];
        for (member, text) in files {
            zip.start_file(member, options)
                .and_then(|()| zip.write_all(text.as_bytes()).map_err(Into::into))
                .map_err(|e| RuntimeError::io("writing a stub wheel", std::io::Error::other(e)))?;
        }
        zip.finish()
            .map_err(|e| RuntimeError::io("writing a stub wheel", std::io::Error::other(e)))?;
        constraints.push_str(&format!("{name}=={version}\n"));
    }
    let constraints_path = work.join("constraints.txt");
    std::fs::write(&constraints_path, constraints)
        .map_err(|e| RuntimeError::io("writing the constraints", e))?;
    Ok((stubs, constraints_path))
}

/// Resolves `specs` and their dependencies.
pub(super) fn resolve(
    installer: &Installer,
    target: &Target,
    specs: &[String],
    work: &Path,
) -> Result<Resolution> {
    run_resolver(installer, target, specs, work, false)
}

/// Resolves exact `name==version` specs without their dependencies (a lock lists them all).
pub(super) fn resolve_exact(
    installer: &Installer,
    target: &Target,
    specs: &[String],
    work: &Path,
) -> Result<Resolution> {
    run_resolver(installer, target, specs, work, true)
}

fn run_resolver(
    installer: &Installer,
    target: &Target,
    specs: &[String],
    work: &Path,
    no_deps: bool,
) -> Result<Resolution> {
    let shipped_version = |name: &str| {
        let name = normalise(name);
        target
            .shipped
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    // A bare name the runtime ships is installed already: nothing to ask pip.
    let mut shipped = Vec::new();
    let mut ask = Vec::new();
    for spec in specs {
        let name = requirement_name(spec.trim());
        match shipped_version(name) {
            Some(version) if spec.trim() == name => shipped.push((name.to_owned(), version)),
            _ => ask.push(spec.trim().to_owned()),
        }
    }
    if ask.is_empty() {
        return Ok(Resolution {
            request: specs.to_vec(),
            resolved: Vec::new(),
            shipped,
        });
    }
    let (stubs, constraints) = write_stubs(target, work)?;
    let report = work.join("report.json");
    let log = work.join("resolve.log");
    let mut cmd = pip(installer)?;
    cmd.args(["install", "--dry-run", "--ignore-installed", "-vv"])
        .arg("--target")
        .arg(work.join("target"))
        .arg("--report")
        .arg(&report)
        .args(tag_options(target))
        .arg("--find-links")
        .arg(&stubs)
        .arg("-c")
        .arg(&constraints)
        .env("TMPDIR", work);
    if no_deps {
        cmd.arg("--no-deps");
    }
    cmd.arg("--").args(&ask);
    let step = installer
        .progress
        .spinner(format!("resolving {} with pip", ask.join(" ")));
    if let Err(mut text) = installer.run_client(cmd, &log)? {
        // A request for another version of a shipped distribution fails on the constraint
        // before pip looks at the registry; ask once more without it, for the tags there.
        if let Some(spec) = ask.iter().find(|spec| {
            let name = requirement_name(spec);
            shipped_version(name).is_some() && wheel_tags(&text, name).is_empty()
        }) {
            text.push_str(&probe(installer, target, spec, work)?);
        }
        return Err(classify(target, &ask, &text, &shipped_version));
    }
    step.finish("resolved");
    let bytes = std::fs::read(&report).map_err(|e| RuntimeError::io("reading pip's report", e))?;
    let report: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| RuntimeError::io("reading pip's report", std::io::Error::other(e)))?;
    let mut resolved = Vec::new();
    let items = report
        .get("install")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    let stub_url = format!("file://{}", stubs.display());
    for item in items {
        let text = |path: &[&str]| {
            let mut value = &item;
            for key in path {
                value = value.get(key)?;
            }
            value.as_str().map(str::to_owned)
        };
        let (Some(name), Some(version), Some(url)) = (
            text(&["metadata", "name"]),
            text(&["metadata", "version"]),
            text(&["download_info", "url"]),
        ) else {
            continue;
        };
        if url.starts_with(&stub_url) || shipped_version(&name).as_deref() == Some(&version) {
            if item.get("requested").and_then(|v| v.as_bool()) == Some(true) {
                shipped.push((name, version));
            }
            continue;
        }
        let Some(sha256) = text(&["download_info", "archive_info", "hashes", "sha256"]) else {
            return Err(PackageError::Digest {
                package: format!("{name} {version}"),
                expected: "a sha256 from the registry".into(),
                actual: format!("none given for {url}"),
            }
            .into());
        };
        resolved.push(Resolved {
            package: PackageRef {
                ecosystem: Ecosystem::Python,
                name,
                version,
                digest: format!("sha256:{}", sha256.to_ascii_lowercase()),
                place: String::new(),
                require_paths: Vec::new(),
            },
            url,
        });
    }
    Ok(Resolution {
        request: specs.to_vec(),
        resolved,
        shipped,
    })
}

/// pip's `-vv` output for `spec` alone, without the shipped constraints (what the registry has).
fn probe(installer: &Installer, target: &Target, spec: &str, work: &Path) -> Result<String> {
    let probe = work.join("probe");
    let mut cmd = pip(installer)?;
    cmd.args([
        "install",
        "--dry-run",
        "--ignore-installed",
        "--no-deps",
        "-vv",
    ])
    .arg("--target")
    .arg(probe.join("target"))
    .args(tag_options(target))
    .env("TMPDIR", work)
    .arg("--")
    .arg(spec);
    Ok(installer
        .run_client(cmd, &work.join("probe.log"))?
        .err()
        .unwrap_or_default())
}

/// Turns pip's failure output into one error that names the package and the reason.
fn classify(
    target: &Target,
    asked: &[String],
    text: &str,
    shipped_version: &dyn Fn(&str) -> Option<String>,
) -> RuntimeError {
    if unreachable(text) {
        return PackageError::Unreachable {
            ecosystem: Ecosystem::Python.name(),
            client: "pip",
            detail: tail(text, 3),
        }
        .into();
    }
    let failed = text
        .lines()
        .find_map(|l| l.split("No matching distribution found for ").nth(1))
        .map(str::trim)
        .map(str::to_owned);
    let conflict =
        text.contains("ResolutionImpossible") || text.contains("conflicting dependencies");
    let culprit = failed.clone().or_else(|| {
        asked
            .iter()
            .find(|spec| shipped_version(requirement_name(spec)).is_some())
            .cloned()
    });
    if let Some(spec) = culprit.as_deref() {
        let name = requirement_name(spec);
        let tags = wheel_tags(text, name);
        if let Some(version) = shipped_version(name) {
            return PackageError::ShippedVersion {
                package: spec.to_owned(),
                name: name.to_owned(),
                shipped: version,
                spec: spec.to_owned(),
                tags: if tags.is_empty() {
                    String::new()
                } else {
                    format!("; it has only wheels tagged {tags}")
                },
            }
            .into();
        }
        if !conflict || failed.is_some() {
            if !tags.is_empty() {
                return PackageError::NoCompatibleWheel {
                    package: spec.to_owned(),
                    wanted: wanted_tags(target),
                    tags,
                }
                .into();
            }
            if has_sources(text, name) {
                return PackageError::SourceOnly {
                    package: spec.to_owned(),
                }
                .into();
            }
            return PackageError::NotFound {
                ecosystem: Ecosystem::Python.name(),
                spec: spec.to_owned(),
            }
            .into();
        }
    }
    if conflict {
        let detail = text
            .split("The conflict is caused by:")
            .nth(1)
            .map(|rest| {
                rest.lines()
                    .map(str::trim)
                    .take_while(|l| !l.is_empty() && !l.starts_with("To fix"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| tail(text, 3));
        return PackageError::Conflict { detail }.into();
    }
    PackageError::ClientFailed {
        client: "pip",
        detail: tail(text, 4),
    }
    .into()
}

/// The distinct platform tags of `name`'s wheels that pip skipped (from its `-vv` log), e.g.
/// `manylinux_2_17_x86_64, win_amd64, ...`.
fn wheel_tags(text: &str, name: &str) -> String {
    let prefix = format!("{}-", normalise(name).replace('-', "_"));
    let mut tags: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.split("none of the wheel's tags (").nth(1) else {
            continue;
        };
        let Some((list, after)) = rest.split_once(')') else {
            continue;
        };
        let url = after
            .split("): ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_default();
        let file = url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !file.starts_with(&prefix) {
            continue;
        }
        for tag in list.split(", ") {
            let platform = tag.rsplit('-').next().unwrap_or(tag).to_owned();
            if !tags.contains(&platform) {
                tags.push(platform);
            }
        }
    }
    let total = tags.len();
    tags.sort();
    // The newest manylinux/macOS/Windows tags sort last; show those.
    let shown: Vec<String> = tags.iter().rev().take(8).rev().cloned().collect();
    match total {
        0 => String::new(),
        n if n > shown.len() => format!("{} and {} more", shown.join(", "), n - shown.len()),
        _ => shown.join(", "),
    }
}

fn has_sources(text: &str, name: &str) -> bool {
    let wanted = normalise(name);
    text.lines().any(|l| {
        l.split("No sources permitted for ")
            .nth(1)
            .or_else(|| l.split("No binaries permitted for ").nth(1))
            .and_then(|rest| rest.split(':').next())
            .is_some_and(|n| normalise(n.trim()) == wanted)
    })
}

/// Downloads the files of `wanted` with one `pip download --no-deps` run; returns their paths
/// in the same order.
pub(super) fn download(
    installer: &Installer,
    wanted: &[&Resolved],
    dest: &Path,
) -> Result<Vec<PathBuf>> {
    let mut cmd = pip(installer)?;
    cmd.args(["download", "--no-deps", "-d"])
        .arg(dest)
        .env("TMPDIR", dest);
    // The report's URLs already fit the runtime; pip checks a wheel's tags against the
    // interpreter it runs on unless told the target's (the caller's tags are not needed).
    cmd.args(["--only-binary=:all:", "--platform", "any"]);
    for platform in WASI_PLATFORMS {
        cmd.args(["--platform", platform]);
    }
    cmd.args([
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "--ignore-requires-python",
    ]);
    cmd.arg("--");
    for item in wanted {
        cmd.arg(&item.url);
    }
    let names: Vec<String> = wanted.iter().map(|w| w.package.to_string()).collect();
    let step = installer
        .progress
        .spinner(format!("downloading {} with pip", names.join(", ")));
    let log = dest.with_extension("log");
    if let Err(text) = installer.run_client(cmd, &log)? {
        if unreachable(&text) {
            return Err(PackageError::Unreachable {
                ecosystem: Ecosystem::Python.name(),
                client: "pip",
                detail: tail(&text, 3),
            }
            .into());
        }
        return Err(PackageError::ClientFailed {
            client: "pip",
            detail: tail(&text, 4),
        }
        .into());
    }
    step.finish("downloaded");
    wanted
        .iter()
        .map(|item| {
            let file = url_file_name(&item.url);
            let path = dest.join(&file);
            if path.is_file() {
                Ok(path)
            } else {
                Err(PackageError::ClientFailed {
                    client: "pip",
                    detail: format!("pip finished but left no {file}"),
                }
                .into())
            }
        })
        .collect()
}

/// The file name at the end of a URL (`.../attrs-25.1.0-py3-none-any.whl#sha256=...`),
/// percent-decoded, reduced to one plain component.
fn url_file_name(url: &str) -> String {
    let path = url.split(['#', '?']).next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let mut out = Vec::with_capacity(last.len());
    let bytes = last.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    let name = String::from_utf8_lossy(&out).replace(['/', '\0'], "_");
    if name.is_empty() || name == "." || name == ".." {
        return "download".to_owned();
    }
    name
}

/// Refuses a wheel that carries compiled extension modules for a native platform.
pub(super) fn check_tree(package: &PackageRef, unpacked: &Unpacked, tree: &Path) -> Result<()> {
    for file in &unpacked.files {
        let native = [".so", ".pyd", ".dylib", ".dll"]
            .iter()
            .any(|ext| file.ends_with(ext) || file.contains(".so."));
        if !native {
            continue;
        }
        let mut magic = [0u8; 4];
        let is_wasm = std::fs::File::open(tree.join(file))
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
            && magic == *b"\0asm";
        if !is_wasm {
            return Err(PackageError::Native {
                package: package.to_string(),
                reason: format!(
                    "it holds a compiled extension module for a native platform ({file}), which cannot run in the sandbox"
                ),
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_and_come_from_specs() {
        assert_eq!(normalise("Charset_Normalizer"), "charset-normalizer");
        assert_eq!(normalise("zope.interface"), "zope-interface");
        assert_eq!(requirement_name("rich==13.7.1"), "rich");
        assert_eq!(requirement_name("attrs>=23"), "attrs");
        assert_eq!(
            requirement_name("requests[socks] ; python_version>'3'"),
            "requests"
        );
    }

    #[test]
    fn skipped_wheel_tags_are_summarised() {
        let log = "  Skipping link: none of the wheel's tags (cp313-cp313-manylinux_2_17_x86_64, cp313-cp313-manylinux2014_x86_64) are compatible (run pip debug --verbose to show compatible tags): https://x/numpy-2.2.0-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl (from https://x/simple/numpy/)\n  Skipping link: none of the wheel's tags (cp313-cp313-win_amd64) are compatible (run pip debug): https://x/numpy-2.2.0-cp313-cp313-win_amd64.whl\n  Skipping link: none of the wheel's tags (cp313-cp313-win_amd64) are compatible (run pip debug): https://x/numpyx-1.0-cp313-cp313-win32.whl";
        assert_eq!(
            wheel_tags(log, "numpy"),
            "manylinux2014_x86_64, manylinux_2_17_x86_64, win_amd64"
        );
        assert!(has_sources(
            "Skipping link: No sources permitted for pycrypto: https://x/pycrypto-2.6.tar.gz",
            "PyCrypto"
        ));
    }

    #[test]
    fn url_file_names_are_one_plain_component() {
        assert_eq!(
            url_file_name("https://h/p/a/attrs-25.1.0-py3-none-any.whl#sha256=ab"),
            "attrs-25.1.0-py3-none-any.whl"
        );
        assert_eq!(url_file_name("https://h/x%2B1.whl"), "x+1.whl");
        assert_eq!(url_file_name("https://h/..%2F..%2Fevil"), ".._.._evil");
        assert_eq!(url_file_name("https://h/.."), "download");
        assert_eq!(url_file_name("https://h/%é%4"), "%é%4");
    }
}
