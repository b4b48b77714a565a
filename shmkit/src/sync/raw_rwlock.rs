//! [`RawRwLock`]: a robust, process-shared reader-writer lock with writer priority, an
//! upgradable mode and Boost's lock transfers, built on futex words.
#![allow(unsafe_code)]
//!
//! # Layout
//!
//! `repr(C)`, 264 bytes, alignment 4. All zeros is an unlocked lock; any bit pattern is a valid
//! (memory-safe) state.
//!
//! | field   | bytes  | who sleeps on it (futex) |
//! |---------|--------|--------------------------|
//! | `state` | 4      | writers and upgraders waiting for the owner to leave; readers waiting for the gate to open |
//! | `drain` | 4      | the owner waiting for readers to leave; readers waiting for a free slot |
//! | `slots` | 64 × 4 | nobody (scanned, never slept on) |
//!
//! Boost's `interprocess_upgradable_mutex` takes 144 bytes and a single reader counter; the
//! 256 bytes of slots are what makes readers attributable, so that a dead reader's lock can be
//! reclaimed (see [Crashes](#crashes)).
//!
//! # Algorithm: an owner, a gate, and reader slots
//!
//! Writers and upgradable holders exclude each other, so at most one of them, the **owner**, is
//! recorded in `state` by thread id, together with the **gate** bit: set while the owner is a
//! writer (waiting for readers to leave, or holding the lock), clear while it is an upgradable
//! holder. These are Boost's "two gates": a writer first takes ownership with the gate closed
//! (from then on, new readers wait: writers are not starved), then waits until the readers
//! already inside have left. A writer waiting for ownership behind an upgradable holder does not
//! close the gate, as in Boost.
//!
//! Readers are counted in **slots** instead of one counter: a reading thread increments a slot
//! tagged with its thread id (its home slot, a hash of the id, if free or already its own,
//! otherwise the next suitable one), so the lock knows who reads and can reclaim the counts of
//! dead threads. The number of read locks held is the sum of the slots' counts.
//!
//! Readers and the owner meet Dekker-style, with sequentially consistent operations on both sides:
//!
//! * **read lock**: CAS the own slot's count up, then load `state`; if the gate is closed, take
//!   the count back and wait. Uncontended: one CAS and one load, no system call.
//! * **read unlock**: subtract one from the own slot, then load `state`; only if a flag says that
//!   someone sleeps on `drain`, wake it. Uncontended: one atomic subtraction and one load.
//! * **write lock**: CAS `state` from "no owner" to "me, gate closed", then scan the slots; while
//!   any count is non-zero, spin, then sleep on `drain` (setting `DRAIN_PARKED` first).
//! * **write unlock**: CAS `state` back to "no owner"; wake sleepers only if a flag says there are.
//!
//! Either the reader's load sees the closed gate (and the reader backs out) or the writer's scan
//! sees the reader's count (and the writer waits): sequential consistency rules out both missing
//! each other. The same pairing (slot change, then load of the flags; flag set, then scan)
//! guarantees that a leaving reader sees `DRAIN_PARKED` whenever the owner's scan missed its
//! departure, so wake-ups are not lost.
//!
//! A thread that already holds a read lock may take another one even while the gate is closed
//! (its first lock keeps the writer out anyway), so recursive read locking cannot deadlock
//! against a waiting writer.
//!
//! The **upgradable** holder is an owner with the gate open: readers keep coming and going.
//! Transfers:
//!
//! | transfer | how | blocks? |
//! |----------|-----|---------|
//! | write → upgradable | open the gate, keep ownership | never |
//! | write → read | take a slot (ignoring the gate), then give up ownership | never (see below) |
//! | upgradable → read | take a slot, then give up ownership | never (see below) |
//! | upgradable → write | close the gate, then wait for readers to leave; ownership keeps other writers and upgraders out meanwhile | until readers leave |
//! | upgradable → write, try / timed | as above; on failure reopen the gate: still upgradable | no / up to the timeout |
//! | read → write, try | take ownership with the gate closed if nobody owns; succeed if the caller's single read lock is the only one, else give ownership back | no |
//! | read → upgradable, try | take ownership with the gate open if nobody owns, then drop the read lock | no |
//!
//! Taking a slot while owning the lock cannot wait for readers (they are gone, or only
//! upgradable-compatible); it could only wait if all 64 slots were taken, which while the gate is
//! closed means 64 readers caught between their increment and their back-out at once.
//!
//! Waiters spin first ([`Backoff`]), then sleep on a futex with a flag set so the waker knows to
//! make the system call. Sleeps are bounded by the probe interval (1 ms doubling to 50 ms), after
//! which the sleeper checks whether the thread it waits for is still alive.
//!
//! # `state`
//!
//! | bits | meaning | written by |
//! |------|---------|------------|
//! | 0..22 | owner's thread id (writer or upgradable holder); 0: no owner | the owner (CAS in and out); a waiter taking over from a dead owner; a reader removing a dead writer |
//! | 22 `GATE` | the owner is a writer: new readers wait | the owner |
//! | 23 `INCONSISTENT` | an owner died (or panicked) and nobody has marked the data consistent since | whoever takes over from or removes a dead owner; a panicking guard; cleared by [`mark_consistent`](RawRwLock::mark_consistent) |
//! | 24 `READERS_PARKED` | readers may sleep on `state` until the gate opens | a reader, before sleeping; cleared (with a wake-up) by whoever opens the gate |
//! | 25 `OWNERS_PARKED` | writers or upgraders may sleep on `state` until the owner leaves | a waiter, before sleeping; cleared (with a wake-up) by the leaving owner |
//! | 26 `DRAIN_PARKED` | the owner may sleep on `drain` until readers leave | the owner, before sleeping; cleared (with a wake-up) by a leaving reader or a reclaimer of dead readers' slots, or by the owner once drained |
//! | 27 `SLOT_PARKED` | readers may sleep on `drain` until a slot frees | a reader, before sleeping; cleared (with a wake-up) by a leaving reader or a reclaimer |
//! | 28..32 | unused: ignored and preserved | nobody |
//!
//! Thread ids fit in 22 bits because Linux never hands out ids of `PID_MAX_LIMIT` (2²²) or more;
//! a larger id would make the lock panic rather than mis-tag an owner.
//!
//! # `drain`
//!
//! A wake-up counter: a sleeper reads it, sets its flag, re-checks its condition and sleeps
//! while the counter is unchanged; a leaving reader that finds a flag set clears the flags,
//! increments the counter and wakes everybody sleeping on it. Any value is valid.
//!
//! # `slots`
//!
//! 64 words, each `count << 22 | tid`: thread `tid` holds `count` read locks (up to 1023 in one
//! slot; a thread holding more takes a second slot). A slot with count 0 is free, whatever its
//! tid (the last user's, kept so that it finds its home slot again). Written by: a reader taking
//! a free slot (CAS) or changing its own count (only the tagged thread changes a non-free slot);
//! a waiter reclaiming a dead thread's slot (CAS to 0). When all 64 slots are held (64 threads
//! holding read locks on this lock at once), further readers wait until one frees: there is no
//! unattributed overflow counter, so every read lock can be reclaimed.
//!
//! # Crashes
//!
//! What a thread that dies (process killed, or thread exited with a leaked guard) leaves behind:
//!
//! * **Reader** (its slot counts locks it will never release; also if it died between its
//!   increment and its back-out from a closed gate): an owner waiting for readers to leave, or a
//!   reader waiting for a slot, probes the tids of the non-free slots at each probe interval and
//!   CASes dead ones to 0. The data stays marked consistent: readers do not write.
//! * **Upgradable holder** (`state` = tid, gate open): readers are unaffected; the next writer or
//!   upgrader probes the owner, takes over with `INCONSISTENT` set and is told
//!   [`Acquired::OwnerDied`].
//! * **Writer** (`state` = tid | `GATE`, draining or holding): waiting writers and upgraders take
//!   over as above; waiting readers probe the owner too and, finding it dead, clear owner and
//!   gate and set `INCONSISTENT`, so readers are never stuck behind a dead writer. A writer that
//!   died while still waiting for readers never touched the data, but it is reported all the
//!   same (the mark is conservative).
//! * **Any thread between setting a flag and sleeping, or between clearing one and waking**: the
//!   flag causes one unneeded wake-up later, or sleepers wake at their next probe (at most 50 ms)
//!   and re-check.
//!
//! Any garbage is handled the same way: a garbage owner id is probed like a real one; a gate
//! without an owner is an owner that is not alive; a slot of a dead or zero tid is reclaimed.
//!
//! # Limits of the liveness probe
//!
//! As for [`RawMutex`](crate::sync::RawMutex): threads are identified by id, probed with
//! `kill(tid, 0)` and `/proc/<tid>/stat`, so all processes using a lock must share a PID
//! namespace, and a dead holder whose id was reused by a new thread before the probe keeps its
//! lock for as long as that thread lives. Read locks are per thread: a read guard must be dropped
//! on the thread that took it (guards are `!Send`).

