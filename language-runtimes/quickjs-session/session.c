/*
 * SoulBox's QuickJS session reactor: one live QuickJS-NG runtime and context that evaluate
 * cell after cell, like a notebook or a REPL.
 *
 * Built by the engine's own clang (wasm32-wasi, -mexec-model=reactor) together with the
 * QuickJS-NG sources of the pinned `rquickjs-sys` crate; see DESIGN.md ("JavaScript sessions").
 *
 * Exports (besides `_initialize` and `memory`):
 *   soulbox_alloc(len) -> ptr     a buffer for the host to write a cell's UTF-8 source into;
 *   soulbox_init() -> status      the runtime, context, `console`/`print`, `std`/`os` globals;
 *   soulbox_eval(ptr, len) -> status
 *                                 evaluates the cell in global script scope (top-level
 *                                 let/const/function/class persist; top-level await allowed),
 *                                 waits for it and runs pending jobs and due timers, frees the
 *                                 buffer. 0 = ok, 1 = uncaught exception (printed with its stack
 *                                 on stderr; the state is kept), 2 = out of memory in the host
 *                                 glue itself;
 *   soulbox_value_ptr(), soulbox_value_len()
 *                                 the text form of the last cell's completion value (len 0: no
 *                                 value, the value was `undefined` or the cell failed).
 * stdout and stderr are flushed at the end of every call.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The engine itself is compiled as part of this file (as QuickJS-NG's own qjs-wasi-reactor.c
 * does with qjs.c): QuickJS-NG switches its C-stack check off for WASI, and the glue needs the
 * runtime's fields to switch it back on (see sb_arm_stack_check). */
#include "quickjs.c"
#include "quickjs-libc.h"

#define EXPORT(name) __attribute__((export_name(name)))

/* C stack (in linear memory) a cell's JavaScript may use before a deep recursion becomes a
 * RangeError. Each JavaScript call also takes native wasm stack, which the engine caps far below
 * what 1 MiB of C stack would need (a trap there poisons the session), so the check is set to
 * stop recursion first. */
#define MAX_STACK_BYTES (384 * 1024)
/* Most unhandled rejections remembered per cell. */
#define MAX_REJECTIONS 16

static JSRuntime *sb_rt;
static JSContext *sb_ctx;
static JSValue sb_inspect;
static char *sb_value;
static size_t sb_value_len;
static unsigned sb_cells;

struct rejection {
    JSValue promise;
    JSValue reason;
};
static struct rejection sb_rejections[MAX_REJECTIONS];
static int sb_rejection_count;

/* Node-like text form of a value: strings quoted, objects and arrays shown one level deep at
 * a time up to depth 2, cycles marked. Kept in C's hands, never a global the user can see. */
