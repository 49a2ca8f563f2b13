//! Sessions: one live Python interpreter whose state persists across executions, with limits
//! per cell and poisoning after a cell breaks one.

use std::time::Duration;

use soulbox::{Language, MIB, SandboxConfig, SoulBoxError, Status};

use crate::runtime_sandbox;

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_secs(60))
}

#[tokio::test]
async fn state_persists_across_100_executions() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    let r = session.execute("import math\nx = 0").await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.value, None);
    for i in 1..=100 {
        let r = session.execute("x += 1\nx").await.unwrap();
        assert_eq!(r.status, Status::Ok, "{r:?}");
        assert_eq!(r.value.as_deref(), Some(i.to_string().as_str()));
    }
    let r = session
        .execute("print('x is', x)\nmath.sqrt(x)")
        .await
        .unwrap();
    assert_eq!(r.stdout, "x is 100\n");
    assert_eq!(r.value.as_deref(), Some("10.0"));
    sandbox.terminate().await;
}

#[tokio::test]
async fn each_cell_has_its_own_output_value_and_artifacts() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    let r = session
        .execute("def greet(n):\n    return f'hi {n}'\nprint('defined')")
        .await
        .unwrap();
    assert_eq!((r.status, r.stdout.as_str()), (Status::Ok, "defined\n"));
    let r = session
        .execute("open('notes.txt', 'w').write('one')\ngreet('bob')")
        .await
        .unwrap();
    assert_eq!(r.stdout, "");
    assert_eq!(r.value.as_deref(), Some("'hi bob'"));
    assert!(r.artifact("notes.txt").is_some(), "{r:?}");
    // Files persist in the workspace; the next cell's artifacts list only its own changes.
    let r = session
        .execute("import os\nopen('notes.txt').read(), os.getcwd()")
        .await
        .unwrap();
    assert_eq!(r.value.as_deref(), Some("('one', '/work')"));
    assert!(r.artifacts.is_empty(), "{r:?}");
    // `None` results and statements give no value; `_` holds the last value.
    let r = session.execute("print(_)\nNone").await.unwrap();
    assert_eq!((r.stdout.as_str(), r.value), ("('one', '/work')\n", None));
    assert_eq!(sandbox.read_file("notes.txt").await.unwrap(), b"one");
    sandbox.terminate().await;
}

#[tokio::test]
async fn an_exception_keeps_the_state() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    session.execute("data = [1, 2, 3]").await.unwrap();
    let r = session
        .execute("data.append(4)\nraise ValueError('boom')")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.stderr.contains("ValueError: boom"), "{}", r.stderr);
    assert!(r.stderr.contains("<cell 2>"), "{}", r.stderr);
    assert!(!r.stderr.contains("__soulbox__"), "{}", r.stderr);
    let r = session.execute("1/0").await.unwrap();
    assert_eq!(r.status, Status::Error);
    assert!(r.stderr.contains("ZeroDivisionError"), "{}", r.stderr);
    let r = session.execute("def broken(:\n  pass").await.unwrap();
    assert_eq!(r.status, Status::Error);
    assert!(r.stderr.contains("SyntaxError"), "{}", r.stderr);
    assert!(!r.stderr.contains("ast.py"), "{}", r.stderr);
    let r = session.execute("import sys\nsys.exit(3)").await.unwrap();
    assert_eq!(r.status, Status::Error);
    let r = session.execute("sum(data)").await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.value.as_deref(), Some("10"));
    assert!(!session.is_poisoned().await);
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_timeout_poisons_the_session_until_reset() {
    let sandbox = runtime_sandbox(config().with_timeout(Duration::from_secs(3))).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    session.execute("kept = 1").await.unwrap();
    let r = session.execute("while True:\n    pass").await.unwrap();
    assert_eq!(r.status, Status::Timeout, "{r:?}");
    assert!(r.execution_time < Duration::from_secs(5), "{r:?}");
    assert!(session.is_poisoned().await);
    let err = session.execute("kept").await.unwrap_err();
    assert!(matches!(err, SoulBoxError::SessionPoisoned(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("timeout") && message.contains("reset()"),
        "{message}"
    );
    session.reset().await.unwrap();
    // A fresh interpreter: the old variables are gone, the session works again.
    let r = session.execute("kept").await.unwrap();
    assert_eq!(r.status, Status::Error);
    assert!(r.stderr.contains("NameError"), "{}", r.stderr);
    let r = session.execute("2 ** 10").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("1024"));
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_cell_cancelled_halfway_poisons_the_session_until_reset() {
    let sandbox = runtime_sandbox(config().with_timeout(Duration::from_secs(30))).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    session.execute("kept = 1").await.unwrap();
    // The caller gives up on a cell mid-run (a client that disconnected): its future is dropped.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(500),
        session.execute("while True:\n    pass"),
    )
    .await;
    assert!(cancelled.is_err(), "the endless cell cannot have finished");
    // The sandbox's turn was released with it: another execution runs at once.
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        sandbox.execute_code(Language::Python, "print('free')"),
    )
    .await
    .expect("the turn was released")
    .unwrap();
    assert_eq!(r.stdout, "free\n");
    assert!(session.is_poisoned().await);
    let err = session.execute("kept").await.unwrap_err();
    assert!(matches!(err, SoulBoxError::SessionPoisoned(_)), "{err}");
    assert!(err.to_string().contains("cancelled"), "{err}");
    session.reset().await.unwrap();
    let r = session.execute("2 ** 10").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("1024"));
    sandbox.terminate().await;
}

