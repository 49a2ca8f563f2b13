//! One execution request: what to run, with which arguments and input.

use crate::{Language, Result, SoulBoxError};

/// Where the guest's standard input comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Stdin {
    /// Empty: the guest reads end-of-file at once.
    #[default]
    Empty,
    /// These bytes, then end-of-file.
    Bytes(Vec<u8>),
    /// The host process's own standard input, read lazily as the guest asks (for the CLI). It
    /// must be a pipe, a regular file, a terminal or `/dev/null` (see
    /// [`Stdin::check_inheritable`]); the native backend refuses anything else.
    Inherit,
}

impl Stdin {
    /// Checks that this process's standard input may be handed to a guest as [`Stdin::Inherit`]:
    /// a pipe, a regular file, a terminal or `/dev/null`. Anything else is refused with
    /// [`SoulBoxError::InvalidRequest`]: a directory (a native guest holding a directory
    /// descriptor could `fchdir` out of its root, or list it), a socket (a line to whatever is at
    /// the other end), another device.
    #[cfg(unix)]
    pub fn check_inheritable() -> Result<()> {
        check_inheritable(std::os::fd::AsFd::as_fd(&std::io::stdin()))
    }

    /// Checks that this process's standard input may be handed to a guest as [`Stdin::Inherit`];
    /// only the wasm backend runs here, whose guests cannot use a descriptor beyond reading it.
    #[cfg(not(unix))]
    pub fn check_inheritable() -> Result<()> {
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

/// What to run: language, code and everything that goes in with it.
///
/// ```
/// use soulbox::{ExecutionRequest, Language};
/// let request = ExecutionRequest::new(Language::Wasm, "(module)")
///     .with_args(["one", "two"])
///     .with_stdin("input");
/// assert_eq!(request.args.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRequest {
    /// The language of `code`.
    pub language: Language,
    /// Source text, WAT text, or a binary module / executable.
    pub code: Vec<u8>,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Standard input.
    pub stdin: Stdin,
    /// Extra environment variables for this execution (on top of the sandbox's).
    pub env: Vec<(String, String)>,
    /// A named runtime to use instead of the language's default (for example `python-lite`).
    pub runtime: Option<String>,
    /// File name to give the code inside the workspace, when the runtime needs one.
    pub file_name: Option<String>,
}

impl ExecutionRequest {
    /// A request with no arguments, empty stdin and the default runtime.
    pub fn new(language: Language, code: impl Into<Vec<u8>>) -> Self {
        Self {
            language,
            code: code.into(),
            args: Vec::new(),
            stdin: Stdin::Empty,
            env: Vec::new(),
            runtime: None,
            file_name: None,
        }
    }
    /// Sets the arguments.
    pub fn with_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }
    /// Sets stdin to these bytes.
    pub fn with_stdin(mut self, stdin: impl Into<Vec<u8>>) -> Self {
        self.stdin = Stdin::Bytes(stdin.into());
        self
    }
    /// Sets where stdin comes from.
    pub fn with_stdin_source(mut self, stdin: Stdin) -> Self {
        self.stdin = stdin;
        self
    }
    /// Adds an environment variable for this execution.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// Picks a named runtime.
    pub fn with_runtime(mut self, runtime: impl Into<String>) -> Self {
        self.runtime = Some(runtime.into());
        self
    }
    /// Names the code's file (for diagnostics and runtimes that run files).
    pub fn with_file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = Some(name.into());
        self
    }
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
