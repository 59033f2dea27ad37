//! Independent parts of one input, read on every core.
//!
//! A YAML stream's documents, and runs of a JSON `List`'s items, parse and decode without each other. Each part is
//! parsed and decoded on the same thread, so the trees it builds are freed where they were allocated (a tree built
//! on one thread and freed on another cost more than it saved), and the results come back in input order for the
//! caller to put in place: `for_each_in_parallel` when every part is at hand, `pipeline` when the parts arrive
//! over time (a JSON file read in parts).
//!
//! [`beside`] is the other shape the crates above use: one piece of work on a thread of its own while the caller
//! does something else.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::{Scope, ScopedJoinHandle};

/// Work started by [`beside`]: on its own thread, or waiting for [`Beside::join`] where the system refused one.
pub struct Beside<'scope, T, F> {
    thread: Option<ScopedJoinHandle<'scope, T>>,
    work: F,
}

/// Starts `work` on a thread of `scope` while the caller goes on. Where the system starts no thread (a container's
/// process limit), `work` is done on the caller's thread when it is joined, so the result is the same either way.
/// `work` only borrows (it is `Copy`), so it is still at hand when the thread is refused.
pub fn beside<'scope, T, F>(scope: &'scope Scope<'scope, '_>, work: F) -> Beside<'scope, T, F>
where
    T: Send + 'scope,
    F: FnOnce() -> T + Send + Copy + 'scope,
{
    Beside { thread: std::thread::Builder::new().spawn_scoped(scope, work).ok(), work }
}

impl<T, F: FnOnce() -> T> Beside<'_, T, F> {
    /// The work's result; a panic in it reaches the caller, as it would on one thread.
    pub fn join(self) -> T {
        match self.thread {
            Some(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => (self.work)(),
        }
    }
}

/// How many threads read an input: one per core, up to eight.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8)
}

