//! [`Barrier`]: a process-shared, reusable barrier for `n` parties (Boost's `barrier`, std's
//! `Barrier`).
//!
//! # Algorithm
//!
//! Three 32-bit words (`#[repr(C)]`, 12 bytes):
//!
//! * `parties`: `n`, written once by [`Barrier::new`]; read by every `wait`.
//! * `state`, the futex word: the generation in the top 8 bits, the number of parties that have
//!   arrived in this generation in the low 24 bits. Packing both in one word makes "arrive in
//!   generation `g`" a single compare-and-swap, so an arrival can never be counted in one
//!   generation while it waits for another.
//! * `sleepers`: how many waiters may be asleep on `state` (see `sleepers.rs`).
//!
//! **wait**: CAS `state` from `(g, a)` to `(g, a + 1)`, or, for the last party
//! (`a + 1 >= n`), to `(g + 1, 0)`. The last party is the leader: it wakes every sleeper (only
//! if anyone may sleep) and returns. The others spin (about 40 µs), then sleep on `state` until
//! its generation is no longer `g`. While a party waits in generation `g`, the generation can
//! move only to `g + 1` (generation `g + 1` cannot complete without it), so 8 bits of
//! generation are plenty.
//!
//! # Shared words and crashes
//!
//! | word | value | written by | a process killed here leaves |
//! |------|-------|------------|------------------------------|
//! | `parties` | `n`; 0 is read as 1, above 2^24 − 1 as 2^24 − 1 | [`Barrier::new`] | nothing: never written after construction |
//! | `state` | (generation, arrived) | each arrival, one CAS | nothing half-done. A party killed *after* arriving (while waiting) was counted, so the generation completes without it. A party killed *before* arriving never arrives: like any barrier, this one then waits for it for ever |
//! | `sleepers` | upper bound on sleepers | waiters: `+1` before a sleep, `-1` after (saturating) | a waiter killed while waiting leaves it one too high: the leader of each later generation makes one spare `futex_wake` system call |
//!
//! Any bit pattern is a valid state: an `arrived` count at or above `n` (garbage) makes the next
//! arrival complete the generation. All zeros is a barrier for *one* party (every `wait` returns
//! at once as leader), so a barrier for more parties is written with
//! [`MappedRegion::put`](crate::MappedRegion::put)`(offset, Barrier::new(n))` before the parties
//! use it.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use super::sleepers::Sleepers;
use super::wait::Backoff;
use crate::shm_safe::ShmSafe;
use crate::sys;

const GEN_SHIFT: u32 = 24;
const ARRIVED_MASK: u32 = (1 << GEN_SHIFT) - 1;
const GEN_MASK: u32 = u32::MAX >> GEN_SHIFT;

/// `futex_wake` count meaning "everyone" (the kernel takes an `int`).
const WAKE_ALL: u32 = i32::MAX as u32;

/// A barrier that works between processes: [`wait`](Barrier::wait) blocks until `n` parties
/// (threads of any of the processes mapping it) have called it, then releases them all at once.
/// It is reusable: the next `n` calls form the next generation.
///
/// Place it in shared memory with [`MappedRegion::put`](crate::MappedRegion::put) and
/// [`Barrier::new(n)`](Barrier::new) before the parties use it: all zeros is a barrier for one
/// party.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use shmkit::sync::Barrier;
///
/// let barrier = Arc::new(Barrier::new(3));
/// let threads: Vec<_> = (0..3)
///     .map(|_| {
///         let b = Arc::clone(&barrier);
///         std::thread::spawn(move || b.wait().is_leader())
///     })
///     .collect();
/// let leaders = threads.into_iter().map(|t| t.join().unwrap());
/// assert_eq!(leaders.filter(|&l| l).count(), 1); // exactly one leader per generation
/// ```
#[repr(C)]
pub struct Barrier {
    parties: AtomicU32,
    state: AtomicU32,
    sleepers: Sleepers,
}

#[allow(unsafe_code)] // only this impl: the file has no other unsafe code
// SAFETY: three AtomicU32s (any bit pattern is a valid state, see the module docs), no pointers,
// repr(C), Send + Sync, no drop glue.
unsafe impl ShmSafe for Barrier {
    const FINGERPRINT: u64 =
        crate::fingerprint::primitive("shmkit::sync::Barrier", size_of::<Barrier>());
}

