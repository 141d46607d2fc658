//! Which serving worker the current thread is. The gateway serves on one thread per core, each
//! with its own single-threaded runtime (see `shale_server::connections`); state that is cheaper
//! per worker than shared — the Bedrock connection pool, whose connections live on the runtime
//! that opened them — is kept in a [`PerWorker`] and picked by the thread's index, so a request
//! never wakes another thread. Threads that are not serving workers (start-up, background tasks,
//! tests) count as worker 0.
//!
//! Must not: do I/O or know what is kept per worker.

use std::cell::Cell;

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// Marks the current thread as serving worker `index` (once, when the worker thread starts).
pub fn enter(index: usize) {
    INDEX.with(|i| i.set(index));
}

/// The current thread's worker index (0 outside the serving workers).
pub fn current() -> usize {
    INDEX.with(Cell::get)
}

/// One `T` per serving worker; [`PerWorker::get`] returns the current worker's.
#[derive(Debug, Clone)]
pub struct PerWorker<T> {
    items: Box<[T]>,
}

impl<T> PerWorker<T> {
    /// `count` items (at least one), built by `make(index)`.
    pub fn new(count: usize, make: impl FnMut(usize) -> T) -> PerWorker<T> {
        PerWorker {
            items: (0..count.max(1)).map(make).collect(),
        }
    }

    /// Like [`PerWorker::new`] for a fallible `make`.
    pub fn try_new<E>(
        count: usize,
        make: impl FnMut(usize) -> Result<T, E>,
    ) -> Result<PerWorker<T>, E> {
        Ok(PerWorker {
            items: (0..count.max(1)).map(make).collect::<Result<_, E>>()?,
        })
    }

    /// The current worker's item (a thread beyond the count shares by index modulo the count).
    pub fn get(&self) -> &T {
        &self.items[current() % self.items.len()]
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Never true (there is always at least one); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_worker_thread_gets_its_own_item() {
        let per = std::sync::Arc::new(PerWorker::new(2, |i| i * 10));
        assert_eq!(
            *per.get(),
            0,
            "a thread that is not a worker counts as worker 0"
        );
        let seen: Vec<usize> = (0..3)
            .map(|index| {
                let per = std::sync::Arc::clone(&per);
                std::thread::spawn(move || {
                    enter(index);
                    *per.get()
                })
                .join()
                .expect("worker thread")
            })
            .collect();
        assert_eq!(
            seen,
            vec![0, 10, 0],
            "worker 2 of 2 wraps to the first item"
        );
    }

    #[test]
    fn there_is_always_one() {
        let per = PerWorker::new(0, |i| i);
        assert_eq!(per.len(), 1);
        assert_eq!(*per.get(), 0);
    }
}
