//! The queue's algorithms over a [`View`]: locking with repair, the buckets, the free list,
//! waiting (spin, then sleep on an event word) and the reclaim pass.
//!
//! Every function that reads an index from shared memory checks it; a value that breaks an
//! invariant makes the operation fail with [`ErrorKind::Corrupted`] and marks the queue lock
//! inconsistent, so the next operation rebuilds the queue from its slot states
//! ([`Core::repair`]) before it proceeds.
#![allow(unsafe_code)]

use std::cmp::Reverse;
use std::sync::atomic::{AtomicU32, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::time::Duration;

use super::shared::{self, BucketPos, Control, NIL, READY, Slot, State, View};
use crate::error::{Error, ErrorKind, Result};
use crate::sync::Acquired;
use crate::sync::wait::{Backoff, Deadline};
use crate::sys::{self, FutexWait};

/// Messages up to this many bytes are copied inside one critical section; longer ones are
/// reserved (or taken) under the lock, copied outside it, and committed (or freed) under the
/// lock, so the sender's copy and the receiver's copy can overlap instead of queueing on the
/// lock. Measured with one producer and one consumer process (ARCHITECTURE.md, "Operations"):
/// a 4 KiB stream takes about half the time with the copies outside the lock; 64 B messages are
/// faster with one critical section per operation.
pub(super) const COPY_IN_LOCK_MAX: usize = 2048;

/// The first and the longest interval between reclaim passes of a waiter that sleeps.
const FIRST_CHECK: Duration = Duration::from_millis(1);
const MAX_CHECK: Duration = Duration::from_millis(50);

/// How long an operation may wait.
#[derive(Debug, Clone, Copy)]
pub(super) enum Wait {
    /// Not at all for space or messages (the lock is still waited for: it is held briefly, and
    /// a dead holder is detected).
    No,
    /// As long as it takes.
    Forever,
    /// Until the deadline, for the lock as for space or messages.
    Until(Deadline),
}

impl Wait {
    pub(super) fn timeout(timeout: Duration) -> Wait {
        Wait::Until(Deadline::after(timeout))
    }
}

/// The two conditions waiters sleep on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    NotEmpty = 1,
    NotFull = 2,
}

/// The queue lock, held; unlocks (and then wakes the sleepers a notify found) on drop.
struct Locked<'a> {
    control: &'a Control,
    /// The holder's thread id (low half) and the events to wake after unlocking (high half), in
    /// one word: written and read whole, so moving the guard never splits a store (which costs
    /// a store-forwarding stall on every operation).
    bits: u64,
}

impl Locked<'_> {
    #[inline(always)]
    fn tid(&self) -> u32 {
        self.bits as u32
    }

    #[inline(always)]
    fn wake_after_unlock(&mut self, ev: Event) {
        self.bits |= (ev as u64) << 32;
    }

    #[cold]
    fn wake_slow(&self, wake: u8) {
        if wake & Event::NotEmpty as u8 != 0 {
            sys::futex_wake(&self.control.not_empty_seq, i32::MAX as u32);
        }
        if wake & Event::NotFull as u8 != 0 {
            sys::futex_wake(&self.control.not_full_seq, i32::MAX as u32);
        }
    }
}

impl Drop for Locked<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: a Locked exists only while this thread (id `tid`) holds the lock.
        unsafe { self.control.lock.unlock_as(self.tid()) };
        let wake = (self.bits >> 32) as u8;
        if wake != 0 {
            self.wake_slow(wake);
        }
    }
}

/// A message at the head of the queue, found under the lock.
#[derive(Debug, Clone, Copy)]
struct Head {
    slot: Slot,
    len: usize,
    priority: u32,
}

/// A message taken off the queue for reading outside the lock (state `READING|tid`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Taken {
    pub(super) slot: Slot,
    pub(super) tid: u32,
    pub(super) len: usize,
    pub(super) priority: u32,
}

/// A slot reserved for writing outside the lock (state `WRITING|tid`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Reserved {
    pub(super) slot: Slot,
    pub(super) tid: u32,
}

/// One queue's algorithms; shared by every front end (named, anonymous, typed).
#[derive(Debug)]
pub(super) struct Core {
    view: View,
    /// "message queue `name`" or "anonymous message queue", for error messages.
    label: Box<str>,
}

impl Core {
    pub(super) fn new(view: View, label: String) -> Core {
        Core {
            view,
            label: label.into_boxed_str(),
        }
    }

    pub(super) fn view(&self) -> &View {
        &self.view
    }

    pub(super) fn capacity(&self) -> usize {
        self.view.geometry().max_msgs as usize
    }

