//! Entries of a sandbox's workspace, as listed to a caller.

use serde::{Deserialize, Serialize};

/// An entry of a sandbox's workspace listing (`Sandbox::list_files` in the engine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Path relative to the workspace root, `/`-separated.
    pub path: String,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Whether this is a directory.
    pub is_dir: bool,
}
