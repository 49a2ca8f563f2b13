//! Golden tests of the Node.js layer of the default JavaScript runtime: each program in
//! `tests/all/node_golden/` runs through SoulBox and must give the output and exit code real
//! Node gives. Where `node` is installed the expectation comes from running it (and the
//! checked-in expectation is rewritten when Node says otherwise); elsewhere the checked-in
//! `<program>.stdout` / `.stderr` / `.exit` files are the expectation.
//!
//! stdout is compared exactly. stderr is compared exactly for programs that exit 0; for a
//! program that dies of an uncaught error only the error's head line (`TypeError: bad thing`)
//! is compared, since Node adds a source excerpt and its own stack frames.
//!
//! Also here: module resolution (`require` / `import` of the user's files, `node_modules`
//! packages walking up, `NODE_PATH`, package.json `exports` / `main` / `type`) against fixture
//! packages the test writes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use soulbox::{ExecutionRequest, Language, MIB, SandboxConfig, Status};

use crate::runtime_sandbox;

/// Every golden program (files in `tests/all/node_golden/`).
const PROGRAMS: &[&str] = &[
    "format_values.js",
    "format_strings.js",
    "timers.js",
    "builtins.js",
    "builtins_esm.mjs",
    "fs.js",
    "globals.js",
    "fetch_objects.js",
    "exit_code.js",
    "process_exit.js",
    "uncaught.js",
    "uncaught_timer.js",
    "rejection.js",
    "handled_rejection.js",
    "process_handlers.js",
];

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(128 * MIB)
        .with_timeout(Duration::from_secs(30))
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/all/node_golden")
}

/// What a program printed and how it ended, as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observed {
    stdout: String,
    stderr: String,
    exit: i32,
}

/// The compared part of stderr: all of it after a clean exit, else the error's head line.
fn stderr_view(stderr: &str, exit: i32) -> String {
    if exit == 0 {
        return stderr.to_owned();
    }
    stderr
        .lines()
        .find(|l| {
            let head = l.split([':', ' ']).next().unwrap_or("");
            (head.ends_with("Error") && head.chars().all(|c| c.is_ascii_alphanumeric()))
                || l.starts_with("Uncaught")
                || l.starts_with("[UnhandledPromiseRejection")
        })
        .map(|l| format!("{l}\n"))
        .unwrap_or_default()
}