use std::fmt;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{AcqRel, Relaxed, Release, SeqCst};
use std::time::{Duration, Instant};

use super::raw_mutex::Acquired;
use super::wait::{Backoff, Deadline};
use crate::shm_safe::ShmSafe;
use crate::sys;

/// Number of reader slots, and its log2.
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;

// `state` bits.
const TID_BITS: u32 = 22;
const TID_MASK: u32 = (1 << TID_BITS) - 1;
const GATE: u32 = 1 << 22;
const INCONSISTENT: u32 = 1 << 23;
const READERS_PARKED: u32 = 1 << 24;
const OWNERS_PARKED: u32 = 1 << 25;
const DRAIN_PARKED: u32 = 1 << 26;
const SLOT_PARKED: u32 = 1 << 27;
/// What an owner's release clears: itself, the gate, and the flags of those it wakes.
const CLEARED_ON_RELEASE: u32 = TID_MASK | GATE | READERS_PARKED | OWNERS_PARKED | DRAIN_PARKED;

// Slot words: `count << TID_BITS | tid`.
const ONE_READER: u32 = 1 << TID_BITS;
const MAX_COUNT: u32 = u32::MAX >> TID_BITS;

/// `futex_wake` count meaning "everybody".
const ALL: u32 = i32::MAX as u32;

/// The first and the longest interval between liveness probes while waiting.
const FIRST_CHECK: Duration = Duration::from_millis(1);
const MAX_CHECK: Duration = Duration::from_millis(50);

/// A robust, process-shared reader-writer lock without data: 264 bytes, placeable in shared
/// memory, zero-initialised.
///
/// Most code wants [`RwLock<T>`](crate::sync::RwLock) or
/// [`UpgradableRwLock<T>`](crate::sync::UpgradableRwLock). `RawRwLock` is their building block
/// and implements the `lock_api` raw traits ([`lock_api::RawRwLock`],
/// [`RawRwLockDowngrade`](lock_api::RawRwLockDowngrade), [`RawRwLockTimed`](lock_api::RawRwLockTimed),
/// [`RawRwLockUpgrade`](lock_api::RawRwLockUpgrade),
/// [`RawRwLockUpgradeDowngrade`](lock_api::RawRwLockUpgradeDowngrade),
/// [`RawRwLockUpgradeTimed`](lock_api::RawRwLockUpgradeTimed)), so
/// `lock_api::RwLock<shmkit::sync::RawRwLock, T>` works too. Through `lock_api`, owner death is
/// not reported: the lock is simply acquired (check [`is_consistent`](RawRwLock::is_consistent)
/// through `lock_api::RwLock::raw` if it matters).
///
/// Three modes: **shared** (readers, any number), **upgradable** (one at a time, alongside
/// readers) and **exclusive** (one writer, nobody else). Writers have priority: once a writer
/// waits for the readers inside to leave, new readers wait. The algorithm, the meaning of every
/// bit and what a crash leaves behind are described in the source of this module.
///
/// Locks are held by threads (identified by thread id): unlock on the thread that locked.
///
/// # Examples
///
/// ```
/// use shmkit::sync::{Acquired, RawRwLock};
///
/// let l = RawRwLock::new();
/// assert_eq!(l.lock_shared(), Acquired::Consistent);
/// assert_eq!(l.lock_shared(), Acquired::Consistent); // readers share
/// assert!(l.try_lock_exclusive().is_none());
/// // SAFETY: this thread holds two read locks.
/// unsafe {
///     l.unlock_shared();
///     l.unlock_shared();
/// }
/// assert!(!l.is_locked());
/// ```
#[repr(C)]
pub struct RawRwLock {
    /// Owner, gate, consistency and sleeper flags (see the module docs).
    state: AtomicU32,
    /// Wake-up counter for the owner draining readers and readers waiting for a slot.
    drain: AtomicU32,
    /// Reader slots: `count << 22 | tid`.
    slots: [AtomicU32; SLOTS],
}

const _: () = assert!(size_of::<RawRwLock>() == 8 + 4 * SLOTS);
const _: () = assert!(align_of::<RawRwLock>() == 4);

// SAFETY: only `AtomicU32`s, for which any bit pattern is valid and which the algorithm accepts
// in any combination (see "Crashes" in the module docs); no pointers (thread ids mean the same
// in every process of one PID namespace); `repr(C)` fixes the layout; no drop glue.
unsafe impl ShmSafe for RawRwLock {
    const FINGERPRINT: u64 =
        crate::fingerprint::primitive("shmkit::sync::RawRwLock", size_of::<RawRwLock>());
}

/// The calling thread's id, which must fit the 22-bit owner and slot fields.
#[inline]
fn current_tid() -> u32 {
    let tid = sys::current_tid();
    if tid > TID_MASK {
        tid_too_large(tid);
    }
    tid
}

#[cold]
#[inline(never)]
fn tid_too_large(tid: u32) -> ! {
    panic!(
        "thread id {tid} does not fit RawRwLock's 22-bit owner field (Linux ids stay below 2^22)"
    )
}

/// The slot a thread tries first.
#[inline]
fn home(tid: u32) -> usize {
    (tid.wrapping_mul(0x9E37_79B9) >> (32 - SLOT_BITS)) as usize
}

#[inline]
fn status(state: u32) -> Acquired {
    if state & INCONSISTENT != 0 {
        Acquired::OwnerDied
    } else {
        Acquired::Consistent
    }
}

