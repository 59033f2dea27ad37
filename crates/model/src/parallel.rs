//! Independent parts of one input, read on every core.
//!
//! A YAML stream's documents, and runs of a JSON `List`'s items, parse and decode without each other. Each part is
//! parsed and decoded on the same thread, so the trees it builds are freed where they were allocated (a tree built
//! on one thread and freed on another cost more than it saved), and the results come back in input order for the
//! caller to put in place.

use std::sync::atomic::{AtomicUsize, Ordering};

/// How many threads read an input: one per core, up to eight.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8)
}

/// `map` applied to every part, on as many threads as there are cores, in the order of `parts`.
///
/// Threads take the next part as they finish one, so parts of uneven size still keep every core busy. A panic in
/// `map` propagates to the caller, as it would on one thread.
pub(crate) fn map_in_parallel<T: Sync, U: Send>(parts: &[T], map: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let threads = threads().min(parts.len());
    if threads <= 1 {
        return parts.iter().map(map).collect();
    }
    let next = AtomicUsize::new(0);
    let take_parts = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(part) = parts.get(index) else { return done };
            done.push((index, map(part)));
        }
    };
    let mut done: Vec<(usize, U)> = std::thread::scope(|scope| {
        // This thread reads parts too: what it decodes is then freed, later, by the thread that allocated it.
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(take_parts)).collect();
        let mut done = take_parts();
        for helper in helpers {
            match helper.join() {
                Ok(mut mapped) => done.append(&mut mapped),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    done.sort_unstable_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, mapped)| mapped).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_the_order_of_the_parts() {
        let parts: Vec<usize> = (0..1000).collect();
        // Some parts take longer than others, so that they finish out of order.
        let mapped = map_in_parallel(&parts, |&i| {
            if i % 7 == 0 {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
            i * 2
        });
        assert_eq!(mapped, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn no_parts_map_to_nothing() {
        assert!(map_in_parallel(&[] as &[u8], |&b| b).is_empty());
    }

    #[test]
    #[should_panic(expected = "part failed")]
    fn a_panic_in_a_part_reaches_the_caller() {
        let parts: Vec<usize> = (0..100).collect();
        map_in_parallel(&parts, |&i| if i == 57 { panic!("part failed") } else { i });
    }
}
