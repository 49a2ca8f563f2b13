//! Why a package was not installed: one line each, naming the package and what to do.

use super::Ecosystem;

/// A refused or failed package install.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// The spec cannot be used.
    #[error("cannot install `{spec}`: {reason}")]
    BadSpec {
        /// What was asked for.
        spec: String,
        /// Why not.
        reason: String,
    },
    /// The registry has no such package (or no such version).
    #[error("{ecosystem} package `{spec}` was not found in the registry")]
    NotFound {
        /// Which world.
        ecosystem: Ecosystem,
        /// What was asked for.
        spec: String,
    },
    /// The registry has the package only as wheels for other platforms (native code).
    #[error(
        "{package}: no wheel for this runtime ({wanted}); the registry has only wheels tagged {tags} (native code, which cannot run in the sandbox)"
    )]
    NoCompatibleWheel {
        /// The package.
        package: String,
        /// The tags that would fit.
        wanted: String,
        /// The tags the registry has.
        tags: String,
    },
    /// The package is published only as source, which would have to be built (nothing is built).
    #[error(
        "{package}: only a source distribution (sdist) is published, no wheel; SoulBox installs wheels only and builds nothing (no setup.py runs)"
    )]
    SourceOnly {
        /// The package.
        package: String,
    },
    /// The package holds native code or install scripts.
    #[error("{package}: refused, {reason}")]
    Native {
        /// The package.
        package: String,
        /// What was found.
        reason: String,
    },
    /// The runtime ships this package at another version.
    #[error(
        "{package}: the runtime ships {name} {shipped}, which does not satisfy `{spec}`, and the registry has no wheel of another version for this runtime{tags}"
    )]
    ShippedVersion {
        /// The request.
        package: String,
        /// The distribution.
        name: String,
        /// The shipped version.
        shipped: String,
        /// The request.
        spec: String,
        /// The registry's tags, when known (`; it has only ...`).
        tags: String,
    },
    /// The requirements cannot all be met.
    #[error("resolution conflict: {detail}")]
    Conflict {
        /// The client's explanation.
        detail: String,
    },
    /// An archive broke a rule (hostile name, link, too many files, too large).
    #[error("{package}: archive refused: {detail}")]
    Archive {
        /// The package.
        package: String,
        /// Which rule.
        detail: String,
    },
    /// A downloaded file does not match the registry's digest.
    #[error("{package}: the download has {actual}, the registry says {expected}; refused")]
    Digest {
        /// The package.
        package: String,
        /// The registry's digest.
        expected: String,
        /// What arrived.
        actual: String,
    },
    /// The registry could not be reached.
    #[error(
        "the {ecosystem} registry is unreachable (your {client} configuration, proxy and certificates apply): {detail}"
    )]
    Unreachable {
        /// Which world.
        ecosystem: Ecosystem,
        /// The client.
        client: &'static str,
        /// The client's last lines.
        detail: String,
    },
    /// Offline, and the cache lacks something.
    #[error("offline: not in the package cache: {}; install once while the {ecosystem} registry is reachable", missing.join(", "))]
    Offline {
        /// Which world.
        ecosystem: Ecosystem,
        /// What is missing.
        missing: Vec<String>,
    },
    /// The registry client is not installed.
    #[error("cannot install {ecosystem} packages: `{client}` was not found on PATH; {hint}")]
    ClientMissing {
        /// Which world.
        ecosystem: Ecosystem,
        /// The client.
        client: &'static str,
        /// How to get it.
        hint: &'static str,
    },
    /// The client failed for another reason.
    #[error("`{client}` failed: {detail}")]
    ClientFailed {
        /// The client.
        client: &'static str,
        /// Its last lines.
        detail: String,
    },
    /// Installing this into the sandbox would clash with what is there.
    #[error("{package}: {detail}")]
    Layer {
        /// The package.
        package: String,
        /// The clash.
        detail: String,
    },
}
