//! The session snapshot file: a live session's interpreter (linear memory, exported mutable
//! globals, the driver's host state), its private root and the sandbox's workspace files, so a
//! later process can restore it. Layout (all integers little-endian):
//!
//! ```text
//! magic        8 bytes  "SOULBOXS"
//! format       u32      FORMAT_VERSION
//! header_len   u32      then header_len bytes of JSON (Header: versions, runtime, memory sizes)
//! payload               memories, globals, driver state, private tree, workspace tree (below)
//! checksum     16 bytes xxh3-128 of every byte before it
//! ```
//!
//! Payload: `u32` memory count, per memory: name, `u64` byte size, then pages as `u32 index` +
//! 64 KiB of bytes, ended by index `u32::MAX` (all-zero pages are not written); `u32` global
//! count, per global: name, `u8` kind (0 i32, 1 i64, 2 f32, 3 f64, 4 v128) and its 4/8/4/8/16
//! bytes; `u32` length + the driver state ([`DriverState::encode`]); then two trees (the
//! session's private root, then the workspace), each a list of entries `u8 kind` (0 directory,
//! 1 file, 2 end) + relative path (+ for files `u64` length and the bytes). Strings are `u32`
//! length + UTF-8.
//!
//! Reading checks, in order and before anything is written anywhere: the magic, the format
//! version, the header, the engine and runtime identity, the memory sizes against the
//! sandbox's limit, the checksum, and then the whole payload (every length, page index and
//! path) - a path must be relative, `/`-separated, without `.`/`..`/empty components, NUL or
//! backslash. Restoring writes through cap-std directories only, following no symlink.
//!
//! The file itself is opened `O_NONBLOCK` and must be a regular file no larger than the
//! restoring sandbox could use ([`max_file_bytes`]) before a byte is read, so `/dev/zero` or a
//! FIFO given as a snapshot is refused at once. The trees a snapshot holds are capped at
//! [`MAX_TREE_BYTES`] when it is written, so every file this build writes is one it can read.

use std::io::{Read, Write};
use std::path::Path;

use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};
use soulbox_runtimes::DriverState;
use xxhash_rust::xxh3::Xxh3;

use crate::workspace::guest_fs;
use crate::{Result, SoulBoxError};

/// First bytes of every snapshot file.
pub(crate) const MAGIC: &[u8; 8] = b"SOULBOXS";
/// Version of the layout described in the module docs; bumped on any change.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// The wasmtime version this crate is built against (pinned with `=` in the workspace).
pub(crate) const WASMTIME_VERSION: &str = "48.0.8";
/// A wasm page.
pub(crate) const PAGE: usize = 65536;
/// Marks the end of a memory's page list.
const END_OF_PAGES: u32 = u32::MAX;
/// Deepest directory nesting written or accepted.
const MAX_DEPTH: usize = 64;
const CHECKSUM_LEN: usize = 16;
/// Most bytes the two file trees (private root and workspace: paths, lengths and contents) may
/// take in a snapshot.
pub(crate) const MAX_TREE_BYTES: u64 = 4 << 30;
/// Room for the preamble, header, page indices, globals and driver state on top of the memory
/// and the trees (a handle table alone may take 80 MiB).
const MAX_OTHER_BYTES: u64 = 256 << 20;

/// The largest snapshot file a sandbox with `memory_limit` can restore: its memory (which the
/// header must fit in anyway), the trees and the rest.
pub(crate) fn max_file_bytes(memory_limit: u64) -> u64 {
    memory_limit
        .saturating_add(memory_limit / PAGE as u64 * 4)
        .saturating_add(MAX_TREE_BYTES)
        .saturating_add(MAX_OTHER_BYTES)
}