/// `state` after `tid` takes ownership in `mode` (`GATE` for a writer, 0 for an upgradable
/// holder) from `v`, which has no live owner.
#[inline]
fn taken(v: u32, tid: u32, mode: u32) -> u32 {
    let cleared = if mode == GATE {
        TID_MASK | DRAIN_PARKED
    } else {
        TID_MASK | GATE | DRAIN_PARKED | READERS_PARKED
    };
    (v & !cleared) | tid | mode
}

/// When a waiter probes for dead holders: after [`FIRST_CHECK`], then at doubling intervals up to
/// [`MAX_CHECK`]. Measured in time rather than in timed-out sleeps, so a stream of unrelated
/// wake-ups cannot postpone the probe forever.
struct Checks {
    interval: Duration,
    next: Option<Instant>,
}

impl Checks {
    fn new() -> Checks {
        Checks {
            interval: FIRST_CHECK,
            next: None,
        }
    }

    /// How long to sleep at most: until the next probe or the deadline.
    fn sleep_for(&mut self, deadline: &Deadline) -> Duration {
        let now = Instant::now();
        let next = *self.next.get_or_insert(now + self.interval);
        deadline.capped(next.saturating_duration_since(now))
    }

    /// Whether a probe is due now; if so, schedules the next one.
    fn due(&mut self) -> bool {
        let now = Instant::now();
        match self.next {
            Some(next) if now >= next => {
                self.interval = (self.interval * 2).min(MAX_CHECK);
                self.next = Some(now + self.interval);
                true
            }
            _ => false,
        }
    }
}