/// What [`Barrier::wait`] returns: whether this party was the generation's leader.
///
/// # Examples
///
/// ```
/// use shmkit::sync::Barrier;
///
/// let b = Barrier::new(1);
/// assert!(b.wait().is_leader()); // alone, every wait leads
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// `true` for exactly one party of each generation (the last to arrive).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Barrier;
    ///
    /// assert!(Barrier::new(1).wait().is_leader());
    /// ```
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// The most parties a barrier can have: 2^24 − 1. More than Linux can run threads at once
    /// (`pid_max` is at most 2^22), so a larger `n` could never complete anyway; it is treated as
    /// this.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Barrier;
    ///
    /// assert_eq!(Barrier::new(u32::MAX).parties(), Barrier::MAX_PARTIES); // clamped
    /// ```
    pub const MAX_PARTIES: u32 = ARRIVED_MASK;

    /// A barrier for `n` parties. `n == 0` is not a meaningful barrier and is treated as 1 (as
    /// `std` does): every `wait` returns at once. `n` above [`MAX_PARTIES`](Barrier::MAX_PARTIES)
    /// is treated as `MAX_PARTIES`. The same rules apply to whatever value shared memory holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Barrier;
    ///
    /// static START: Barrier = Barrier::new(1);
    /// assert!(START.wait().is_leader());
    /// assert!(Barrier::new(0).wait().is_leader()); // treated as 1
    /// ```
    pub const fn new(n: u32) -> Barrier {
        Barrier {
            parties: AtomicU32::new(n),
            state: AtomicU32::new(0),
            sleepers: Sleepers::new(),
        }
    }

    /// The number of parties, after the rules of [`new`](Barrier::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Barrier;
    ///
    /// assert_eq!(Barrier::new(4).parties(), 4);
    /// assert_eq!(Barrier::new(0).parties(), 1);
    /// ```
    pub fn parties(&self) -> u32 {
        self.parties
            .load(Ordering::Relaxed)
            .clamp(1, Self::MAX_PARTIES)
    }

    /// Waits until all parties of this generation have called `wait`, then returns in all of
    /// them; exactly one gets a result whose [`is_leader`](BarrierWaitResult::is_leader) is
    /// `true`. Everything a party did before its `wait` is visible to every party after theirs.
    ///
    /// A party that dies before arriving makes the others wait for ever (as with any barrier);
    /// one that dies after arriving does not.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use shmkit::sync::Barrier;
    ///
    /// let shared = Arc::new((Barrier::new(2), AtomicU32::new(0)));
    /// let s = Arc::clone(&shared);
    /// let t = std::thread::spawn(move || {
    ///     s.1.fetch_add(1, Ordering::Relaxed);
    ///     s.0.wait();
    /// });
    /// shared.1.fetch_add(1, Ordering::Relaxed);
    /// shared.0.wait();
    /// assert_eq!(shared.1.load(Ordering::Relaxed), 2); // both arrived before either left
    /// # t.join().unwrap();
    /// ```
    pub fn wait(&self) -> BarrierWaitResult {
        let n = self.parties();
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let generation = s >> GEN_SHIFT;
            let arrived = s & ARRIVED_MASK;
            if arrived + 1 >= n {
                let next = (generation.wrapping_add(1) & GEN_MASK) << GEN_SHIFT;
                match self
                    .state
                    .compare_exchange_weak(s, next, Ordering::SeqCst, Ordering::Relaxed)
                {
                    Ok(_) => {
                        if self.sleepers.any() {
                            sys::futex_wake(&self.state, WAKE_ALL);
                        }
                        return BarrierWaitResult(true);
                    }
                    Err(now) => s = now,
                }
            } else {
                match self.state.compare_exchange_weak(
                    s,
                    s + 1,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        self.wait_generation(generation);
                        return BarrierWaitResult(false);
                    }
                    Err(now) => s = now,
                }
            }
        }
    }

    /// Waits until the generation is no longer `generation`.
    #[cold]
    fn wait_generation(&self, generation: u32) {
        let mut backoff = Backoff::new();
        let mut spinning = true;
        loop {
            if self.state.load(Ordering::Acquire) >> GEN_SHIFT != generation {
                return;
            }
            if spinning && backoff.spin() {
                continue;
            }
            // Wake-ups with the generation unchanged come from other arrivals changing the
            // word before we slept: sleep again at once.
            spinning = false;
            self.sleepers.register();
            let s = self.state.load(Ordering::SeqCst);
            if s >> GEN_SHIFT == generation {
                sys::futex_wait(&self.state, s, None);
            }
            self.sleepers.unregister();
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("arrived", &(s & ARRIVED_MASK))
            .field("generation", &(s >> GEN_SHIFT))
            .finish()
    }
}
