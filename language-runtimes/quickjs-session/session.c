/*
 * SoulBox's QuickJS-NG reactor: the JavaScript runtime of one-shot runs and sessions alike. One
 * live runtime and context with a Node.js-compatible layer (`node.js` beside this file, embedded
 * with #embed and evaluated once at boot, so a pre-initialised image already holds it).
 *
 * Built by the engine's own clang (wasm32-wasi, -mexec-model=reactor) together with the
 * QuickJS-NG sources of the pinned `rquickjs-sys` crate; see docs/runtimes.md.
 *
 * Exports (besides `_initialize` and `memory`):
 *   soulbox_alloc(len) -> ptr     a buffer for the host to write UTF-8 text into;
 *   soulbox_init() -> status      the runtime, the context and the Node layer (0 = ok);
 *   soulbox_configure(ptr, len) -> status
 *                                 the run's settings as JSON {"args": [...], "env": {...},
 *                                 "session": bool}; reseeds Math.random and restarts the
 *                                 performance clock (an image was booted long ago); frees the
 *                                 buffer;
 *   soulbox_eval(ptr, len) -> status
 *                                 runs a program or a cell: a script in global scope (top-level
 *                                 let/const/function/class persist; top-level await allowed; a
 *                                 completion value), or an ES module when the source has
 *                                 import/export statements; then the event loop until nothing is
 *                                 pending. Frees the buffer. 0 = ok, 1 = uncaught exception or
 *                                 unhandled rejection (printed like Node on stderr; state kept),
 *                                 2 = out of memory in the glue itself, 3 = the program ended
 *                                 with an exit code (process.exit(n), or process.exitCode set):
 *                                 see soulbox_exit_code(). In a one-shot run process.exit calls
 *                                 WASI proc_exit directly;
 *   soulbox_exit_code()           the code of status 3;
 *   soulbox_value_ptr(), soulbox_value_len()
 *                                 the text form of the last cell's completion value (len 0: no
 *                                 value, the value was `undefined` or the cell failed).
 * stdout and stderr are flushed at the end of every call.
 *
 * Import (besides WASI preview 1):
 *   soulbox.call(frame, frame_len, &reply, &reply_len) -> status
 *                                 the host channel: a JSON request frame (a tool call, the tool
 *                                 list, an HTTP request) answered synchronously with a JSON
 *                                 reply frame the host writes into a buffer it allocates with
 *                                 soulbox_alloc (this side frees it). 0 = reply written, -1 = no
 *                                 host channel, -2 = an address outside memory, -3 = no memory
 *                                 for the reply. The Node layer's `soulbox` module and `fetch`
 *                                 use it through natives.hostCall.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <unistd.h>

/* The engine itself is compiled as part of this file (as QuickJS-NG's own qjs-wasi-reactor.c
 * does with qjs.c): QuickJS-NG switches its C-stack check off for WASI, and the glue needs the
 * runtime's fields to switch it back on (see sb_arm_stack_check), to reseed the context's
 * random state and to restart its performance clock. */
#include "quickjs.c"
#include "quickjs-libc.h"

#define EXPORT(name) __attribute__((export_name(name)))

/* C stack (in linear memory) a cell's JavaScript may use before a deep recursion becomes a
 * RangeError. Each JavaScript call also takes native wasm stack, which the engine caps far below
 * what 1 MiB of C stack would need (a trap there poisons the session), so the check is set to
 * stop recursion first. */
#define MAX_STACK_BYTES (384 * 1024)
/* Most unhandled rejections remembered between two looks. */
#define MAX_REJECTIONS 64
/* Bytes a program may allocate after boot before the first garbage collection. */
#define GC_HEADROOM (8 * 1024 * 1024)
/* Most random bytes one call hands out. */
#define MAX_RANDOM_BYTES (64 * 1024 * 1024)

/* The Node layer: one function expression, called once with the natives below. */
static const char NODE_SOURCE[] = {
#embed "node.js"
    , 0
};