impl RawRwLock {
    /// An unlocked lock (all bits zero).
    ///
    /// # Examples
    ///
    /// ```
    /// static LOCK: shmkit::sync::RawRwLock = shmkit::sync::RawRwLock::new();
    /// assert!(!LOCK.is_locked());
    /// ```
    pub const fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicU32::new(0),
            drain: AtomicU32::new(0),
            slots: [const { AtomicU32::new(0) }; SLOTS],
        }
    }

    // ------------------------------------------------------------------ shared

    /// Acquires a shared (read) lock, waiting as long as it takes: while a writer holds the lock
    /// or waits for readers to leave (unless this thread already holds a read lock), or while all
    /// 64 reader slots are taken. A dead writer is detected and removed.
    ///
    /// Returns [`Acquired::OwnerDied`] while the lock is marked inconsistent (a writer or
    /// upgradable holder died); readers cannot clear the mark.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawRwLock};
    ///
    /// let l = RawRwLock::new();
    /// assert_eq!(l.lock_shared(), Acquired::Consistent);
    /// // SAFETY: this thread holds a read lock.
    /// unsafe { l.unlock_shared() };
    /// ```
    #[inline]
    pub fn lock_shared(&self) -> Acquired {
        let tid = current_tid();
        match self.lock_shared_fast(tid) {
            Some(how) => how,
            None => self
                .lock_shared_slow(tid, Deadline::NEVER)
                .expect("a wait without deadline only returns once locked"),
        }
    }

    /// Acquires a shared lock if that needs no waiting. Does not probe a writer's liveness.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::RawRwLock;
    ///
    /// let l = RawRwLock::new();
    /// l.lock_exclusive();
    /// assert!(l.try_lock_shared().is_none());
    /// // SAFETY: this thread holds the write lock.
    /// unsafe { l.unlock_exclusive() };
    /// assert!(l.try_lock_shared().is_some());
    /// # unsafe { l.unlock_shared() };
    /// ```
    #[inline]
    pub fn try_lock_shared(&self) -> Option<Acquired> {
        let tid = current_tid();
        self.lock_shared_fast(tid)
            .or_else(|| self.try_lock_shared_slow(tid))
    }

    /// Acquires a shared lock, waiting at most `timeout` (monotonic clock). A zero timeout is a
    /// [`try_lock_shared`](RawRwLock::try_lock_shared).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::RawRwLock;
    ///
    /// let l = RawRwLock::new();
    /// assert!(l.lock_shared_timeout(Duration::from_millis(10)).is_some());
    /// # unsafe { l.unlock_shared() };
    /// ```
    pub fn lock_shared_timeout(&self, timeout: Duration) -> Option<Acquired> {
        if timeout.is_zero() {
            return self.try_lock_shared();
        }
        self.lock_shared_deadline(Deadline::after(timeout))
    }

    /// Acquires a shared lock, waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use shmkit::sync::RawRwLock;
    ///
    /// let l = RawRwLock::new();
    /// assert!(l.lock_shared_until(Instant::now() + Duration::from_millis(10)).is_some());
    /// # unsafe { l.unlock_shared() };
    /// ```
    pub fn lock_shared_until(&self, deadline: Instant) -> Option<Acquired> {
        self.lock_shared_deadline(Deadline::at(deadline))
    }

    pub(crate) fn lock_shared_deadline(&self, deadline: Deadline) -> Option<Acquired> {
        let tid = current_tid();
        self.lock_shared_fast(tid)
            .or_else(|| self.lock_shared_slow(tid, deadline))
    }

    /// The uncontended read lock: one CAS on the home slot, one load of `state`. `None` means
    /// "use the slow path" (nothing is held then).
    #[inline]
    fn lock_shared_fast(&self, tid: u32) -> Option<Acquired> {
        let i = home(tid);
        let slot = &self.slots[i];
        let v = slot.load(Relaxed);
        // Past this point, `held` means "held by this thread": other threads' slots bail out.
        let held = v >= ONE_READER;
        let new = if !held {
            tid | ONE_READER
        } else if v & TID_MASK == tid && v >> TID_BITS < MAX_COUNT {
            v + ONE_READER
        } else {
            return None;
        };
        if slot.compare_exchange(v, new, SeqCst, Relaxed).is_err() {
            return None;
        }
        let s = self.state.load(SeqCst);
        if s & (GATE | INCONSISTENT) == 0 {
            return Some(Acquired::Consistent);
        }
        if s & GATE == 0 || held {
            return Some(status(s));
        }
        self.back_out(i);
        None
    }

    /// A reader that found the gate closed after taking its count gives it back.
    #[cold]
    #[inline(never)]
    fn back_out(&self, i: usize) {
        self.release_slot(i);
    }

    #[cold]
    fn try_lock_shared_slow(&self, tid: u32) -> Option<Acquired> {
        if self.state.load(Relaxed) & GATE != 0 && !self.holds_shared(tid) {
            return None;
        }
        let (i, held) = self.claim_slot(tid)?;
        let s = self.state.load(SeqCst);
        if s & GATE == 0 || held {
            return Some(status(s));
        }
        self.release_slot(i);
        None
    }

    #[cold]
    fn lock_shared_slow(&self, tid: u32, deadline: Deadline) -> Option<Acquired> {
        let mut backoff = Backoff::new();
        let mut checks = Checks::new();
        loop {
            let admitted = self.state.load(Relaxed) & GATE == 0 || self.holds_shared(tid);
            if admitted && let Some((i, held)) = self.claim_slot(tid) {
                let s = self.state.load(SeqCst);
                if s & GATE == 0 || held {
                    return Some(status(s));
                }
                // A writer closed the gate meanwhile.
                self.release_slot(i);
                continue;
            }
            if deadline.expired() {
                return None;
            }
            if backoff.spin() {
                continue;
            }
            if admitted {
                // Admitted, but every slot is taken: sleep until a reader leaves.
                self.park_for_slot(tid, &deadline, &mut checks);
            } else {
                let sleep = checks.sleep_for(&deadline);
                let s = self.state.load(Relaxed);
                if s & GATE != 0
                    && (s & READERS_PARKED != 0
                        || self
                            .state
                            .compare_exchange_weak(s, s | READERS_PARKED, Relaxed, Relaxed)
                            .is_ok())
                {
                    sys::futex_wait(&self.state, s | READERS_PARKED, Some(sleep));
                }
                if checks.due() {
                    self.remove_dead_writer();
                }
            }
            backoff.reset();
        }
    }

    /// Releases a shared lock.
    ///
    /// Does nothing if the calling thread holds no read lock on this lock (as in a child process
    /// after `fork`, whose thread id differs from the locker's).
    ///
    /// # Safety
    ///
    /// The calling thread holds a shared lock, which it gives up.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_shared();
    /// // SAFETY: this thread holds a read lock.
    /// unsafe { l.unlock_shared() };
    /// assert!(!l.is_locked());
    /// ```
    #[inline]
    pub unsafe fn unlock_shared(&self) {
        let tid = current_tid();
        let i = home(tid);
        let v = self.slots[i].load(Relaxed);
        if v >= ONE_READER && v & TID_MASK == tid {
            self.release_slot(i);
        } else {
            self.unlock_shared_slow(tid);
        }
    }

    #[cold]
    fn unlock_shared_slow(&self, tid: u32) {
        if let Some(i) = self.slots.iter().position(|s| {
            let v = s.load(Relaxed);
            v >= ONE_READER && v & TID_MASK == tid
        }) {
            self.release_slot(i);
        }
    }

    /// Gives back one read count of slot `i`, which the calling thread holds, and wakes sleepers
    /// on `drain` if there are any.
    #[inline]
    fn release_slot(&self, i: usize) {
        // Only the tagged thread changes a held slot (reclaimers only touch dead threads' slots),
        // so a plain subtraction is enough; SeqCst pairs with the flag setters (module docs).
        self.slots[i].fetch_sub(ONE_READER, SeqCst);
        if self.state.load(SeqCst) & (DRAIN_PARKED | SLOT_PARKED) != 0 {
            self.wake_drain();
        }
    }

    #[cold]
    fn wake_drain(&self) {
        let old = self.state.fetch_and(!(DRAIN_PARKED | SLOT_PARKED), SeqCst);
        if old & (DRAIN_PARKED | SLOT_PARKED) != 0 {
            self.drain.fetch_add(1, SeqCst);
            sys::futex_wake(&self.drain, ALL);
        }
    }

    /// Takes one read count for `tid`, ignoring the gate: increments a slot it already holds, or
    /// takes a free one. Returns the slot and whether `tid` held a read lock before. `None` if
    /// every slot is taken.
    fn claim_slot(&self, tid: u32) -> Option<(usize, bool)> {
        let h = home(tid);
        let mut held = false;
        for k in 0..SLOTS {
            let i = (h + k) % SLOTS;
            let v = self.slots[i].load(Relaxed);
            if v >= ONE_READER && v & TID_MASK == tid {
                held = true;
                if v >> TID_BITS < MAX_COUNT {
                    // Our own slot: nobody else changes it.
                    self.slots[i].fetch_add(ONE_READER, SeqCst);
                    return Some((i, true));
                }
            }
        }
        for k in 0..SLOTS {
            let i = (h + k) % SLOTS;
            let slot = &self.slots[i];
            let mut v = slot.load(Relaxed);
            while v < ONE_READER {
                match slot.compare_exchange_weak(v, tid | ONE_READER, SeqCst, Relaxed) {
                    Ok(_) => return Some((i, held)),
                    Err(now) => v = now,
                }
            }
        }
        None
    }

    /// Whether `tid` holds a read lock.
    fn holds_shared(&self, tid: u32) -> bool {
        self.slots.iter().any(|s| {
            let v = s.load(Relaxed);
            v >= ONE_READER && v & TID_MASK == tid
        })
    }

    /// Whether [`claim_slot`](Self::claim_slot) would find room for `tid`.
    fn has_room(&self, tid: u32) -> bool {
        self.slots.iter().any(|s| {
            let v = s.load(SeqCst);
            v < ONE_READER || (v & TID_MASK == tid && v >> TID_BITS < MAX_COUNT)
        })
    }

    /// One round of waiting for a free slot: announce, re-check, sleep, probe when due.
    fn park_for_slot(&self, tid: u32, deadline: &Deadline, checks: &mut Checks) {
        let sleep = checks.sleep_for(deadline);
        let seq = self.drain.load(SeqCst);
        self.state.fetch_or(SLOT_PARKED, SeqCst);
        if !self.has_room(tid) {
            sys::futex_wait(&self.drain, seq, Some(sleep));
        }
        if checks.due() {
            self.reclaim_dead_readers();
        }
    }

    /// Takes a read count for `tid`, which owns the lock, ignoring the gate.
    fn claim_slot_as_owner(&self, tid: u32) {
        let mut backoff = Backoff::new();
        let mut checks = Checks::new();
        loop {
            if self.claim_slot(tid).is_some() {
                return;
            }
            if !backoff.spin() {
                self.park_for_slot(tid, &Deadline::NEVER, &mut checks);
                backoff.reset();
            }
        }
    }

    /// Whether no read lock is held (a sequentially consistent scan: see the module docs).
    #[inline]
    fn no_readers(&self) -> bool {
        // Branch-free: the counts are all zero iff their bitwise OR is.
        self.slots.iter().fold(0, |all, s| all | s.load(SeqCst)) < ONE_READER
    }

    /// The slot of `tid` if its single read lock is the only one held.
    fn sole_reader(&self, tid: u32) -> Option<usize> {
        let mut found = None;
        for (i, s) in self.slots.iter().enumerate() {
            let v = s.load(SeqCst);
            if v < ONE_READER {
                continue;
            }
            if found.is_none() && v & TID_MASK == tid && v >> TID_BITS == 1 {
                found = Some(i);
            } else {
                return None;
            }
        }
        found
    }

    /// Frees the slots of dead threads; if any was freed, wakes the sleepers on `drain` (an
    /// owner waiting for readers to leave, readers waiting for a slot), as a leaving reader
    /// would.
    fn reclaim_dead_readers(&self) {
        let mut freed = false;
        for s in &self.slots {
            let v = s.load(Relaxed);
            if v >= ONE_READER && !sys::is_alive(v & TID_MASK) {
                freed |= s.compare_exchange(v, 0, SeqCst, Relaxed).is_ok();
            }
        }
        if freed && self.state.load(SeqCst) & (DRAIN_PARKED | SLOT_PARKED) != 0 {
            self.wake_drain();
        }
    }

    /// A reader waiting at a closed gate found its probe due: if the writer is dead (or the gate
    /// has no owner at all), open the gate, mark the data inconsistent and wake the sleepers.
    fn remove_dead_writer(&self) {
        let v = self.state.load(Relaxed);
        if v & GATE == 0 {
            return;
        }
        let owner = v & TID_MASK;
        if owner != 0 && sys::is_alive(owner) {
            return;
        }
        let mut v = self.state.load(Relaxed);
        while v & (GATE | TID_MASK) == GATE | owner {
            match self.state.compare_exchange_weak(
                v,
                (v & !CLEARED_ON_RELEASE) | INCONSISTENT,
                AcqRel,
                Relaxed,
            ) {
                Ok(_) => {
                    if v & (READERS_PARKED | OWNERS_PARKED) != 0 {
                        sys::futex_wake(&self.state, ALL);
                    }
                    return;
                }
                Err(now) => v = now,
            }
        }
    }

    // ------------------------------------------------------------------ ownership

    /// Takes ownership in `mode` (`GATE`: writer; 0: upgradable), waiting for the owner to leave
    /// and taking over from a dead one.
    #[inline]
    fn acquire_owner(&self, tid: u32, mode: u32, deadline: Deadline) -> Option<Acquired> {
        let v = self.state.load(Relaxed);
        if v & TID_MASK == 0
            && self
                .state
                .compare_exchange(v, taken(v, tid, mode), SeqCst, Relaxed)
                .is_ok()
        {
            self.opened_gate(v, mode);
            return Some(status(v));
        }
        self.acquire_owner_slow(tid, mode, deadline)
    }

    #[cold]
    fn acquire_owner_slow(&self, tid: u32, mode: u32, deadline: Deadline) -> Option<Acquired> {
        let mut backoff = Backoff::new();
        let mut checks = Checks::new();
        loop {
            let v = self.state.load(Relaxed);
            let owner = v & TID_MASK;
            if owner == 0 {
                match self
                    .state
                    .compare_exchange_weak(v, taken(v, tid, mode), SeqCst, Relaxed)
                {
                    Ok(_) => {
                        self.opened_gate(v, mode);
                        return Some(status(v));
                    }
                    Err(_) => continue,
                }
            }
            if deadline.expired() {
                return None;
            }
            if backoff.spin() {
                continue;
            }
            let sleep = checks.sleep_for(&deadline);
            if v & OWNERS_PARKED != 0
                || self
                    .state
                    .compare_exchange_weak(v, v | OWNERS_PARKED, Relaxed, Relaxed)
                    .is_ok()
            {
                sys::futex_wait(&self.state, v | OWNERS_PARKED, Some(sleep));
            }
            if checks.due() && !sys::is_alive(owner) {
                // The owner died holding the lock: take it over, marked inconsistent.
                let v = self.state.load(Relaxed);
                if v & TID_MASK == owner
                    && self
                        .state
                        .compare_exchange(v, taken(v, tid, mode) | INCONSISTENT, SeqCst, Relaxed)
                        .is_ok()
                {
                    self.opened_gate(v, mode);
                    return Some(Acquired::OwnerDied);
                }
            }
            backoff.reset();
        }
    }

    /// Takes ownership in `mode` if nobody owns the lock now.
    fn try_acquire_owner(&self, tid: u32, mode: u32) -> Option<Acquired> {
        let mut v = self.state.load(Relaxed);
        loop {
            if v & TID_MASK != 0 {
                return None;
            }
            match self
                .state
                .compare_exchange_weak(v, taken(v, tid, mode), SeqCst, Relaxed)
            {
                Ok(_) => {
                    self.opened_gate(v, mode);
                    return Some(status(v));
                }
                Err(now) => v = now,
            }
        }
    }

    /// After taking ownership as upgradable from `old`: if readers slept at a gate that `old`
    /// had closed (a dead writer's, or garbage), wake them.
    #[inline]
    fn opened_gate(&self, old: u32, mode: u32) {
        if mode == 0 && old & READERS_PARKED != 0 {
            sys::futex_wake(&self.state, ALL);
        }
    }

    /// Gives up ownership held in `mode`, keeping the consistency mark; wakes sleepers on
    /// `state` if there are any.
    #[inline]
    fn release_owner(&self, tid: u32, mode: u32) {
        if self
            .state
            .compare_exchange(tid | mode, 0, Release, Relaxed)
            .is_err()
        {
            self.release_owner_slow(tid);
        }
    }

    #[cold]
    fn release_owner_slow(&self, tid: u32) {
        let mut v = self.state.load(Relaxed);
        loop {
            if v & TID_MASK != tid {
                return; // not ours (a child after fork): nothing to release
            }
            match self
                .state
                .compare_exchange_weak(v, v & !CLEARED_ON_RELEASE, AcqRel, Relaxed)
            {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        if v & (READERS_PARKED | OWNERS_PARKED) != 0 {
            sys::futex_wake(&self.state, ALL);
        }
    }

    /// The owner (gate closed) waits for the readers to leave. `false` if `deadline` passed
    /// first (the caller then still owns the lock, gate closed).
    fn wait_drain(&self, deadline: Deadline) -> bool {
        let mut backoff = Backoff::new();
        let mut checks = Checks::new();
        let mut parked = false;
        let drained = loop {
            if self.no_readers() {
                break true;
            }
            if deadline.expired() {
                break false;
            }
            if backoff.spin() {
                continue;
            }
            let sleep = checks.sleep_for(&deadline);
            let seq = self.drain.load(SeqCst);
            self.state.fetch_or(DRAIN_PARKED, SeqCst);
            parked = true;
            if self.no_readers() {
                break true;
            }
            sys::futex_wait(&self.drain, seq, Some(sleep));
            if checks.due() {
                self.reclaim_dead_readers();
            }
            backoff.reset();
        };
        if parked {
            self.state.fetch_and(!DRAIN_PARKED, Relaxed);
        }
        drained
    }

    /// Opens the gate, keeping ownership (write → upgradable, or a failed upgrade).
    fn reopen_gate(&self) {
        let old = self
            .state
            .fetch_and(!(GATE | READERS_PARKED | DRAIN_PARKED), Release);
        if old & READERS_PARKED != 0 {
            sys::futex_wake(&self.state, ALL);
        }
    }

    // ------------------------------------------------------------------ exclusive

    /// Acquires the exclusive (write) lock, waiting as long as it takes: first for ownership
    /// (while a writer or upgradable holder has it), then, with new readers held back, for the
    /// readers inside to leave. Dead owners and dead readers are detected; taking over from a
    /// dead owner returns [`Acquired::OwnerDied`].
    ///
    /// Deadlocks if the calling thread holds a read lock on this lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawRwLock};
    ///
    /// let l = RawRwLock::new();
    /// assert_eq!(l.lock_exclusive(), Acquired::Consistent);
    /// assert!(l.is_locked_exclusive());
    /// // SAFETY: this thread holds the write lock.
    /// unsafe { l.unlock_exclusive() };
    /// ```
    #[inline]
    pub fn lock_exclusive(&self) -> Acquired {
        self.lock_exclusive_deadline(Deadline::NEVER)
            .expect("a wait without deadline only returns once locked")
    }

    /// Acquires the exclusive lock if nobody holds the lock in any mode now. Probes nobody's
    /// liveness.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_shared();
    /// assert!(l.try_lock_exclusive().is_none());
    /// # unsafe { l.unlock_shared() };
    /// ```
    pub fn try_lock_exclusive(&self) -> Option<Acquired> {
        let tid = current_tid();
        let how = self.try_acquire_owner(tid, GATE)?;
        if self.no_readers() {
            Some(how)
        } else {
            self.release_owner(tid, GATE);
            None
        }
    }

    /// Acquires the exclusive lock, waiting at most `timeout` (monotonic clock). A zero timeout
    /// is a [`try_lock_exclusive`](RawRwLock::try_lock_exclusive).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_shared();
    /// assert!(l.lock_exclusive_timeout(Duration::from_millis(5)).is_none());
    /// # unsafe { l.unlock_shared() };
    /// ```
    pub fn lock_exclusive_timeout(&self, timeout: Duration) -> Option<Acquired> {
        if timeout.is_zero() {
            return self.try_lock_exclusive();
        }
        self.lock_exclusive_deadline(Deadline::after(timeout))
    }

    /// Acquires the exclusive lock, waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let l = shmkit::sync::RawRwLock::new();
    /// assert!(l.lock_exclusive_until(Instant::now() + Duration::from_millis(5)).is_some());
    /// # unsafe { l.unlock_exclusive() };
    /// ```
    pub fn lock_exclusive_until(&self, deadline: Instant) -> Option<Acquired> {
        self.lock_exclusive_deadline(Deadline::at(deadline))
    }

    #[inline]
    pub(crate) fn lock_exclusive_deadline(&self, deadline: Deadline) -> Option<Acquired> {
        let tid = current_tid();
        let how = self.acquire_owner(tid, GATE, deadline)?;
        if self.no_readers() || self.wait_drain(deadline) {
            Some(how)
        } else {
            self.release_owner(tid, GATE);
            None
        }
    }

    /// Releases the exclusive lock, leaving the consistency mark as it is.
    ///
    /// Does nothing if the calling thread does not own the lock.
    ///
    /// # Safety
    ///
    /// The calling thread holds the exclusive lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_exclusive();
    /// // SAFETY: this thread holds the write lock.
    /// unsafe { l.unlock_exclusive() };
    /// assert!(!l.is_locked());
    /// ```
    #[inline]
    pub unsafe fn unlock_exclusive(&self) {
        self.release_owner(current_tid(), GATE);
    }

    // ------------------------------------------------------------------ upgradable

    /// Acquires the upgradable lock, waiting as long as it takes for the writer or the other
    /// upgradable holder to leave (readers do not delay it). Taking over from a dead owner
    /// returns [`Acquired::OwnerDied`].
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_shared();
    /// let _ = l.lock_upgradable(); // alongside the reader
    /// assert!(l.try_lock_upgradable().is_none()); // but one at a time
    /// # unsafe { l.unlock_upgradable(); l.unlock_shared() };
    /// ```
    #[inline]
    pub fn lock_upgradable(&self) -> Acquired {
        self.acquire_owner(current_tid(), 0, Deadline::NEVER)
            .expect("a wait without deadline only returns once locked")
    }

    /// Acquires the upgradable lock if no writer or upgradable holder has the lock now.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// assert!(l.try_lock_upgradable().is_some());
    /// # unsafe { l.unlock_upgradable() };
    /// ```
    pub fn try_lock_upgradable(&self) -> Option<Acquired> {
        self.try_acquire_owner(current_tid(), 0)
    }

    /// Acquires the upgradable lock, waiting at most `timeout`. A zero timeout is a
    /// [`try_lock_upgradable`](RawRwLock::try_lock_upgradable).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_exclusive();
    /// assert!(l.lock_upgradable_timeout(Duration::from_millis(5)).is_none());
    /// # unsafe { l.unlock_exclusive() };
    /// ```
    pub fn lock_upgradable_timeout(&self, timeout: Duration) -> Option<Acquired> {
        if timeout.is_zero() {
            return self.try_lock_upgradable();
        }
        self.lock_upgradable_deadline(Deadline::after(timeout))
    }

    /// Acquires the upgradable lock, waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let l = shmkit::sync::RawRwLock::new();
    /// assert!(l.lock_upgradable_until(Instant::now() + Duration::from_millis(5)).is_some());
    /// # unsafe { l.unlock_upgradable() };
    /// ```
    pub fn lock_upgradable_until(&self, deadline: Instant) -> Option<Acquired> {
        self.lock_upgradable_deadline(Deadline::at(deadline))
    }

    pub(crate) fn lock_upgradable_deadline(&self, deadline: Deadline) -> Option<Acquired> {
        self.acquire_owner(current_tid(), 0, deadline)
    }

    /// Releases the upgradable lock, leaving the consistency mark as it is.
    ///
    /// Does nothing if the calling thread does not own the lock.
    ///
    /// # Safety
    ///
    /// The calling thread holds the upgradable lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_upgradable();
    /// // SAFETY: this thread holds the upgradable lock.
    /// unsafe { l.unlock_upgradable() };
    /// assert!(!l.is_locked());
    /// ```
    #[inline]
    pub unsafe fn unlock_upgradable(&self) {
        self.release_owner(current_tid(), 0);
    }

    // ------------------------------------------------------------------ transfers

    /// Exclusive → shared, atomically (no writer can come in between); never waits for other
    /// threads. Boost's `unlock_and_lock_sharable`.
    ///
    /// # Safety
    ///
    /// The calling thread holds the exclusive lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_exclusive();
    /// // SAFETY: this thread holds the write lock.
    /// unsafe { l.downgrade() };
    /// assert!(!l.is_locked_exclusive());
    /// assert!(l.try_lock_shared().is_some()); // other readers may come in
    /// # unsafe { l.unlock_shared(); l.unlock_shared() };
    /// ```
    pub unsafe fn downgrade(&self) {
        let tid = current_tid();
        self.claim_slot_as_owner(tid);
        self.release_owner(tid, GATE);
    }

    /// Exclusive → upgradable: readers may come in again, other writers and upgraders still
    /// wait. Never waits. Boost's `unlock_and_lock_upgradable`.
    ///
    /// # Safety
    ///
    /// The calling thread holds the exclusive lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_exclusive();
    /// // SAFETY: this thread holds the write lock.
    /// unsafe { l.downgrade_to_upgradable() };
    /// assert!(l.try_lock_upgradable().is_none());
    /// # unsafe { l.unlock_upgradable() };
    /// ```
    pub unsafe fn downgrade_to_upgradable(&self) {
        self.reopen_gate();
    }

    /// Upgradable → shared, atomically; never waits for other threads. Boost's
    /// `unlock_upgradable_and_lock_sharable`.
    ///
    /// # Safety
    ///
    /// The calling thread holds the upgradable lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_upgradable();
    /// // SAFETY: this thread holds the upgradable lock.
    /// unsafe { l.downgrade_upgradable() };
    /// assert!(l.try_lock_upgradable().is_some()); // free for another upgrader
    /// # unsafe { l.unlock_upgradable(); l.unlock_shared() };
    /// ```
    pub unsafe fn downgrade_upgradable(&self) {
        let tid = current_tid();
        self.claim_slot_as_owner(tid);
        self.release_owner(tid, 0);
    }

    /// Upgradable → exclusive: closes the gate to new readers and waits for the readers inside
    /// to leave, keeping other writers and upgraders out all along. Boost's
    /// `unlock_upgradable_and_lock`.
    ///
    /// Deadlocks if the calling thread itself holds a read lock on this lock.
    ///
    /// # Safety
    ///
    /// The calling thread holds the upgradable lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_upgradable();
    /// // SAFETY: this thread holds the upgradable lock.
    /// unsafe { l.upgrade() };
    /// assert!(l.is_locked_exclusive());
    /// # unsafe { l.unlock_exclusive() };
    /// ```
    pub unsafe fn upgrade(&self) {
        self.state.fetch_or(GATE, SeqCst);
        if !self.no_readers() {
            self.wait_drain(Deadline::NEVER);
        }
    }

    /// Upgradable → exclusive if no reader holds the lock now; otherwise keeps the upgradable
    /// lock and returns `false`. Boost's `try_unlock_upgradable_and_lock`.
    ///
    /// # Safety
    ///
    /// The calling thread holds the upgradable lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_upgradable();
    /// // SAFETY: this thread holds the upgradable lock.
    /// assert!(unsafe { l.try_upgrade() });
    /// # unsafe { l.unlock_exclusive() };
    /// ```
    pub unsafe fn try_upgrade(&self) -> bool {
        self.state.fetch_or(GATE, SeqCst);
        if self.no_readers() {
            true
        } else {
            self.reopen_gate();
            false
        }
    }

    /// Upgradable → exclusive, waiting at most `timeout` for readers to leave; on timeout keeps
    /// the upgradable lock and returns `false`. Boost's `timed_unlock_upgradable_and_lock`.
    ///
    /// # Safety
    ///
    /// The calling thread holds the upgradable lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_upgradable();
    /// // SAFETY: this thread holds the upgradable lock.
    /// assert!(unsafe { l.upgrade_timeout(Duration::from_millis(5)) });
    /// # unsafe { l.unlock_exclusive() };
    /// ```
    pub unsafe fn upgrade_timeout(&self, timeout: Duration) -> bool {
        if timeout.is_zero() {
            // SAFETY: the caller holds the upgradable lock.
            return unsafe { self.try_upgrade() };
        }
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.upgrade_deadline(Deadline::after(timeout)) }
    }

    /// Upgradable → exclusive, waiting until `deadline` at most; see
    /// [`upgrade_timeout`](RawRwLock::upgrade_timeout).
    ///
    /// # Safety
    ///
    /// The calling thread holds the upgradable lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_upgradable();
    /// // SAFETY: this thread holds the upgradable lock.
    /// assert!(unsafe { l.upgrade_until(Instant::now() + Duration::from_millis(5)) });
    /// # unsafe { l.unlock_exclusive() };
    /// ```
    pub unsafe fn upgrade_until(&self, deadline: Instant) -> bool {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.upgrade_deadline(Deadline::at(deadline)) }
    }

    /// Upgradable → exclusive, waiting until `deadline` at most.
    ///
    /// # Safety
    ///
    /// The calling thread holds the upgradable lock.
    pub(crate) unsafe fn upgrade_deadline(&self, deadline: Deadline) -> bool {
        self.state.fetch_or(GATE, SeqCst);
        if self.no_readers() || self.wait_drain(deadline) {
            true
        } else {
            self.reopen_gate();
            false
        }
    }

    /// Shared → exclusive if the caller's read lock is the only lock held in any mode (one read
    /// lock by this thread, no other reader, no writer or upgradable holder); otherwise keeps
    /// the read lock and returns `false`. Never waits. Boost's `try_unlock_sharable_and_lock`.
    ///
    /// The consistency mark is not re-reported: check [`is_consistent`](RawRwLock::is_consistent)
    /// if an owner may have died since the read lock was taken.
    ///
    /// # Safety
    ///
    /// The calling thread holds a shared lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_shared();
    /// // SAFETY: this thread holds a read lock.
    /// assert!(unsafe { l.try_upgrade_shared() });
    /// assert!(l.is_locked_exclusive());
    /// # unsafe { l.unlock_exclusive() };
    /// ```
    pub unsafe fn try_upgrade_shared(&self) -> bool {
        let tid = current_tid();
        if self.try_acquire_owner(tid, GATE).is_none() {
            return false;
        }
        match self.sole_reader(tid) {
            Some(i) => {
                self.release_slot(i);
                true
            }
            None => {
                self.release_owner(tid, GATE);
                false
            }
        }
    }

    /// Shared → upgradable if no writer or upgradable holder has the lock now; otherwise keeps
    /// the read lock and returns `false`. Never waits. Boost's
    /// `try_unlock_sharable_and_lock_upgradable`.
    ///
    /// # Safety
    ///
    /// The calling thread holds a shared lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_shared();
    /// // SAFETY: this thread holds a read lock.
    /// assert!(unsafe { l.try_upgrade_shared_to_upgradable() });
    /// assert!(l.try_lock_upgradable().is_none());
    /// # unsafe { l.unlock_upgradable() };
    /// ```
    pub unsafe fn try_upgrade_shared_to_upgradable(&self) -> bool {
        let tid = current_tid();
        if self.try_acquire_owner(tid, 0).is_none() {
            return false;
        }
        // SAFETY: the caller holds a read lock, which the upgradable lock now replaces.
        unsafe { self.unlock_shared() };
        true
    }

    // ------------------------------------------------------------------ consistency, snapshots

    /// Marks the protected data consistent again after an [`Acquired::OwnerDied`]: later lockers
    /// get [`Acquired::Consistent`].
    ///
    /// # Safety
    ///
    /// The calling thread holds the exclusive or the upgradable lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_exclusive();
    /// // SAFETY: this thread holds the write lock.
    /// unsafe {
    ///     l.mark_inconsistent();
    ///     l.mark_consistent();
    ///     l.unlock_exclusive();
    /// }
    /// assert!(l.is_consistent());
    /// ```
    pub unsafe fn mark_consistent(&self) {
        self.state.fetch_and(!INCONSISTENT, Relaxed);
    }

    /// Marks the protected data inconsistent, as if the owner had died (used when a write or
    /// upgradable guard is dropped during a panic).
    ///
    /// # Safety
    ///
    /// The calling thread holds the exclusive or the upgradable lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawRwLock};
    ///
    /// let l = RawRwLock::new();
    /// let _ = l.lock_exclusive();
    /// // SAFETY: this thread holds the write lock.
    /// unsafe {
    ///     l.mark_inconsistent();
    ///     l.unlock_exclusive();
    /// }
    /// assert_eq!(l.lock_shared(), Acquired::OwnerDied);
    /// # unsafe { l.unlock_shared() };
    /// ```
    pub unsafe fn mark_inconsistent(&self) {
        self.state.fetch_or(INCONSISTENT, Relaxed);
    }

    /// Whether the lock is held in any mode (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// assert!(!l.is_locked());
    /// let _ = l.lock_upgradable();
    /// assert!(l.is_locked());
    /// # unsafe { l.unlock_upgradable() };
    /// ```
    pub fn is_locked(&self) -> bool {
        self.state.load(Relaxed) & TID_MASK != 0 || self.reader_count() != 0
    }

    /// Whether a writer holds the lock, or owns it and waits for readers to leave (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_shared();
    /// assert!(!l.is_locked_exclusive());
    /// # unsafe { l.unlock_shared() };
    /// ```
    pub fn is_locked_exclusive(&self) -> bool {
        let v = self.state.load(Relaxed);
        v & GATE != 0 && v & TID_MASK != 0
    }

    /// Whether the data is marked consistent (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::sync::RawRwLock::new().is_consistent());
    /// ```
    pub fn is_consistent(&self) -> bool {
        self.state.load(Relaxed) & INCONSISTENT == 0
    }

    /// How many read locks are held, by all threads together (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RawRwLock::new();
    /// let _ = l.lock_shared();
    /// let _ = l.lock_shared();
    /// assert_eq!(l.reader_count(), 2);
    /// # unsafe { l.unlock_shared(); l.unlock_shared() };
    /// ```
    pub fn reader_count(&self) -> u32 {
        self.slots.iter().map(|s| s.load(Relaxed) >> TID_BITS).sum()
    }
}

