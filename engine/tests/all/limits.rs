//! Limits attack: loops, memory bombs, output floods, fuel, stack overflow.

use std::time::{Duration, Instant};

use soulbox::{Language, MIB, Status};

use crate::{guests, sandbox, tight};

#[tokio::test]
async fn infinite_loop_times_out_close_to_the_deadline() {
    let sb = sandbox(tight().with_timeout(Duration::from_millis(500))).await;
    let started = Instant::now();
    let r = sb
        .execute_code(Language::Wasm, guests::spin())
        .await
        .expect("run");
    let elapsed = started.elapsed();
    assert_eq!(r.status, Status::Timeout, "{r:?}");
    assert_eq!(r.exit_code, None);
    assert!(
        elapsed >= Duration::from_millis(500),
        "stopped early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "stopped late: {elapsed:?}"
    );
    assert!(r.fuel_consumed > 0);
}

#[tokio::test]
async fn guest_blocked_in_sleep_still_times_out() {
    let sb = sandbox(tight().with_timeout(Duration::from_millis(300))).await;
    let started = Instant::now();
    let r = sb
        .execute_code(Language::Wasm, guests::print_sleep_print("a", 60_000, "b"))
        .await
        .expect("run");
    assert_eq!(r.status, Status::Timeout);
    assert_eq!(r.stdout, "a");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn memory_bomb_hits_the_limit_and_usage_stays_below_it() {
    let limit = 64 * MIB;
    let sb = sandbox(tight().with_memory_limit(limit)).await;
    let r = sb
        .execute_code(Language::Wasm, guests::memory_hog_trap())
        .await
        .expect("run");
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert!(
        r.memory_usage <= limit,
        "usage {} > limit {limit}",
        r.memory_usage
    );
    assert!(
        r.memory_usage > limit / 2,
        "usage {} suspiciously low",
        r.memory_usage
    );
}

#[tokio::test]
async fn memory_bomb_that_handles_failure_still_reports_the_limit() {
    let sb = sandbox(tight().with_memory_limit(32 * MIB)).await;
    let r = sb
        .execute_code(Language::Wasm, guests::memory_hog_exit())
        .await
        .expect("run");
    assert_eq!(r.status, Status::MemoryLimit);
    assert_eq!(r.exit_code, Some(3));
    assert!(r.memory_usage <= 32 * MIB);
}

#[tokio::test]
async fn initial_memory_above_the_limit_is_a_memory_limit() {
    let sb = sandbox(tight().with_memory_limit(MIB)).await;
    // 100 pages = 6.25 MiB before any code runs.
    let r = sb
        .execute_code(
            Language::Wasm,
            r#"(module (memory 100) (func (export "_start")))"#,
        )
        .await
        .expect("run");
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
}

#[tokio::test]
async fn stdout_flood_is_capped() {
    let cap = 100_000;
    let sb = sandbox(tight().with_max_output_bytes(cap)).await;
    let r = sb
        .execute_code(Language::Wasm, guests::flood(1))
        .await
        .expect("run");
    assert_eq!(r.status, Status::OutputLimit);
    assert_eq!(r.stdout.len() as u64, cap);
}

#[tokio::test]
async fn stderr_flood_is_capped() {
    let cap = 10_000;
    let sb = sandbox(tight().with_max_output_bytes(cap)).await;
    let r = sb
        .execute_code(Language::Wasm, guests::flood(2))
        .await
        .expect("run");
    assert_eq!(r.status, Status::OutputLimit);
    assert_eq!(r.stderr.len() as u64, cap);
    assert!(r.stdout.is_empty());
}

#[tokio::test]
async fn fuel_runs_out() {
    let sb = sandbox(tight().with_fuel(1_000_000)).await;
    let r = sb
        .execute_code(Language::Wasm, guests::spin())
        .await
        .expect("run");
    assert_eq!(r.status, Status::FuelExhausted);
    assert!(r.fuel_consumed >= 1_000_000);
}

#[tokio::test]
async fn fuel_is_counted_without_a_budget() {
    let sb = sandbox(tight()).await;
    let r = sb
        .execute_code(Language::Wasm, guests::print("x"))
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok);
    assert!(
        r.fuel_consumed > 0 && r.fuel_consumed < 10_000,
        "{}",
        r.fuel_consumed
    );
}

#[tokio::test]
async fn stack_overflow_is_a_trap() {
    let sb = sandbox(tight()).await;
    let r = sb
        .execute_code(Language::Wasm, guests::recurse())
        .await
        .expect("run");
    assert_eq!(r.status, Status::Trap);
    let msg = r.error.unwrap_or_default();
    assert!(msg.contains("stack"), "{msg}");
}

#[tokio::test]
async fn unreachable_is_a_trap_with_its_message() {
    let sb = sandbox(tight()).await;
    let r = sb
        .execute_code(Language::Wasm, guests::unreachable())
        .await
        .expect("run");
    assert_eq!(r.status, Status::Trap);
    assert!(r.error.unwrap_or_default().contains("unreachable"));
}