static JSRuntime *sb_rt;
static JSContext *sb_ctx;
static JSValue sb_hooks = JS_UNDEFINED;
static char *sb_value;
static size_t sb_value_len;
static unsigned sb_cells;
static int sb_session;
/* Set by process.exit in a session: the cell ends with this code, the session lives on. */
static int sb_exit_pending;
static int sb_exit_code;
/* The promise of the cell being evaluated: its rejection is the cell's error, not an unhandled
 * rejection. */
static JSValue sb_cell_promise = JS_UNDEFINED;

struct rejection {
    JSValue promise;
    JSValue reason;
};
static struct rejection sb_rejections[MAX_REJECTIONS];
static int sb_rejection_count;

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

/* Remembers unhandled rejections (and forgets them once handled); the Node layer takes them
 * after each turn of the loop. Unlike quickjs-libc's own tracker it never exits the process. */
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

static void sb_forget_rejections(void)
{
    for (int i = 0; i < sb_rejection_count; i++) {
        JS_FreeValue(sb_ctx, sb_rejections[i].promise);
        JS_FreeValue(sb_ctx, sb_rejections[i].reason);
    }
    sb_rejection_count = 0;
}

/* Sleeps `ms` milliseconds (a timer is due later); WASI's clock does the waiting. */
static void sb_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- natives for the Node layer */

/* runJobs(): runs promise jobs until none is left; a job that threw rethrows here. */
static JSValue sb_native_run_jobs(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val; (void)argc; (void)argv;
    JSContext *job_ctx;
    for (;;) {
        int err = JS_ExecutePendingJob(sb_rt, &job_ctx);
        if (err == 0)
            return JS_UNDEFINED;
        if (err < 0)
            return JS_Throw(c, JS_GetException(job_ctx));
    }
}

/* exit(code): a one-shot run exits the process (WASI proc_exit); a session cell ends with the
 * code through an error nothing can catch. */
static JSValue sb_native_exit(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    int code = 0;
    if (argc > 0 && JS_ToInt32(c, &code, argv[0]) < 0)
        code = 1;
    sb_flush();
    if (!sb_session)
        exit(code);
    sb_exit_pending = 1;
    sb_exit_code = code;
    JSValue err = JS_NewInternalError(c, "process.exit(%d)", code);
    JS_SetUncatchableError(c, err);
    return JS_Throw(c, err);
}

/* promiseState(p) -> [0 pending | 1 fulfilled | 2 rejected, value]. */
static JSValue sb_native_promise_state(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    if (argc < 1)
        return JS_ThrowTypeError(c, "promiseState needs a promise");
    JSPromiseStateEnum state = JS_PromiseState(c, argv[0]);
    JSValue out = JS_NewArray(c);
    if (JS_IsException(out))
        return out;
    int s = state == JS_PROMISE_FULFILLED ? 1 : state == JS_PROMISE_REJECTED ? 2 : 0;
    JS_SetPropertyUint32(c, out, 0, JS_NewInt32(c, s));
    JS_SetPropertyUint32(c, out, 1, s ? JS_PromiseResult(c, argv[0]) : JS_UNDEFINED);
    return out;
}

/* randomBytes(n) -> ArrayBuffer of n bytes from WASI random_get. */
static JSValue sb_native_random_bytes(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    int64_t n = 0;
    if (argc < 1 || JS_ToInt64(c, &n, argv[0]) < 0)
        return JS_EXCEPTION;
    if (n < 0 || n > MAX_RANDOM_BYTES)
        return JS_ThrowRangeError(c, "randomBytes: size must be between 0 and %d", MAX_RANDOM_BYTES);
    uint8_t *buf = malloc(n ? (size_t)n : 1);
    if (!buf)
        return JS_ThrowOutOfMemory(c);
    for (int64_t off = 0; off < n; off += 256) {
        size_t chunk = (size_t)(n - off < 256 ? n - off : 256);
        if (getentropy(buf + off, chunk) != 0) {
            free(buf);
            return JS_ThrowInternalError(c, "no entropy available");
        }
    }
    JSValue out = JS_NewArrayBufferCopy(c, buf, (size_t)n);
    free(buf);
    return out;
}