/// A reader-writer lock's words taken apart, for [`crate::inspect`], which reads other
/// processes' locks without using them. Any words decode (every bit pattern is a state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RwLockState {
    /// The owner's thread id (a writer or the upgradable holder); 0: no owner.
    pub(crate) owner: u32,
    /// The gate is closed: the owner is a writer (holding, or waiting for readers to leave).
    pub(crate) gate: bool,
    /// An owner died (or panicked) and nobody marked the data consistent since.
    pub(crate) inconsistent: bool,
    /// The non-free reader slots: `(thread id, read locks held)`.
    pub(crate) readers: Vec<(u32, u32)>,
}

impl RwLockState {
    /// How many 32-bit words a `RawRwLock` has: `state`, `drain`, then the reader slots.
    pub(crate) const WORDS: usize = 2 + SLOTS;

    /// The state `words` (a `RawRwLock`'s words in order; missing words read as zero) hold.
    pub(crate) fn decode(words: &[u32]) -> RwLockState {
        let state = words.first().copied().unwrap_or(0);
        let readers = words
            .iter()
            .skip(2)
            .take(SLOTS)
            .map(|&slot| (slot & TID_MASK, slot >> TID_BITS))
            .filter(|&(_, count)| count != 0)
            .collect();
        RwLockState {
            owner: state & TID_MASK,
            gate: state & GATE != 0,
            inconsistent: state & INCONSISTENT != 0,
            readers,
        }
    }
}