static const char INSPECT_SOURCE[] =
    "(function () {\n"
    "  const quote = (s) => {\n"
    "    const body = JSON.stringify(s).slice(1, -1);\n"
    "    return s.includes(\"'\") && !s.includes('\"')\n"
    "      ? '\"' + body.replace(/\\\\\"/g, '\"') + '\"'\n"
    "      : \"'\" + body.replace(/\\\\\"/g, '\"').replace(/'/g, \"\\\\'\") + \"'\";\n"
    "  };\n"
    "  const key = (k) => typeof k === 'symbol' ? '[' + String(k) + ']'\n"
    "    : /^[A-Za-z_$][\\w$]*$/.test(k) ? k : quote(k);\n"
    "  function show(v, depth, seen) {\n"
    "    switch (typeof v) {\n"
    "      case 'string': return quote(v);\n"
    "      case 'number': return Object.is(v, -0) ? '-0' : String(v);\n"
    "      case 'bigint': return String(v) + 'n';\n"
    "      case 'boolean': case 'undefined': return String(v);\n"
    "      case 'symbol': return String(v);\n"
    "      case 'function': {\n"
    "        const kind = /^class[\\s{]/.test(Function.prototype.toString.call(v)) ? 'class' : 'Function';\n"
    "        const sep = kind === 'class' ? ' ' : ': ';\n"
    "        return v.name ? '[' + kind + sep + v.name + ']' : '[' + kind + ' (anonymous)]';\n"
    "      }\n"
    "    }\n"
    "    if (v === null) return 'null';\n"
    "    if (seen.includes(v)) return '[Circular]';\n"
    "    if (v instanceof Error) return v.stack ? String(v) + '\\n' + v.stack.trimEnd() : String(v);\n"
    "    if (v instanceof Date) return isNaN(v) ? 'Invalid Date' : v.toISOString();\n"
    "    if (v instanceof RegExp) return String(v);\n"
    "    if (v instanceof Promise) return 'Promise {}';\n"
    "    if (v instanceof WeakMap || v instanceof WeakSet) return v.constructor.name + ' { <items unknown> }';\n"
    "    const inner = seen.concat([v]);\n"
    "    const item = (x) => show(x, depth + 1, inner);\n"
    "    const wrap = (open, parts, close) => parts.length === 0 ? open + close\n"
    "      : open + ' ' + parts.join(', ') + ' ' + close;\n"
    "    if (depth > 2) return Array.isArray(v) ? '[Array]' : '[Object]';\n"
    "    if (Array.isArray(v)) {\n"
    "      const parts = v.slice(0, 100).map(item);\n"
    "      if (v.length > 100) parts.push('... ' + (v.length - 100) + ' more items');\n"
    "      return wrap('[', parts, ']');\n"
    "    }\n"
    "    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {\n"
    "      const parts = Array.from(v.slice(0, 100), item);\n"
    "      return v.constructor.name + '(' + v.length + ') ' + wrap('[', parts, ']');\n"
    "    }\n"
    "    if (v instanceof Map) {\n"
    "      const parts = [...v].slice(0, 100).map(([k, x]) => item(k) + ' => ' + item(x));\n"
    "      return 'Map(' + v.size + ') ' + wrap('{', parts, '}');\n"
    "    }\n"
    "    if (v instanceof Set) {\n"
    "      return 'Set(' + v.size + ') ' + wrap('{', [...v].slice(0, 100).map(item), '}');\n"
    "    }\n"
    "    const proto = Object.getPrototypeOf(v);\n"
    "    const name = proto === null ? '[Object: null prototype] '\n"
    "      : proto !== Object.prototype && proto.constructor && proto.constructor.name\n"
    "        ? proto.constructor.name + ' ' : '';\n"
    "    const keys = Reflect.ownKeys(v).filter((k) => Object.getOwnPropertyDescriptor(v, k).enumerable);\n"
    "    const parts = keys.slice(0, 100).map((k) => {\n"
    "      const d = Object.getOwnPropertyDescriptor(v, k);\n"
    "      const shown = 'value' in d ? item(d.value) : '[Getter' + (d.set ? '/Setter' : '') + ']';\n"
    "      return key(k) + ': ' + shown;\n"
    "    });\n"
    "    if (keys.length > 100) parts.push('... ' + (keys.length - 100) + ' more items');\n"
    "    return name + wrap('{', parts, '}');\n"
    "  }\n"
    "  return (v) => show(v, 0, []);\n"
    "})()";

/* `std` and `os` as globals, as `qjs --std` makes them (file access stays inside WASI's
 * preopened directories), the timer functions as globals, and `console` methods that show
 * non-string arguments like the REPL shows values (`log`/`info`/`debug` to stdout,
 * `error`/`warn` to stderr). Takes the inspect function as `globalThis.__soulbox_inspect`, which
 * it deletes. */
static const char STD_GLOBALS[] =
    "import * as std from 'qjs:std';\n"
    "import * as os from 'qjs:os';\n"
    "globalThis.std = std;\n"
    "globalThis.os = os;\n"
    "for (const name of ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'])\n"
    "  if (typeof os[name] === 'function') globalThis[name] = os[name];\n"
    "const inspect = globalThis.__soulbox_inspect;\n"
    "delete globalThis.__soulbox_inspect;\n"
    "const text = (args) => args.map((a) => typeof a === 'string' ? a : inspect(a)).join(' ') + '\\n';\n"
    "const out = (...args) => { std.out.puts(text(args)); };\n"
    "const err = (...args) => { std.err.puts(text(args)); };\n"
    "Object.assign(globalThis.console, { log: out, info: out, debug: out, error: err, warn: err });\n";

/* QuickJS-NG leaves the C-stack limit at 0 (off) on WASI; set it below the current frame. */
static void sb_arm_stack_check(void)
{
    sb_rt->stack_top = js_get_stack_pointer();
    sb_rt->stack_size = MAX_STACK_BYTES;
    sb_rt->stack_limit = sb_rt->stack_top > MAX_STACK_BYTES ? sb_rt->stack_top - MAX_STACK_BYTES : 0;
}

