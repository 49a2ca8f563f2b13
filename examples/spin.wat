;; A guest that never stops: `soulbox run examples/spin.wat --timeout 1s --json`
;; ends with "status":"timeout" after about a second.
(module
  (func (export "_start")
    (loop $forever (br $forever))))