/// What a snapshot was made by and of; checked before anything else is read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Header {
    pub soulbox_version: String,
    pub wasmtime_version: String,
    /// The engine's precompile-compatibility hash (the module cache's key).
    pub engine_compat: String,
    pub runtime: String,
    /// [`PreparedRuntime::identity`](crate::runtime::PreparedRuntime::identity).
    pub runtime_identity: String,
    pub language: String,
    /// Byte size of each memory, in payload order.
    pub memory_bytes: Vec<u64>,
    /// The packages installed in the sandbox (a lock list): a restore installs them first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<soulbox_runtimes::packages::PackageRef>,
}

/// A global's value, as numbers only (reference-typed globals cannot be written to a file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GlobalValue {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
}

impl GlobalValue {
    pub(crate) fn from_val(val: &wasmtime::Val) -> Option<Self> {
        Some(match val {
            wasmtime::Val::I32(v) => Self::I32(*v),
            wasmtime::Val::I64(v) => Self::I64(*v),
            wasmtime::Val::F32(v) => Self::F32(*v),
            wasmtime::Val::F64(v) => Self::F64(*v),
            wasmtime::Val::V128(v) => Self::V128(v.as_u128()),
            _ => return None,
        })
    }

    pub(crate) fn to_val(self) -> wasmtime::Val {
        match self {
            Self::I32(v) => wasmtime::Val::I32(v),
            Self::I64(v) => wasmtime::Val::I64(v),
            Self::F32(v) => wasmtime::Val::F32(v),
            Self::F64(v) => wasmtime::Val::F64(v),
            Self::V128(v) => wasmtime::Val::V128(v.into()),
        }
    }
}

/// A memory as read from a file: its size and its non-zero pages (offset, 64 KiB).
#[derive(Debug)]
pub(crate) struct MemoryImage<'a> {
    pub name: String,
    pub bytes: u64,
    pub pages: Vec<(usize, &'a [u8])>,
}

/// One entry of a directory tree in a file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TreeEntry<'a> {
    Dir(String),
    File(String, &'a [u8]),
}

/// A decoded, validated payload (borrowing the file's bytes).
#[derive(Debug)]
pub(crate) struct Payload<'a> {
    pub memories: Vec<MemoryImage<'a>>,
    pub globals: Vec<(String, GlobalValue)>,
    pub driver: DriverState,
    pub private: Vec<TreeEntry<'a>>,
    pub workspace: Vec<TreeEntry<'a>>,
}

/// What went into a snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SnapshotInfo {
    /// Size of the file.
    pub file_bytes: u64,
    /// Linear memory of the interpreter (all memories).
    pub memory_bytes: u64,
    /// Bytes of memory actually written (all-zero 64 KiB pages are skipped).
    pub memory_bytes_written: u64,
    /// Regular files written from the workspace.
    pub workspace_files: u64,
}

/// Everything captured from a live instance, borrowing its memory.
pub(crate) struct Captured<'a> {
    pub memories: Vec<(String, &'a [u8])>,
    pub globals: Vec<(String, GlobalValue)>,
    pub driver: Vec<u8>,
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Bytes to a writer, hashed on the way.
struct Out<W: Write> {
    w: W,
    hash: Xxh3,
    written: u64,
}

impl<W: Write> Out<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.written += bytes.len() as u64;
        self.w.write_all(bytes)
    }
    fn u8(&mut self, v: u8) -> std::io::Result<()> {
        self.put(&[v])
    }
    fn u32(&mut self, v: u32) -> std::io::Result<()> {
        self.put(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> std::io::Result<()> {
        self.put(&v.to_le_bytes())
    }
    fn len(&mut self, n: usize) -> std::io::Result<()> {
        self.u32(u32::try_from(n).map_err(|_| too_big())?)
    }
    fn str(&mut self, s: &str) -> std::io::Result<()> {
        self.len(s.len())?;
        self.put(s.as_bytes())
    }
}

fn too_big() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "a count or name is larger than the format allows",
    )
}

/// Whether a page is all zero (ORs 64-byte blocks, which the compiler vectorises).
pub(crate) fn is_zero(page: &[u8]) -> bool {
    page.chunks(64)
        .all(|block| block.iter().fold(0u8, |acc, b| acc | b) == 0)
}

