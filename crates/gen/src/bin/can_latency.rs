//! `can-latency FILE [QUERIES]`: how long `netseg can` takes once the cluster is loaded, at the library level.
//!
//! Loads the file once, builds the analysis and the name index (`query::Resolver`), then answers QUERIES (default
//! 2,000) seeded random questions the way `netseg can` does: resolve both names (workload ids, pod names, pod IPs,
//! outside addresses), then the verdict with its explanation, each three times, keeping the fastest. Prints the load
//! time and the latency distribution.

use anyhow::{bail, Context, Result};
use netseg_engine::query::{self, PortQuery};
use netseg_engine::request::Request;
use netseg_engine::Analysis;
use netseg_gen::Rng;
use netseg_model::{load_cluster, Input};
use std::time::{Duration, Instant};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().context("usage: can-latency FILE [QUERIES]")?;
    let queries: usize = args.next().map(|n| n.parse()).transpose().context("QUERIES is a number")?.unwrap_or(2_000);
    let started = Instant::now();
    let (cluster, _) = load_cluster(&[Input::from_arg(&path)], None);
    let analysis = Analysis::new(&cluster);
    let resolver = query::Resolver::new(&cluster);
    let loaded = started.elapsed();
    if cluster.workloads.is_empty() {
        bail!("{path}: no workloads");
    }

    // The names users type: workload ids, pod names and pod IPs, and now and then an outside address.
    let mut rng = Rng::new(42);
    let name = |rng: &mut Rng| -> String {
        let workload = &cluster.workloads[rng.below(cluster.workloads.len())];
        let pod = &workload.pods[rng.below(workload.pods.len().max(1)).min(workload.pods.len().saturating_sub(1))];
        match rng.below(10) {
            0 => "203.0.113.9".to_string(),
            1..=3 => match (&pod.name, pod.facts.ips.first()) {
                (Some(name), _) if rng.chance(50) => format!("{}/{name}", workload.id.namespace),
                (_, Some(ip)) => ip.to_string(),
                _ => workload.id.to_string(),
            },
            _ => workload.id.to_string(),
        }
    };
    let ports = [None, Some(53), Some(80), Some(443), Some(5432), Some(8080)];
    let mut latencies: Vec<Duration> = Vec::with_capacity(queries);
    let mut slowest: (Duration, String) = (Duration::ZERO, String::new());
    let mut allowed = 0usize;
    for _ in 0..queries {
        let (from_name, to_name) = (name(&mut rng), name(&mut rng));
        let port = *rng.pick(&ports);
        // The fastest of three runs: on a shared machine a slower one measures the scheduler, not the question.
        let mut elapsed = Duration::MAX;
        let mut verdict = None;
        for _ in 0..3 {
            let start = Instant::now();
            let from = resolver.resolve(&from_name)?;
            let to = resolver.resolve(&to_name)?;
            verdict = Some(query::verdict(&analysis, from, to, PortQuery::new(None, port)?, Request::default()));
            elapsed = elapsed.min(start.elapsed());
        }
        latencies.push(elapsed);
        if elapsed > slowest.0 {
            slowest = (elapsed, format!("--from '{from_name}' --to '{to_name}' --port {port:?}"));
        }
        allowed += usize::from(verdict.is_some_and(|v| v.allowed()));
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{path}: {} workloads, {} classes; loaded and analysed in {:.3}s",
        cluster.workloads.len(),
        analysis.class_count(),
        loaded.as_secs_f64()
    );
    println!(
        "can x{queries} ({allowed} allowed): median {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        micros(at(0.5)),
        micros(at(0.99)),
        micros(at(1.0))
    );
    println!("slowest: {}", slowest.1);
    Ok(())
}
