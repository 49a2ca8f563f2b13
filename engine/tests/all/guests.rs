//! Hand-written WASI guests (WAT), so the tests need no toolchain and every byte they run is in
//! view.

const IMPORTS: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  ;; write(fd, ptr, len) using the iovec at 0..8 and nwritten at 8
  (func $write (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
  ;; sleep for $ns nanoseconds with poll_oneoff (subscription at 1024, event at 1104)
  (func $sleep (param $ns i64)
    (i64.store (i32.const 1024) (i64.const 0))
    (i32.store8 (i32.const 1032) (i32.const 0))
    (i32.store (i32.const 1040) (i32.const 1))
    (i64.store (i32.const 1048) (local.get $ns))
    (i64.store (i32.const 1056) (i64.const 0))
    (i32.store16 (i32.const 1064) (i32.const 0))
    (drop (call $poll_oneoff (i32.const 1024) (i32.const 1104) (i32.const 1) (i32.const 1200))))
"#;

fn module(data: &str, body: &str) -> String {
    format!("(module {IMPORTS} {data} (func (export \"_start\") {body}))")
}

fn escape(s: impl AsRef<[u8]>) -> String {
    s.as_ref().iter().map(|b| format!("\\{b:02x}")).collect()
}

/// Prints `text` to stdout and exits 0.
pub fn print(text: &str) -> String {
    print_and_exit(text, 0)
}

/// Prints `text` to stdout, then exits with `code`.
pub fn print_and_exit(text: &str, code: i32) -> String {
    module(
        &format!("(data (i32.const 4096) \"{}\")", escape(text)),
        &format!(
            "(drop (call $write (i32.const 1) (i32.const 4096) (i32.const {}))) (call $proc_exit (i32.const {code}))",
            text.len()
        ),
    )
}

/// Prints `first`, sleeps `ms` milliseconds, prints `second`.
pub fn print_sleep_print(first: &str, ms: u64, second: &str) -> String {
    module(
        &format!(
            "(data (i32.const 4096) \"{}\") (data (i32.const 8192) \"{}\")",
            escape(first),
            escape(second)
        ),
        &format!(
            "(drop (call $write (i32.const 1) (i32.const 4096) (i32.const {}))) \
             (call $sleep (i64.const {})) \
             (drop (call $write (i32.const 1) (i32.const 8192) (i32.const {})))",
            first.len(),
            ms * 1_000_000,
            second.len()
        ),
    )
}

/// Spins forever.
pub fn spin() -> String {
    module("", "(loop $l (br $l))")
}

/// Grows memory by 1 MiB at a time until refused, then traps (`unreachable`).
pub fn memory_hog_trap() -> String {
    module(
        "",
        "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable",
    )
}

/// Grows memory until refused, then exits with code 3 (handles the failure itself).
pub fn memory_hog_exit() -> String {
    module(
        "",
        "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (call $proc_exit (i32.const 3))",
    )
}

/// Writes 64 KiB chunks to `fd` forever.
pub fn flood(fd: i32) -> String {
    module(
        "",
        &format!(
            "(loop $l (drop (call $write (i32.const {fd}) (i32.const 65536) (i32.const 65536))) (br $l))"
        ),
    )
}

/// Infinite recursion.
pub fn recurse() -> String {
    format!(
        "(module {IMPORTS} (func $r (param i32) (result i32) (i32.add (call $r (local.get 0)) (i32.const 1))) (func (export \"_start\") (drop (call $r (i32.const 0)))))"
    )
}

/// Executes `unreachable`.
pub fn unreachable() -> String {
    module("", "unreachable")
}

/// Opens `path` relative to the first preopen (`/work`), following symlinks; exits with the errno
/// (0 = opened).
pub fn open(path: &str) -> String {
    module(
        &format!("(data (i32.const 4096) \"{}\")", escape(path)),
        &format!(
            "(call $proc_exit (call $path_open (i32.const 3) (i32.const 1) (i32.const 4096) (i32.const {}) \
             (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 100)))",
            path.len()
        ),
    )
}

/// Creates (or truncates) `path` in the workspace and writes `text` into it; exits with the errno
/// of the first failing step.
pub fn write_file(path: &str, text: impl AsRef<[u8]>) -> String {
    let text = text.as_ref();
    module(
        &format!(
            "(data (i32.const 4096) \"{}\") (data (i32.const 8192) \"{}\")",
            escape(path),
            escape(text)
        ),
        &format!(
            "(local $e i32)
             (local.set $e (call $path_open (i32.const 3) (i32.const 1) (i32.const 4096) (i32.const {})
                (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 100)))
             (if (local.get $e) (then (call $proc_exit (local.get $e))))
             (call $proc_exit (call $write (i32.load (i32.const 100)) (i32.const 8192) (i32.const {})))",
            path.len(),
            text.len()
        ),
    )
}

/// Copies stdin to stdout.
pub fn cat() -> String {
    module(
        "",
        "(loop $l
           (i32.store (i32.const 16) (i32.const 65536))
           (i32.store (i32.const 20) (i32.const 65536))
           (drop (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
           (if (i32.load (i32.const 24))
             (then (drop (call $write (i32.const 1) (i32.const 65536) (i32.load (i32.const 24)))) (br $l))))",
    )
}

/// Prints argv as NUL-terminated strings.
pub fn print_args() -> String {
    module(
        "",
        "(drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
         (drop (call $args_get (i32.const 2048) (i32.const 65536)))
         (drop (call $write (i32.const 1) (i32.const 65536) (i32.load (i32.const 20))))",
    )
}

/// Prints the environment as NUL-terminated `KEY=VALUE` strings.
pub fn print_env() -> String {
    module(
        "",
        "(drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
         (drop (call $environ_get (i32.const 2048) (i32.const 65536)))
         (drop (call $write (i32.const 1) (i32.const 65536) (i32.load (i32.const 20))))",
    )
}

/// The preview1 file calls the attack tests drive by hand, and helpers over them. Layout of the
/// memory: iovec at 0, result slots at 8 (bytes written) and 16 (a new descriptor), strings from
/// 1024, a 64 KiB write buffer at 65536.
const FS_IMPORTS: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pwrite" (func $fd_pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_renumber" (func $fd_renumber (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size" (func $fd_filestat_set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_allocate" (func $fd_allocate (param i32 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link" (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 4)
  ;; the decimal digits of $n and a space, to stderr
  (func $print_num (param $n i32)
    (local $p i32)
    (local.set $p (i32.const 960))
    (i32.store8 (i32.const 960) (i32.const 32))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digits (local.get $n)))
    (i32.store (i32.const 24) (local.get $p))
    (i32.store (i32.const 28) (i32.sub (i32.const 961) (local.get $p)))
    (drop (call $fd_write (i32.const 2) (i32.const 24) (i32.const 1) (i32.const 32))))
  ;; step $step must have returned $want: otherwise "<step> <got>" on stderr and exit 99
  (func $expect (param $step i32) (param $got i32) (param $want i32)
    (if (i32.ne (local.get $got) (local.get $want))
      (then (call $print_num (local.get $step)) (call $print_num (local.get $got))
            (call $proc_exit (i32.const 99)))))
  ;; opens a path under the workspace (fd 3), following symlinks; the descriptor lands at 16
  (func $open (param $ptr i32) (param $len i32) (param $oflags i32) (param $fdflags i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 1) (local.get $ptr) (local.get $len) (local.get $oflags)
      (i64.const 0x1fffffff) (i64.const 0x1fffffff) (local.get $fdflags) (i32.const 16)))
  (func $fd (result i32) (i32.load (i32.const 16)))
  ;; writes $len bytes of the buffer at 65536 to $fd at its position
  (func $write_buf (param $fd i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (i32.const 65536)) (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
  ;; writes $len bytes of the buffer at offset $at
  (func $pwrite_buf (param $fd i32) (param $len i32) (param $at i64) (result i32)
    (i32.store (i32.const 0) (i32.const 65536)) (i32.store (i32.const 4) (local.get $len))
    (call $fd_pwrite (local.get $fd) (i32.const 0) (i32.const 1) (local.get $at) (i32.const 8)))
"#;

/// A WASI command over [`FS_IMPORTS`] running `body`, then exiting 0. `strings` are laid out
/// from 1024; in `body`, `{s0}`, `{s1}`, ... stand for the pointer and length of each. The body
/// has the locals `$i`, `$e` and `$fd` (i32).
pub fn fs_script(strings: &[&str], body: &str) -> String {
    let mut data = String::new();
    let mut body = body.to_owned();
    for (i, s) in strings.iter().enumerate() {
        let at = 1024 + 256 * i;
        assert!(s.len() < 256, "string too long for the layout");
        data.push_str(&format!("(data (i32.const {at}) \"{}\")", escape(s)));
        body = body.replace(
            &format!("{{s{i}}}"),
            &format!("(i32.const {at}) (i32.const {})", s.len()),
        );
    }
    format!(
        "(module {FS_IMPORTS} {data} (func (export \"_start\") (local $i i32) (local $e i32) \
         (local $fd i32) {body} (call $proc_exit (i32.const 0))))"
    )
}