    pub(super) fn max_msg_size(&self) -> usize {
        self.view.geometry().max_msg_size as usize
    }

    /// Messages in the queue (a snapshot, read without the lock).
    pub(super) fn len(&self) -> usize {
        let n = self.view.control().count.load(Relaxed) as usize;
        n.min(self.capacity())
    }

    fn too_large(&self, len: usize) -> Error {
        Error::new(
            ErrorKind::MessageTooLarge,
            format!(
                "{}: a {len}-byte message exceeds the maximum message size of {} bytes",
                self.label,
                self.max_msg_size()
            ),
        )
    }

    // ------------------------------------------------------------------------ locking

    /// Takes the queue lock (repairing the queue if its previous holder died or found it
    /// corrupt); `None` if `wait` ran out first.
    #[inline(always)]
    fn lock(&self, tid: u32, wait: Wait) -> Option<Locked<'_>> {
        let control = self.view.control();
        let how = match wait {
            Wait::No | Wait::Forever => control.lock.lock_as(tid),
            Wait::Until(d) => control.lock.lock_deadline(d)?,
        };
        let mut g = Locked {
            control,
            bits: u64::from(tid),
        };
        if how == Acquired::OwnerDied {
            self.repair(&mut g);
            // SAFETY: we hold the lock.
            unsafe { control.lock.mark_consistent() };
        }
        Some(g)
    }

    /// Reports corrupt state found under the lock: marks the lock inconsistent (the next locker
    /// repairs) and returns the error.
    #[cold]
    fn corrupt(&self, _g: &Locked<'_>, why: &str) -> Error {
        // SAFETY: `_g` proves this thread holds the lock.
        unsafe { self.view.control().lock.mark_inconsistent() };
        Error::new(
            ErrorKind::Corrupted,
            format!(
                "{}: {why}; the queue will be rebuilt from its slots by the next operation",
                self.label
            ),
        )
    }

    /// Records that a waiter on `ev` must be woken (after the unlock), if one may sleep.
    #[inline(always)]
    fn notify(&self, g: &mut Locked<'_>, ev: Event) {
        let (seq, sleepers) = self.event(ev);
        if sleepers.load(Relaxed) != 0 {
            sleepers.store(0, Relaxed);
            seq.store(seq.load(Relaxed).wrapping_add(1), Relaxed);
            g.wake_after_unlock(ev);
        }
    }

    #[inline(always)]
    fn event(&self, ev: Event) -> (&AtomicU32, &AtomicU32) {
        let c = self.view.control();
        match ev {
            Event::NotEmpty => (&c.not_empty_seq, &c.not_empty_sleepers),
            Event::NotFull => (&c.not_full_seq, &c.not_full_sleepers),
        }
    }

    /// Whether `ev` may hold now (read without the lock, to end a spin).
    #[inline(always)]
    fn hint(&self, ev: Event) -> bool {
        let c = self.view.control();
        match ev {
            Event::NotEmpty => c.count.load(Relaxed) != 0,
            Event::NotFull => c.free_count.load(Relaxed) != 0,
        }
    }

    // ------------------------------------------------------------------------ waiting

    /// Runs `attempt` under the lock until it yields a value, waiting for `ev` in between as
    /// `wait` allows. `Ok(None)`: the wait ran out.
    #[inline(always)]
    fn wait_for<T>(
        &self,
        ev: Event,
        wait: Wait,
        mut attempt: impl FnMut(&mut Locked<'_>) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let tid = sys::current_tid();
        {
            let Some(mut g) = self.lock(tid, wait) else {
                return Ok(None);
            };
            if let Some(v) = attempt(&mut g)? {
                return Ok(Some(v));
            }
        }
        match wait {
            Wait::No => Ok(None),
            Wait::Forever => self.wait_slow(ev, tid, wait, Deadline::NEVER, attempt),
            Wait::Until(deadline) => self.wait_slow(ev, tid, wait, deadline, attempt),
        }
    }

    #[cold]
    fn wait_slow<T>(
        &self,
        ev: Event,
        tid: u32,
        wait: Wait,
        deadline: Deadline,
        mut attempt: impl FnMut(&mut Locked<'_>) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let mut backoff = Backoff::new();
        let mut spinning = true;
        let mut interval = FIRST_CHECK;
        loop {
            if deadline.expired() {
                return Ok(None);
            }
            if spinning {
                // Spin outside the lock, watching the hint, for one spin budget.
                loop {
                    if !backoff.spin() {
                        spinning = false;
                        break;
                    }
                    if self.hint(ev) || deadline.expired() {
                        break;
                    }
                }
            }
            let Some(mut g) = self.lock(tid, wait) else {
                return Ok(None);
            };
            if let Some(v) = attempt(&mut g)? {
                return Ok(Some(v));
            }
            if spinning {
                continue;
            }
            // Register as a sleeper and read the event word under the lock: any later notify
            // (also under the lock) changes the word, so the futex wait cannot miss it.
            let (seq, sleepers) = self.event(ev);
            sleepers.store(1, Relaxed);
            let expected = seq.load(Relaxed);
            drop(g);
            let slept = sys::futex_wait(seq, expected, Some(deadline.capped(interval)));
            if slept == FutexWait::TimedOut && !deadline.expired() {
                // Nothing happened for a check interval: perhaps a process died holding a slot
                // outside the lock.
                interval = (interval * 2).min(MAX_CHECK);
                self.reclaim(tid, wait);
            }
            backoff.reset();
            spinning = true;
        }
    }

    // ------------------------------------------------------------------------ free list

    /// Takes the first slot of the free list, and prefetches the one after it (the next send's,
    /// unless a receiver frees one at the front meanwhile).
    #[inline(always)]
    fn pop_free(&self, g: &Locked<'_>) -> Result<Option<Slot>> {
        let c = self.view.control();
        let free = c.free_count.load(Relaxed);
        if free == 0 {
            return Ok(None);
        }
        if free > self.view.geometry().max_msgs {
            return Err(self.corrupt(g, &format!("free count {free} exceeds the capacity")));
        }
        let raw = c.free_head.load(Relaxed);
        let slot = self.checked(g, raw, "free")?;
        let h = self.view.header(slot);
        if h.state.load(Relaxed) != shared::FREE {
            return Err(self.corrupt(g, &format!("slot {raw} is on the free list but in use")));
        }
        // The link is checked when it is used, by the next pop.
        let next = h.next.load(Relaxed);
        c.free_head.store(next, Relaxed);
        c.free_count.store(free - 1, Relaxed);
        self.view.prefetch(next);
        Ok(Some(slot))
    }

    /// Puts `slot` on the free list: at the back (`front == false`: slots then rotate, so a
    /// sender's next slot is predictable and prefetched, and was last touched long ago), or at
    /// the front (`front == true`: the next sender reuses it at once; for slots read in place,
    /// most of whose lines are still in the cache of the sender that wrote them).
    #[inline(always)]
    fn push_free(&self, g: &Locked<'_>, slot: Slot, front: bool) -> Result<()> {
        let c = self.view.control();
        let free = c.free_count.load(Relaxed);
        if free >= self.view.geometry().max_msgs {
            return Err(self.corrupt(
                g,
                &format!("free count {free} leaves no room to free a slot"),
            ));
        }
        let h = self.view.header(slot);
        h.state.store(shared::FREE, Release);
        if free == 0 {
            h.next.store(NIL, Relaxed);
            c.free_head.store(slot.raw(), Relaxed);
            c.free_tail.store(slot.raw(), Relaxed);
        } else if front {
            h.next.store(c.free_head.load(Relaxed), Relaxed);
            c.free_head.store(slot.raw(), Relaxed);
        } else {
            let tail = self.checked(g, c.free_tail.load(Relaxed), "free list tail")?;
            h.next.store(NIL, Relaxed);
            self.view.header(tail).next.store(slot.raw(), Relaxed);
            c.free_tail.store(slot.raw(), Relaxed);
        }
        c.free_count.store(free + 1, Relaxed);
        Ok(())
    }

    // ------------------------------------------------------------------------ buckets

    /// The ring position of bucket `k`, checked.
    #[inline(always)]
    fn pos(&self, g: &Locked<'_>, first: u32, k: u32) -> Result<BucketPos> {
        self.view.bucket_pos(first, k).ok_or_else(|| {
            self.corrupt(g, &format!("bucket position {first} + {k} is out of range"))
        })
    }

    /// Slot number `raw` read from shared memory, checked.
    #[inline(always)]
    fn checked(&self, g: &Locked<'_>, raw: u32, what: &str) -> Result<Slot> {
        self.view
            .slot(raw)
            .ok_or_else(|| self.corrupt(g, &format!("{what} slot number {raw} is out of range")))
    }

    /// The queue's head message, checked; `None` if the queue is empty.
    #[inline(always)]
    fn peek(&self, g: &Locked<'_>) -> Result<Option<Head>> {
        let c = self.view.control();
        let n = self.view.geometry().max_msgs;
        let count = c.count.load(Relaxed);
        let buckets = c.bucket_count.load(Relaxed);
        if buckets == 0 {
            if count != 0 {
                return Err(self.corrupt(g, &format!("{count} messages but no priority bucket")));
            }
            return Ok(None);
        }
        if count > n || buckets > count {
            return Err(self.corrupt(
                g,
                &format!("{count} messages in {buckets} buckets (capacity {n})"),
            ));
        }
        let raw = c.head.load(Relaxed);
        let slot = self.checked(g, raw, "queue head")?;
        let h = self.view.header(slot);
        if h.state.load(Acquire) != READY {
            return Err(self.corrupt(g, &format!("queued slot {raw} holds no message")));
        }
        let len = h.len.load(Relaxed) as usize;
        if len > self.max_msg_size() {
            return Err(self.corrupt(g, &format!("queued slot {raw} records {len} bytes")));
        }
        Ok(Some(Head {
            slot,
            len,
            priority: h.priority.load(Relaxed),
        }))
    }

    /// Removes the head message (found by `peek` under the same lock) from its bucket.
    #[inline(always)]
    fn unlink_head(&self, g: &Locked<'_>, head: Head) -> Result<()> {
        let c = self.view.control();
        let buckets = c.bucket_count.load(Relaxed);
        let first = c.bucket_first.load(Relaxed);
        let first_pos = self.pos(g, first, 0)?;
        let first_tail = if buckets == 1 {
            c.tail.load(Relaxed)
        } else {
            self.view.bucket(first_pos).tail.load(Relaxed)
        };
        if first_tail == head.slot.raw() {
            // The bucket's last message: drop the bucket.
            if buckets == 1 {
                c.head.store(NIL, Relaxed);
                c.tail.store(NIL, Relaxed);
            } else {
                let next = self.view.bucket_after(first_pos);
                c.bucket_first.store(self.view.bucket_index(next), Relaxed);
                // Checked when used, by the next peek.
                c.head
                    .store(self.view.bucket(next).head.load(Relaxed), Relaxed);
            }
            c.bucket_count.store(buckets - 1, Relaxed);
        } else {
            let next = self.view.header(head.slot).next.load(Relaxed);
            c.head.store(next, Relaxed);
            // The next receive's message.
            self.view.prefetch(next);
        }
        c.count.store(c.count.load(Relaxed) - 1, Relaxed);
        Ok(())
    }

    fn set_bucket(&self, pos: BucketPos, priority: u32, slot: Slot) {
        let b = self.view.bucket(pos);
        b.priority.store(priority, Relaxed);
        b.head.store(slot.raw(), Relaxed);
        b.tail.store(slot.raw(), Relaxed);
    }

    fn move_bucket(&self, from: BucketPos, to: BucketPos) {
        let (a, b) = (self.view.bucket(from), self.view.bucket(to));
        b.priority.store(a.priority.load(Relaxed), Relaxed);
        b.head.store(a.head.load(Relaxed), Relaxed);
        b.tail.store(a.tail.load(Relaxed), Relaxed);
    }

    /// Links the `READY` slot `slot` into the buckets: behind every message of priority
    /// `>= priority`. O(1), touching only the control block and two slot headers, when
    /// `priority` is at most the lowest queued one (every send when priorities are equal);
    /// otherwise a binary search over the buckets (one per distinct queued priority) and, for a
    /// new priority, a shift of the shorter side of the ring.
    #[inline(always)]
    fn link(&self, g: &Locked<'_>, slot: Slot, priority: u32) -> Result<()> {
        let c = self.view.control();
        let n = self.view.geometry().max_msgs;
        let count = c.count.load(Relaxed);
        let buckets = c.bucket_count.load(Relaxed);
        let first = c.bucket_first.load(Relaxed);
        if count >= n || buckets > count || (buckets == 0) != (count == 0) {
            return Err(self.corrupt(
                g,
                &format!("{count} messages in {buckets} buckets (capacity {n})"),
            ));
        }
        if buckets == 0 {
            self.set_bucket(self.pos(g, first, 0)?, priority, slot);
            c.head.store(slot.raw(), Relaxed);
            c.tail.store(slot.raw(), Relaxed);
            c.last_priority.store(priority, Relaxed);
            c.bucket_count.store(1, Relaxed);
        } else {
            let lowest = c.last_priority.load(Relaxed);
            if priority == lowest {
                let tail = self.checked(g, c.tail.load(Relaxed), "queue tail")?;
                self.view.header(tail).next.store(slot.raw(), Relaxed);
                c.tail.store(slot.raw(), Relaxed);
            } else if priority < lowest {
                // A new last bucket; the old one's tail moves into its ring entry.
                let last = self.pos(g, first, buckets - 1)?;
                self.view
                    .bucket(last)
                    .tail
                    .store(c.tail.load(Relaxed), Relaxed);
                self.set_bucket(self.pos(g, first, buckets)?, priority, slot);
                c.tail.store(slot.raw(), Relaxed);
                c.last_priority.store(priority, Relaxed);
                c.bucket_count.store(buckets + 1, Relaxed);
            } else {
                self.insert_sorted(g, first, buckets, slot, priority)?;
            }
        }
        c.count.store(count + 1, Relaxed);
        Ok(())
    }

    /// `link` for a priority above the lowest queued one.
    #[cold]
    fn insert_sorted(
        &self,
        g: &Locked<'_>,
        first: u32,
        buckets: u32,
        slot: Slot,
        priority: u32,
    ) -> Result<()> {
        let c = self.view.control();
        // Make the ring the whole truth: the first head and the last tail go into it.
        self.view
            .bucket(self.pos(g, first, 0)?)
            .head
            .store(c.head.load(Relaxed), Relaxed);
        self.view
            .bucket(self.pos(g, first, buckets - 1)?)
            .tail
            .store(c.tail.load(Relaxed), Relaxed);
        // The first bucket whose priority is <= ours (buckets are sorted high to low).
        let (mut lo, mut hi) = (0, buckets);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self
                .view
                .bucket(self.pos(g, first, mid)?)
                .priority
                .load(Relaxed)
                > priority
            {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let k = lo;
        let mut new_first = first;
        let mut new_buckets = buckets;
        let at = self.pos(g, first, k)?;
        if k < buckets && self.view.bucket(at).priority.load(Relaxed) == priority {
            let b = self.view.bucket(at);
            let tail = self.checked(g, b.tail.load(Relaxed), "bucket tail")?;
            self.view.header(tail).next.store(slot.raw(), Relaxed);
            b.tail.store(slot.raw(), Relaxed);
        } else if k < buckets - k {
            // A new bucket at rank k: shift the k buckets before it down by one.
            new_first = self
                .view
                .bucket_index(self.view.bucket_before(self.pos(g, first, 0)?));
            for j in 0..k {
                self.move_bucket(self.pos(g, first, j)?, self.pos(g, new_first, j)?);
            }
            self.set_bucket(self.pos(g, new_first, k)?, priority, slot);
            new_buckets += 1;
        } else {
            // ... or the buckets from k on up by one.
            for j in (k..buckets).rev() {
                self.move_bucket(self.pos(g, first, j)?, self.pos(g, first, j + 1)?);
            }
            self.set_bucket(at, priority, slot);
            new_buckets += 1;
        }
        let head = self
            .view
            .bucket(self.pos(g, new_first, 0)?)
            .head
            .load(Relaxed);
        let last = self.view.bucket(self.pos(g, new_first, new_buckets - 1)?);
        c.head.store(head, Relaxed);
        c.tail.store(last.tail.load(Relaxed), Relaxed);
        c.last_priority.store(last.priority.load(Relaxed), Relaxed);
        c.bucket_first.store(new_first, Relaxed);
        c.bucket_count.store(new_buckets, Relaxed);
        Ok(())
    }

    /// Makes `slot` (written, off both lists) a queued message: header fields, `READY`, linked;
    /// wakes a receiver if one sleeps.
    #[inline(always)]
    fn publish(&self, g: &mut Locked<'_>, slot: Slot, len: usize, priority: u32) -> Result<()> {
        let c = self.view.control();
        let h = self.view.header(slot);
        let seq = c.send_seq.load(Relaxed);
        c.send_seq.store(seq.wrapping_add(1), Relaxed);
        h.len.store(len as u32, Relaxed);
        h.priority.store(priority, Relaxed);
        h.seq.store(seq, Relaxed);
        h.next.store(NIL, Relaxed);
        // Release: the message bytes (written before, maybe outside the lock) are complete.
        h.state.store(READY, Release);
        self.link(g, slot, priority)?;
        self.notify(g, Event::NotEmpty);
        Ok(())
    }

    // ------------------------------------------------------------------------ operations

    /// Sends `msg` (copied in one critical section if short, else reserved, copied outside the
    /// lock and committed). `Ok(false)`: the wait ran out.
    #[inline(always)]
    pub(super) fn send(&self, msg: &[u8], priority: u32, wait: Wait) -> Result<bool> {
        if msg.len() > self.max_msg_size() {
            return Err(self.too_large(msg.len()));
        }
        if msg.len() > COPY_IN_LOCK_MAX {
            let Some(r) = self.reserve(wait)? else {
                return Ok(false);
            };
            // SAFETY: `r.slot` is WRITING by this thread: nobody else touches its bytes.
            unsafe { self.view.write_message(r.slot, msg) };
            self.commit(r, msg.len(), priority)?;
            return Ok(true);
        }
        let sent = self.wait_for(
            Event::NotFull,
            wait,
            #[inline(always)]
            |g| {
                let Some(slot) = self.pop_free(g)? else {
                    return Ok(None);
                };
                // SAFETY: the slot is off the free list and we hold the lock: no process following
                // the protocol touches its bytes until it is published.
                unsafe { self.view.write_message(slot, msg) };
                self.publish(g, slot, msg.len(), priority)?;
                Ok(Some(()))
            },
        )?;
        Ok(sent.is_some())
    }

    /// Receives the head message into `buf`: copied inside the critical section if short, else
    /// taken off the queue, copied outside the lock and freed. `Ok(None)`: the wait ran out.
    #[inline(always)]
    pub(super) fn receive(&self, buf: &mut [u8], wait: Wait) -> Result<Option<(usize, u32)>> {
        let got = self.wait_for(
            Event::NotEmpty,
            wait,
            #[inline(always)]
            |g| {
                let Some(head) = self.peek(g)? else {
                    return Ok(None);
                };
                if head.len > buf.len() {
                    return Err(self.short_buffer(head.len, buf.len()));
                }
                let taken = self.copy_or_take(g, head, buf)?;
                Ok(Some((head.len, head.priority, taken)))
            },
        )?;
        let Some((len, priority, taken)) = got else {
            return Ok(None);
        };
        if let Some(t) = taken {
            self.finish_take(t, &mut buf[..len])?;
        }
        Ok(Some((len, priority)))
    }

    fn short_buffer(&self, len: usize, have: usize) -> Error {
        Error::new(
            ErrorKind::MessageTooLarge,
            format!(
                "{}: the next message has {len} bytes, the buffer only {have}; it stays queued",
                self.label
            ),
        )
    }

    /// Receives the head message into a new vector of its length (allocated inside the critical
    /// section only for a short message).
    #[inline(always)]
    pub(super) fn receive_vec(&self, wait: Wait) -> Result<Option<(Vec<u8>, u32)>> {
        let got = self.wait_for(
            Event::NotEmpty,
            wait,
            #[inline(always)]
            |g| {
                let Some(head) = self.peek(g)? else {
                    return Ok(None);
                };
                let mut v = if head.len > COPY_IN_LOCK_MAX {
                    Vec::new()
                } else {
                    vec![0; head.len]
                };
                let taken = self.copy_or_take(g, head, &mut v)?;
                Ok(Some((v, head.priority, taken)))
            },
        )?;
        let Some((mut v, priority, taken)) = got else {
            return Ok(None);
        };
        if let Some(t) = taken {
            v = vec![0; t.len];
            self.finish_take(t, &mut v)?;
        }
        Ok(Some((v, priority)))
    }

    /// Copies the head message into a new vector without removing it (under the lock, whatever
    /// its length: the slot stays `READY` and queued). `Ok(None)`: the queue is empty.
    pub(super) fn peek_vec(&self) -> Result<Option<(Vec<u8>, u32)>> {
        self.wait_for(Event::NotEmpty, Wait::No, |g| {
            let Some(head) = self.peek(g)? else {
                return Ok(None);
            };
            let mut v = vec![0; head.len];
            // SAFETY: the slot is READY and we hold the lock: no process following the protocol
            // writes its bytes.
            unsafe { self.view.read_message(head.slot, &mut v) };
            Ok(Some((v, head.priority)))
        })
    }

    /// Under the lock, with the head message found by `peek`: a short message is copied into
    /// the first `head.len` bytes of `dst` and its slot freed (`None`); a long one is taken for
    /// copying outside the lock (`Some`: finish with `finish_take`; `dst` is not used).
    #[inline(always)]
    fn copy_or_take(
        &self,
        g: &mut Locked<'_>,
        head: Head,
        dst: &mut [u8],
    ) -> Result<Option<Taken>> {
        if head.len > COPY_IN_LOCK_MAX {
            return self.take_head(g, head).map(Some);
        }
        // SAFETY: the slot is READY and we hold the lock: no process following the protocol
        // writes its bytes.
        unsafe { self.view.read_message(head.slot, &mut dst[..head.len]) };
        self.free_head(g, head)?;
        Ok(None)
    }

    /// Outside the lock: copies a taken message into `dst` (its length) and frees its slot.
    fn finish_take(&self, t: Taken, dst: &mut [u8]) -> Result<()> {
        // SAFETY: `t.slot` is READING by this thread: nobody else writes its bytes.
        unsafe { self.view.read_message(t.slot, dst) };
        self.release(t, false)
    }

    /// Removes the head message, already copied out, and frees its slot.
    #[inline(always)]
    fn free_head(&self, g: &mut Locked<'_>, head: Head) -> Result<()> {
        self.unlink_head(g, head)?;
        self.push_free(g, head.slot, false)?;
        self.notify(g, Event::NotFull);
        Ok(())
    }

    /// Removes the head message and marks its slot `READING` by this thread.
    #[inline(always)]
    fn take_head(&self, g: &Locked<'_>, head: Head) -> Result<Taken> {
        self.unlink_head(g, head)?;
        self.view
            .header(head.slot)
            .state
            .store(shared::reading(g.tid()), Relaxed);
        Ok(Taken {
            slot: head.slot,
            tid: g.tid(),
            len: head.len,
            priority: head.priority,
        })
    }

    /// Reserves a free slot for writing outside the lock (`WRITING|tid`).
    #[inline(always)]
    pub(super) fn reserve(&self, wait: Wait) -> Result<Option<Reserved>> {
        self.wait_for(
            Event::NotFull,
            wait,
            #[inline(always)]
            |g| {
                let Some(slot) = self.pop_free(g)? else {
                    return Ok(None);
                };
                self.view
                    .header(slot)
                    .state
                    .store(shared::writing(g.tid()), Relaxed);
                Ok(Some(Reserved { slot, tid: g.tid() }))
            },
        )
    }

    /// Checks that `slot` is still in state `word` (ours), under the lock.
    #[inline(always)]
    fn check_owned(&self, g: &Locked<'_>, slot: Slot, word: u32) -> Result<()> {
        let found = self.view.header(slot).state.load(Relaxed);
        if found != word {
            return Err(self.corrupt(
                g,
                &format!(
                    "slot {} changed hands while this thread held it ({found:#x}, expected \
                     {word:#x})",
                    slot.raw()
                ),
            ));
        }
        Ok(())
    }

    /// Commits a reserved slot as a message of `len` bytes.
    #[inline(always)]
    pub(super) fn commit(&self, r: Reserved, len: usize, priority: u32) -> Result<()> {
        debug_assert!(len <= self.max_msg_size());
        let mut g = self.lock(r.tid, Wait::No).expect("Wait::No always locks");
        self.check_owned(&g, r.slot, shared::writing(r.tid))?;
        self.publish(&mut g, r.slot, len, priority)
    }

    /// Gives a reserved slot back, uncommitted.
    #[inline(always)]
    pub(super) fn abort(&self, r: Reserved) -> Result<()> {
        let mut g = self.lock(r.tid, Wait::No).expect("Wait::No always locks");
        self.check_owned(&g, r.slot, shared::writing(r.tid))?;
        self.push_free(&g, r.slot, true)?;
        self.notify(&mut g, Event::NotFull);
        Ok(())
    }

    /// Takes the head message off the queue for reading outside the lock (`READING|tid`).
    #[inline(always)]
    pub(super) fn take(&self, wait: Wait) -> Result<Option<Taken>> {
        self.wait_for(
            Event::NotEmpty,
            wait,
            #[inline(always)]
            |g| {
                let Some(head) = self.peek(g)? else {
                    return Ok(None);
                };
                self.take_head(g, head).map(Some)
            },
        )
    }

    /// Frees a taken slot after reading: at the front of the free list if it was read in place
    /// (`in_place`), else at the back (see `push_free`).
    #[inline(always)]
    pub(super) fn release(&self, t: Taken, in_place: bool) -> Result<()> {
        let mut g = self.lock(t.tid, Wait::No).expect("Wait::No always locks");
        self.check_owned(&g, t.slot, shared::reading(t.tid))?;
        self.push_free(&g, t.slot, in_place)?;
        self.notify(&mut g, Event::NotFull);
        Ok(())
    }

    // ------------------------------------------------------------------------ robustness

    /// Rebuilds the buckets, the free list and the counts from the slot states (the truth): run
    /// by a locker that found the lock's previous holder dead (or the queue corrupt), and by
    /// the reclaim pass. Never fails: every slot ends up queued, free, or left to a live owner.
    ///
    /// * `READY` → queued, ordered by (priority descending, send sequence ascending).
    /// * `FREE` → free.
    /// * `WRITING` by a dead thread → free: a half-written message is never delivered.
    /// * `READING` by a dead thread → queued again: its receiver never returned it.
    /// * `WRITING`/`READING` by a live thread → untouched (that thread commits or frees it).
    /// * anything else, or a queued slot with an impossible length → free.
    fn repair(&self, g: &mut Locked<'_>) {
        let c = self.view.control();
        let n = self.view.geometry().max_msgs;
        let max_len = self.max_msg_size();
        let mut queued: Vec<(Reverse<u32>, u64, u32)> = Vec::new();
        let mut free: Vec<u32> = Vec::new();
        let mut max_seq = None;
        for raw in 0..n {
            let slot = self.view.slot(raw).expect("raw < max_msgs");
            let h = self.view.header(slot);
            let word = h.state.load(Acquire);
            let ok_len = h.len.load(Relaxed) as usize <= max_len;
            let keep = match State::decode(word) {
                State::Free => false,
                State::Ready => ok_len,
                State::Writing(tid) => {
                    if tid == g.tid() || sys::is_alive(tid) {
                        continue;
                    }
                    false
                }
                State::Reading(tid) => {
                    if tid == g.tid() || sys::is_alive(tid) {
                        continue;
                    }
                    ok_len
                }
                State::Invalid => false,
            };
            if keep {
                let seq = h.seq.load(Relaxed);
                max_seq = max_seq.max(Some(seq));
                h.state.store(READY, Relaxed);
                queued.push((Reverse(h.priority.load(Relaxed)), seq, raw));
            } else {
                h.state.store(shared::FREE, Relaxed);
                free.push(raw);
            }
        }
        queued.sort_unstable();

        // Buckets from ring position 0, one per distinct priority, each a FIFO by sequence.
        let mut buckets: u32 = 0;
        let mut i = 0;
        while i < queued.len() {
            let prio = queued[i].0.0;
            let mut j = i;
            while j + 1 < queued.len() && queued[j + 1].0.0 == prio {
                let this = self.view.slot(queued[j].2).expect("checked above");
                self.view.header(this).next.store(queued[j + 1].2, Relaxed);
                j += 1;
            }
            let tail = self.view.slot(queued[j].2).expect("checked above");
            self.view.header(tail).next.store(NIL, Relaxed);
            let pos = self
                .view
                .bucket_pos(0, buckets)
                .expect("fewer buckets than slots");
            let b = self.view.bucket(pos);
            b.priority.store(prio, Relaxed);
            b.head.store(queued[i].2, Relaxed);
            b.tail.store(queued[j].2, Relaxed);
            buckets += 1;
            i = j + 1;
        }
        c.bucket_first.store(0, Relaxed);
        c.bucket_count.store(buckets, Relaxed);
        c.count.store(queued.len() as u32, Relaxed);
        c.head.store(queued.first().map_or(NIL, |q| q.2), Relaxed);
        c.tail.store(queued.last().map_or(NIL, |q| q.2), Relaxed);
        c.last_priority
            .store(queued.last().map_or(0, |q| q.0.0), Relaxed);

        // The free list, lowest slot first.
        for (k, &raw) in free.iter().enumerate() {
            let slot = self.view.slot(raw).expect("checked above");
            let next = free.get(k + 1).copied().unwrap_or(NIL);
            self.view.header(slot).next.store(next, Relaxed);
        }
        c.free_head
            .store(free.first().copied().unwrap_or(NIL), Relaxed);
        c.free_tail
            .store(free.last().copied().unwrap_or(NIL), Relaxed);
        c.free_count.store(free.len() as u32, Relaxed);
        if let Some(max_seq) = max_seq {
            let next = c.send_seq.load(Relaxed).max(max_seq.wrapping_add(1));
            c.send_seq.store(next, Relaxed);
        }
        c.repairs
            .store(c.repairs.load(Relaxed).wrapping_add(1), Relaxed);
        // Wake every sleeper: space or messages may have appeared.
        for ev in [Event::NotEmpty, Event::NotFull] {
            let (seq, sleepers) = self.event(ev);
            sleepers.store(0, Relaxed);
            seq.store(seq.load(Relaxed).wrapping_add(1), Relaxed);
            g.wake_after_unlock(ev);
        }
    }

    /// The reclaim pass of a waiter that slept a check interval: if some slot is held outside
    /// the lock by a thread that is dead (killed while copying a message in or out), repair the
    /// queue under the lock. The scan and the liveness probes run without the lock.
    fn reclaim(&self, tid: u32, wait: Wait) {
        let c = self.view.control();
        let n = self.view.geometry().max_msgs;
        let held = n
            .saturating_sub(c.count.load(Relaxed))
            .saturating_sub(c.free_count.load(Relaxed));
        if held == 0 {
            return;
        }
        let mut found_dead = false;
        for raw in 0..n {
            let slot = self.view.slot(raw).expect("raw < max_msgs");
            let owner = match State::decode(self.view.header(slot).state.load(Relaxed)) {
                State::Writing(t) | State::Reading(t) => t,
                _ => continue,
            };
            if owner != tid && !sys::is_alive(owner) {
                found_dead = true;
                break;
            }
        }
        if found_dead && let Some(mut g) = self.lock(tid, wait) {
            self.repair(&mut g);
        }
    }
}