/// Writes a snapshot to `path` (through a temporary file renamed into place, so a reader never
/// sees half a file). `private` is the session's private root, `workspace` the sandbox's.
pub(crate) fn write(
    path: &Path,
    header: &Header,
    captured: &Captured<'_>,
    private: Option<&Dir>,
    workspace: &Dir,
) -> Result<SnapshotInfo> {
    let io =
        |e: std::io::Error| SoulBoxError::io(format!("writing the snapshot {}", path.display()), e);
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".soulbox-snapshot-")
        .tempfile_in(parent)
        .map_err(io)?;
    let mut info = SnapshotInfo::default();
    {
        let file = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
        let mut out = Out {
            w: file,
            hash: Xxh3::new(),
            written: 0,
        };
        let header_json = serde_json::to_vec(header)
            .map_err(|e| SoulBoxError::Engine(format!("encoding the snapshot header: {e}")))?;
        out.put(MAGIC).map_err(io)?;
        out.u32(FORMAT_VERSION).map_err(io)?;
        out.len(header_json.len()).map_err(io)?;
        out.put(&header_json).map_err(io)?;

        out.len(captured.memories.len()).map_err(io)?;
        for (name, data) in &captured.memories {
            out.str(name).map_err(io)?;
            out.u64(data.len() as u64).map_err(io)?;
            info.memory_bytes += data.len() as u64;
            for (index, page) in data.chunks(PAGE).enumerate() {
                if is_zero(page) {
                    continue;
                }
                out.len(index).map_err(io)?;
                out.put(page).map_err(io)?;
                info.memory_bytes_written += page.len() as u64;
            }
            out.u32(END_OF_PAGES).map_err(io)?;
        }
        out.len(captured.globals.len()).map_err(io)?;
        for (name, value) in &captured.globals {
            out.str(name).map_err(io)?;
            match value {
                GlobalValue::I32(v) => out.u8(0).and_then(|()| out.put(&v.to_le_bytes())),
                GlobalValue::I64(v) => out.u8(1).and_then(|()| out.put(&v.to_le_bytes())),
                GlobalValue::F32(v) => out.u8(2).and_then(|()| out.put(&v.to_le_bytes())),
                GlobalValue::F64(v) => out.u8(3).and_then(|()| out.put(&v.to_le_bytes())),
                GlobalValue::V128(v) => out.u8(4).and_then(|()| out.put(&v.to_le_bytes())),
            }
            .map_err(io)?;
        }
        out.len(captured.driver.len()).map_err(io)?;
        out.put(&captured.driver).map_err(io)?;
        let trees_start = out.written;
        if let Some(private) = private {
            write_tree(&mut out, private, "", 0, trees_start).map_err(io)?;
        }
        out.u8(2).map_err(io)?;
        info.workspace_files = write_tree(&mut out, workspace, "", 0, trees_start).map_err(io)?;
        out.u8(2).map_err(io)?;
        let checksum = out.hash.digest128().to_le_bytes();
        out.w.write_all(&checksum).map_err(io)?;
        info.file_bytes = out.written + CHECKSUM_LEN as u64;
        out.w.flush().map_err(io)?;
    }
    tmp.as_file().sync_data().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(info)
}