impl Default for RawRwLock {
    fn default() -> RawRwLock {
        RawRwLock::new()
    }
}

impl fmt::Debug for RawRwLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.state.load(Relaxed);
        f.debug_struct("RawRwLock")
            .field("owner", &(v & TID_MASK))
            .field("writer", &(v & GATE != 0))
            .field("readers", &self.reader_count())
            .field("consistent", &(v & INCONSISTENT == 0))
            .finish()
    }
}

// ---------------------------------------------------------------------- lock_api

// SAFETY: shared and exclusive locking exclude as a reader-writer lock must (module docs), with
// Acquire ordering on acquisition and Release on release. Locks belong to threads (owner and
// slot tags are thread ids), so guards may not be sent: `GuardNoSend`.
unsafe impl lock_api::RawRwLock for RawRwLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawRwLock = RawRwLock::new();
    type GuardMarker = lock_api::GuardNoSend;

    fn lock_shared(&self) {
        let _ = RawRwLock::lock_shared(self);
    }

    fn try_lock_shared(&self) -> bool {
        RawRwLock::try_lock_shared(self).is_some()
    }

    unsafe fn unlock_shared(&self) {
        // SAFETY: lock_api only unlocks a read lock held by this thread.
        unsafe { RawRwLock::unlock_shared(self) }
    }

    fn lock_exclusive(&self) {
        let _ = RawRwLock::lock_exclusive(self);
    }

    fn try_lock_exclusive(&self) -> bool {
        RawRwLock::try_lock_exclusive(self).is_some()
    }

    unsafe fn unlock_exclusive(&self) {
        // SAFETY: lock_api only unlocks a write lock held by this thread.
        unsafe { RawRwLock::unlock_exclusive(self) }
    }

    fn is_locked(&self) -> bool {
        RawRwLock::is_locked(self)
    }

    fn is_locked_exclusive(&self) -> bool {
        RawRwLock::is_locked_exclusive(self)
    }
}