#[tokio::test]
async fn hitting_the_memory_limit_poisons_the_session() {
    let sandbox = runtime_sandbox(config().with_memory_limit(192 * MIB)).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    let r = session
        .execute("small = bytearray(1024)\nlen(small)")
        .await
        .unwrap();
    assert_eq!(r.value.as_deref(), Some("1024"), "{r:?}");
    // Even caught, the refused growth poisons: the limit covers the whole session.
    let r = session
        .execute("try:\n    big = bytearray(400 * 1024 * 1024)\nexcept MemoryError:\n    print('caught')")
        .await
        .unwrap();
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert!(r.memory_usage <= 192 * MIB, "{r:?}");
    let err = session.execute("1").await.unwrap_err();
    assert!(matches!(err, SoulBoxError::SessionPoisoned(_)), "{err}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn fuel_is_per_cell() {
    let sandbox = runtime_sandbox(config().with_fuel(2_000_000_000)).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    // Each cell alone fits the budget; together they would not.
    for _ in 0..3 {
        let r = session.execute("sum(range(300_000))").await.unwrap();
        assert_eq!(r.status, Status::Ok, "{r:?}");
        assert!(r.fuel_consumed > 0 && r.fuel_consumed < 2_000_000_000);
    }
    let r = session.execute("while True:\n    pass").await.unwrap();
    assert_eq!(r.status, Status::FuelExhausted, "{r:?}");
    assert!(session.is_poisoned().await);
    sandbox.terminate().await;
}

#[tokio::test]
async fn sessions_are_independent_and_run_concurrently() {
    let mut tasks = Vec::new();
    for n in 0..4 {
        tasks.push(tokio::spawn(async move {
            let sandbox = runtime_sandbox(config()).await;
            let session = sandbox.session(Language::Python).await.unwrap();
            session
                .execute(format!("me = {n}\ntotal = 0"))
                .await
                .unwrap();
            for i in 0..10 {
                let r = session.execute(format!("total += me * {i}")).await.unwrap();
                assert_eq!(r.status, Status::Ok, "{r:?}");
            }
            let r = session.execute("(me, total)").await.unwrap();
            sandbox.terminate().await;
            r.value
        }));
    }
    for (n, task) in tasks.into_iter().enumerate() {
        let expected = format!("({n}, {})", n * 45);
        assert_eq!(task.await.unwrap().as_deref(), Some(expected.as_str()));
    }
}

#[tokio::test]
async fn a_terminated_sandbox_refuses_its_session() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    session.execute("x = 1").await.unwrap();
    sandbox.terminate().await;
    let err = session.execute("x").await.unwrap_err();
    assert!(matches!(err, SoulBoxError::InvalidState { .. }), "{err}");
    assert!(sandbox.session(Language::Python).await.is_err());
}

#[tokio::test]
async fn languages_without_sessions_say_so() {
    let sandbox = runtime_sandbox(config()).await;
    let err = sandbox.session(Language::Rust).await.unwrap_err();
    assert!(err.to_string().contains("sessions"), "{err}");
    // Asking for a command build explicitly: no live interpreter to keep.
    let sandbox2 = runtime_sandbox(config().with_runtime("quickjs")).await;
    let err = sandbox2.session(Language::JavaScript).await.unwrap_err();
    assert!(err.to_string().contains("quickjs-session"), "{err}");
    sandbox2.terminate().await;
    sandbox.terminate().await;
}

