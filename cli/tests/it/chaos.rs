//! Faults at random moments: a cluster run never hangs. Each round submits the stock pipeline to a scheduler with
//! three executors, `kill -9`s a random executor at a random moment of the run's first seconds and starts a fresh
//! one in its place (what a Kubernetes Deployment does), then requires the run to succeed within three times the
//! undisturbed run's time with the tables an embedded run writes (the independent `deltalake` reader compares).
//!
//! The moments come from a seeded generator: the seed is printed, and `STRATA_TEST_SEED` replays it.
//! `STRATA_CHAOS_ROUNDS` sets the number of rounds (3 by default; 20 for the long form). The test is ignored until
//! issue 18 is fixed: it fails today (see its `ignore` reason), and a suite that is red at random lands nothing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::{Cluster, STOCK_TABLES, compare, copy_dir, generate_market, run_job};

/// xorshift64*: enough for fault moments, and replayable from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A replacement executor, killed when dropped.
struct Executor(Child);

impl Drop for Executor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_executor(scheduler: &str, work_dir: &Path) -> Executor {
    #[rustfmt::skip]
    let child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["executor", "--scheduler", scheduler, "--vcores", "1", "--work-dir"])
        .arg(work_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Executor(child)
}

#[test]
#[ignore = "issue 18: a random executor kill can still hang a run (adaptive planner) or, on the classic graph, \
            commit an output partition twice; run with --ignored"]
fn a_random_executor_kill_with_a_replacement_never_hangs_a_run() {
    let seed = crate::test_seed();
    let rounds: usize = std::env::var("STRATA_CHAOS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    // xorshift never leaves zero.
    let mut rng = Rng(seed | 1);

    let root = tempfile::tempdir().unwrap();
    let inputs = root.path().join("inputs");
    generate_market(&inputs, 60, 7);
    let embedded = root.path().join("embedded");
    copy_dir(&inputs, &embedded);
    let job = "jobs/stock_market/pipeline.sql";
    run_job(&["run", job, "--no-progress", "--warehouse", embedded.to_str().unwrap()]);

    let cluster = Cluster::up(root.path(), 3, root.path());
    // The undisturbed run sets the time limit.
    let calm = root.path().join("calm");
    copy_dir(&inputs, &calm);
    let started = Instant::now();
    let run_id = cluster.submit(job, &calm);
    let status = cluster.wait(&run_id, Duration::from_secs(300));
    assert_eq!(status["state"], "succeeded", "{status}");
    let undisturbed = started.elapsed();
    let limit = (undisturbed * 3).max(Duration::from_secs(60));
    println!("undisturbed run: {undisturbed:?}; limit with a fault: {limit:?}");

    let mut alive: Vec<u32> = cluster.executors.clone();
    let mut replacements = Vec::new();
    for round in 0..rounds {
        let wh = root.path().join(format!("round-{round}"));
        copy_dir(&inputs, &wh);
        let victim = rng.below(alive.len() as u64) as usize;
        let delay = Duration::from_millis(200 + rng.below(undisturbed.as_millis().max(1) as u64 * 2 / 3));
        let started = Instant::now();
        let run_id = cluster.submit(job, &wh);
        std::thread::sleep(delay);
        let pid = alive.remove(victim);
        cluster.kill(pid);
        replacements.push(start_executor(
            &cluster.scheduler,
            &root.path().join(format!("replacement-{round}")),
        ));
        let status = cluster.wait(&run_id, limit);
        let took = started.elapsed();
        println!(
            "round {round}: killed executor {pid} after {delay:?}; run {} in {took:?}",
            status["state"]
        );
        assert_eq!(
            status["state"],
            "succeeded",
            "round {round} (seed {seed}): {status}\n{}",
            cluster.logs()
        );
        let (same, report) = compare(&embedded, &wh, STOCK_TABLES);
        assert!(same, "round {round} (seed {seed}):\n{report}");
        let replacement = replacements.last().map(|e| e.0.id()).unwrap();
        alive.push(replacement);
    }
}