/// Writes the regular files and directories under `dir` (symlinks and anything else skipped,
/// never followed or opened); returns the number of files. The trees together (everything
/// written since `trees_start`) may take at most [`MAX_TREE_BYTES`].
fn write_tree<W: Write>(
    out: &mut Out<W>,
    dir: &Dir,
    prefix: &str,
    depth: usize,
    trees_start: u64,
) -> std::io::Result<u64> {
    if depth > MAX_DEPTH {
        return Err(std::io::Error::other(format!(
            "`{prefix}` is nested more than {MAX_DEPTH} directories deep"
        )));
    }
    let mut entries = Vec::new();
    for entry in dir.entries()? {
        let entry = entry?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|name| std::io::Error::other(format!("file name {name:?} is not UTF-8")))?;
        entries.push((name, entry));
    }
    // A stable order: the same workspace gives the same file.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut files = 0;
    for (name, entry) in entries {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            out.u8(0)?;
            out.str(&path)?;
            // Refused, not followed, if it became a link since it was listed.
            let sub = guest_fs::open_subdir(dir, name.as_ref())?;
            files += write_tree(out, &sub, &path, depth + 1, trees_start)?;
        } else if kind.is_file() {
            let room = MAX_TREE_BYTES.saturating_sub(out.written - trees_start);
            let too_big = || {
                std::io::Error::new(
                    std::io::ErrorKind::FileTooLarge,
                    format!(
                        "the files to snapshot take more than {} GiB (at `{path}`); a snapshot holds at most that",
                        MAX_TREE_BYTES >> 30
                    ),
                )
            };
            // O_NONBLOCK, no link followed, a regular file by its descriptor.
            let mut opened =
                guest_fs::open_entry(dir, name.as_ref(), room).map_err(|e| match e {
                    guest_fs::GuestFileError::TooLarge { .. } => too_big(),
                    other => other.into(),
                })?;
            let len = opened.len();
            if len.saturating_add(path.len() as u64 + 13) > room {
                return Err(too_big());
            }
            out.u8(1)?;
            out.str(&path)?;
            out.u64(len)?;
            let file = opened.file();
            let mut left = len;
            let mut buf = vec![0u8; 1 << 16];
            while left > 0 {
                let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
                let Some(chunk) = buf.get_mut(..want) else {
                    break;
                };
                let got = file.read(chunk)?;
                if got == 0 {
                    return Err(std::io::Error::other(format!(
                        "`{path}` shrank while written"
                    )));
                }
                out.put(chunk.get(..got).unwrap_or_default())?;
                left -= got as u64;
            }
            files += 1;
        }
    }
    Ok(files)
}

// ---------------------------------------------------------------------------------------------
// Reading

fn corrupt(path: &Path, reason: impl Into<String>) -> SoulBoxError {
    SoulBoxError::SnapshotCorrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A cursor over untrusted bytes: every read is bounds-checked.
struct In<'a> {
    bytes: &'a [u8],
}

