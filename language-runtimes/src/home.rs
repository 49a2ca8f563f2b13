//! SoulBox's home directory (`$SOULBOX_HOME`): where runtimes, compiled modules, images and the
//! compile cache live. Whatever is there is loaded and run by the engine, so nobody else may be
//! able to write it.
//!
//! - [`resolve`]: `$SOULBOX_HOME`, else `$XDG_CACHE_HOME/soulbox`, else `$HOME/.cache/soulbox`;
//!   with none of them set it is an error (never a shared fallback such as `/tmp/soulbox`, which
//!   another local user could create first and fill).
//! - [`prepare`]: creates the directory with mode 0700 if it is missing, then requires it to be
//!   a directory owned by the current user and not writable by group or others. Called when an
//!   engine starts and before the installer writes anything.

// Audited for the wall rule (scripts/wall-audited.txt): checks and creates $SOULBOX_HOME itself, before anything is trusted in it.
#![allow(clippy::disallowed_methods)]

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Result, RuntimeError};

/// The home directory as the environment names it (not checked; see [`prepare`]).
pub fn resolve() -> Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(home) = var("SOULBOX_HOME") {
        return Ok(PathBuf::from(home));
    }
    if let Some(cache) = var("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(cache).join("soulbox"));
    }
    match var("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("soulbox")),
        None => Err(RuntimeError::Home {
            path: None,
            reason: "none of SOULBOX_HOME, XDG_CACHE_HOME and HOME is set; set SOULBOX_HOME to a \
                     directory of your own (it is created with mode 0700 if missing)"
                .into(),
        }),
    }
}

/// Makes sure `dir` can safely be SoulBox's home: created (mode 0700, parents as needed) if
/// missing; otherwise it must be a directory owned by the effective user and not writable by
/// group or others. A directory that fails is refused, with what to do.
pub fn prepare(dir: &Path) -> Result<()> {
    let refuse = |reason: String| RuntimeError::Home {
        path: Some(dir.to_path_buf()),
        reason,
    };
    match std::fs::metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| refuse(format!("it cannot be created ({e})")))?;
        }
        Err(e) => return Err(refuse(format!("it cannot be inspected ({e})"))),
    }
    let meta =
        std::fs::metadata(dir).map_err(|e| refuse(format!("it cannot be inspected ({e})")))?;
    check(&meta, effective_uid()).map_err(refuse)
}

/// The ownership and mode rules of [`prepare`], on `meta` (the directory, symlinks followed).
fn check(meta: &std::fs::Metadata, uid: u32) -> std::result::Result<(), String> {
    if !meta.is_dir() {
        return Err("it is not a directory; set SOULBOX_HOME to a directory of your own".into());
    }
    if meta.uid() != uid {
        return Err(format!(
            "it is owned by uid {}, not by you (uid {uid}): another user could put runtimes and \
             compiled code there for SoulBox to run; use a directory of your own (set \
             SOULBOX_HOME) or remove this one",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "it is writable by {} (mode {mode:04o}): others could put runtimes and compiled code \
             there for SoulBox to run; run `chmod go-w` on it (or `chmod 700`)",
            match (mode & 0o020 != 0, mode & 0o002 != 0) {
                (true, true) => "its group and by everyone",
                (true, false) => "its group",
                _ => "everyone",
            }
        ));
    }
    Ok(())
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_missing_home_is_created_private() -> std::io::Result<()> {
        let base = tempfile::tempdir()?;
        let home = base.path().join("a/b/soulbox");
        prepare(&home).map_err(std::io::Error::other)?;
        assert_eq!(std::fs::metadata(&home)?.mode() & 0o777, 0o700);
        // Prepared twice is fine.
        prepare(&home).map_err(std::io::Error::other)?;
        Ok(())
    }

    #[test]
    fn a_home_others_can_write_or_own_is_refused() -> std::io::Result<()> {
        let base = tempfile::tempdir()?;
        let home = base.path().join("home");
        std::fs::create_dir(&home)?;
        for mode in [0o775, 0o757, 0o777, 0o1777] {
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(mode))?;
            let err = prepare(&home)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("chmod go-w"), "{mode:o}: {err}");
        }
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755))?;
        prepare(&home).map_err(std::io::Error::other)?;
        let meta = std::fs::metadata(&home)?;
        let err = check(&meta, meta.uid().wrapping_add(1))
            .err()
            .unwrap_or_default();
        assert!(err.contains("not by you"), "{err}");
        let file = base.path().join("file");
        std::fs::write(&file, "")?;
        assert!(prepare(&file).is_err());
        Ok(())
    }
}
