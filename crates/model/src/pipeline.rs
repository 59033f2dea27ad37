//! Two stages on two cores: one thread parses text into trees while the caller's thread decodes them.
//!
//! Parsing a large dump and decoding its objects take comparable time, and neither needs the other's state, so a
//! producer thread hands parsed items over in order through a bounded channel. Order is kept, so diagnostics come
//! out exactly as from one thread; the bound keeps at most a few batches of trees alive at once.

use std::sync::mpsc::sync_channel;

/// Items per hand-over: large enough that the channel's synchronisation costs nothing next to parsing them.
const BATCH: usize = 256;
/// Batches in flight: the producer waits when the consumer falls this far behind.
const BATCHES_IN_FLIGHT: usize = 4;

/// Runs `produce` on a second thread and feeds everything it emits, in order, to `consume` on this one.
///
/// A panic in either stage propagates to the caller, as it would on one thread.
pub(crate) fn pipelined<T: Send>(produce: impl FnOnce(&mut dyn FnMut(T)) + Send, mut consume: impl FnMut(T)) {
    std::thread::scope(|scope| {
        let (sender, receiver) = sync_channel::<Vec<T>>(BATCHES_IN_FLIGHT);
        let producer = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            // A send fails only when the consumer is gone, which happens only if it panicked: the scope then
            // re-raises that panic, so the items left over need no home.
            let mut emit = |item: T| {
                batch.push(item);
                if batch.len() == BATCH {
                    let _ = sender.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                }
            };
            produce(&mut emit);
            if !batch.is_empty() {
                let _ = sender.send(batch);
            }
        });
        for batch in receiver {
            batch.into_iter().for_each(&mut consume);
        }
        if let Err(panic) = producer.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

/// Runs both stages on this thread: the same order and results as [`pipelined`], for inputs too small to be worth
/// a thread.
pub(crate) fn sequential<T>(produce: impl FnOnce(&mut dyn FnMut(T)), consume: impl FnMut(T)) {
    let mut consume = consume;
    produce(&mut |item| consume(item));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_arrive_in_order_across_batches() {
        let mut seen = Vec::new();
        pipelined(
            |emit| {
                for i in 0..(BATCH * 3 + 7) {
                    emit(i);
                }
            },
            |i| seen.push(i),
        );
        assert_eq!(seen, (0..(BATCH * 3 + 7)).collect::<Vec<_>>());
    }

    #[test]
    fn a_producer_that_emits_nothing_ends_the_consumer() {
        let mut count = 0;
        pipelined(|_emit: &mut dyn FnMut(u8)| {}, |_| count += 1);
        assert_eq!(count, 0);
    }

    #[test]
    #[should_panic(expected = "producer failed")]
    fn a_panic_in_the_producer_reaches_the_caller() {
        pipelined(
            |emit: &mut dyn FnMut(u8)| {
                emit(1);
                panic!("producer failed");
            },
            |_| {},
        );
    }
}
