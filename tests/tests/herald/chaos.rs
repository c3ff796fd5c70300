//! The chaos run's short form: delayed triggers and cancels while the server is killed twice
//! and restarted; nothing is lost, doubled, or created after a cancel's 204. The long form
//! (2,000 triggers, 500 cancels, 5 kills) is in the bench script.

use herald_tests::chaos::{run, ChaosPlan, ChaosReport};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_twice_under_load_loses_and_doubles_nothing() {
    let report = run(ChaosPlan {
        triggers: 200,
        cancels: 50,
        kills: 2,
        concurrency: 16,
        spread: std::time::Duration::from_secs(4),
    })
    .await;
    eprintln!("chaos: {report:?}");
    assert_eq!(report.triggered, 200);
    assert_eq!(report.cancelled, 50);
    assert_eq!(
        report.kills, 2,
        "the server was killed while requests flowed"
    );
    assert_eq!(
        (report.lost, report.duplicated, report.after_cancel),
        (0, 0, 0),
        "{report:?}"
    );
    let _ = ChaosReport::default();
}
