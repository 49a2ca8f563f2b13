//! Ruby 3.4 (ruby.wasm reactor): semantics, stdlib, exceptions, exit codes and the same limits as
//! any wasm guest.

use std::time::Duration;

use soulbox::{ExecutionRequest, Language, MIB, SandboxConfig, Status};

use crate::{run_code, runtime_sandbox};

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(256 * MIB)
        .with_timeout(Duration::from_secs(30))
}

async fn rb(code: &str) -> soulbox::ExecutionResult {
    run_code(config(), Language::Ruby, None, code, "").await
}

#[tokio::test]
async fn puts_and_blocks() {
    let r = rb("puts [1, 2, 3].map { |x| x * 2 }.sum\nputs RUBY_VERSION").await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "12\n3.4.1\n");
}

#[tokio::test]
async fn standard_library_is_included() {
    let r = rb("require 'json'\nrequire 'set'\nrequire 'digest'\nputs JSON.generate({a: Set[1].to_a})\nputs Digest::SHA256.hexdigest('')[0, 8]").await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "{\"a\":[1]}\ne3b0c442\n");
}

#[tokio::test]
async fn reads_stdin_and_gets_its_arguments() {
    let sandbox = runtime_sandbox(config()).await;
    let request = ExecutionRequest::new(Language::Ruby, "puts STDIN.read.strip.upcase\np ARGV")
        .with_stdin("from stdin\n")
        .with_args(["x", "y z"]);
    let r = sandbox.execute(request).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "FROM STDIN\n[\"x\", \"y z\"]\n");
    sandbox.terminate().await;
}

#[tokio::test]
async fn files_go_in_and_out_through_the_workspace() {
    let sandbox = runtime_sandbox(config()).await;
    sandbox.write_file("nums.txt", "1\n2\n3\n").await.unwrap();
    let code = "sum = File.readlines('nums.txt').map(&:to_i).sum\nFile.write('sum.txt', sum.to_s)\nputs sum";
    let r = sandbox.execute_code(Language::Ruby, code).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "6\n");
    assert_eq!(sandbox.read_file("sum.txt").await.unwrap(), b"6");
    assert!(r.artifact("sum.txt").is_some());
    sandbox.terminate().await;
}

#[tokio::test]
async fn unicode_round_trips() {
    let r = rb("s = 'héllo 🌍 日本'\nputs s, s.length, s.encoding").await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "héllo 🌍 日本\n10\nUTF-8\n");
}

#[tokio::test]
async fn exit_code_passes_through() {
    let r = rb("puts 'bye'\nexit 6").await;
    assert_eq!((r.status, r.exit_code), (Status::Error, Some(6)));
    assert_eq!(r.stdout, "bye\n");
    let r = rb("exit").await;
    assert_eq!(r.status, Status::Ok);
}

#[tokio::test]
async fn uncaught_exception_is_an_error_with_its_message() {
    let r = rb("def f\n  raise ArgumentError, 'boom'\nend\nf").await;
    assert_eq!((r.status, r.exit_code), (Status::Error, Some(1)));
    assert!(r.stderr.contains("boom (ArgumentError)"), "{}", r.stderr);
    assert!(r.stderr.contains("main.rb:2"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("eval:"),
        "prelude frames leak: {}",
        r.stderr
    );
    let r = rb("def broken(").await;
    assert_eq!(r.status, Status::Error);
    assert!(
        r.stderr.contains("SyntaxError") || r.stderr.contains("syntax"),
        "{}",
        r.stderr
    );
}

#[tokio::test]
async fn infinite_loop_times_out() {
    let r = run_code(
        config().with_timeout(Duration::from_secs(2)),
        Language::Ruby,
        None,
        "loop {}",
        "",
    )
    .await;
    assert_eq!(r.status, Status::Timeout, "{r:?}");
}

#[tokio::test]
async fn memory_hog_hits_the_limit() {
    let r = run_code(
        config().with_memory_limit(96 * MIB),
        Language::Ruby,
        None,
        "s = 'x' * (300 * 1024 * 1024)\nputs s.size",
        "",
    )
    .await;
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
}

#[tokio::test]
async fn host_files_are_out_of_reach() {
    let code = "seen = ['/etc/passwd', '../../etc/passwd', '/proc/self/environ', '/work/../etc/hostname'].select { |p| File.read(p) rescue nil }\np seen\nputs((Dir.entries('/') rescue []).include?('etc'))";
    let r = rb(code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "[]\nfalse\n");
}

#[tokio::test]
async fn the_program_file_cannot_be_rewritten() {
    let r = rb("File.write('/code/main.rb', 'puts 1')").await;
    assert_eq!(r.status, Status::Error, "{r:?}");
}

#[tokio::test]
async fn there_is_no_network_or_process_spawning() {
    let r = rb("require 'socket'\nTCPSocket.new('127.0.0.1', 80)").await;
    assert_eq!(r.status, Status::Error, "{r:?}");
    let r = rb("out = (`echo pwned` rescue 'failed')\nputs out").await;
    assert!(!r.stdout.contains("pwned"), "{r:?}");
}
