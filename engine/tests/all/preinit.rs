//! Pre-initialised images (Python with the scientific stack imported, Ruby booted): every run
//! still gets a fresh instance, its own environment, arguments and random seeds, and a sandbox
//! whose memory limit is below the image's heap falls back to booting from scratch.

use std::sync::OnceLock;
use std::time::Duration;

use soulbox::{Engine, EngineConfig, ExecutionRequest, Language, MIB, SandboxConfig, Status};

use crate::runtime_sandbox;

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_secs(60))
}

/// An engine that never uses images: every run boots the interpreter.
fn booting_engine() -> Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE
        .get_or_init(|| Engine::new(EngineConfig::default().with_preinit(false)).unwrap())
        .clone()
}

async fn run(sandbox: &soulbox::Sandbox, request: ExecutionRequest) -> soulbox::ExecutionResult {
    let r = sandbox.execute(request).await.unwrap();
    assert!(
        matches!(r.status, Status::Ok | Status::Error),
        "unexpected status: {r:?}"
    );
    r
}

async fn py(config: SandboxConfig, code: &str) -> soulbox::ExecutionResult {
    let sandbox = runtime_sandbox(config).await;
    let r = run(&sandbox, ExecutionRequest::new(Language::Python, code)).await;
    sandbox.terminate().await;
    r
}

#[tokio::test]
async fn python_starts_with_the_scientific_stack_loaded_and_a_clean_main() {
    let r = py(
        config(),
        "import sys\n\
         print('numpy' in sys.modules, 'pandas' in sys.modules, 'matplotlib.pyplot' in sys.modules)\n\
         print(sorted(k for k in globals() if not k.startswith('__')))\n\
         print(__name__, sys.argv)",
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "True True True\n['sys']\n__main__ ['-c']\n");
}

#[tokio::test]
async fn python_booting_from_scratch_has_nothing_preloaded() {
    let sandbox = booting_engine().sandbox(config()).await.unwrap();
    let r = run(
        &sandbox,
        ExecutionRequest::new(
            Language::Python,
            "import sys\nprint('numpy' in sys.modules)",
        ),
    )
    .await;
    assert_eq!(r.stdout, "False\n", "{r:?}");
}

#[tokio::test]
async fn python_below_the_image_heap_boots_from_scratch_and_still_runs() {
    // 48 MiB is less than the image's heap: the sandbox gets the module as shipped.
    let r = py(
        config().with_memory_limit(48 * MIB),
        "import sys\nprint('numpy' in sys.modules, 6 * 7)",
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "False 42\n");
}

#[tokio::test]
async fn python_runs_get_their_own_env_args_and_seeds() {
    let code = "import os, sys, random, tempfile, numpy\n\
                print(os.environ.get('GREETING'), os.environ.get('HOME'), sys.argv[1:])\n\
                print(random.random(), numpy.random.rand(), tempfile.mktemp())";
    let mut lines = Vec::new();
    for greeting in ["hello", "bonjour"] {
        let sandbox = runtime_sandbox(config().with_env("GREETING", greeting)).await;
        let r = run(
            &sandbox,
            ExecutionRequest::new(Language::Python, code).with_args([greeting, "x y"]),
        )
        .await;
        assert_eq!(r.status, Status::Ok, "{r:?}");
        let mut out = r.stdout.lines();
        assert_eq!(
            out.next(),
            Some(format!("{greeting} /home ['{greeting}', 'x y']").as_str())
        );
        lines.push(out.next().unwrap().to_owned());
        sandbox.terminate().await;
    }
    // Same image, different runs: the random streams and temp names must differ.
    let a: Vec<&str> = lines[0].split(' ').collect();
    let b: Vec<&str> = lines[1].split(' ').collect();
    for i in 0..3 {
        assert_ne!(a[i], b[i], "value {i} repeated across runs: {lines:?}");
    }
}

#[tokio::test]
async fn python_state_never_leaks_between_runs_of_the_image() {
    let sandbox = runtime_sandbox(config()).await;
    let first = run(
        &sandbox,
        ExecutionRequest::new(
            Language::Python,
            "import builtins, numpy, os\nbuiltins.LEAK = 1\nnumpy.LEAK = 2\nos.environ['LEAK'] = '3'\n\
             open('/tmp/leak', 'w').write('4')\nprint('set')",
        ),
    )
    .await;
    assert_eq!(first.stdout, "set\n", "{first:?}");
    let second = run(
        &sandbox,
        ExecutionRequest::new(
            Language::Python,
            "import builtins, numpy, os\n\
             print(hasattr(builtins, 'LEAK'), hasattr(numpy, 'LEAK'), 'LEAK' in os.environ, os.path.exists('/tmp/leak'))",
        ),
    )
    .await;
    assert_eq!(second.stdout, "False False False False\n", "{second:?}");
}

#[tokio::test]
async fn python_exit_codes_exceptions_and_atexit_behave_like_python_c() {
    let r = py(
        config(),
        "import atexit, sys\natexit.register(lambda: print('bye'))\nprint('x')\nsys.exit(3)",
    )
    .await;
    assert_eq!(
        (r.stdout.as_str(), r.exit_code),
        ("x\nbye\n", Some(3)),
        "{r:?}"
    );
    let r = py(config(), "import sys\nsys.exit('fatal: no input')").await;
    assert_eq!(r.exit_code, Some(1));
    assert_eq!(r.stderr, "fatal: no input\n");
    let r = py(config(), "def f():\n    raise KeyError('k')\nf()").await;
    assert_eq!((r.status, r.exit_code), (Status::Error, Some(1)), "{r:?}");
    assert!(
        r.stderr
            .starts_with("Traceback (most recent call last):\n  File \"<string>\", line 3"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.ends_with("KeyError: 'k'\n"), "{}", r.stderr);
    assert!(!r.stderr.contains("__soulbox__"), "{}", r.stderr);
}

#[tokio::test]
async fn ruby_runs_get_their_own_argv_env_and_seed() {
    let code = "puts ARGV.inspect, ENV['GREETING'].inspect, rand";
    let mut seeds = Vec::new();
    for greeting in ["hi", "salut \"q\""] {
        let sandbox = runtime_sandbox(config().with_env("GREETING", greeting)).await;
        let r = run(
            &sandbox,
            ExecutionRequest::new(Language::Ruby, code).with_args(["a", "b c"]),
        )
        .await;
        assert_eq!(r.status, Status::Ok, "{r:?}");
        let mut out = r.stdout.lines();
        assert_eq!(out.next(), Some("[\"a\", \"b c\"]"));
        assert_eq!(out.next(), Some(format!("{greeting:?}").as_str()));
        seeds.push(out.next().unwrap().to_owned());
        sandbox.terminate().await;
    }
    assert_ne!(seeds[0], seeds[1], "rand repeated across runs");
}

#[tokio::test]
async fn ruby_booting_from_scratch_matches_the_image() {
    let code = "$x = 6 * 7\nputs $x, ARGV.size";
    let sandbox = booting_engine().sandbox(config()).await.unwrap();
    let plain = run(&sandbox, ExecutionRequest::new(Language::Ruby, code)).await;
    let image = run(
        &runtime_sandbox(config()).await,
        ExecutionRequest::new(Language::Ruby, code),
    )
    .await;
    assert_eq!(plain.stdout, "42\n0\n", "{plain:?}");
    assert_eq!(image.stdout, plain.stdout, "{image:?}");
}