impl<'a> In<'a> {
    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        if n > self.bytes.len() {
            return Err(format!("the file ends inside {what}"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self, what: &str) -> std::result::Result<[u8; N], String> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
    fn u8(&mut self, what: &str) -> std::result::Result<u8, String> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn len(&mut self, what: &str) -> std::result::Result<usize, String> {
        usize::try_from(self.u32(what)?).map_err(|_| format!("{what} does not fit this host"))
    }
    fn str(&mut self, what: &str) -> std::result::Result<String, String> {
        let n = self.len(what)?;
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }
}

/// Reads the magic, format version and header of `bytes` (a file at `path`).
pub(crate) fn read_header(bytes: &[u8], path: &Path) -> Result<Header> {
    let mut input = In { bytes };
    let mut step = || -> std::result::Result<Header, SoulBoxError> {
        let magic = input
            .take(MAGIC.len(), "the magic")
            .map_err(|_| corrupt(path, "not a SoulBox snapshot (too short)"))?;
        if magic != MAGIC {
            return Err(corrupt(path, "not a SoulBox snapshot (wrong magic bytes)"));
        }
        let version = input
            .u32("the format version")
            .map_err(|e| corrupt(path, e))?;
        if version != FORMAT_VERSION {
            return Err(SoulBoxError::SnapshotMismatch {
                path: path.to_path_buf(),
                what: "snapshot format version",
                found: version.to_string(),
                expected: FORMAT_VERSION.to_string(),
            });
        }
        let len = input.len("the header").map_err(|e| corrupt(path, e))?;
        let json = input
            .take(len, "the header")
            .map_err(|e| corrupt(path, e))?;
        serde_json::from_slice(json).map_err(|e| corrupt(path, format!("bad header: {e}")))
    };
    step()
}

/// Checks the file's checksum, then decodes and validates its whole payload.
pub(crate) fn read_payload<'a>(
    bytes: &'a [u8],
    header: &Header,
    path: &Path,
) -> Result<Payload<'a>> {
    let Some(body_len) = bytes.len().checked_sub(CHECKSUM_LEN) else {
        return Err(corrupt(path, "the file is truncated"));
    };
    let (body, checksum) = bytes.split_at(body_len);
    let expected = xxhash_rust::xxh3::xxh3_128(body).to_le_bytes();
    if checksum != expected {
        return Err(corrupt(
            path,
            "checksum mismatch: the file is truncated or damaged",
        ));
    }
    let mut input = In { bytes: body };
    // Skip what read_header already checked.
    let skip = |input: &mut In<'a>| -> std::result::Result<(), String> {
        input.take(MAGIC.len() + 4, "the preamble")?;
        let n = input.len("the header")?;
        input.take(n, "the header")?;
        Ok(())
    };
    skip(&mut input).map_err(|e| corrupt(path, e))?;
    let payload = decode(&mut input, header).map_err(|e| corrupt(path, e))?;
    if !input.bytes.is_empty() {
        return Err(corrupt(
            path,
            format!("{} unexpected bytes after the payload", input.bytes.len()),
        ));
    }
    Ok(payload)
}

fn decode<'a>(input: &mut In<'a>, header: &Header) -> std::result::Result<Payload<'a>, String> {
    let count = input.len("the memory count")?;
    if count != header.memory_bytes.len() {
        return Err(format!(
            "{count} memories in the payload, {} in the header",
            header.memory_bytes.len()
        ));
    }
    let mut memories = Vec::with_capacity(count);
    for declared in &header.memory_bytes {
        let name = input.str("a memory name")?;
        let bytes = input.u64("a memory size")?;
        if bytes != *declared || bytes % PAGE as u64 != 0 {
            return Err(format!(
                "memory `{name}` is {bytes} bytes; the header says {declared} (whole 64 KiB pages)"
            ));
        }
        let page_count = bytes / PAGE as u64;
        let mut pages = Vec::new();
        let mut last: Option<u32> = None;
        loop {
            let index = input.u32("a page index")?;
            if index == END_OF_PAGES {
                break;
            }
            if u64::from(index) >= page_count || last.is_some_and(|l| index <= l) {
                return Err(format!(
                    "page {index} of memory `{name}` is out of range or out of order"
                ));
            }
            last = Some(index);
            let offset = usize::try_from(index)
                .ok()
                .and_then(|i| i.checked_mul(PAGE))
                .ok_or_else(|| format!("page {index} does not fit this host"))?;
            pages.push((offset, input.take(PAGE, "a memory page")?));
        }
        memories.push(MemoryImage { name, bytes, pages });
    }
    let count = input.len("the global count")?;
    let mut globals = Vec::new();
    for _ in 0..count {
        let name = input.str("a global name")?;
        let value = match input.u8("a global kind")? {
            0 => GlobalValue::I32(i32::from_le_bytes(input.array("a global")?)),
            1 => GlobalValue::I64(i64::from_le_bytes(input.array("a global")?)),
            2 => GlobalValue::F32(u32::from_le_bytes(input.array("a global")?)),
            3 => GlobalValue::F64(u64::from_le_bytes(input.array("a global")?)),
            4 => GlobalValue::V128(u128::from_le_bytes(input.array("a global")?)),
            other => return Err(format!("global `{name}` has unknown kind {other}")),
        };
        globals.push((name, value));
    }
    let n = input.len("the driver state")?;
    let driver = DriverState::decode(input.take(n, "the driver state")?)
        .map_err(|e| format!("bad driver state: {e}"))?;
    let private = decode_tree(input, "the session's private root")?;
    let workspace = decode_tree(input, "the workspace")?;
    Ok(Payload {
        memories,
        globals,
        driver,
        private,
        workspace,
    })
}

