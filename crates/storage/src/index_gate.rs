//! The gate every call into a usearch index passes (design record 023, "Searches and changes
//! apart"): usearch holds a fixed number of thread contexts, so a call takes one of `permits`;
//! and a change of the graph (an add, a remove) never runs beside a read of it (a search, an
//! export, a save). usearch reuses the node of a removed key for a later add and rewrites it in
//! place, and counts a new node before it is stored, so a search walking beside either can read
//! a node being rewritten (a crash seen in `searches_beside_indexer_adds_and_writes_stay_sound`).
//! Calls of one kind run together; when the other kind waits, no more of the running kind are
//! let in, and once the running ones leave the other kind goes first, so neither starves.

use parking_lot::{Condvar, Mutex};

/// What a call does to the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Walks it: searches, exports, saves.
    Read,
    /// Changes it: adds and removes.
    Change,
}

impl Access {
    fn index(self) -> usize {
        match self {
            Access::Read => 0,
            Access::Change => 1,
        }
    }

    fn other(self) -> Access {
        match self {
            Access::Read => Access::Change,
            Access::Change => Access::Read,
        }
    }
}

#[derive(Debug)]
struct State {
    free: usize,
    /// Calls inside, all of kind `kind`.
    active: usize,
    kind: Access,
    waiting: [usize; 2],
}

impl State {
    fn may_enter(&self, access: Access) -> bool {
        let other_waits = self.waiting[access.other().index()] > 0;
        match (self.free > 0, self.active) {
            (false, _) => false,
            // Nobody inside: the kind whose turn it is (`kind` was set to it when the last left),
            // or this one if the other kind does not wait.
            (true, 0) => self.kind == access || !other_waits,
            (true, _) => self.kind == access && !other_waits,
        }
    }
}

/// Thread contexts of one usearch index, and its reads and changes kept apart.
#[derive(Debug)]
pub(crate) struct Gate {
    state: Mutex<State>,
    cv: Condvar,
}

impl Gate {
    pub(crate) fn new(permits: usize) -> Gate {
        let state = State { free: permits, active: 0, kind: Access::Change, waiting: [0; 2] };
        Gate { state: Mutex::new(state), cv: Condvar::new() }
    }

    /// Waits until a call of kind `access` may run; it runs until the pass is dropped.
    pub(crate) fn enter(&self, access: Access) -> Pass<'_> {
        let mut state = self.state.lock();
        state.waiting[access.index()] += 1;
        while !state.may_enter(access) {
            self.cv.wait(&mut state);
        }
        state.waiting[access.index()] -= 1;
        state.free -= 1;
        state.active += 1;
        state.kind = access;
        Pass { gate: self, access }
    }
}

/// A call inside the gate.
pub(crate) struct Pass<'a> {
    gate: &'a Gate,
    access: Access,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut state = self.gate.state.lock();
        state.free += 1;
        state.active -= 1;
        if state.active == 0 && state.waiting[self.access.other().index()] > 0 {
            state.kind = self.access.other();
        }
        drop(state);
        self.gate.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

    #[test]
    fn reads_and_changes_never_overlap_and_both_progress() {
        let gate = Gate::new(4);
        // Positive: reads inside; negative: changes inside.
        let inside = AtomicIsize::new(0);
        let done = [AtomicUsize::new(0), AtomicUsize::new(0)];
        std::thread::scope(|s| {
            for t in 0..6 {
                let access = if t % 2 == 0 { Access::Read } else { Access::Change };
                let (gate, inside, done) = (&gate, &inside, &done);
                s.spawn(move || {
                    for _ in 0..300 {
                        let _pass = gate.enter(access);
                        let step = if access == Access::Read { 1 } else { -1 };
                        let before = inside.fetch_add(step, Ordering::SeqCst);
                        assert!(before == 0 || before.signum() == step, "a {access:?} beside the other kind");
                        std::thread::yield_now();
                        inside.fetch_sub(step, Ordering::SeqCst);
                        done[access.index()].fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(done.map(|d| d.into_inner()), [900, 900]);
    }

    #[test]
    fn permits_bound_the_calls_inside() {
        let gate = Gate::new(2);
        let inside = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..5 {
                s.spawn(|| {
                    for _ in 0..200 {
                        let _pass = gate.enter(Access::Read);
                        assert!(inside.fetch_add(1, Ordering::SeqCst) < 2, "more calls than permits");
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
    }

    #[test]
    fn a_waiting_change_stops_new_reads_until_it_ran() {
        let gate = Gate::new(8);
        let read = gate.enter(Access::Read);
        std::thread::scope(|s| {
            let change = s.spawn(|| drop(gate.enter(Access::Change)));
            // Wait until the change is queued, then a new read must not pass it.
            while gate.state.lock().waiting[Access::Change.index()] == 0 {
                std::thread::yield_now();
            }
            assert!(!gate.state.lock().may_enter(Access::Read));
            drop(read);
            change.join().expect("change ran");
        });
        drop(gate.enter(Access::Read));
    }
}