/* takeRejections() -> the reasons of rejections still unhandled (the cell's own excepted). */
static JSValue sb_native_take_rejections(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val; (void)argc; (void)argv;
    JSValue out = JS_NewArray(c);
    if (JS_IsException(out))
        return out;
    uint32_t n = 0;
    int kept = 0;
    for (int i = 0; i < sb_rejection_count; i++) {
        if (JS_IsSameValue(c, sb_rejections[i].promise, sb_cell_promise)) {
            sb_rejections[kept++] = sb_rejections[i];
            continue;
        }
        JS_SetPropertyUint32(c, out, n++, sb_rejections[i].reason);
        JS_FreeValue(c, sb_rejections[i].promise);
    }
    sb_rejection_count = kept;
    return out;
}

/* evalScript(source, filename) -> the completion value of `source` as global code. */
static JSValue sb_native_eval_script(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    if (argc < 2)
        return JS_ThrowTypeError(c, "evalScript needs a source and a file name");
    size_t len;
    const char *src = JS_ToCStringLen(c, &len, argv[0]);
    if (!src)
        return JS_EXCEPTION;
    const char *name = JS_ToCString(c, argv[1]);
    if (!name) {
        JS_FreeCString(c, src);
        return JS_EXCEPTION;
    }
    JSValue v = JS_Eval(c, src, len, name, JS_EVAL_TYPE_GLOBAL);
    JS_FreeCString(c, src);
    JS_FreeCString(c, name);
    return v;
}

/* errnoName(n) -> Node's code for the errno value n (as this libc numbers them), or "EIO". */
static JSValue sb_native_errno_name(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    int n = 0;
    if (argc < 1 || JS_ToInt32(c, &n, argv[0]) < 0)
        return JS_EXCEPTION;
    if (n < 0)
        n = -n;
    static const struct { int value; const char *name; } names[] = {
        { ENOENT, "ENOENT" }, { EEXIST, "EEXIST" }, { ENOTDIR, "ENOTDIR" }, { EISDIR, "EISDIR" },
        { EACCES, "EACCES" }, { EPERM, "EPERM" }, { ENOTEMPTY, "ENOTEMPTY" }, { EINVAL, "EINVAL" },
        { EBADF, "EBADF" }, { ENOSPC, "ENOSPC" }, { ENOTSUP, "ENOTSUP" }, { EXDEV, "EXDEV" },
        { EROFS, "EROFS" }, { ELOOP, "ELOOP" }, { ENAMETOOLONG, "ENAMETOOLONG" }, { EMFILE, "EMFILE" },
        { EDQUOT, "EDQUOT" }, { EFBIG, "EFBIG" }, { ENOSYS, "ENOSYS" }, { EBUSY, "EBUSY" },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].value == n)
            return JS_NewString(c, names[i].name);
    return JS_NewString(c, "EIO");
}

/* The host channel (see the header). */
__attribute__((import_module("soulbox"), import_name("call")))
int32_t sb_host_call(const char *frame, size_t frame_len, char **reply, size_t *reply_len);

/* hostCall(frame) -> the host's reply frame (a string), or the (negative) status of a call that
 * got no reply. */
static JSValue sb_native_host_call(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    if (argc < 1 || !JS_IsString(argv[0]))
        return JS_ThrowTypeError(c, "hostCall needs a request frame (a string)");
    size_t len;
    const char *frame = JS_ToCStringLen(c, &len, argv[0]);
    if (!frame)
        return JS_EXCEPTION;
    char *reply = NULL;
    size_t reply_len = 0;
    int32_t status = sb_host_call(frame, len, &reply, &reply_len);
    JS_FreeCString(c, frame);
    if (status != 0)
        return JS_NewInt32(c, status);
    JSValue out = JS_NewStringLen(c, reply, reply_len);
    free(reply);
    return out;
}

/* ---------------------------------------------------------------- calls into the Node layer */

