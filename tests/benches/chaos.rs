//! The chaos run's long form: 2,000 delayed triggers and 500 cancels over 20 seconds while the
//! server is killed (`SIGKILL`) five times and restarted; prints what was lost, doubled, or
//! created after a cancel's 204 (all must be 0). Run by `tests/bench.sh` against the debug
//! binary (`cargo build -p herald-local`).

use std::time::{Duration, Instant};

use herald_tests::chaos::{run, ChaosPlan};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let plan = ChaosPlan {
        triggers: 2_000,
        cancels: 500,
        kills: 5,
        concurrency: 32,
        spread: Duration::from_secs(20),
    };
    let started = Instant::now();
    let report = runtime.block_on(run(plan));
    println!(
        "chaos: {} triggers answered, {} cancels answered, {} kills, {} requests retried after a kill, {:.1} s",
        report.triggered,
        report.cancelled,
        report.kills,
        report.retried,
        started.elapsed().as_secs_f64()
    );
    println!(
        "chaos: lost {}, duplicated {}, created after a cancel's 204 {}",
        report.lost, report.duplicated, report.after_cancel
    );
    assert_eq!(
        (report.lost, report.duplicated, report.after_cancel),
        (0, 0, 0),
        "{report:?}"
    );
}