/// `map` applied to every part on as many threads as there are cores, and `consume` on this thread, given each
/// result in the order of `parts` as soon as it and those before it are ready; `consume` returns `false` to stop.
///
/// Threads take the next part as they finish one, so parts of uneven size still keep every core busy. This thread
/// reads parts too and, between them, consumes what is ready, so that few results wait; where the system starts no
/// helper, it reads them all. A panic in `map` or `consume` propagates to the caller, as it would on one thread.
pub(crate) fn for_each_in_parallel<T: Sync, U: Send>(
    parts: &[T],
    map: impl Fn(&T) -> U + Sync,
    mut consume: impl FnMut(U) -> bool,
) {
    let threads = threads().min(parts.len());
    if threads <= 1 {
        for part in parts {
            if !consume(map(part)) {
                return;
            }
        }
        return;
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let take = || {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let index = next.fetch_add(1, Ordering::Relaxed);
        parts.get(index).map(|part| (index, part))
    };
    let map = &map;
    std::thread::scope(|scope| {
        let (to_consumer, results) = channel::<(usize, U)>();
        // A helper the system refuses (a container's process limit) is not started: this thread reads every part
        // the others do not.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                let to_consumer = to_consumer.clone();
                let help = move || {
                    while let Some((index, part)) = take() {
                        // Fails only when this thread is gone: it panicked, and the scope re-raises that.
                        if to_consumer.send((index, map(part))).is_err() {
                            return;
                        }
                    }
                };
                std::thread::Builder::new().spawn_scoped(scope, help).ok()
            })
            .collect();
        drop(to_consumer);
        // Results that came before those ahead of them, by index.
        let mut ready: BTreeMap<usize, U> = BTreeMap::new();
        let mut consumed = 0;
        let mut consume_ready = |ready: &mut BTreeMap<usize, U>| {
            while !stop.load(Ordering::Relaxed) {
                let Some(result) = ready.remove(&consumed) else { return };
                consumed += 1;
                if !consume(result) {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        };
        while let Some((index, part)) = take() {
            ready.insert(index, map(part));
            ready.extend(results.try_iter());
            consume_ready(&mut ready);
        }
        // What the other threads are still reading; the channel closes when the last of them is done.
        for (index, result) in results {
            ready.insert(index, result);
            consume_ready(&mut ready);
        }
        for helper in helpers {
            if let Err(panic) = helper.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// `map` applied on other threads to each part `produce` gives while it goes on making the next, and `consume` on
/// this thread, given each result in the order the parts were given as soon as it and those before it are ready;
/// `consume` returns `false` to stop, and from then on giving a part returns `false` too. Returns what `produce`
/// returns, once every result given before a stop is consumed.
///
/// Few parts wait to be mapped at any time (giving waits for a mapper when they are many), so that a producer that
/// reads faster than the mappers parse holds little in memory. Where the system starts no helper, this thread maps
/// each part as it is given. A panic in `map` or `consume` propagates to the caller, as it would on one thread.
pub(crate) fn pipeline<T: Send, U: Send, R>(
    produce: impl FnOnce(&mut dyn FnMut(T) -> bool) -> R,
    map: impl Fn(T) -> U + Sync,
    mut consume: impl FnMut(U) -> bool,
) -> R {
    let threads = threads();
    let map = &map;
    std::thread::scope(|scope| {
        let (to_mappers, parts) = sync_channel::<(usize, T)>(2 * threads);
        let parts = Arc::new(Mutex::new(parts));
        let (to_consumer, results) = channel::<(usize, U)>();
        let helpers: Vec<_> = (0..threads)
            .filter_map(|_| {
                let (parts, to_consumer) = (Arc::clone(&parts), to_consumer.clone());
                let help = move || loop {
                    // The lock is held only while waiting for a part, never while mapping one.
                    let next = parts.lock().ok().and_then(|parts| parts.recv().ok());
                    let Some((index, part)) = next else { return };
                    // Fails only when this thread is gone: it panicked, and the scope re-raises that.
                    if to_consumer.send((index, map(part))).is_err() {
                        return;
                    }
                };
                std::thread::Builder::new().spawn_scoped(scope, help).ok()
            })
            .collect();
        // The helpers hold the only other ends: when they are all gone, giving fails instead of waiting forever.
        drop((parts, to_consumer));
        // Results that came before those ahead of them, by index.
        let mut ready: BTreeMap<usize, U> = BTreeMap::new();
        let (mut given, mut consumed, mut stopped) = (0, 0, false);
        let mut consume_ready = |ready: &mut BTreeMap<usize, U>, stopped: &mut bool| {
            while !*stopped {
                let Some(result) = ready.remove(&consumed) else { return };
                consumed += 1;
                *stopped = !consume(result);
            }
        };
        let produced = produce(&mut |part| {
            if stopped {
                return false;
            }
            if helpers.is_empty() {
                ready.insert(given, map(part));
            } else if to_mappers.send((given, part)).is_err() {
                // Every helper is gone, which only a panic does: it is re-raised below.
                stopped = true;
                return false;
            }
            given += 1;
            ready.extend(results.try_iter());
            consume_ready(&mut ready, &mut stopped);
            !stopped
        });
        drop(to_mappers);
        // What the helpers are still mapping; the channel closes when the last of them is done.
        for (index, result) in results.iter() {
            ready.insert(index, result);
            consume_ready(&mut ready, &mut stopped);
        }
        for helper in helpers {
            if let Err(panic) = helper.join() {
                std::panic::resume_unwind(panic);
            }
        }
        produced
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect<T: Sync, U: Send>(parts: &[T], map: impl Fn(&T) -> U + Sync) -> Vec<U> {
        let mut consumed = Vec::new();
        for_each_in_parallel(parts, map, |result| {
            consumed.push(result);
            true
        });
        consumed
    }

    #[test]
    fn results_come_in_the_order_of_the_parts() {
        let parts: Vec<usize> = (0..1000).collect();
        // Some parts take longer than others, so that they finish out of order.
        let mapped = collect(&parts, |&i| {
            if i % 7 == 0 {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
            i * 2
        });
        assert_eq!(mapped, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn work_beside_gives_its_result_when_joined() {
        let numbers: Vec<u64> = (1..=100).collect();
        let total = std::thread::scope(|scope| {
            let sum = beside(scope, || numbers.iter().sum::<u64>());
            let count = numbers.len() as u64;
            sum.join() + count
        });
        assert_eq!(total, 5050 + 100);
    }

    #[test]
    #[should_panic(expected = "work failed")]
    fn a_panic_beside_reaches_the_caller() {
        std::thread::scope(|scope| beside(scope, || panic!("work failed")).join());
    }

    #[test]
    fn no_parts_consume_nothing() {
        assert!(collect(&[] as &[u8], |&b| b).is_empty());
    }

    #[test]
    fn consuming_stops_when_asked() {
        let parts: Vec<usize> = (0..1000).collect();
        let mut consumed = Vec::new();
        for_each_in_parallel(
            &parts,
            |&i| i,
            |i| {
                consumed.push(i);
                i < 300
            },
        );
        assert_eq!(consumed, (0..=300).collect::<Vec<_>>());
    }

    #[test]
    #[should_panic(expected = "part failed")]
    fn a_panic_in_a_part_reaches_the_caller() {
        let parts: Vec<usize> = (0..100).collect();
        collect(&parts, |&i| if i == 57 { panic!("part failed") } else { i });
    }

    #[test]
    #[should_panic(expected = "consumer failed")]
    fn a_panic_in_the_consumer_reaches_the_caller() {
        let parts: Vec<usize> = (0..1000).collect();
        for_each_in_parallel(
            &parts,
            |&i| i,
            |i| {
                assert!(i < 500, "consumer failed");
                true
            },
        );
    }

    /// Gives `0..count` to [`pipeline`] and collects what `consume` is given until it has `stop_after` results.
    fn through_pipeline(count: usize, stop_after: usize, map: impl Fn(usize) -> usize + Sync) -> (Vec<usize>, usize) {
        let mut consumed = Vec::new();
        let given = pipeline(
            |give| (0..count).take_while(|&i| give(i)).count(),
            map,
            |result| {
                consumed.push(result);
                consumed.len() < stop_after
            },
        );
        (consumed, given)
    }

    #[test]
    fn a_pipeline_consumes_in_the_order_parts_were_given() {
        // Parts that take longer the earlier they come, so that results arrive out of order.
        let (consumed, given) = through_pipeline(300, usize::MAX, |i| {
            std::thread::sleep(std::time::Duration::from_micros((300 - i as u64) * 3));
            i * 2
        });
        assert_eq!(consumed, (0..300).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(given, 300);
    }

    #[test]
    fn a_pipeline_stops_giving_once_consuming_stops() {
        let (consumed, given) = through_pipeline(10_000, 5, |i| i);
        assert_eq!(consumed, [0, 1, 2, 3, 4]);
        assert!(given < 10_000, "giving stopped: {given} given");
    }

    #[test]
    fn a_pipeline_given_nothing_consumes_nothing() {
        assert_eq!(through_pipeline(0, usize::MAX, |i| i), (Vec::new(), 0));
    }

    #[test]
    #[should_panic(expected = "mapper failed")]
    fn a_panic_in_a_pipeline_mapper_reaches_the_caller() {
        through_pipeline(1000, usize::MAX, |i| {
            assert!(i != 700, "mapper failed");
            i
        });
    }

    #[test]
    #[should_panic(expected = "consumer failed")]
    fn a_panic_in_a_pipeline_consumer_reaches_the_caller() {
        pipeline(
            |give| (0..1000).all(give),
            |i: usize| i,
            |i| {
                assert!(i < 500, "consumer failed");
                true
            },
        );
    }
}
