//! JavaScript sessions on `quickjs-session` (QuickJS-NG built by the engine as a reactor): state
//! across cells, final-expression values, promises, limits and poisoning, fork, and the
//! filesystem view of the `std`/`os` modules.

use std::time::Duration;

use soulbox::{Engine, EngineConfig, Language, MIB, SandboxConfig, SoulBoxError, Status};

use crate::runtime_sandbox;

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(128 * MIB)
        .with_timeout(Duration::from_secs(20))
}

#[tokio::test]
async fn javascript_sessions_use_the_session_runtime_and_keep_state_over_100_cells() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    assert_eq!(session.runtime_name(), "quickjs-session");
    let r = session
        .execute("let x = 0\nconst seen = []\nfunction bump(n) { seen.push(n); return n }")
        .await
        .unwrap();
    assert_eq!((r.status, r.value.as_deref()), (Status::Ok, None), "{r:?}");
    for i in 1..=100 {
        let r = session.execute("x = bump(x + 1)\nx").await.unwrap();
        assert_eq!(r.status, Status::Ok, "{r:?}");
        assert_eq!(r.value.as_deref(), Some(i.to_string().as_str()));
    }
    let r = session
        .execute("console.log('x is', x)\nseen.length + seen[99]")
        .await
        .unwrap();
    assert_eq!(r.stdout, "x is 100\n");
    assert_eq!(r.value.as_deref(), Some("200"));
    // A one-shot run gets a fresh instance of the same runtime: none of the session's state.
    let r = sandbox
        .execute_code(Language::JavaScript, "console.log(typeof x)")
        .await
        .unwrap();
    assert_eq!(r.stdout, "undefined\n");
    sandbox.terminate().await;
}

#[tokio::test]
async fn the_final_expression_is_shown_like_a_repl_shows_it() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    let cases: &[(&str, Option<&str>)] = &[
        ("let x = 41", None),
        ("x + 1", Some("42")),
        ("'hi'", Some("'hi'")),
        ("\"it's\"", Some("\"it's\"")),
        (
            "({ a: 1, b: [1, 'two'], c: { d: null } })",
            Some("{ a: 1, b: [ 1, 'two' ], c: { d: null } }"),
        ),
        ("[]", Some("[]")),
        ("new Map([[1, 'a']])", Some("Map(1) { 1 => 'a' }")),
        ("undefined", None),
        ("null", Some("null")),
        ("10n ** 20n", Some("100000000000000000000n")),
        (
            "function sq(n) { return n * n }\nsq",
            Some("[Function: sq]"),
        ),
        (
            "const o = { self: null }; o.self = o; o",
            Some("<ref *1> { self: [Circular *1] }"),
        ),
        ("console.log('printed')", None),
    ];
    for (code, value) in cases {
        let r = session.execute(*code).await.unwrap();
        assert_eq!(r.status, Status::Ok, "{code}: {r:?}");
        assert_eq!(r.value.as_deref(), *value, "{code}");
    }
    sandbox.terminate().await;
}

#[tokio::test]
async fn an_exception_keeps_the_state() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    session.execute("const data = [1, 2, 3]").await.unwrap();
    let r = session
        .execute("data.push(4)\nthrow new TypeError('boom')")
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.exit_code, r.value.as_deref()),
        (Status::Error, Some(1), None),
        "{r:?}"
    );
    assert!(r.stderr.contains("TypeError: boom"), "{}", r.stderr);
    assert!(r.stderr.contains("[cell 2]"), "{}", r.stderr);
    let r = session.execute("function broken( {").await.unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.stderr.contains("SyntaxError"), "{}", r.stderr);
    let r = session.execute("undefinedName + 1").await.unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.stderr.contains("ReferenceError"), "{}", r.stderr);
    // Deep recursion is a RangeError, not a crash of the interpreter.
    let r = session
        .execute("function down(n) { return down(n + 1) + 1 }\ndown(0)")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.stderr.contains("RangeError"), "{}", r.stderr);
    let r = session
        .execute("data.reduce((a, b) => a + b)")
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.value.as_deref()),
        (Status::Ok, Some("10")),
        "{r:?}"
    );
    assert!(!session.is_poisoned().await);
    sandbox.terminate().await;
}

