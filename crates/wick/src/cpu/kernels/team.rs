//! A spinning team for short, back-to-back parallel passes, for the length of a forward pass.
//!
//! Decoding one token runs about a hundred matrix-vector products of 0.1–0.5 ms each, with a
//! few microseconds of serial work between them. Through plain rayon, each product's second
//! half waits for a worker coming back from `sched_yield` or a futex sleep, and a split into a
//! few coarse tasks leaves one thread idle at the end: the passes stream weights ~20% slower
//! than one long product does. [`session`] (what `wick::run_in_pool` runs its closure in)
//! turns wick's other workers into helpers that spin for the length of the closure: a pass
//! posted with [`for_each_index`] from the closure's thread is shared at once by pulling small
//! chunks from an atomic counter. While no pass is posted the helpers run the pool's ordinary
//! pending work (`rayon::yield_now`), so rayon-parallel ops inside the session (dense GEMMs,
//! prefill) still use every core, and no thread beyond the pool's competes for the cores.
//!
//! Safety of the hand-off: the poster publishes a pointer to a job on its stack and, before
//! returning, retracts it and waits until no helper is inside it. A helper announces itself
//! (`active += 1`) *before* reading the pointer, and both sides use sequentially consistent
//! operations, so either the poster sees the announcement and waits, or the helper sees the
//! retracted (null) pointer and never touches the job.

use rayon::prelude::*;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, TryLockError};

/// One pass: `run(i)` for every `i < n`, chunks taken in order from `next`.
struct Job<'a> {
    run: &'a (dyn Fn(usize) + Sync),
    n: usize,
    next: AtomicUsize,
    panicked: AtomicBool,
}

impl Job<'_> {
    /// Runs chunks until none are left; a panic is recorded, not propagated across threads.
    fn work(&self) {
        let result = catch_unwind(AssertUnwindSafe(|| loop {
            let i = self.next.fetch_add(1, SeqCst);
            if i >= self.n {
                break;
            }
            (self.run)(i);
        }));
        if result.is_err() {
            self.panicked.store(true, SeqCst);
            // Nobody should start more chunks of a failed pass.
            self.next.store(self.n, SeqCst);
        }
    }
}

/// The state one session's poster and helpers share.
struct Team {
    /// Bumped once per published job.
    epoch: AtomicU64,
    /// The current job (a `Job` on the poster's stack, lifetime erased), or null.
    job: AtomicPtr<Job<'static>>,
    /// Helpers between announcing themselves and leaving a job.
    active: AtomicUsize,
    /// Helpers spinning in this session.
    helpers: AtomicUsize,
    /// Held by the poster during a pass: a pass posted from inside a pass falls back to rayon.
    busy: Mutex<()>,
    stop: AtomicBool,
}

thread_local! {
    /// The session the current thread posts passes to, if it runs one.
    static CURRENT: RefCell<Option<Arc<Team>>> = const { RefCell::new(None) };
    /// True while the current thread spins as a helper.
    static HELPING: Cell<bool> = const { Cell::new(false) };
}