/* Calls the hook `name` with `argc` arguments (borrowed). */
static JSValue sb_call_hook(const char *name, int argc, JSValueConst *argv)
{
    JSValue fn = JS_GetPropertyStr(sb_ctx, sb_hooks, name);
    if (JS_IsException(fn))
        return fn;
    JSValue r = JS_Call(sb_ctx, fn, sb_hooks, argc, argv);
    JS_FreeValue(sb_ctx, fn);
    return r;
}

/* Writes `text` (a JS string) and a newline to stderr. Takes ownership. */
static void sb_write_err(JSValue text)
{
    size_t len;
    const char *s = JS_ToCStringLen(sb_ctx, &len, text);
    JS_FreeValue(sb_ctx, text);
    if (s) {
        fwrite(s, 1, len, stderr);
        fputc('\n', stderr);
        JS_FreeCString(sb_ctx, s);
    } else {
        JS_FreeValue(sb_ctx, JS_GetException(sb_ctx));
        fputs("Uncaught exception (its text could not be made)\n", stderr);
    }
}

/* Prints `err` as Node prints an uncaught exception (or, with `rejection`, an unhandled
 * rejection). Takes ownership. */
static void sb_report(JSValue err, int rejection)
{
    JSValue args[2] = { err, JS_NewBool(sb_ctx, rejection) };
    JSValue text = sb_call_hook("report", 2, args);
    JS_FreeValue(sb_ctx, err);
    if (JS_IsException(text)) {
        JS_FreeValue(sb_ctx, JS_GetException(sb_ctx));
        fputs("Uncaught exception (its text could not be made)\n", stderr);
        return;
    }
    sb_write_err(text);
}

/* The pending exception: an exit request (1) or an uncaught error, reported (0). */
static int sb_take_exception(void)
{
    JSValue exc = JS_GetException(sb_ctx);
    if (sb_exit_pending) {
        JS_FreeValue(sb_ctx, exc);
        return 1;
    }
    sb_report(exc, 0);
    return 0;
}

/* Ends a run that failed or exited: nothing it left pending may run later. */
static void sb_abandon(void)
{
    JSValue r = sb_call_hook("resetLoop", 0, NULL);
    JS_FreeValue(sb_ctx, r);
    JSContext *job_ctx;
    /* Promise jobs cannot be dropped one by one; run them out with the loop's timers gone. */
    for (int i = 0; i < 10000 && JS_IsJobPending(sb_rt); i++) {
        if (JS_ExecutePendingJob(sb_rt, &job_ctx) < 0)
            JS_FreeValue(sb_ctx, JS_GetException(job_ctx));
        if (sb_exit_pending)
            break;
    }
    sb_forget_rejections();
}

enum { SB_OK = 0, SB_ERROR = 1, SB_NO_MEMORY = 2, SB_EXIT = 3, SB_HANDLED = 4 };

/* An uncaught error (or, with `rejection`, an unhandled rejection's reason) that the program's
 * own process.on('uncaughtException' / 'unhandledRejection') listeners may take: SB_HANDLED when
 * they did, SB_EXIT when one called process.exit, else SB_ERROR after reporting it like Node.
 * Takes ownership of `err`. */
static int sb_uncaught(JSValue err, int rejection)
{
    JSValue args[2] = { err, JS_NewBool(sb_ctx, rejection) };
    JSValue r = sb_call_hook("handleUncaught", 2, args);
    if (JS_IsException(r)) {
        JS_FreeValue(sb_ctx, err);
        /* The listener itself threw (or exited): that is what ends the program. */
        return sb_take_exception() ? SB_EXIT : SB_ERROR;
    }
    int handled = JS_ToBool(sb_ctx, r);
    JS_FreeValue(sb_ctx, r);
    if (handled) {
        JS_FreeValue(sb_ctx, err);
        return SB_HANDLED;
    }
    sb_report(err, rejection);
    return SB_ERROR;
}