#[tokio::test]
async fn promises_resolve_within_the_cell() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    let r = session
        .execute("const later = (v, ms) => new Promise(r => setTimeout(() => r(v), ms))\nawait later(5, 20)")
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.value.as_deref()),
        (Status::Ok, Some("5")),
        "{r:?}"
    );
    let r = session
        .execute("async function twice(v) { return 2 * await later(v, 1) }\nconst got = await twice(21)\ngot")
        .await
        .unwrap();
    assert_eq!(r.value.as_deref(), Some("42"), "{r:?}");
    // Callbacks the cell did not await still run before it ends.
    let r = session
        .execute("Promise.resolve(got).then(v => console.log('then', v))\n'sync'")
        .await
        .unwrap();
    assert_eq!(
        (r.stdout.as_str(), r.value.as_deref()),
        ("then 42\n", Some("'sync'")),
        "{r:?}"
    );
    // A rejection nobody handles fails the cell; an await that can never finish does too.
    let r = session
        .execute("Promise.reject(new Error('nope')); 1")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.stderr.starts_with("Error: nope\n    at "), "{}", r.stderr);
    let r = session
        .execute("await new Promise(() => {})")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.stderr.contains("can settle"), "{}", r.stderr);
    let r = session.execute("got").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("42"), "{r:?}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn console_output_goes_to_the_right_stream() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    let r = session
        .execute("console.log('hi', { a: 1 }, [1, 's'])\nprint('plain')\nconsole.error('bad', 2)")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "hi { a: 1 } [ 1, 's' ]\nplain\n");
    assert_eq!(r.stderr, "bad 2\n");
    assert_eq!(r.value, None);
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_javascript_timeout_poisons_until_reset() {
    let sandbox = runtime_sandbox(config().with_timeout(Duration::from_secs(2))).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    session.execute("var kept = 1").await.unwrap();
    let r = session.execute("for (;;) {}").await.unwrap();
    assert_eq!(r.status, Status::Timeout, "{r:?}");
    assert!(r.execution_time < Duration::from_secs(4), "{r:?}");
    let err = session.execute("kept").await.unwrap_err();
    assert!(matches!(err, SoulBoxError::SessionPoisoned(_)), "{err}");
    session.reset().await.unwrap();
    let r = session.execute("typeof kept").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("'undefined'"), "{r:?}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_javascript_memory_bomb_is_memory_limit_and_poisons() {
    let sandbox = runtime_sandbox(config().with_memory_limit(48 * MIB)).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    let r = session
        .execute("const small = new Array(1000).fill(1)\nsmall.length")
        .await
        .unwrap();
    assert_eq!(r.value.as_deref(), Some("1000"), "{r:?}");
    // Caught or not, the refused growth poisons: the limit is the session's.
    let r = session
        .execute("const hog = []\ntry { for (;;) hog.push(new Array(1 << 20).fill(7)) } catch (e) { console.log('caught', e.message) }")
        .await
        .unwrap();
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert!(r.memory_usage <= 48 * MIB, "{r:?}");
    let err = session.execute("1").await.unwrap_err();
    assert!(matches!(err, SoulBoxError::SessionPoisoned(_)), "{err}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn fuel_is_per_javascript_cell() {
    let sandbox = runtime_sandbox(config().with_fuel(400_000_000)).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    // Each cell alone fits the budget; together they would not.
    for _ in 0..3 {
        let r = session
            .execute("(() => { let s = 0; for (let i = 0; i < 1e5; i++) s += i; return s })()")
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.value.as_deref()),
            (Status::Ok, Some("4999950000")),
            "{r:?}"
        );
        assert!(
            r.fuel_consumed > 10_000_000 && r.fuel_consumed < 400_000_000,
            "{r:?}"
        );
    }
    let r = session.execute("for (;;) {}").await.unwrap();
    assert_eq!(r.status, Status::FuelExhausted, "{r:?}");
    assert!(session.is_poisoned().await);
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_javascript_fork_diverges_from_its_parent() {
    let sandbox = runtime_sandbox(config()).await;
    let parent = sandbox.session(Language::JavaScript).await.unwrap();
    parent
        .execute("let x = 1\nconst log = ['parent']\nconst tag = s => s + '!'")
        .await
        .unwrap();
    let child = parent.fork().await.unwrap();
    assert_eq!(child.runtime_name(), "quickjs-session");
    parent.execute("x = 2; log.push('p2')").await.unwrap();
    let r = child
        .execute("log.push('c2');\n[x, log, tag('c')]")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.value.as_deref(), Some("[ 1, [ 'parent', 'c2' ], 'c!' ]"));
    let r = parent.execute("JSON.stringify([x, log])").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("'[2,[\"parent\",\"p2\"]]'"));
    for i in 0..20 {
        let r = child.execute(format!("x += {i}")).await.unwrap();
        assert_eq!(r.status, Status::Ok, "{r:?}");
    }
    let r = child
        .execute("await new Promise(r => setTimeout(() => r(x), 5))")
        .await
        .unwrap();
    assert_eq!(r.value.as_deref(), Some("191"), "{r:?}");
    let grandchild = child.fork().await.unwrap();
    assert_eq!(
        grandchild.execute("x").await.unwrap().value.as_deref(),
        Some("191")
    );
    assert_eq!(
        parent.execute("x").await.unwrap().value.as_deref(),
        Some("2")
    );
    sandbox.terminate().await;
}