impl Team {
    /// A helper's life: run posted jobs and the pool's pending work until the session stops.
    fn help(&self, poster: Option<usize>) {
        // A helper job picked up by a thread that already posts or helps (stolen while it
        // waits inside a job, or the poster's own job queued until the session ended) must
        // not spin there: what that thread is in the middle of could be what the session
        // waits for. It returns, and the session has one helper fewer.
        let busy_here = CURRENT.with(|c| c.borrow().is_some()) || HELPING.with(Cell::get);
        if self.stop.load(SeqCst) || busy_here || rayon::current_thread_index() == poster {
            return;
        }
        HELPING.with(|h| h.set(true));
        self.helpers.fetch_add(1, SeqCst);
        let mut seen = self.epoch.load(SeqCst);
        while !self.stop.load(SeqCst) {
            let e = self.epoch.load(SeqCst);
            if e != seen {
                seen = e;
                self.join_job();
                continue;
            }
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
            }
        }
        self.helpers.fetch_sub(1, SeqCst);
        HELPING.with(|h| h.set(false));
    }

    fn join_job(&self) {
        self.active.fetch_add(1, SeqCst);
        let job = self.job.load(SeqCst);
        if !job.is_null() {
            // SAFETY: `job` was non-null after this helper announced itself in `active`, so
            // the poster that published it has not yet passed its wait for `active` to drop to
            // zero (see `run`): the `Job` on its stack is alive until the decrement below.
            unsafe { (*job).work() };
        }
        self.active.fetch_sub(1, SeqCst);
    }

    /// Runs `job` on this thread and the helpers; false (nothing run) if no helper spins or a
    /// pass is already running.
    fn run(&self, job: &Job<'_>) -> bool {
        if self.helpers.load(SeqCst) == 0 {
            return false;
        }
        let _busy = match self.busy.try_lock() {
            Ok(g) => g,
            Err(TryLockError::WouldBlock) => return false,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
        };
        let ptr = job as *const Job<'_> as *mut Job<'static>;
        self.job.store(ptr, SeqCst);
        self.epoch.fetch_add(1, SeqCst);
        job.work();
        self.job.store(std::ptr::null_mut(), SeqCst);
        // After the retraction no helper can newly enter `job`; wait for those inside it.
        while self.active.load(SeqCst) != 0 {
            std::hint::spin_loop();
        }
        true
    }
}

/// Runs `f` on the current thread while wick's other workers spin as its helpers (see the
/// module docs). Must be called on a worker of wick's pool; elsewhere, or nested in another
/// session, it just runs `f`.
pub(crate) fn session<T>(f: impl FnOnce() -> T) -> T {
    let threads = rayon::current_num_threads();
    let nested = CURRENT.with(|c| c.borrow().is_some());
    let poster = rayon::current_thread_index();
    if nested || poster.is_none() || threads <= 1 {
        return f();
    }
    let team = Arc::new(Team {
        epoch: AtomicU64::new(0),
        job: AtomicPtr::new(std::ptr::null_mut()),
        active: AtomicUsize::new(0),
        helpers: AtomicUsize::new(0),
        busy: Mutex::new(()),
        stop: AtomicBool::new(false),
    });
    let result = rayon::in_place_scope(|s| {
        for _ in 1..threads {
            let t = team.clone();
            s.spawn(move |_| t.help(poster));
        }
        CURRENT.with(|c| *c.borrow_mut() = Some(team.clone()));
        let r = catch_unwind(AssertUnwindSafe(f));
        CURRENT.with(|c| *c.borrow_mut() = None);
        // Helpers must leave before the scope can end, panic or not. A helper job still
        // queued here runs on this thread as the scope waits, sees `stop` and returns.
        team.stop.store(true, SeqCst);
        r
    });
    match result {
        Ok(v) => v,
        Err(p) => resume_unwind(p),
    }
}

/// Calls `f(i)` for every `i < n` across wick's threads: in a [`session`], the session's
/// thread and its helpers pull indices in order; elsewhere (or while a pass is running) the
/// indices go to wick's rayon pool. For many small chunks of one short pass.
///
/// # Panics
/// If `f` panics on any thread, after every thread has left the pass.
pub(crate) fn for_each_index(n: usize, f: &(dyn Fn(usize) + Sync)) {
    if n <= 1 || crate::device::num_threads() <= 1 {
        (0..n).for_each(f);
        return;
    }
    let team = CURRENT.with(|c| c.borrow().clone());
    let job = Job { run: f, n, next: AtomicUsize::new(0), panicked: AtomicBool::new(false) };
    match team {
        Some(team) if team.run(&job) => {
            if job.panicked.load(SeqCst) {
                panic!("wick: a kernel panicked in a parallel pass");
            }
        }
        _ => crate::device::install(|| (0..n).into_par_iter().for_each(f)),
    }
}

