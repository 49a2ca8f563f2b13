//! Whether this process's standard input may be handed to a guest ([`Stdin::Inherit`]): a check
//! of a host descriptor, so it stays in the engine while [`Stdin`] itself is data in `soulbox-api`.

use crate::{Result, SoulBoxError, Stdin};

/// The engine's checks of a [`Stdin`]: they look at this process's descriptors, so they live
/// here rather than with the data type in `soulbox-api`. `use soulbox::StdinExt` to call
/// `Stdin::check_inheritable()`.
pub trait StdinExt {
    /// Checks that this process's standard input may be handed to a guest as [`Stdin::Inherit`]:
    /// a pipe, a regular file, a terminal or `/dev/null`. Anything else is refused with
    /// [`SoulBoxError::InvalidRequest`]: a directory (a native guest holding a directory
    /// descriptor could `fchdir` out of its root, or list it), a socket (a line to whatever is at
    /// the other end), another device.
    fn check_inheritable() -> Result<()>;
}

impl StdinExt for Stdin {
    #[cfg(unix)]
    fn check_inheritable() -> Result<()> {
        check_inheritable(std::os::fd::AsFd::as_fd(&std::io::stdin()))
    }

    /// Only the wasm backend runs here, whose guests cannot use a descriptor beyond reading it.
    #[cfg(not(unix))]
    fn check_inheritable() -> Result<()> {
        Ok(())
    }
}

/// What kind of file `fd` is, when it is not one a guest may be given as stdin.
#[cfg(unix)]
pub(crate) fn check_inheritable(fd: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    use std::os::fd::AsRawFd;
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` is writable for one struct stat; fstat only reads the descriptor.
    if unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
        return Err(SoulBoxError::InvalidRequest(format!(
            "stdin cannot be passed on: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: fstat succeeded, so `stat` is initialised.
    let stat = unsafe { stat.assume_init() };
    let kind = match stat.st_mode & libc::S_IFMT {
        libc::S_IFIFO | libc::S_IFREG => return Ok(()),
        libc::S_IFCHR if libc::major(stat.st_rdev) == 1 && libc::minor(stat.st_rdev) == 3 => {
            return Ok(());
        }
        // SAFETY: isatty only inspects the descriptor.
        libc::S_IFCHR if unsafe { libc::isatty(fd.as_raw_fd()) } == 1 => return Ok(()),
        libc::S_IFCHR => "a character device",
        libc::S_IFDIR => "a directory",
        libc::S_IFSOCK => "a socket",
        libc::S_IFBLK => "a block device",
        _ => "not a pipe or a file",
    };
    Err(SoulBoxError::InvalidRequest(format!(
        "stdin is {kind}; a guest's stdin must be a pipe, a regular file, a terminal or \
         /dev/null (redirect it: `< FILE`, `CMD |`, or `< /dev/null`)"
    )))
}

#[cfg(all(test, unix))]
#[allow(clippy::disallowed_methods)] // tests plant hostile files on the host on purpose
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    fn refusal(fd: std::os::fd::BorrowedFd<'_>) -> Option<String> {
        check_inheritable(fd).err().map(|e| e.to_string())
    }

    #[test]
    fn pipes_files_and_dev_null_may_be_inherited() {
        let (read, _write) = std::io::pipe().unwrap();
        assert_eq!(refusal(read.as_fd()), None);
        let file = tempfile::tempfile().unwrap();
        assert_eq!(refusal(file.as_fd()), None);
        let null = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(refusal(null.as_fd()), None);
    }

    #[test]
    fn directories_sockets_and_other_devices_are_refused() {
        let dir = std::fs::File::open(std::env::temp_dir()).unwrap();
        let message = refusal(dir.as_fd()).unwrap();
        assert!(message.contains("stdin is a directory"), "{message}");
        assert!(message.contains("/dev/null"), "{message}");
        let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(refusal(socket.as_fd()).unwrap().contains("a socket"));
        let zero = std::fs::File::open("/dev/zero").unwrap();
        assert!(refusal(zero.as_fd()).unwrap().contains("character device"));
    }
}