#[tokio::test]
async fn a_sandbox_keeps_working_after_a_limit() {
    let sb = sandbox(tight().with_timeout(Duration::from_millis(200))).await;
    let r = sb
        .execute_code(Language::Wasm, guests::spin())
        .await
        .expect("run");
    assert_eq!(r.status, Status::Timeout);
    let r = sb
        .execute_code(Language::Wasm, guests::print("still here"))
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.stdout, "still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_quota_throttles_a_spinning_guest() {
    // Same wall-clock budget, a quarter of a core: the throttled guest gets through far less work.
    let budget = Duration::from_millis(600);
    let full = sandbox(tight().with_timeout(budget)).await;
    let quarter = sandbox(tight().with_timeout(budget).with_cpu_quota(0.25)).await;
    let (a, b) = tokio::join!(
        full.execute_code(Language::Wasm, guests::spin()),
        quarter.execute_code(Language::Wasm, guests::spin())
    );
    let (a, b) = (a.expect("full"), b.expect("quarter"));
    assert_eq!((a.status, b.status), (Status::Timeout, Status::Timeout));
    assert!(
        b.fuel_consumed * 2 < a.fuel_consumed,
        "quarter core did {} units, full core {}",
        b.fuel_consumed,
        a.fuel_consumed
    );
}

#[tokio::test]
async fn a_table_bomb_hits_the_memory_limit() {
    // Four tables of a million entries each: 32 MiB of host memory under a 1 MiB limit.
    let sb = sandbox(tight().with_memory_limit(MIB)).await;
    let grow = |t: &str| {
        format!(
            "(if (i32.eq (table.grow ${t} (ref.null func) (i32.const 1048576)) (i32.const -1)) (then unreachable))"
        )
    };
    let wat = format!(
        "(module (table $a 0 funcref) (table $b 0 funcref) (table $c 0 funcref) (table $d 0 funcref)
           (func (export \"_start\") {} {} {} {}))",
        grow("a"),
        grow("b"),
        grow("c"),
        grow("d")
    );
    let r = sb.execute_code(Language::Wasm, wat).await.expect("run");
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert!(r.memory_usage <= MIB, "usage {}", r.memory_usage);
}

/// A binary module of `functions` functions of `ops` additions each (about 7 bytes per
/// addition), salted so that no cache has seen it.
fn big_module(functions: u32, ops: u32) -> Vec<u8> {
    fn leb(mut n: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(id: u8, body: Vec<u8>, out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u64, out);
        out.extend(body);
    }
    let salt = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.subsec_nanos() % 60 + 1);
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(1, vec![1, 0x60, 0, 0], &mut m);
    let mut funcs = Vec::new();
    leb(u64::from(functions), &mut funcs);
    funcs.extend(std::iter::repeat_n(0, functions as usize));
    section(3, funcs, &mut m);
    section(7, [&[1u8, 6][..], b"_start", &[0, 0]].concat(), &mut m);
    let mut body = vec![1, 1, 0x7f];
    for _ in 0..ops {
        body.extend([0x20, 0, 0x41, salt as u8, 0x6a, 0x21, 0]);
    }
    body.push(0x0b);
    let mut code = Vec::new();
    leb(u64::from(functions), &mut code);
    for _ in 0..functions {
        leb(body.len() as u64, &mut code);
        code.extend(&body);
    }
    section(10, code, &mut m);
    m
}

#[tokio::test]
async fn compiling_a_big_fresh_module_counts_against_the_timeout() {
    let timeout = Duration::from_millis(200);
    let sb = sandbox(tight().with_timeout(timeout)).await;
    // One function of 2 MB: seconds of Cranelift on one core (many functions would compile in
    // parallel and starve every other test of both cores while the abandoned compile finishes).
    let module = big_module(1, 300_000);
    assert!(module.len() > 2_000_000, "{}", module.len());
    let started = Instant::now();
    let r = sb.execute_code(Language::Wasm, &module).await.expect("run");
    let elapsed = started.elapsed();
    assert_eq!(r.status, Status::Timeout, "{r:?}");
    assert!(
        r.error.as_deref().unwrap_or("").contains("compiling"),
        "{r:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    // The engine keeps serving while the abandoned compile finishes in the background.
    let r = sandbox(tight())
        .await
        .execute_code(Language::Wasm, guests::print("next"))
        .await
        .expect("run");
    assert_eq!(r.stdout, "next");
}

#[tokio::test]
async fn a_data_segment_beyond_the_limit_is_refused_before_compiling() {
    let home = tempfile::tempdir().expect("home");
    let engine = soulbox::Engine::new(soulbox::EngineConfig::default().with_home(home.path()))
        .expect("engine");
    let sb = engine
        .sandbox(tight().with_memory_limit(32 * MIB))
        .await
        .expect("sandbox");
    for wat in [
        // 114 bytes that would cost a 134 MB memory image (and cache file) to compile.
        r#"(module (memory 2100) (data (i32.const 134000000) "x") (func (export "_start")))"#,
        r#"(module (memory 1) (data (i32.const 134000000) "x") (func (export "_start")))"#,
        r#"(module (memory 2100) (func (export "_start")))"#,
    ] {
        let started = Instant::now();
        let r = sb.execute_code(Language::Wasm, wat).await.expect("run");
        assert_eq!(r.status, Status::MemoryLimit, "{wat}: {r:?}");
        let error = r.error.unwrap_or_default();
        assert!(error.contains("refused before compiling"), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    let compiled = std::fs::read_dir(home.path().join("modules"))
        .expect("cache dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .count();
    assert_eq!(compiled, 0, "nothing was compiled");
}

#[tokio::test]
async fn a_timeout_too_large_to_be_a_limit_is_refused_not_a_panic() {
    let huge = Duration::from_secs(18_446_744_073_709_549_568);
    let err = crate::engine()
        .sandbox(tight().with_timeout(huge))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, soulbox::SoulBoxError::InvalidRequest(m) if m.contains("timeout")),
        "{err}"
    );
}