#[tokio::test]
async fn std_and_os_stay_inside_the_workspace() {
    let sandbox = runtime_sandbox(config()).await;
    sandbox.write_file("data.txt", "inside").await.unwrap();
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    let escapes = [
        "std.loadFile('/etc/passwd')",
        "std.loadFile('../../etc/passwd')",
        "std.loadFile('/work/../../etc/passwd')",
        "std.loadFile('/proc/self/environ')",
        "std.open('/etc/passwd', 'r')",
        "std.open('../../../../etc/shadow', 'r')",
    ];
    for code in escapes {
        let r = session.execute(code).await.unwrap();
        assert_eq!(
            (r.status, r.value.as_deref()),
            (Status::Ok, Some("null")),
            "{code}: {r:?}"
        );
    }
    // os-level calls report an error number instead of reading the host.
    let r = session
        .execute("[os.open('/etc/passwd', os.O_RDONLY) < 0, os.stat('/etc/passwd')[1] !== 0, os.readdir('/')[0].includes('etc')]")
        .await
        .unwrap();
    assert_eq!(r.value.as_deref(), Some("[ true, true, false ]"), "{r:?}");
    // The workspace itself is readable and writable.
    let r = session
        .execute("const f = std.open('out.txt', 'w'); f.puts('written'); f.close()\nstd.loadFile('data.txt')")
        .await
        .unwrap();
    assert_eq!(r.value.as_deref(), Some("'inside'"), "{r:?}");
    assert!(r.artifact("out.txt").is_some(), "{r:?}");
    assert_eq!(sandbox.read_file("out.txt").await.unwrap(), b"written");
    sandbox.terminate().await;
}

#[tokio::test]
async fn offline_without_sources_names_the_install_command() {
    let home = tempfile::tempdir().unwrap();
    let engine = Engine::new(
        EngineConfig::default()
            .with_home(home.path())
            .with_offline(true),
    )
    .unwrap();
    let sandbox = engine.sandbox(config()).await.unwrap();
    let err = sandbox.session(Language::JavaScript).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("offline") && message.contains("soulbox runtimes install quickjs-session"),
        "{message}"
    );
    sandbox.terminate().await;
}

