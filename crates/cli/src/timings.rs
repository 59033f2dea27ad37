//! `--timings`: wall-clock time per phase (parse, model, engine, audit, output), printed on stderr at the end.

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// Each `phase` call closes the phase that was running.
struct Timings {
    last: Instant,
    phases: Vec<(&'static str, Duration)>,
}

impl Timings {
    fn phase(&mut self, name: &'static str) {
        let now = Instant::now();
        self.phases.push((name, now - self.last));
        self.last = now;
    }

    fn line(&self) -> String {
        let total: Duration = self.phases.iter().map(|(_, d)| *d).sum();
        let phases: Vec<String> =
            self.phases.iter().map(|(name, d)| format!("{name} {:.3}s", d.as_secs_f64())).collect();
        format!("timings: {}, total {:.3}s", phases.join(", "), total.as_secs_f64())
    }
}

thread_local! {
    static TIMINGS: RefCell<Timings> = RefCell::new(Timings { last: Instant::now(), phases: Vec::new() });
}

/// Starts the clock (the first phase runs from here).
pub fn start() {
    TIMINGS.with_borrow_mut(|t| t.last = Instant::now());
}

/// Ends the running phase under `name` (two clock reads: cheap enough to do whether or not `--timings` is on).
pub fn phase(name: &'static str) {
    TIMINGS.with_borrow_mut(|t| t.phase(name));
}

/// The `timings: ...` line.
pub fn line() -> String {
    TIMINGS.with_borrow(Timings::line)
}