/// Node's path, when it is installed.
fn node() -> Option<PathBuf> {
    let path =
        std::env::var_os("SOULBOX_NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from);
    let ok = Command::new(&path)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(path)
}

/// Runs `program` with Node in a fresh directory (with `files` written into it first).
fn run_node(
    node: &Path,
    name: &str,
    code: &str,
    files: &[(&str, &str)],
    env: &[(&str, String)],
) -> Observed {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::write(dir.path().join(name), code).unwrap();
    let mut cmd = Command::new(node);
    cmd.arg(name).current_dir(dir.path()).env_clear();
    for (k, v) in env {
        cmd.env(k, v.replace("{dir}", &dir.path().to_string_lossy()));
    }
    let out = cmd.output().unwrap();
    let exit = out.status.code().unwrap_or(-1);
    Observed {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: stderr_view(&String::from_utf8_lossy(&out.stderr), exit),
        exit,
    }
}

/// Runs `code` through SoulBox's default JavaScript runtime (with `files` in the workspace).
async fn run_soulbox(code: &str, files: &[(&str, &str)], env: &[(&str, String)]) -> Observed {
    let sandbox = runtime_sandbox(config()).await;
    for (path, text) in files {
        sandbox.write_file(path, text).await.unwrap();
    }
    let mut request = ExecutionRequest::new(Language::JavaScript, code);
    for (k, v) in env {
        request = request.with_env(*k, v.replace("{dir}", "/work"));
    }
    let r = sandbox.execute(request).await.unwrap();
    sandbox.terminate().await;
    assert!(
        matches!(r.status, Status::Ok | Status::Error),
        "the program did not end by itself: {r:?}"
    );
    let exit = r.exit_code.unwrap_or(-1);
    Observed {
        stdout: r.stdout,
        stderr: stderr_view(&r.stderr, exit),
        exit,
    }
}

/// The expectation of `name`: from Node when installed (refreshing the checked-in files),
/// else the checked-in files.
fn expectation(name: &str, code: &str) -> Observed {
    let dir = golden_dir();
    let file = |ext: &str| dir.join(format!("{name}.{ext}"));
    if let Some(node) = node() {
        let seen = run_node(&node, name, code, &[], &[]);
        let checked_in = read_expectation(&file("stdout"), &file("stderr"), &file("exit"));
        if checked_in.as_ref() != Some(&seen) {
            eprintln!("node_golden: writing Node's output as the expectation of {name}");
            std::fs::write(file("stdout"), &seen.stdout).unwrap();
            std::fs::write(file("stderr"), &seen.stderr).unwrap();
            std::fs::write(file("exit"), format!("{}\n", seen.exit)).unwrap();
        }
        return seen;
    }
    read_expectation(&file("stdout"), &file("stderr"), &file("exit"))
        .unwrap_or_else(|| panic!("no checked-in expectation for {name} and no node to make one"))
}

fn read_expectation(stdout: &Path, stderr: &Path, exit: &Path) -> Option<Observed> {
    Some(Observed {
        stdout: std::fs::read_to_string(stdout).ok()?,
        stderr: std::fs::read_to_string(stderr).ok()?,
        exit: std::fs::read_to_string(exit).ok()?.trim().parse().ok()?,
    })
}

#[tokio::test]
async fn golden_programs_print_what_node_prints() {
    let mut failures = Vec::new();
    for name in PROGRAMS {
        let code = std::fs::read_to_string(golden_dir().join(name)).unwrap();
        let expected = expectation(name, &code);
        let got = run_soulbox(&code, &[], &[]).await;
        if got != expected {
            failures.push(format!(
                "{name}:\n--- node (exit {})\n{}{}\n--- soulbox (exit {})\n{}{}",
                expected.exit, expected.stdout, expected.stderr, got.exit, got.stdout, got.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_golden_program_is_listed_and_has_an_expectation() {
    let mut on_disk: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".js") || n.ends_with(".mjs"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = PROGRAMS.iter().map(|s| (*s).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    for name in PROGRAMS {
        for ext in ["stdout", "stderr", "exit"] {
            assert!(
                golden_dir().join(format!("{name}.{ext}")).is_file(),
                "{name}.{ext} is missing"
            );
        }
    }
}

/// Fixture packages: in `node_modules` of the workspace (one found by walking up from a nested
/// file), and in a directory named by `NODE_PATH`.
const FIXTURES: &[(&str, &str)] = &[
    (
        "node_modules/cjs-pkg/package.json",
        r#"{"name":"cjs-pkg","main":"lib/main.js"}"#,
    ),
    (
        "node_modules/cjs-pkg/lib/main.js",
        "exports.hello = (n) => `hello ${n}`;\nexports.helper = require('./helper');\n",
    ),
    (
        "node_modules/cjs-pkg/lib/helper.js",
        "module.exports = 'helper';\n",
    ),
    (
        "node_modules/dual/package.json",
        r#"{"name":"dual","type":"module","exports":{".":{"import":"./dist/index.js","require":"./dist/index.cjs"},"./feature":{"require":"./dist/feature.cjs","default":"./dist/feature.js"},"./utils/*":"./dist/utils/*.js"}}"#,
    ),
    (
        "node_modules/dual/dist/index.js",
        "export const kind = 'esm';\nexport default function hi() { return 'hi from esm'; }\n",
    ),
    (
        "node_modules/dual/dist/index.cjs",
        "module.exports = { kind: 'cjs' };\n",
    ),
    (
        "node_modules/dual/dist/feature.cjs",
        "module.exports = 'feature (require)';\n",
    ),
    (
        "node_modules/dual/dist/feature.js",
        "export default 'feature (import)';\n",
    ),
    (
        "node_modules/dual/dist/utils/a.js",
        "export const a = 'util a';\n",
    ),
    (
        "node_modules/@scope/idx/package.json",
        r#"{"name":"@scope/idx"}"#,
    ),
    (
        "node_modules/@scope/idx/index.js",
        "module.exports = { scoped: true };\n",
    ),
    (
        "np/from-node-path/package.json",
        r#"{"name":"from-node-path","exports":"./entry.js"}"#,
    ),
    (
        "np/from-node-path/entry.js",
        "module.exports = 'found through NODE_PATH';\n",
    ),
    (
        "app/lib/index.js",
        "const u = require('./util');\nmodule.exports = { twice: (x) => u.double(x), viaWalk: require('cjs-pkg').helper };\n",
    ),
    ("app/lib/util.js", "exports.double = (x) => x * 2;\n"),
    ("app/lib/data.json", "{\"answer\": 42}\n"),
    (
        "app/lib/esm.mjs",
        "export const m = 'an .mjs file';\nexport default 'esm default';\n",
    ),
    ("app/typed/package.json", r#"{"type":"module"}"#),
    ("app/typed/mod.js", "export const typed = 'type: module';\n"),
];

const REQUIRES: &str = "\
const pkg = require('cjs-pkg');
console.log(pkg.hello('w'), pkg.helper);
console.log(require('dual'), require('dual/feature'));
console.log(require('@scope/idx'), require('from-node-path'));
const lib = require('./app/lib');
console.log(lib.twice(4), lib.viaWalk, require('./app/lib/data.json'), require('./app/lib/util.js').double(1));
for (const bad of ['missing-pkg', 'dual/hidden', './app/nothing']) {
  try { require(bad); console.log('loaded', bad); } catch (e) { console.log(bad, e.code); }
}
console.log(require.resolve('cjs-pkg').endsWith('node_modules/cjs-pkg/lib/main.js'), require.resolve('node:fs'));
";

#[tokio::test]
async fn require_resolves_user_files_node_modules_and_node_path_like_node() {
    let env = [("NODE_PATH", "{dir}/np".to_owned())];
    let got = run_soulbox(REQUIRES, FIXTURES, &env).await;
    let expected = match node() {
        Some(node) => run_node(&node, "requires.js", REQUIRES, FIXTURES, &env),
        None => Observed {
            stdout: "hello w helper\n\
                     { kind: 'cjs' } feature (require)\n\
                     { scoped: true } found through NODE_PATH\n\
                     8 helper { answer: 42 } 2\n\
                     missing-pkg MODULE_NOT_FOUND\n\
                     dual/hidden ERR_PACKAGE_PATH_NOT_EXPORTED\n\
                     ./app/nothing MODULE_NOT_FOUND\n\
                     true node:fs\n"
                .into(),
            stderr: String::new(),
            exit: 0,
        },
    };
    assert_eq!(got, expected);
}

#[tokio::test]
async fn import_resolves_packages_with_conditions_commonjs_defaults_and_node_path() {
    // Node itself does not search NODE_PATH for `import`; SoulBox does (the package layer lives
    // there), so this expectation is fixed rather than taken from Node.
    let code = "\
import hi, { kind } from 'dual';
import feature from 'dual/feature';
import { a } from 'dual/utils/a';
import pkg, { hello } from 'cjs-pkg';
import scoped from '@scope/idx';
import far from 'from-node-path';
import lib from './app/lib/index.js';
import data from './app/lib/data.json' with { type: 'json' };
import esmDefault, { m } from './app/lib/esm.mjs';
import { typed } from './app/typed/mod.js';
console.log(hi(), kind, feature, a, hello('x'), pkg.helper, scoped, far);
console.log(lib.twice(3), data, esmDefault, m, typed);
const dyn = await import('dual');
console.log(dyn.default === hi, (await import('node:path')).join('a', 'b'));
try { await import('missing-pkg'); } catch (e) { console.log(e.code); }
// require() of an ES module is refused with a clear error (newer Nodes load it).
try { require('./app/lib/esm.mjs'); } catch (e) { console.log(e.code, e.message.includes('use import')); }
";
    let env = [("NODE_PATH", "{dir}/np".to_owned())];
    let got = run_soulbox(code, FIXTURES, &env).await;
    assert_eq!(
        got,
        Observed {
            stdout: "hi from esm esm feature (import) util a hello x helper { scoped: true } found through NODE_PATH\n\
                     6 { answer: 42 } esm default an .mjs file type: module\n\
                     true a/b\n\
                     ERR_MODULE_NOT_FOUND\n\
                     ERR_REQUIRE_ESM true\n"
                .into(),
            stderr: String::new(),
            exit: 0,
        }
    );
}

#[tokio::test]
async fn a_hostile_specifier_stays_inside_the_sandbox() {
    // Resolution only ever sees the guest's own view: host paths are not there to be found.
    let code = "\
for (const spec of ['/etc/passwd', '../../../../etc/passwd', '/proc/self/environ', 'file:///etc/hostname']) {
  try { require(spec); console.log('loaded', spec); } catch (e) { console.log(e.code); }
}
";
    let env = [("NODE_PATH", "/etc:/proc/self:/../..".to_owned())];
    let got = run_soulbox(code, &[], &env).await;
    assert_eq!(
        got.stdout,
        "MODULE_NOT_FOUND\nMODULE_NOT_FOUND\nMODULE_NOT_FOUND\nMODULE_NOT_FOUND\n"
    );
}