#[tokio::test]
async fn process_exit_ends_the_cell_with_its_code_and_the_session_lives_on() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    session.execute("const kept = 'still here'").await.unwrap();
    let r = session
        .execute("console.log('before'); setTimeout(() => console.log('dropped'), 10); process.exit(3); console.log('never')")
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.exit_code, r.stdout.as_str()),
        (Status::Error, Some(3), "before\n"),
        "{r:?}"
    );
    // Even from inside a catch-all, from a timer, and with code 0.
    let r = session
        .execute("try { process.exit(4) } catch (e) { console.log('caught?') }")
        .await
        .unwrap();
    assert_eq!((r.exit_code, r.stdout.as_str()), (Some(4), ""), "{r:?}");
    let r = session
        .execute("setTimeout(() => process.exit(0), 5); console.log('waiting')")
        .await
        .unwrap();
    assert_eq!((r.status, r.exit_code), (Status::Ok, Some(0)), "{r:?}");
    // The dropped timer never fires later; the state survived every exit.
    let r = session.execute("kept").await.unwrap();
    assert_eq!(
        (r.status, r.value.as_deref(), r.stdout.as_str()),
        (Status::Ok, Some("'still here'"), ""),
        "{r:?}"
    );
    // process.exitCode set by a cell is its exit code, once.
    let r = session.execute("process.exitCode = 2").await.unwrap();
    assert_eq!((r.status, r.exit_code), (Status::Error, Some(2)), "{r:?}");
    let r = session.execute("1 + 1").await.unwrap();
    assert_eq!(
        (r.status, r.value.as_deref()),
        (Status::Ok, Some("2")),
        "{r:?}"
    );
    sandbox.terminate().await;
}

#[tokio::test]
async fn timers_set_in_a_cell_fire_before_the_cell_returns() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    let r = session
        .execute("setTimeout(() => console.log('timer'), 30)\nsetImmediate(() => console.log('immediate'))\nprocess.nextTick(() => console.log('tick'))\nconsole.log('cell')\n42")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "cell\ntick\nimmediate\ntimer\n");
    assert_eq!(r.value.as_deref(), Some("42"));
    // An interval that stops itself; the next cell starts with nothing pending.
    let r = session
        .execute("let n = 0; const iv = setInterval(() => { if (++n === 3) clearInterval(iv) }, 5)")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let r = session.execute("n").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("3"));
    // An error in a timer fails the cell that set it, like an uncaught error in node.
    let r = session
        .execute("setTimeout(() => { throw new RangeError('in a timer') }, 1)")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.stderr.starts_with("RangeError: in a timer"), "{r:?}");
    let r = session.execute("n + 1").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("4"), "{r:?}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn an_endless_interval_is_a_timeout_and_poisons_until_reset() {
    let sandbox = runtime_sandbox(config().with_timeout(Duration::from_secs(2))).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    let r = session
        .execute("setInterval(() => {}, 10); 'set'")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Timeout, "{r:?}");
    let err = session.execute("1").await.unwrap_err();
    assert!(matches!(err, SoulBoxError::SessionPoisoned(_)), "{err}");
    session.reset().await.unwrap();
    let r = session.execute("typeof setInterval").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("'function'"), "{r:?}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn cells_have_the_node_globals_and_imports_of_one_shot_runs() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    let r = session
        .execute("const fs = require('fs')\nconst path = require('node:path')\nfs.writeFileSync('cell.txt', 'from a cell');\n[typeof process, typeof Buffer, path.join('a', 'b')]")
        .await
        .unwrap();
    assert_eq!(
        r.value.as_deref(),
        Some("[ 'object', 'function', 'a/b' ]"),
        "{r:?}"
    );
    let r = session
        .execute("import { readFileSync } from 'fs'\nconsole.log(readFileSync('cell.txt', 'utf8'))")
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (Status::Ok, "from a cell\n"),
        "{r:?}"
    );
    let r = session
        .execute("console.log({ a: [1, 2], m: new Map([[1, 'x']]) }); fs.existsSync('cell.txt')")
        .await
        .unwrap();
    assert_eq!(r.stdout, "{ a: [ 1, 2 ], m: Map(1) { 1 => 'x' } }\n");
    assert_eq!(r.value.as_deref(), Some("true"));
    sandbox.terminate().await;
}