// SAFETY: `downgrade` turns the write lock into a read lock without letting a writer in between.
unsafe impl lock_api::RawRwLockDowngrade for RawRwLock {
    unsafe fn downgrade(&self) {
        // SAFETY: lock_api calls this with the write lock held by this thread.
        unsafe { RawRwLock::downgrade(self) }
    }
}

// SAFETY: the timed variants keep the guarantees of the blocking ones.
unsafe impl lock_api::RawRwLockTimed for RawRwLock {
    type Duration = Duration;
    type Instant = Instant;

    fn try_lock_shared_for(&self, timeout: Duration) -> bool {
        self.lock_shared_timeout(timeout).is_some()
    }

    fn try_lock_shared_until(&self, timeout: Instant) -> bool {
        self.lock_shared_until(timeout).is_some()
    }

    fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
        self.lock_exclusive_timeout(timeout).is_some()
    }

    fn try_lock_exclusive_until(&self, timeout: Instant) -> bool {
        self.lock_exclusive_until(timeout).is_some()
    }
}

// SAFETY: one upgradable holder at a time, alongside readers only; `upgrade` waits for readers to
// leave while keeping other writers and upgraders out.
unsafe impl lock_api::RawRwLockUpgrade for RawRwLock {
    fn lock_upgradable(&self) {
        let _ = RawRwLock::lock_upgradable(self);
    }