static void sb_flush(void)
{
    fflush(stdout);
    fflush(stderr);
}

static void sb_clear_value(void)
{
    free(sb_value);
    sb_value = NULL;
    sb_value_len = 0;
}

/* Remembers unhandled rejections (and forgets them once handled); reported at the end of the
 * cell. Unlike quickjs-libc's own tracker it never exits the process. */
static void sb_track_rejection(JSContext *c, JSValueConst promise, JSValueConst reason,
                            bool is_handled, void *opaque)
{
    (void)opaque;
    for (int i = 0; i < sb_rejection_count; i++) {
        if (JS_IsSameValue(c, sb_rejections[i].promise, promise)) {
            if (is_handled) {
                JS_FreeValue(c, sb_rejections[i].promise);
                JS_FreeValue(c, sb_rejections[i].reason);
                sb_rejections[i] = sb_rejections[--sb_rejection_count];
            }
            return;
        }
    }
    if (!is_handled && sb_rejection_count < MAX_REJECTIONS) {
        sb_rejections[sb_rejection_count].promise = JS_DupValue(c, promise);
        sb_rejections[sb_rejection_count].reason = JS_DupValue(c, reason);
        sb_rejection_count++;
    }
}

/* Prints `err` (an exception value) with its stack, as qjs does. Takes ownership. */
static void sb_print_error(JSValue err, const char *prefix)
{
    JS_Throw(sb_ctx, err);
    if (prefix)
        fputs(prefix, stderr);
    js_std_dump_error(sb_ctx);
}

/* Reports the rejections nobody handled, except the cell's own promise. Returns how many. */
static int sb_report_rejections(JSValueConst cell_promise)
{
    int reported = 0;
    for (int i = 0; i < sb_rejection_count; i++) {
        if (!JS_IsSameValue(sb_ctx, sb_rejections[i].promise, cell_promise)) {
            sb_print_error(JS_DupValue(sb_ctx, sb_rejections[i].reason), "Uncaught (in promise) ");
            reported++;
        }
        JS_FreeValue(sb_ctx, sb_rejections[i].promise);
        JS_FreeValue(sb_ctx, sb_rejections[i].reason);
    }
    sb_rejection_count = 0;
    return reported;
}

/* Sleeps `ms` milliseconds (a timer is due later); WASI's clock does the waiting. */
static void sb_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Runs jobs and timers until `promise` settles (or nothing can settle it). Returns 0 when it
 * settled, 1 when a job threw (printed), 2 when it can never settle. */
static int sb_settle(JSValueConst promise)
{
    for (;;) {
        if (JS_PromiseState(sb_ctx, promise) != JS_PROMISE_PENDING)
            return 0;
        int next = js_std_loop_once(sb_ctx);
        if (next == -2) {
            js_std_dump_error(sb_ctx);
            return 1;
        }
        if (next == -1 && JS_PromiseState(sb_ctx, promise) == JS_PROMISE_PENDING)
            return 2;
        if (next > 0)
            sb_sleep_ms(next);
    }
}

/* Runs the microtasks left after the cell (promise callbacks it did not await). */
static int sb_drain_jobs(void)
{
    JSContext *c;
    int failed = 0;
    for (;;) {
        int err = JS_ExecutePendingJob(sb_rt, &c);
        if (err == 0)
            return failed;
        if (err < 0) {
            js_std_dump_error(c);
            failed = 1;
        }
    }
}

/* Stores the text form of `v` as the cell's value (none for `undefined`). */
static int sb_set_value(JSValueConst v)
{
    if (JS_IsUndefined(v))
        return 0;
    JSValue text = JS_Call(sb_ctx, sb_inspect, JS_UNDEFINED, 1, &v);
    if (JS_IsException(text))
        return -1;
    size_t len;
    const char *s = JS_ToCStringLen(sb_ctx, &len, text);
    JS_FreeValue(sb_ctx, text);
    if (!s)
        return -1;
    sb_value = malloc(len ? len : 1);
    if (sb_value) {
        memcpy(sb_value, s, len);
        sb_value_len = len;
    }
    JS_FreeCString(sb_ctx, s);
    return sb_value ? 0 : -1;
}

