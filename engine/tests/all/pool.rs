//! Warm pools: instances made ahead of time, each serving exactly one execution.

use std::time::Duration;

use soulbox::{Engine, EngineConfig, Language, MIB, SandboxConfig, Status};

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_secs(60))
}

/// Runs `code` in a fresh sandbox of `engine`.
async fn run(engine: &Engine, language: Language, code: &str) -> soulbox::ExecutionResult {
    let sandbox = engine.sandbox(config()).await.unwrap();
    let r = sandbox.execute_code(language, code).await.unwrap();
    sandbox.terminate().await;
    r
}

/// Waits until the pool has refilled (it refills in the background).
async fn settle(engine: &Engine) {
    for _ in 0..200 {
        if engine.warm_pool_stats().idle > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn later_runs_take_ready_instances_and_each_is_used_once() {
    let engine = Engine::new(EngineConfig::default().with_warm_pool(2)).unwrap();
    // The first run finds the pool empty (a miss) and starts the refill.
    let first = run(
        &engine,
        Language::JavaScript,
        "globalThis.leak = 41; console.log(typeof leak)",
    )
    .await;
    assert_eq!(first.stdout, "number\n", "{first:?}");
    assert_eq!(engine.warm_pool_stats().misses, 1);
    for _ in 0..4 {
        settle(&engine).await;
        let r = run(&engine, Language::JavaScript, "console.log(typeof leak)").await;
        assert_eq!(r.status, Status::Ok, "{r:?}");
        assert_eq!(r.stdout, "undefined\n", "state leaked between runs: {r:?}");
        assert!(
            r.memory_usage > 0,
            "the ready instance's memory counts: {r:?}"
        );
    }
    let stats = engine.warm_pool_stats();
    assert_eq!(stats.hits, 4, "{stats:?}");
    assert_eq!(stats.misses, 1, "{stats:?}");
    settle(&engine).await;
    let stats = engine.warm_pool_stats();
    assert!((1..=2).contains(&stats.idle), "{stats:?}");
    assert!(stats.idle_memory > 0, "{stats:?}");
}

#[tokio::test]
async fn a_pooled_python_image_run_keeps_its_own_env_and_files() {
    let engine = Engine::new(EngineConfig::default().with_warm_pool(1)).unwrap();
    run(&engine, Language::Python, "open('/tmp/x', 'w').write('1')").await;
    settle(&engine).await;
    let sandbox = engine
        .sandbox(config().with_env("WHO", "second"))
        .await
        .unwrap();
    let r = sandbox
        .execute_code(
            Language::Python,
            "import os\nprint(os.environ['WHO'], os.path.exists('/tmp/x'))",
        )
        .await
        .unwrap();
    assert_eq!(r.stdout, "second False\n", "{r:?}");
    assert_eq!(engine.warm_pool_stats().hits, 1);
}

#[tokio::test]
async fn pools_can_be_turned_off() {
    let engine = Engine::new(EngineConfig::default().with_warm_pool(0)).unwrap();
    for _ in 0..3 {
        let r = run(&engine, Language::JavaScript, "console.log(1)").await;
        assert_eq!(r.stdout, "1\n");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stats = engine.warm_pool_stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.idle),
        (0, 3, 0),
        "{stats:?}"
    );
}

#[tokio::test]
async fn sessions_start_from_the_pool_too() {
    let engine = Engine::new(EngineConfig::default().with_warm_pool(1)).unwrap();
    run(&engine, Language::Python, "print(1)").await;
    settle(&engine).await;
    let sandbox = engine.sandbox(config()).await.unwrap();
    let session = sandbox.session(Language::Python).await.unwrap();
    let r = session.execute("x = 6 * 7\nx").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("42"));
    assert_eq!(engine.warm_pool_stats().hits, 1);
}

#[tokio::test]
async fn ruby_runs_come_from_the_pool_and_keep_their_own_argv() {
    let engine = Engine::new(EngineConfig::default().with_warm_pool(2)).unwrap();
    run(&engine, Language::Ruby, "$leak = 1\nputs 1").await;
    for _ in 0..3 {
        settle(&engine).await;
        let sandbox = engine.sandbox(config()).await.unwrap();
        let r = sandbox
            .execute(
                soulbox::ExecutionRequest::new(Language::Ruby, "p [$leak, ARGV]").with_args(["a"]),
            )
            .await
            .unwrap();
        assert_eq!(r.stdout, "[nil, [\"a\"]]\n", "{r:?}");
    }
    let stats = engine.warm_pool_stats();
    assert_eq!((stats.hits, stats.misses), (3, 1), "{stats:?}");
}