#[tokio::test]
async fn ruby_sessions_keep_locals_methods_and_survive_exceptions() {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::Ruby).await.unwrap();
    let r = session
        .execute("total = 0\ndef sq(n) = n * n")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    for i in 1..=20 {
        let r = session.execute(format!("total += sq({i})")).await.unwrap();
        assert_eq!(r.status, Status::Ok, "{r:?}");
    }
    let r = session.execute("raise ArgumentError, 'bad'").await.unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.stderr.contains("bad (ArgumentError)"), "{}", r.stderr);
    let r = session
        .execute("puts \"total=#{total}\"\n[total, sq(4)]")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "total=2870\n");
    assert_eq!(r.value.as_deref(), Some("[2870, 16]"));
    // `puts` returns nil: no value.
    let r = session.execute("puts 1").await.unwrap();
    assert_eq!((r.stdout.as_str(), r.value), ("1\n", None));
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_ruby_timeout_poisons_until_reset() {
    let sandbox = runtime_sandbox(config().with_timeout(Duration::from_secs(3))).await;
    let session = sandbox.session(Language::Ruby).await.unwrap();
    session.execute("kept = 1").await.unwrap();
    let r = session.execute("loop {}").await.unwrap();
    assert_eq!(r.status, Status::Timeout, "{r:?}");
    let err = session.execute("kept").await.unwrap_err();
    assert!(matches!(err, SoulBoxError::SessionPoisoned(_)), "{err}");
    session.reset().await.unwrap();
    let r = session.execute("defined?(kept).inspect").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("\"nil\""), "{r:?}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_fork_diverges_from_its_parent() {
    let sandbox = runtime_sandbox(config()).await;
    let parent = sandbox.session(Language::Python).await.unwrap();
    parent
        .execute("import json\nimport numpy as np\nx = 1\nlog = ['parent']\ndef tag(s):\n    return s + '!'")
        .await
        .unwrap();
    let child = parent.fork().await.unwrap();
    parent.execute("x = 2\nlog.append('p2')").await.unwrap();
    let r = child
        .execute("log.append('c2')\n(x, log, tag('c'))")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.value.as_deref(), Some("(1, ['parent', 'c2'], 'c!')"));
    let r = parent.execute("json.dumps([x, log])").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("'[2, [\"parent\", \"p2\"]]'"));
    // The fork keeps working on its own for many cells, imports included.
    for i in 0..20 {
        let r = child.execute(format!("x += {i}\nx")).await.unwrap();
        assert_eq!(r.status, Status::Ok, "{r:?}");
    }
    let r = child.execute("import math\nmath.isqrt(x)").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("13"), "{r:?}");
    let r = child
        .execute("int(np.arange(x).sum() + np.ones(3).sum())")
        .await
        .unwrap();
    assert_eq!(r.value.as_deref(), Some("18148"), "{r:?}");
    // A fork of a fork, and a poisoned session cannot be forked.
    let grandchild = child.fork().await.unwrap();
    assert_eq!(
        grandchild.execute("x").await.unwrap().value.as_deref(),
        Some("191")
    );
    let tight = runtime_sandbox(config().with_timeout(Duration::from_secs(2))).await;
    let s = tight.session(Language::Python).await.unwrap();
    s.execute("while True:\n    pass").await.unwrap();
    assert!(matches!(
        s.fork().await,
        Err(SoulBoxError::SessionPoisoned(_))
    ));
    tight.terminate().await;
    sandbox.terminate().await;
}

/// No output of any cell may show `secret`.
fn assert_no_secret(r: &soulbox::ExecutionResult, secret: &str) {
    assert!(
        !r.stdout.contains(secret)
            && !r.stderr.contains(secret)
            && !r.value.as_deref().unwrap_or("").contains(secret),
        "the host secret leaked: {r:?}"
    );
}

