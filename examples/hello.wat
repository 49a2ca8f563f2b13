;; Hello from inside the sandbox: a WASI preview1 command written by hand.
;; Run it with `soulbox run examples/hello.wat`.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "Hello from SoulBox! This line was printed by WebAssembly inside the sandbox.\n")
  (func (export "_start")
    ;; one iovec at address 0: (pointer 64, length 77)
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 77))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 32)))))