/* Runs the event loop until nothing is pending, watching `promise` (the program's). */
static int sb_run_loop(JSValueConst promise)
{
    int reported_rejection = 0;
    for (;;) {
        JSValue r = sb_call_hook("loop", 0, NULL);
        if (JS_IsException(r)) {
            JSValue exc = JS_GetException(sb_ctx);
            if (sb_exit_pending) {
                JS_FreeValue(sb_ctx, exc);
                return SB_EXIT;
            }
            int ended = sb_uncaught(exc, 0);
            if (ended == SB_HANDLED)
                continue;
            return ended;
        }
        int32_t next = -1;
        JS_ToInt32(sb_ctx, &next, r);
        JS_FreeValue(sb_ctx, r);
        if (sb_exit_pending)
            return SB_EXIT;
        if (!reported_rejection && JS_PromiseState(sb_ctx, promise) == JS_PROMISE_REJECTED) {
            reported_rejection = 1;
            int ended = sb_uncaught(JS_PromiseResult(sb_ctx, promise), 0);
            if (ended != SB_HANDLED)
                return ended;
        }
        JSValue unhandled = sb_call_hook("takeUnhandled", 0, NULL);
        if (JS_IsException(unhandled))
            return sb_take_exception() ? SB_EXIT : SB_ERROR;
        if (!JS_IsUndefined(unhandled)) {
            int ended = sb_uncaught(unhandled, 1);
            if (ended != SB_HANDLED)
                return ended;
            continue;
        }
        if (next < 0) {
            if (JS_PromiseState(sb_ctx, promise) == JS_PROMISE_PENDING) {
                fputs("Warning: Detected unsettled top-level await: the program awaits a promise "
                      "that nothing can settle any more\n", stderr);
                sb_exit_code = 13;
                return SB_EXIT;
            }
            return SB_OK;
        }
        if (next > 0)
            sb_sleep_ms(next);
    }
}