/// The exploit of the old file channel: a cell plants symbolic links where the host used to
/// read the value (`/.soulbox/value`) and test the error mark (`/.soulbox/error`). Links that
/// climb out to host files (a root-only secret, a path that exists or not) are refused by the
/// WASI guard; links inside the guest's root, to a bait file the cell wrote, are planted. The
/// report travels through guest memory: no value appears, the cell is `ok`, and neither the host
/// secret nor the bait shows anywhere - so no link is followed and no existence is revealed.
#[tokio::test]
async fn python_links_where_the_value_was_read_leak_nothing() {
    let (_dir, secret_path, secret) = crate::host_secret();
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    let bait = "GUEST-BAIT-7f3a";
    let plant = |escaping_error: &str, inside_error: &str| {
        format!(
            "import os\nos.makedirs('/.soulbox', exist_ok=True)\nos.makedirs('/home/bait', exist_ok=True)\n\
             with open('/home/bait/secret', 'w') as f:\n    f.write({bait:?})\n\
             refused = []\n\
             for name, out, inside in (('value', {secret:?}, '../home/bait/secret'), ('error', {escaping_error:?}, {inside_error:?})):\n    \
                 p = '/.soulbox/' + name\n    \
                 if os.path.lexists(p):\n        os.remove(p)\n    \
                 try:\n        os.symlink(out, p)\n    \
                 except PermissionError:\n        refused.append(name)\n        os.symlink(inside, p)\n\
             planted = sorted(os.listdir('/.soulbox'))\n",
            secret = crate::climbing(&secret_path),
        )
    };
    // The error mark points at a file that exists, then at one that does not: the same answer
    // both times (no existence oracle), and the value never shows the secret or the bait.
    for (escaping_error, inside_error) in [
        (crate::climbing(&secret_path), "../home/bait/secret"),
        (
            crate::climbing(&secret_path.with_extension("missing")),
            "../home/bait/missing",
        ),
    ] {
        let r = session
            .execute(plant(&escaping_error, inside_error))
            .await
            .unwrap();
        assert_eq!((r.status, r.value.as_deref()), (Status::Ok, None), "{r:?}");
        assert_no_secret(&r, &secret);
        assert_no_secret(&r, bait);
        let r = session.execute("planted, refused").await.unwrap();
        assert_eq!(
            (r.status, r.value.as_deref()),
            (Status::Ok, Some("(['error', 'value'], ['value', 'error'])")),
            "links out were refused and links inside really planted: {r:?}"
        );
        let r = session.execute("x = 1").await.unwrap();
        assert_eq!((r.status, r.value.as_deref()), (Status::Ok, None), "{r:?}");
        assert_no_secret(&r, &secret);
        assert_no_secret(&r, bait);
    }
    let r = session.execute("1 + 1").await.unwrap();
    assert_eq!((r.status, r.value.as_deref()), (Status::Ok, Some("2")));
    sandbox.terminate().await;
}

/// The exploit of the old Ruby channel: a cell replaces the files the host wrote and read in the
/// session's code directory (`/code/cell.rb`, `/code/value`, `/code/error`) with links to host
/// paths, climbing out with `../`. The next cell must neither write the host file nor show the
/// secret, and must end as it should.
#[tokio::test]
async fn ruby_links_in_the_code_directory_touch_nothing_on_the_host() {
    let (dir, secret_path, secret) = crate::host_secret();
    let target = dir.path().join("written-by-the-engine");
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::Ruby).await.unwrap();
    let plant = format!(
        "planted = []\n\
         {{ 'cell.rb' => {write:?}, 'value' => {read:?}, 'error' => {read:?} }}.each do |name, to|\n  \
           path = \"/code/#{{name}}\"\n  \
           begin\n    File.delete(path) if File.symlink?(path) || File.exist?(path)\n  \
           rescue SystemCallError\n  end\n  \
           begin\n    File.symlink(to, path)\n    planted << name\n  \
           rescue SystemCallError => e\n    planted << \"#{{name}}: #{{e.class}}\"\n  end\n\
         end\n\
         nil\n",
        write = crate::climbing(&target),
        read = crate::climbing(&secret_path),
    );
    let r = session.execute(&plant).await.unwrap();
    assert_eq!((r.status, r.value.as_deref()), (Status::Ok, None), "{r:?}");
    let r = session.execute("x = 41\nnil").await.unwrap();
    assert_eq!((r.status, r.value.as_deref()), (Status::Ok, None), "{r:?}");
    assert_no_secret(&r, &secret);
    let r = session.execute("x + 1").await.unwrap();
    assert_eq!(
        (r.status, r.value.as_deref()),
        (Status::Ok, Some("42")),
        "{r:?}"
    );
    assert_no_secret(&r, &secret);
    // The code directory is read-only to the guest now: nothing could be planted.
    let r = session.execute("planted.grep(/: /).size").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("3"), "{r:?}");
    assert!(!target.exists(), "the engine wrote a cell into a host file");
    assert_eq!(std::fs::read_to_string(&secret_path).unwrap(), secret);
    sandbox.terminate().await;
}
