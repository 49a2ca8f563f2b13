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