EXPORT("soulbox_alloc")
void *soulbox_alloc(size_t len)
{
    return malloc(len ? len : 1);
}

EXPORT("soulbox_value_ptr")
const char *soulbox_value_ptr(void)
{
    return sb_value;
}

EXPORT("soulbox_value_len")
size_t soulbox_value_len(void)
{
    return sb_value_len;
}

EXPORT("soulbox_init")
int soulbox_init(void)
{
    static char *argv[] = { "qjs", NULL };
    if (sb_rt)
        return 0;
    sb_rt = JS_NewRuntime();
    if (!sb_rt)
        return 2;
    sb_arm_stack_check();
    js_std_init_handlers(sb_rt);
    sb_ctx = JS_NewContext(sb_rt);
    if (!sb_ctx)
        return 2;
    js_init_module_std(sb_ctx, "qjs:std");
    js_init_module_os(sb_ctx, "qjs:os");
    JS_SetModuleLoaderFunc2(sb_rt, NULL, js_module_loader, js_module_check_attributes, NULL);
    JS_SetHostPromiseRejectionTracker(sb_rt, sb_track_rejection, NULL);
    js_std_add_helpers(sb_ctx, 1, argv);

    int status = 0;
    sb_inspect = JS_Eval(sb_ctx, INSPECT_SOURCE, sizeof INSPECT_SOURCE - 1, "<soulbox>",
                         JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(sb_inspect)) {
        js_std_dump_error(sb_ctx);
        sb_flush();
        return 1;
    }
    JSValue global = JS_GetGlobalObject(sb_ctx);
    JS_SetPropertyStr(sb_ctx, global, "__soulbox_inspect", JS_DupValue(sb_ctx, sb_inspect));
    JS_FreeValue(sb_ctx, global);
    JSValue module = JS_Eval(sb_ctx, STD_GLOBALS, sizeof STD_GLOBALS - 1, "<soulbox>",
                             JS_EVAL_TYPE_MODULE);
    if (JS_IsException(module)) {
        js_std_dump_error(sb_ctx);
        status = 1;
    } else {
        JSValue done = js_std_await(sb_ctx, module);
        if (JS_IsException(done)) {
            js_std_dump_error(sb_ctx);
            status = 1;
        }
        JS_FreeValue(sb_ctx, done);
    }
    sb_flush();
    return status;
}

EXPORT("soulbox_eval")
int soulbox_eval(char *code, size_t len)
{
    char name[32];
    int status = 0;
    sb_clear_value();
    if (!sb_ctx) {
        free(code);
        return 2;
    }
    /* JS_Eval wants a NUL after the source. */
    char *source = realloc(code, len + 1);
    if (!source) {
        free(code);
        return 2;
    }
    source[len] = '\0';
    snprintf(name, sizeof name, "<cell %u>", ++sb_cells);
    sb_arm_stack_check();

    JSValue promise = JS_Eval(sb_ctx, source, len, name, JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_ASYNC);
    free(source);
    if (JS_IsException(promise)) {
        js_std_dump_error(sb_ctx);
        status = 1;
    } else {
        int settled = sb_settle(promise);
        if (settled == 2) {
            fputs("Error: the cell awaits a promise that nothing can settle any more\n", stderr);
            status = 1;
        } else if (settled == 1) {
            status = 1;
        } else if (JS_PromiseState(sb_ctx, promise) == JS_PROMISE_REJECTED) {
            sb_print_error(JS_PromiseResult(sb_ctx, promise), NULL);
            status = 1;
        } else {
            /* An async global evaluation resolves to { value: <completion value> }. */
            JSValue result = JS_PromiseResult(sb_ctx, promise);
            JSValue value = JS_GetPropertyStr(sb_ctx, result, "value");
            if (JS_IsException(value) || sb_set_value(value) < 0) {
                js_std_dump_error(sb_ctx);
                sb_clear_value();
                status = 1;
            }
            JS_FreeValue(sb_ctx, value);
            JS_FreeValue(sb_ctx, result);
        }
    }
    if (sb_drain_jobs())
        status = 1;
    if (sb_report_rejections(promise) > 0)
        status = 1;
    JS_FreeValue(sb_ctx, promise);
    if (status != 0)
        sb_clear_value();
    sb_flush();
    return status;
}
