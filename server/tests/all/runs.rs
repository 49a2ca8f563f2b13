//! Every language runs through the server, with the embedded API's result.

use soulbox::{Language, SandboxConfig, Status};

use crate::{TestServer, wat_print};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_javascript_ruby_and_wasm_run_remotely() {
    let server = TestServer::start(Default::default()).await;
    let client = server.client().await;
    let sandbox = client
        .create(SandboxConfig::default().with_memory_limit(512 * soulbox::MIB))
        .await
        .expect("create");
    let cases = [
        (
            Language::Python,
            "print('hello from python')".to_owned(),
            "hello from python\n",
        ),
        (
            Language::JavaScript,
            "console.log('hello from js')".to_owned(),
            "hello from js\n",
        ),
        (
            Language::Ruby,
            "puts 'hello from ruby'".to_owned(),
            "hello from ruby\n",
        ),
        (
            Language::Wasm,
            wat_print("hello from wasm\n"),
            "hello from wasm\n",
        ),
    ];
    for (language, code, expected) in cases {
        let result = sandbox.execute_code(language, code).await.expect("runs");
        assert_eq!(result.status, Status::Ok, "{language}: {result:?}");
        assert_eq!(result.stdout, expected, "{language}");
        assert_eq!(result.exit_code, Some(0), "{language}");
        assert!(
            !result.isolation.is_empty(),
            "{language}: isolation is reported"
        );
        assert!(
            result.execution_time.as_nanos() > 0,
            "{language}: time is reported"
        );
    }
    sandbox.terminate().await.expect("terminate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_guest_is_a_result_with_its_exit_code_and_stderr() {
    let server = TestServer::start(Default::default()).await;
    let sandbox = server.sandbox().await;
    let request = soulbox::ExecutionRequest::new(
        Language::Python,
        "import sys\nprint(sys.argv[1:], sys.stdin.read())\nsys.stderr.write('bad\\n')\nsys.exit(3)",
    )
    .with_args(["a", "b"])
    .with_stdin("input");
    let result = sandbox.execute(request).await.expect("runs");
    assert_eq!(result.status, Status::Error, "{result:?}");
    assert_eq!(result.exit_code, Some(3));
    assert_eq!(result.stdout, "['a', 'b'] input\n");
    assert_eq!(result.stderr, "bad\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_runtime_is_an_error_with_the_engines_message() {
    let server = TestServer::start(Default::default()).await;
    let sandbox = server.sandbox().await;
    let request = soulbox::ExecutionRequest::new(Language::Python, "print(1)")
        .with_runtime("no-such-runtime");
    let err = sandbox.execute(request).await.expect_err("refused");
    assert!(err.message().contains("no-such-runtime"), "{err}");
}
