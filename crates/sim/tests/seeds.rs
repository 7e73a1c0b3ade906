//! CI's simulation run: seeds 1..=200 (`QUIVER_SIM_SEEDS` to change) and the regression seeds of
//! `regressions.txt`, two at a time; every seed must pass. A failing seed replays with
//! `cargo run -p quiver-sim -- --seed S -v`.

use quiver_sim::run_seed;

#[test]
fn simulated_seeds_keep_the_replication_contract() {
    let count: u64 = std::env::var("QUIVER_SIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let regressions = include_str!("../regressions.txt")
        .lines()
        .filter_map(|line| line.split('#').next().and_then(|s| s.trim().parse::<u64>().ok()));
    let seeds: Vec<u64> = (1..=count).chain(regressions).collect();
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..2usize)
        .map(|worker| {
            let mine: Vec<u64> = seeds.iter().copied().skip(worker).step_by(2).collect();
            std::thread::spawn(move || mine.into_iter().map(run_seed).collect::<Vec<_>>())
        })
        .collect();
    let mut reports: Vec<_> = workers.into_iter().flat_map(|w| w.join().expect("simulation thread")).collect();
    reports.sort_by_key(|r| r.seed);
    let failed: Vec<_> = reports.iter().filter(|r| !r.passed()).collect();
    for report in &failed {
        println!("{}", report.line());
        println!("  faults: {}", report.faults.join(", "));
        for violation in &report.violations {
            println!("  {violation:?}");
        }
    }
    let ops: usize = reports.iter().map(|r| r.ops).sum();
    println!(
        "{} seeds, {ops} operations, {} failed, {:.1}s",
        reports.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failed.is_empty(), "failing seeds: {:?}", failed.iter().map(|r| r.seed).collect::<Vec<_>>());
}
