//! `quiver-sim`: runs simulation seeds and prints one line per seed and a summary.
//!
//! `cargo run -p quiver-sim --release -- --seeds 500` (seeds 1..=500), `--seed 42` (one seed,
//! with its violations in full), `--from 1000 --seeds 100`, `-v` for the peers' logs.

use clap::Parser;
use quiver_sim::run_seed;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(about = "Deterministic simulation of a Quiver cluster under faults")]
struct Args {
    /// Run this one seed.
    #[arg(long)]
    seed: Option<u64>,
    /// How many seeds to run.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    from: u64,
    /// Print the peers' logs (warnings and errors).
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.verbose {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,openraft=error".into());
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_timer(SimTime)
            .with_ansi(false)
            .init();
    }
    let seeds: Vec<u64> = match args.seed {
        Some(seed) => vec![seed],
        None => (args.from..args.from + args.seeds).collect(),
    };
    let started = std::time::Instant::now();
    let mut failed = Vec::new();
    for seed in &seeds {
        let report = run_seed(*seed);
        println!("{}", report.line());
        if !report.passed() || args.seed.is_some() {
            let faults: Vec<String> = report
                .faults
                .iter()
                .zip(&report.fault_times)
                .map(|(f, t)| format!("{:.2}s {f}", t.as_secs_f64()))
                .collect();
            println!("  faults: {}", faults.join(", "));
            for violation in &report.violations {
                println!("  {violation:?}");
            }
        }
        if args.seed.is_some() {
            print_key_histories(&report);
        }
        if !report.passed() {
            failed.push(*seed);
        }
    }
    println!(
        "summary seeds={} failed={} failing_seeds={:?} real={:.1}s",
        seeds.len(),
        failed.len(),
        failed,
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The history of every key a violation names.
fn print_key_histories(report: &quiver_sim::SeedReport) {
    use quiver_sim::check::Violation;
    let keys: std::collections::BTreeSet<u64> = report
        .violations
        .iter()
        .filter_map(|v| match v {
            Violation::Lost { key, .. } | Violation::Stale { key, .. } | Violation::Unreplicated { key, .. } => {
                Some(*key)
            }
            Violation::Diverged { .. }
            | Violation::NotHealed { .. }
            | Violation::Forked { .. }
            | Violation::RaftLog { .. } => None,
        })
        .collect();
    println!("  WAL records of those keys:");
    for line in &report.wal_of_keys {
        println!("    {line}");
    }
    println!("  metadata log:");
    for line in &report.metadata_log {
        println!("    {line}");
    }
    for key in keys {
        println!("  history of key {key}:");
        let mut ops: Vec<_> = report.history.iter().filter(|op| op.key == key).collect();
        ops.sort_by_key(|op| op.invoked);
        for op in ops {
            println!(
                "    {:>8.3}s..{:>8.3}s via p{} {:?} -> {:?}",
                op.invoked.as_secs_f64(),
                op.completed.as_secs_f64(),
                op.peer,
                op.kind,
                op.outcome
            );
        }
    }
}

/// Log timestamps in simulated seconds (tokio's paused clock).
struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        static START: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
        let now = tokio::time::Instant::now();
        let start = *START.get_or_init(|| now);
        write!(w, "{:9.3}s", now.duration_since(start).as_secs_f64())
    }
}