/* Stores the text form of `v` as the cell's value (none for `undefined`). */
static int sb_set_value(JSValueConst v)
{
    if (JS_IsUndefined(v))
        return 0;
    JSValue text = sb_call_hook("inspect", 1, &v);
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

/* ---------------------------------------------------------------- ES module loading */

/* Every import goes through the Node layer's resolver: built-ins become `node:<name>`, files
 * their absolute path (node_modules, NODE_PATH, package.json exports/main, extensions). */
static char *sb_normalize(JSContext *c, const char *base, const char *name, void *opaque)
{
    (void)opaque;
    JSValue args[2] = { JS_NewString(c, base), JS_NewString(c, name) };
    JSValue r = sb_call_hook("resolveImport", 2, args);
    JS_FreeValue(c, args[0]);
    JS_FreeValue(c, args[1]);
    if (JS_IsException(r))
        return NULL;
    const char *s = JS_ToCString(c, r);
    JS_FreeValue(c, r);
    if (!s)
        return NULL;
    char *out = js_strdup(c, s);
    JS_FreeCString(c, s);
    return out;
}

/* The exports of a module made from a value: `default` plus the value's own enumerable keys. */
static int sb_value_module_init(JSContext *c, JSModuleDef *m)
{
    JSValue v = JS_GetModulePrivateValue(c, m);
    JS_SetModuleExport(c, m, "default", JS_DupValue(c, v));
    if (JS_IsObject(v)) {
        JSPropertyEnum *tab;
        uint32_t len;
        if (JS_GetOwnPropertyNames(c, &tab, &len, v, JS_GPN_STRING_MASK | JS_GPN_ENUM_ONLY) == 0) {
            for (uint32_t i = 0; i < len; i++) {
                const char *key = JS_AtomToCString(c, tab[i].atom);
                if (key && strcmp(key, "default") != 0) {
                    JSValue x = JS_GetProperty(c, v, tab[i].atom);
                    if (JS_IsException(x))
                        JS_FreeValue(c, JS_GetException(c));
                    else
                        JS_SetModuleExport(c, m, key, x);
                }
                JS_FreeCString(c, key);
            }
            JS_FreePropertyEnum(c, tab, len);
        }
    }
    JS_FreeValue(c, v);
    return 0;
}

static JSModuleDef *sb_load_module(JSContext *c, const char *name, void *opaque, JSValueConst attributes)
{
    JSValue arg = JS_NewString(c, name);
    JSValue r = sb_call_hook("loadFor", 1, &arg);
    JS_FreeValue(c, arg);
    if (JS_IsException(r))
        return NULL;
    JSValue kind = JS_GetPropertyUint32(c, r, 0);
    const char *k = JS_ToCString(c, kind);
    JS_FreeValue(c, kind);
    int esm = k && strcmp(k, "esm") == 0;
    JS_FreeCString(c, k);
    if (esm) {
        JS_FreeValue(c, r);
        return js_module_loader(c, name, opaque, attributes);
    }
    JSValue v = JS_GetPropertyUint32(c, r, 1);
    JS_FreeValue(c, r);
    if (JS_IsException(v))
        return NULL;
    JSModuleDef *m = JS_NewCModule(c, name, sb_value_module_init);
    if (!m) {
        JS_FreeValue(c, v);
        return NULL;
    }
    JS_AddModuleExport(c, m, "default");
    if (JS_IsObject(v)) {
        JSPropertyEnum *tab;
        uint32_t len;
        if (JS_GetOwnPropertyNames(c, &tab, &len, v, JS_GPN_STRING_MASK | JS_GPN_ENUM_ONLY) == 0) {
            for (uint32_t i = 0; i < len; i++) {
                const char *key = JS_AtomToCString(c, tab[i].atom);
                if (key && strcmp(key, "default") != 0)
                    JS_AddModuleExport(c, m, key);
                JS_FreeCString(c, key);
            }
            JS_FreePropertyEnum(c, tab, len);
        }
    }
    JS_SetModulePrivateValue(c, m, v);
    return m;
}

/* ---------------------------------------------------------------- exports */

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

EXPORT("soulbox_exit_code")
int soulbox_exit_code(void)
{
    return sb_exit_code;
}

/* Adds a native function to `obj`. */
static void sb_native(JSValueConst obj, const char *name, JSCFunction *fn, int length)
{
    JS_SetPropertyStr(sb_ctx, obj, name, JS_NewCFunction(sb_ctx, fn, name, length));
}

/* Takes `std` and `os` from a module (they are module namespaces) into `natives`, and leaves
 * them as globals too (QuickJS programs written for `qjs --std` keep working). */
static const char STD_MODULES[] =
    "import * as std from 'qjs:std';\n"
    "import * as os from 'qjs:os';\n"
    "globalThis.__soulbox_std = [std, os];\n"
    "globalThis.std = std;\n"
    "globalThis.os = os;\n";

EXPORT("soulbox_init")
int soulbox_init(void)
{
    static char *argv[] = { "node", NULL };
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
    JS_SetHostPromiseRejectionTracker(sb_rt, sb_track_rejection, NULL);
    js_std_add_helpers(sb_ctx, 1, argv);

    int status = 1;
    JSValue global = JS_GetGlobalObject(sb_ctx);
    JSValue natives = JS_UNDEFINED, layer = JS_UNDEFINED;
    JSValue module = JS_Eval(sb_ctx, STD_MODULES, sizeof STD_MODULES - 1, "<soulbox>", JS_EVAL_TYPE_MODULE);
    if (JS_IsException(module))
        goto fail;
    JSValue done = js_std_await(sb_ctx, module);
    if (JS_IsException(done))
        goto fail;
    JS_FreeValue(sb_ctx, done);
    JSValue pair = JS_GetPropertyStr(sb_ctx, global, "__soulbox_std");
    JSAtom atom = JS_NewAtom(sb_ctx, "__soulbox_std");
    JS_DeleteProperty(sb_ctx, global, atom, 0);
    JS_FreeAtom(sb_ctx, atom);
    natives = JS_NewObject(sb_ctx);
    JS_SetPropertyStr(sb_ctx, natives, "std", JS_GetPropertyUint32(sb_ctx, pair, 0));
    JS_SetPropertyStr(sb_ctx, natives, "os", JS_GetPropertyUint32(sb_ctx, pair, 1));
    JS_FreeValue(sb_ctx, pair);
    sb_native(natives, "runJobs", sb_native_run_jobs, 0);
    sb_native(natives, "exit", sb_native_exit, 1);
    sb_native(natives, "promiseState", sb_native_promise_state, 1);
    sb_native(natives, "randomBytes", sb_native_random_bytes, 1);
    sb_native(natives, "takeRejections", sb_native_take_rejections, 0);
    sb_native(natives, "evalScript", sb_native_eval_script, 2);
    sb_native(natives, "errnoName", sb_native_errno_name, 1);
    sb_native(natives, "hostCall", sb_native_host_call, 1);
    layer = JS_Eval(sb_ctx, NODE_SOURCE, sizeof NODE_SOURCE - 1, "node:internal", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(layer))
        goto fail;
    sb_hooks = JS_Call(sb_ctx, layer, JS_UNDEFINED, 1, (JSValueConst *)&natives);
    if (JS_IsException(sb_hooks)) {
        sb_hooks = JS_UNDEFINED;
        goto fail;
    }
    /* Collect the boot's garbage before the image is snapshotted, and leave room before the
     * next collection: a run that starts just under the threshold would otherwise collect at
     * once, walking (and so copying, page by page) the whole copy-on-write heap of the image. */
    JS_RunGC(sb_rt);
    JS_SetGCThreshold(sb_rt, sb_rt->malloc_state.malloc_size + GC_HEADROOM);
    /* From now on every import goes through the Node layer's resolver. */
    JS_SetModuleLoaderFunc2(sb_rt, sb_normalize, sb_load_module, js_module_check_attributes, NULL);
    status = 0;
    goto out;
fail:
    js_std_dump_error(sb_ctx);
out:
    JS_FreeValue(sb_ctx, layer);
    JS_FreeValue(sb_ctx, natives);
    JS_FreeValue(sb_ctx, global);
    sb_flush();
    return status;
}

EXPORT("soulbox_configure")
int soulbox_configure(char *json, size_t len)
{
    if (!sb_ctx || JS_IsUndefined(sb_hooks)) {
        free(json);
        return 2;
    }
    uint64_t seed = 0;
    if (getentropy(&seed, sizeof seed) == 0 && seed != 0)
        sb_ctx->random_state = seed;
    sb_ctx->time_origin = js__now_ms();
    JSValue text = JS_NewStringLen(sb_ctx, json, len);
    free(json);
    if (JS_IsException(text))
        return 2;
    sb_arm_stack_check();
    JSValue r = sb_call_hook("configure", 1, (JSValueConst *)&text);
    JS_FreeValue(sb_ctx, text);
    int status = 0;
    if (JS_IsException(r)) {
        js_std_dump_error(sb_ctx);
        status = 1;
    } else {
        JSValue session = JS_GetPropertyStr(sb_ctx, r, "session");
        sb_session = JS_ToBool(sb_ctx, session);
        JS_FreeValue(sb_ctx, session);
    }
    JS_FreeValue(sb_ctx, r);
    sb_flush();
    return status;
}

/* Evaluates `source` as a module: the promise of its evaluation. */
static JSValue sb_eval_module(const char *source, size_t len, const char *name)
{
    JSValue fn = JS_Eval(sb_ctx, source, len, name, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
    if (JS_IsException(fn))
        return fn;
    if (js_module_set_import_meta(sb_ctx, fn, false, true) < 0) {
        JS_FreeValue(sb_ctx, fn);
        return JS_EXCEPTION;
    }
    return JS_EvalFunction(sb_ctx, fn);
}

EXPORT("soulbox_eval")
int soulbox_eval(char *code, size_t len)
{
    char name[4096 + 32];
    char cwd[4096];
    int status = SB_OK;
    sb_clear_value();
    if (!sb_ctx || JS_IsUndefined(sb_hooks)) {
        free(code);
        return SB_NO_MEMORY;
    }
    /* JS_Eval wants a NUL after the source. */
    char *source = realloc(code, len + 1);
    if (!source) {
        free(code);
        return SB_NO_MEMORY;
    }
    source[len] = '\0';
    sb_exit_pending = 0;
    sb_exit_code = 0;
    {
        JSValue r = sb_call_hook("rearmExit", 0, NULL);
        JS_FreeValue(sb_ctx, r);
    }
    sb_arm_stack_check();
    int is_module = 0;
    {
        JSValue text = JS_NewStringLen(sb_ctx, source, len);
        JSValue r = JS_IsException(text) ? JS_EXCEPTION : sb_call_hook("isModule", 1, &text);
        JS_FreeValue(sb_ctx, text);
        if (JS_IsException(r))
            JS_FreeValue(sb_ctx, JS_GetException(sb_ctx));
        else
            is_module = JS_ToBool(sb_ctx, r);
        JS_FreeValue(sb_ctx, r);
    }
    /* A module is named as a file in the working directory, so its relative imports resolve
     * from there. */
    if (!getcwd(cwd, sizeof cwd))
        strcpy(cwd, "/work");
    if (sb_session && is_module)
        snprintf(name, sizeof name, "%s/[cell %u].mjs", cwd, ++sb_cells);
    else if (sb_session)
        snprintf(name, sizeof name, "[cell %u]", ++sb_cells);
    else
        snprintf(name, sizeof name, is_module ? "%s/[eval1].mjs" : "[eval]", cwd);

    JSValue promise = is_module
        ? sb_eval_module(source, len, name)
        : JS_Eval(sb_ctx, source, len, name, JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_ASYNC);
    free(source);
    if (JS_IsException(promise)) {
        status = sb_take_exception() ? SB_EXIT : SB_ERROR;
    } else {
        sb_cell_promise = JS_DupValue(sb_ctx, promise);
        status = sb_run_loop(promise);
        if (status == SB_OK && sb_session && !is_module && JS_PromiseState(sb_ctx, promise) == JS_PROMISE_FULFILLED) {
            /* An async global evaluation resolves to { value: <completion value> }. */
            JSValue result = JS_PromiseResult(sb_ctx, promise);
            JSValue value = JS_GetPropertyStr(sb_ctx, result, "value");
            if (JS_IsException(value) || sb_set_value(value) < 0) {
                status = sb_take_exception() ? SB_EXIT : SB_ERROR;
                sb_clear_value();
            }
            JS_FreeValue(sb_ctx, value);
            JS_FreeValue(sb_ctx, result);
        }
        JS_FreeValue(sb_ctx, sb_cell_promise);
        sb_cell_promise = JS_UNDEFINED;
    }
    JS_FreeValue(sb_ctx, promise);
    if (status == SB_OK) {
        /* The program ran out of work: Node's 'exit' event, then process.exitCode. */
        JSValue code = sb_call_hook("exitCode", 0, NULL);
        int32_t c = 0;
        JS_ToInt32(sb_ctx, &c, code);
        JS_FreeValue(sb_ctx, code);
        JSValue arg = JS_NewInt32(sb_ctx, c);
        JSValue r = sb_call_hook("emitExit", 1, &arg);
        if (JS_IsException(r)) {
            status = sb_take_exception() ? SB_EXIT : SB_ERROR;
        } else {
            code = sb_call_hook("exitCode", 0, NULL);
            JS_ToInt32(sb_ctx, &c, code);
            JS_FreeValue(sb_ctx, code);
            if (c != 0) {
                sb_exit_code = c;
                status = SB_EXIT;
            }
        }
        JS_FreeValue(sb_ctx, r);
    }
    if (status == SB_ERROR && !sb_session) {
        /* Node exits with 1 after an uncaught exception, or process.exitCode if set. */
        sb_flush();
        exit(1);
    }
    if (status != SB_OK) {
        sb_abandon();
        sb_clear_value();
    }
    if (sb_exit_pending)
        status = SB_EXIT;
    if (!sb_session && status == SB_EXIT) {
        sb_flush();
        exit(sb_exit_code);
    }
    sb_flush();
    return status;
}