    fn try_lock_upgradable(&self) -> bool {
        RawRwLock::try_lock_upgradable(self).is_some()
    }

    unsafe fn unlock_upgradable(&self) {
        // SAFETY: lock_api only unlocks an upgradable lock held by this thread.
        unsafe { RawRwLock::unlock_upgradable(self) }
    }

    unsafe fn upgrade(&self) {
        // SAFETY: lock_api calls this with the upgradable lock held by this thread.
        unsafe { RawRwLock::upgrade(self) }
    }

    unsafe fn try_upgrade(&self) -> bool {
        // SAFETY: as for `upgrade`.
        unsafe { RawRwLock::try_upgrade(self) }
    }
}

// SAFETY: both transfers are atomic with respect to other lockers (module docs).
unsafe impl lock_api::RawRwLockUpgradeDowngrade for RawRwLock {
    unsafe fn downgrade_upgradable(&self) {
        // SAFETY: lock_api calls this with the upgradable lock held by this thread.
        unsafe { RawRwLock::downgrade_upgradable(self) }
    }

    unsafe fn downgrade_to_upgradable(&self) {
        // SAFETY: lock_api calls this with the write lock held by this thread.
        unsafe { RawRwLock::downgrade_to_upgradable(self) }
    }
}

// SAFETY: the timed variants keep the guarantees of the blocking ones; a failed timed upgrade
// leaves the upgradable lock held.
unsafe impl lock_api::RawRwLockUpgradeTimed for RawRwLock {
    fn try_lock_upgradable_for(&self, timeout: Duration) -> bool {
        self.lock_upgradable_timeout(timeout).is_some()
    }

    fn try_lock_upgradable_until(&self, timeout: Instant) -> bool {
        self.lock_upgradable_until(timeout).is_some()
    }

    unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        // SAFETY: lock_api calls this with the upgradable lock held by this thread.
        unsafe { RawRwLock::upgrade_timeout(self, timeout) }
    }

    unsafe fn try_upgrade_until(&self, timeout: Instant) -> bool {
        // SAFETY: as above.
        unsafe { RawRwLock::upgrade_until(self, timeout) }
    }
}
