//! Faults other than a killed executor: an executor stopped (SIGSTOP) past the heartbeat timeout and then continued
//! (a zombie that comes back), an executor cut off the network and connected again, the client of a `run
//! --cluster` killed, and the scheduler killed mid-run. Each round's moment comes from the seeded generator.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Baseline, Chaos, EXECUTOR_TIMEOUT, Net, Rng, rounds, serial, spawn};
use crate::*;

/// How long a stopped or cut-off executor stays away: past the heartbeat timeout, so the scheduler loses it.
const AWAY: Duration = Duration::from_secs(EXECUTOR_TIMEOUT + 3);

/// Submit, let `fault` act on executor `victim` after a random moment, and require the run to succeed with the
/// embedded tables within three times the undisturbed time; then no Ballista job may remain.
fn disturbed_runs(what: &str, executors: usize, net: bool, fault: impl Fn(&mut Chaos, usize)) {
    let _serial = serial();
    let (seed, mut rng) = Rng::seeded();
    let root = super::root();
    let base = Baseline::stock(root.path(), 60);
    let mut chaos = Chaos::up(root.path(), executors, net.then(Net::new));
    let calm = chaos.undisturbed(&base, root.path());
    let limit = (calm * 3).max(Duration::from_secs(45)) + AWAY;
    for round in 0..rounds(1) {
        let name = format!("{what} round {round} (seed {seed})");
        let wh = base.warehouse(&root.path().join(format!("round-{round}")));
        let delay = rng.moment(calm, 0.8);
        let alive = chaos.alive();
        let victim = alive[rng.below(alive.len() as u64) as usize];
        let started = Instant::now();
        let run_id = chaos.submit(&base.job, &wh);
        std::thread::sleep(delay);
        fault(&mut chaos, victim);
        let status = chaos.wait(&run_id, limit);
        let took = started.elapsed();
        println!(
            "{name}: {what} executor {victim} after {delay:?}; run {} in {took:?} (undisturbed {calm:?})",
            status["state"]
        );
        assert_eq!(status["state"], "succeeded", "{name}: {status}\n{}", chaos.logs());
        base.assert_equal(&wh, &name);
        chaos.wait_idle(Duration::from_secs(30));
        chaos.restore(victim, executors);
    }
}

#[test]
fn an_executor_stopped_past_its_heartbeat_timeout_and_continued_does_not_break_a_run() {
    disturbed_runs("SIGSTOP", 3, false, |chaos, victim| {
        let executor = chaos.executors[victim].as_ref().unwrap();
        executor.signal("STOP");
        std::thread::sleep(AWAY);
        executor.signal("CONT");
    });
}

#[test]
fn an_executor_cut_off_the_network_and_reconnected_does_not_break_a_run() {
    disturbed_runs("network cut of", 3, true, |chaos, victim| {
        chaos.net().cut(victim);
        std::thread::sleep(AWAY);
        chaos.net().heal(victim);
    });
}

/// A run's state in the warehouse's ledger.
fn ledger_state(warehouse: &Path, run_id: &str) -> String {
    let out = strata(&[
        "--log-format",
        "json",
        "status",
        run_id,
        "--warehouse",
        warehouse.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "status from the ledger: {}", stderr(&out));
    let status: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    status["state"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_killed_client_of_run_cluster_leaves_no_half_written_table_and_no_running_job() {
    let _serial = serial();
    let (seed, mut rng) = Rng::seeded();
    let root = super::root();
    let base = Baseline::stock(root.path(), 60);
    let chaos = Chaos::up(root.path(), 3, None);
    let run = |wh: &Path| -> Vec<String> {
        #[rustfmt::skip]
        let args = [
            "--log", "info", "run", &base.job, "--no-progress", "--cluster", &chaos.addr, "--warehouse",
            wh.to_str().unwrap(),
        ];
        args.iter().map(|s| s.to_string()).collect()
    };
    let wh = base.warehouse(&root.path().join("calm"));
    let started = Instant::now();
    let out = strata(&run(&wh).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", stderr(&out));
    let calm = started.elapsed();
    for round in 0..rounds(1) {
        let name = format!("client kill round {round} (seed {seed})");
        let wh = base.warehouse(&root.path().join(format!("round-{round}")));
        let delay = rng.moment(calm, 0.95);
        let mut client = spawn(&run(&wh), &root.path().join(format!("client-{round}.log")), None);
        std::thread::sleep(delay);
        client.kill();
        let committed = base.assert_untouched_or_equal(&wh, &name);
        let idle = chaos.wait_idle(Duration::from_secs(60));
        println!("{name}: client killed after {delay:?}; {committed} tables committed; cluster idle after {idle:?}");
        // The next run completes what the killed one left.
        let out = strata(&run(&wh).iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "{name}: the next run: {}", stderr(&out));
        base.assert_equal(&wh, &name);
    }
}

#[test]
fn a_scheduler_killed_mid_run_fails_the_run_in_the_ledger_and_a_new_scheduler_runs_the_job() {
    let _serial = serial();
    let (seed, mut rng) = Rng::seeded();
    let root = super::root();
    let base = Baseline::stock(root.path(), 60);
    let mut chaos = Chaos::up(root.path(), 3, None);
    let calm = chaos.undisturbed(&base, root.path());
    for round in 0..rounds(1) {
        let name = format!("scheduler kill round {round} (seed {seed})");
        let wh = base.warehouse(&root.path().join(format!("round-{round}")));
        let delay = rng.moment(calm, 0.9);
        let run_id = chaos.submit(&base.job, &wh);
        std::thread::sleep(delay);
        let started = Instant::now();
        chaos.restart_scheduler();
        let committed = base.assert_untouched_or_equal(&wh, &name);
        // The ledger says what happened to the run: killed with its scheduler (or done, had it finished first).
        let state = ledger_state(&wh, &run_id);
        assert!(
            ["killed", "succeeded"].contains(&state.as_str()),
            "{name}: the ledger says {state}"
        );
        // The executors come back to the new scheduler, which runs the job to the end.
        chaos.wait_alive(3);
        let recovered = started.elapsed();
        let status = chaos.wait(&chaos.submit(&base.job, &wh), (calm * 3).max(Duration::from_secs(45)));
        assert_eq!(status["state"], "succeeded", "{name}: {status}\n{}", chaos.logs());
        base.assert_equal(&wh, &name);
        println!(
            "{name}: scheduler killed after {delay:?}; ledger: {state}; {committed} tables committed; executors \
             back after {recovered:?}"
        );
    }
}