fn decode_tree<'a>(
    input: &mut In<'a>,
    which: &str,
) -> std::result::Result<Vec<TreeEntry<'a>>, String> {
    let mut entries = Vec::new();
    loop {
        match input.u8("a file entry")? {
            0 => {
                let path = input.str("a path")?;
                check_path(&path).map_err(|why| format!("entry `{path}` in {which}: {why}"))?;
                entries.push(TreeEntry::Dir(path));
            }
            1 => {
                let path = input.str("a path")?;
                check_path(&path).map_err(|why| format!("entry `{path}` in {which}: {why}"))?;
                let len = usize::try_from(input.u64("a file length")?)
                    .map_err(|_| format!("file `{path}` is too large for this host"))?;
                entries.push(TreeEntry::File(path, input.take(len, "a file")?));
            }
            2 => return Ok(entries),
            other => return Err(format!("unknown entry kind {other} in {which}")),
        }
    }
}

/// Accepts only plain relative paths: `a/b/c`, each part a real name.
pub(crate) fn check_path(path: &str) -> std::result::Result<(), &'static str> {
    if path.is_empty() {
        return Err("the path is empty");
    }
    if path.starts_with('/') {
        return Err("absolute paths are not allowed");
    }
    if path.contains('\0') || path.contains('\\') {
        return Err("NUL bytes and backslashes are not allowed");
    }
    let mut depth = 0;
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err("empty, `.` and `..` components are not allowed");
        }
        depth += 1;
    }
    if depth > MAX_DEPTH + 1 {
        return Err("the path is nested too deep");
    }
    Ok(())
}

/// Writes `entries` under `dir` (directories created, regular files overwritten). Paths were
/// checked by [`check_path`]; [`guest_fs`] additionally follows no symlink on the way (a link,
/// FIFO or device where an entry goes is an error) and refuses anything leading outside `dir`.
pub(crate) fn restore_tree(dir: &Dir, entries: &[TreeEntry<'_>]) -> std::io::Result<()> {
    for entry in entries {
        match entry {
            TreeEntry::Dir(path) => {
                check_path(path).map_err(std::io::Error::other)?;
                guest_fs::create_dir_all(dir, Path::new(path)).map_err(|e| with_path(path, e))?;
            }
            TreeEntry::File(path, bytes) => {
                check_path(path).map_err(std::io::Error::other)?;
                guest_fs::write_file(dir, Path::new(path), bytes)
                    .map_err(|e| with_path(path, e))?;
            }
        }
    }
    Ok(())
}

fn with_path(path: &str, e: guest_fs::GuestFileError) -> std::io::Error {
    let e = std::io::Error::from(e);
    std::io::Error::new(e.kind(), format!("`{path}`: {e}"))
}

/// Opens a host directory as a capability.
pub(crate) fn open_dir(path: &Path) -> Result<Dir> {
    Dir::open_ambient_dir(path, cap_std::ambient_authority())
        .map_err(|e| SoulBoxError::io(format!("opening {}", path.display()), e))
}

/// Reads a whole snapshot file for a sandbox with `memory_limit`: opened `O_NONBLOCK`, it must
/// be a regular file of at most [`max_file_bytes`] before anything is read, and the read stops
/// there (a FIFO, `/dev/zero` or a file still growing is refused, not waited on).
pub(crate) async fn read_file(path: &Path, memory_limit: u64) -> Result<Vec<u8>> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || read_file_blocking(&owned, memory_limit))
        .await
        .map_err(|e| SoulBoxError::Engine(format!("reading the snapshot failed: {e}")))?
}