/// [`for_each_index`] over owned items: `f` gets each item once.
pub(crate) fn for_each<T: Send>(items: Vec<T>, f: impl Fn(T) + Sync) {
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    for_each_index(slots.len(), &|i| {
        let item = match slots[i].lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some(item) = item {
            f(item);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_session<T: Send>(f: impl FnOnce() -> T + Send) -> T {
        crate::device::install(|| session(f))
    }

    fn count_once(n: usize) -> bool {
        let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
        for_each_index(n, &|i| {
            hits[i].fetch_add(1, SeqCst);
        });
        hits.iter().all(|h| h.load(SeqCst) == 1)
    }

    /// Every index is visited exactly once over many back-to-back passes of varied sizes, in
    /// a session, outside one, and from several threads at once.
    #[test]
    fn every_index_runs_once() {
        assert!(in_session(|| (0..500).all(|p| count_once(p % 97))));
        assert!((0..50).all(|p| count_once(p % 97)));
        let callers: Vec<_> = (0..3)
            .map(|c| std::thread::spawn(move || in_session(|| (0..200).all(|p| count_once((p + c) % 61)))))
            .collect();
        for c in callers {
            assert!(matches!(c.join(), Ok(true)));
        }
    }

    /// Rayon work inside a session (as dense GEMMs issue) still completes, nested passes
    /// included, and a nested session just runs.
    #[test]
    fn rayon_work_and_nesting_inside_a_session() {
        let (sum, nested) = in_session(|| {
            let sum: u64 = (0..100_000u64).into_par_iter().map(|v| v % 7).sum();
            let nested = (0..20).all(|_| {
                let outer: Vec<AtomicUsize> = (0..8).map(|_| AtomicUsize::new(0)).collect();
                for_each_index(8, &|i| {
                    if count_once(5) {
                        outer[i].fetch_add(1, SeqCst);
                    }
                });
                outer.iter().all(|h| h.load(SeqCst) == 1) && session(|| count_once(9))
            });
            (sum, nested)
        });
        assert_eq!(sum, (0..100_000u64).map(|v| v % 7).sum::<u64>());
        assert!(nested);
    }

    /// In a session with a second worker, passes really are shared: some chunk runs on a
    /// thread other than the poster's (chunks are slowed down so the helper gets there).
    #[test]
    fn helpers_take_part() {
        if crate::device::num_threads() < 2 {
            return;
        }
        // A pool of its own: tests running at once keep the shared pool's workers busy.
        let pool = match rayon::ThreadPoolBuilder::new().num_threads(2).build() {
            Ok(p) => p,
            Err(e) => panic!("cannot start a test pool: {e}"),
        };
        let shared = pool.install(|| {
            session(|| {
                let me = std::thread::current().id();
                (0..200).any(|_| {
                    let others = AtomicUsize::new(0);
                    for_each_index(16, &|_| {
                        let t = std::time::Instant::now();
                        while t.elapsed() < std::time::Duration::from_micros(20) {
                            std::hint::spin_loop();
                        }
                        if std::thread::current().id() != me {
                            others.fetch_add(1, SeqCst);
                        }
                    });
                    others.load(SeqCst) > 0
                })
            })
        });
        assert!(shared, "no chunk ran on a helper in 200 passes");
    }

    #[test]
    fn owned_items_each_reach_f_once() {
        let mut outs = vec![0u32; 200];
        in_session(|| {
            let items: Vec<(usize, &mut [u32])> = outs.chunks_mut(3).enumerate().collect();
            for_each(items, |(i, chunk)| chunk.iter_mut().for_each(|v| *v += i as u32 + 1));
        });
        for (i, c) in outs.chunks(3).enumerate() {
            assert!(c.iter().all(|&v| v == i as u32 + 1));
        }
    }

    /// A panic in a chunk surfaces on the poster after the pass; the session still ends (its
    /// helpers stop) and the next session works.
    #[test]
    fn a_panicking_chunk_is_reported_and_sessions_go_on() {
        let r = catch_unwind(|| in_session(|| for_each_index(64, &|i| assert!(i != 40, "chunk 40 fails"))));
        assert!(r.is_err());
        let r = catch_unwind(|| in_session(|| panic!("the closure itself fails")));
        assert!(r.is_err());
        assert!(in_session(|| count_once(64)));
    }
}