// Audited for the wall rule (scripts/wall-audited.txt): the caller's snapshot path, opened O_NONBLOCK and checked to be a regular file of bounded size before reading.
#[allow(clippy::disallowed_methods)]
fn read_file_blocking(path: &Path, memory_limit: u64) -> Result<Vec<u8>> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let io =
        |e: std::io::Error| SoulBoxError::io(format!("reading the snapshot {}", path.display()), e);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(corrupt(path, format!("it is {what}, not a snapshot file")));
    }
    let max = max_file_bytes(memory_limit);
    let too_large = |size: u64| {
        corrupt(
            path,
            format!(
                "it is {size} bytes, more than a snapshot this sandbox can restore ({max} bytes: \
                 its memory limit of {memory_limit} bytes plus {} GiB of files)",
                MAX_TREE_BYTES >> 30
            ),
        )
    };
    if meta.len() > max {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests plant hostile files on the host on purpose
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            soulbox_version: "0.1.0".into(),
            wasmtime_version: WASMTIME_VERSION.into(),
            engine_compat: "abc".into(),
            runtime: "python".into(),
            runtime_identity: "python:sha256:00".into(),
            language: "python".into(),
            memory_bytes: vec![3 * PAGE as u64],
            packages: Vec::new(),
        }
    }

    fn sample(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
        let mut memory = vec![0u8; 3 * PAGE];
        memory[5] = 7;
        memory[2 * PAGE + 9] = 9;
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(ws.path().join("sub/deeper")).unwrap();
        std::fs::write(ws.path().join("sub/a.txt"), b"hello").unwrap();
        std::fs::write(ws.path().join("top.bin"), [1u8, 2, 3]).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", ws.path().join("link")).unwrap();
        let captured = Captured {
            memories: vec![("memory".into(), &memory[..])],
            globals: vec![
                ("g".into(), GlobalValue::I32(-5)),
                ("h".into(), GlobalValue::V128(1 << 100)),
            ],
            driver: DriverState::default().encode(),
        };
        let path = dir.join("s.snap");
        let workspace = open_dir(ws.path()).unwrap();
        let info = write(&path, &header(), &captured, None, &workspace).unwrap();
        assert_eq!(info.memory_bytes, 3 * PAGE as u64);
        assert_eq!(
            info.memory_bytes_written,
            2 * PAGE as u64,
            "zero page skipped"
        );
        assert_eq!(info.workspace_files, 2, "symlink skipped");
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, info.file_bytes);
        (path, bytes)
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (path, bytes) = sample(dir.path());
        let header = read_header(&bytes, &path).unwrap();
        assert_eq!(header, self::header());
        let payload = read_payload(&bytes, &header, &path).unwrap();
        assert_eq!(payload.memories.len(), 1);
        let offsets: Vec<usize> = payload.memories[0].pages.iter().map(|p| p.0).collect();
        assert_eq!(offsets, vec![0, 2 * PAGE]);
        assert_eq!(payload.memories[0].pages[1].1[9], 9);
        assert_eq!(payload.globals[0], ("g".into(), GlobalValue::I32(-5)));
        assert_eq!(payload.globals[1].1, GlobalValue::V128(1 << 100));
        assert_eq!(
            payload.workspace,
            vec![
                TreeEntry::Dir("sub".into()),
                TreeEntry::File("sub/a.txt".into(), b"hello"),
                TreeEntry::Dir("sub/deeper".into()),
                TreeEntry::File("top.bin".into(), &[1, 2, 3]),
            ]
        );
        let target = tempfile::tempdir().unwrap();
        restore_tree(&open_dir(target.path()).unwrap(), &payload.workspace).unwrap();
        assert_eq!(
            std::fs::read(target.path().join("sub/a.txt")).unwrap(),
            b"hello"
        );
        assert!(target.path().join("sub/deeper").is_dir());
    }

    #[test]
    fn every_truncation_and_flipped_byte_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, bytes) = sample(dir.path());
        let header = self::header();
        for cut in [0, 4, 8, 12, 40, bytes.len() / 2, bytes.len() - 1] {
            let short = &bytes[..cut];
            let refused = read_header(short, &path)
                .and_then(|h| read_payload(short, &h, &path).map(drop))
                .unwrap_err();
            assert!(
                matches!(refused, SoulBoxError::SnapshotCorrupt { .. }),
                "cut {cut}: {refused}"
            );
        }
        for at in [bytes.len() / 3, bytes.len() - 20, bytes.len() - 1] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 1;
            let err = read_payload(&flipped, &header, &path).unwrap_err();
            assert!(err.to_string().contains("checksum"), "{err}");
        }
        let mut wrong = bytes.clone();
        wrong[0] = b'X';
        assert!(
            read_header(&wrong, &path)
                .unwrap_err()
                .to_string()
                .contains("magic")
        );
        let mut version = bytes;
        version[8] = 9;
        let err = read_header(&version, &path).unwrap_err();
        assert!(
            matches!(
                err,
                SoulBoxError::SnapshotMismatch {
                    what: "snapshot format version",
                    ..
                }
            ),
            "{err}"
        );
    }

    /// A file forged with a valid checksum but a hostile path is refused while decoding, before
    /// anything is written.
    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "../escape.txt",
            "a/../../escape.txt",
            "/tmp/soulbox-escape.txt",
            "a//b",
            "./a",
            "",
            "a\\..\\b",
        ] {
            let mut payload = Vec::new();
            let mut out = Out {
                w: &mut payload,
                hash: Xxh3::new(),
                written: 0,
            };
            out.u32(0).unwrap(); // memories (the header below declares none)
            out.u32(0).unwrap(); // globals
            let driver = DriverState::default().encode();
            out.len(driver.len()).unwrap();
            out.put(&driver).unwrap();
            out.u8(2).unwrap(); // empty private tree
            out.u8(1).unwrap();
            out.str(bad).unwrap();
            out.u64(1).unwrap();
            out.put(b"x").unwrap();
            out.u8(2).unwrap();
            let mut header = header();
            header.memory_bytes.clear();
            let json = serde_json::to_vec(&header).unwrap();
            let mut file = MAGIC.to_vec();
            file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            file.extend_from_slice(&u32::try_from(json.len()).unwrap().to_le_bytes());
            file.extend_from_slice(&json);
            file.extend_from_slice(&payload);
            let sum = xxhash_rust::xxh3::xxh3_128(&file).to_le_bytes();
            file.extend_from_slice(&sum);
            let path = Path::new("forged.snap");
            let err = read_payload(&file, &header, path).unwrap_err();
            assert!(
                matches!(&err, SoulBoxError::SnapshotCorrupt { reason, .. } if reason.contains("in the workspace")),
                "{bad:?}: {err}"
            );
        }
        // And the writer refuses them too, even if handed one directly.
        let target = tempfile::tempdir().unwrap();
        let inner = target.path().join("ws");
        std::fs::create_dir(&inner).unwrap();
        let dir = open_dir(&inner).unwrap();
        let err = restore_tree(&dir, &[TreeEntry::File("../out.txt".into(), b"x")]);
        assert!(err.is_err());
        assert!(!target.path().join("out.txt").exists());
        // A symlink planted in the workspace does not lead outside either.
        std::os::unix::fs::symlink(target.path(), inner.join("up")).unwrap();
        let err = restore_tree(&dir, &[TreeEntry::File("up/out2.txt".into(), b"x")]);
        assert!(err.is_err());
        assert!(!target.path().join("out2.txt").exists());
    }

    #[test]
    fn the_pinned_wasmtime_version_is_the_one_built() {
        let manifest = include_str!("../../../Cargo.toml");
        assert!(
            manifest.contains(&format!("version = \"={WASMTIME_VERSION}\"")),
            "update WASMTIME_VERSION to the workspace's wasmtime pin"
        );
    }
}
