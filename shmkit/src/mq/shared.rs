//! The queue's shared memory layout, and the only door to it.
//!
//! Everything a queue keeps in shared memory is reached through [`View`]: the control block, the
//! priority buckets, the slot headers and the message bytes. A `View` is
//! built once per handle from a geometry that was validated against the mapping's length, and it
//! caches that geometry: no size, count or offset is ever re-read from shared memory to compute
//! an address. Indices that *are* read from shared memory (slot numbers, bucket positions) enter
//! through [`View::slot`] and [`View::bucket_pos`], which bounds-check them and return the
//! validated newtypes [`Slot`] and [`BucketPos`]; only those address memory.
//!
//! # Layout (offsets from the control block, which is the named object's payload)
//!
//! | offset | size | what |
//! |---|---|---|
//! | 0 | 192 | [`Control`]: geometry (line 0, written once by the creator), the lock and the counts waiters watch (line 1), the rest of the state (line 2) |
//! | 192 | 16 × `max_msgs` | the bucket ring: [`Bucket`]s sorted by priority, highest first from `bucket_first` |
//! | `slots_at` (64-aligned) | `stride` × `max_msgs` | the slots: a 32-byte [`SlotHeader`], then the message bytes |
//!
//! `stride` is `32 + max_msg_size` rounded up to 64, so every slot starts on a cache line.
//!
//! # Message bytes
//!
//! Metadata is only ever accessed through atomics (relaxed under the queue lock, which orders
//! them), so whatever another process writes there is at worst a wrong value, caught by a bounds
//! or state check. Message bytes are copied with plain `memcpy`, under the slot-ownership
//! protocol (see the module docs of `mq`): a slot's bytes are written only by the thread whose id
//! is in its `WRITING` state word (or by a sender holding the queue lock while the slot is off
//! both lists), and read only by the thread whose id is in its `READING` word (or by a receiver
//! holding the lock while the slot is `READY`). This is the same contract as a
//! [`Mutex<T>`](crate::sync::Mutex) guard's `&mut T`: exclusive among processes that follow the
//! protocol. A peer that breaks it can garble message contents, never addresses.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::error::{Error, ErrorKind, Result};
use crate::shm_safe::ShmSafe;
use crate::sync::RawMutex;

/// "No slot" in `next` links.
pub(super) const NIL: u32 = u32::MAX;

/// The most messages a queue may hold (2^24: slot numbers stay far from the `u32::MAX` that
/// marks "no slot" in links).
///
/// # Examples
///
/// ```
/// use shmkit::mq::MAX_MSGS;
///
/// assert!(shmkit::MessageQueue::anonymous(MAX_MSGS + 1, 8).is_err());
/// ```
pub const MAX_MSGS: usize = 1 << 24;
/// The largest message size a queue may be created with (1 GiB).
///
/// # Examples
///
/// ```
/// use shmkit::mq::MAX_MSG_SIZE;
///
/// assert!(shmkit::MessageQueue::anonymous(1, MAX_MSG_SIZE + 1).is_err());
/// ```
pub const MAX_MSG_SIZE: usize = 1 << 30;

/// Size of [`Control`].
pub(super) const CONTROL_SIZE: usize = 192;
/// Size of a [`SlotHeader`]; message bytes follow it.
const SLOT_HEADER_SIZE: usize = 32;
const LINE: usize = 64;

// ---------------------------------------------------------------------------- slot states

/// `state` of a slot on the free list (also all-zero memory).
pub(super) const FREE: u32 = 0;
/// `state` of a committed message, linked in a bucket.
pub(super) const READY: u32 = 1;
const TAG_SHIFT: u32 = 30;
const TID_MASK: u32 = (1 << TAG_SHIFT) - 1;
const TAG_WRITING: u32 = 0b10;
const TAG_READING: u32 = 0b11;

/// The state word of a slot being written, outside the lock, by thread `tid`.
pub(super) const fn writing(tid: u32) -> u32 {
    (TAG_WRITING << TAG_SHIFT) | (tid & TID_MASK)
}

/// The state word of a slot being read, outside the lock, by thread `tid`.
pub(super) const fn reading(tid: u32) -> u32 {
    (TAG_READING << TAG_SHIFT) | (tid & TID_MASK)
}

/// A decoded slot state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// On the free list.
    Free,
    /// A committed message, in a bucket.
    Ready,
    /// Reserved by a sender (thread id), off both lists.
    Writing(u32),
    /// Taken by a receiver (thread id), off both lists.
    Reading(u32),
    /// Not a state this code writes: scribbled.
    Invalid,
}

impl State {
    pub(super) fn decode(word: u32) -> State {
        match (word >> TAG_SHIFT, word & TID_MASK) {
            (0, 0) => State::Free,
            (0, 1) => State::Ready,
            (TAG_WRITING, tid) => State::Writing(tid),
            (TAG_READING, tid) => State::Reading(tid),
            _ => State::Invalid,
        }
    }
}

// ---------------------------------------------------------------------------- shared structs

/// The queue's control block: the named object's payload (or offset 0 of an anonymous queue).
///
/// Line 0 holds the geometry, written once by the creator before the object is published and
/// only read (once, at open) afterwards. Line 1 holds the lock word and the two counts that
/// waiters watch while they spin; line 2 everything else the operations change, which only the
/// lock holder touches, so spinning waiters never pull it away from a critical section. All of
/// it changes under `lock` only, except the `*_seq` futex words, which waiters read without it.
/// The common paths (a send at the lowest queued priority, a receive) touch only lines 1 and 2
/// and the slot.
///
/// | field | meaning | written by |
/// |---|---|---|
/// | `max_msgs`, `max_msg_size`, `stride`, `area_len` | geometry; checked at open against each other and the mapping | the creator |
/// | `lock` | the queue lock ([`RawMutex`]: robust, owner tag) | every operation |
/// | `count` | messages linked in buckets | lock holder |
/// | `free_count` | slots on the free list | lock holder |
/// | `free_head`, `free_tail` | the free list's first and last slot, linked through [`SlotHeader::next`] | lock holder |
/// | `head` | the next message to receive: the first bucket's head (its ring entry's `head` is unused) | lock holder |
/// | `tail`, `last_priority` | the last bucket's tail and priority (its ring entry's `tail` is unused) | lock holder |
/// | `bucket_first`, `bucket_count` | the bucket ring's window | lock holder |
/// | `not_empty_seq`, `not_full_seq` | futex words: bumped by a notifier that found a sleeper | lock holder |
/// | `not_empty_sleepers`, `not_full_sleepers` | non-zero: someone may sleep on the matching `_seq` | waiters (set), notifiers (clear), both under the lock |
/// | `repairs` | how many times the queue was rebuilt from its slots (a diagnostic; wraps) | lock holder |
/// | `send_seq` | the next send sequence number (FIFO order within a priority, kept for repair) | lock holder |
#[repr(C, align(64))]
pub(super) struct Control {
    pub(super) max_msgs: AtomicU32,
    pub(super) max_msg_size: AtomicU32,
    pub(super) stride: AtomicU32,
    reserved0: AtomicU32,
    pub(super) area_len: AtomicU64,
    reserved1: [AtomicU64; 5],

    pub(super) lock: RawMutex,
    pub(super) count: AtomicU32,
    pub(super) free_count: AtomicU32,
    reserved2: AtomicU32,
    reserved3: [AtomicU64; 6],

    pub(super) free_head: AtomicU32,
    pub(super) free_tail: AtomicU32,
    pub(super) head: AtomicU32,
    pub(super) tail: AtomicU32,
    pub(super) last_priority: AtomicU32,
    pub(super) bucket_first: AtomicU32,
    pub(super) bucket_count: AtomicU32,
    pub(super) not_empty_seq: AtomicU32,
    pub(super) not_empty_sleepers: AtomicU32,
    pub(super) not_full_seq: AtomicU32,
    pub(super) not_full_sleepers: AtomicU32,
    pub(super) repairs: AtomicU32,
    pub(super) send_seq: AtomicU64,
    reserved5: AtomicU64,
}

const _: () = {
    assert!(size_of::<Control>() == CONTROL_SIZE);
    assert!(align_of::<Control>() == LINE);
    assert!(std::mem::offset_of!(Control, lock) == LINE);
    assert!(std::mem::offset_of!(Control, free_head) == 2 * LINE);
    assert!(std::mem::offset_of!(Control, repairs) == 2 * LINE + 44);
};

// SAFETY: only atomics and a RawMutex (one atomic word): any bit pattern is valid, no pointers,
// repr(C) with explicit padding fields, Sync, no drop glue.
unsafe impl ShmSafe for Control {
    const FINGERPRINT: u64 =
        crate::fingerprint::primitive("shmkit::mq::Control", size_of::<Control>());
}

/// For `shmkit info` (the `inspect` module): the queue's figures read from a snapshot of the
/// control block's words, without trusting them (they are only displayed). The layout knowledge
/// stays here.
pub(crate) fn inspect_figures(words: &[u32]) -> Vec<(&'static str, u64)> {
    let word = |offset: usize| u64::from(words.get(offset / 4).copied().unwrap_or(0));
    use std::mem::offset_of;
    vec![
        (
            "capacity (max messages)",
            word(offset_of!(Control, max_msgs)),
        ),
        ("max message size", word(offset_of!(Control, max_msg_size))),
        ("messages queued", word(offset_of!(Control, count))),
        ("free slots", word(offset_of!(Control, free_count))),
        (
            "receivers asleep (flag)",
            word(offset_of!(Control, not_empty_sleepers)),
        ),
        (
            "senders asleep (flag)",
            word(offset_of!(Control, not_full_sleepers)),
        ),
        ("repairs after crashes", word(offset_of!(Control, repairs))),
    ]
}

/// The control block's size and alignment (the named object's payload).
pub(crate) const CONTROL_LAYOUT: (usize, usize) = (size_of::<Control>(), align_of::<Control>());

/// One priority in the bucket ring: a FIFO of slots linked through [`SlotHeader::next`]. The
/// first bucket's head and the last bucket's tail live in [`Control`] instead (`head`, `tail`).
#[repr(C)]
pub(super) struct Bucket {
    pub(super) priority: AtomicU32,
    pub(super) head: AtomicU32,
    pub(super) tail: AtomicU32,
    reserved: AtomicU32,
}

/// The header of a slot; the message bytes follow it.
///
/// | field | meaning |
/// |---|---|
/// | `state` | `FREE` (0), `READY` (1), `WRITING` (`0b10 << 30` \| tid), `READING` (`0b11 << 30` \| tid) |
/// | `len`, `priority`, `seq` | the message's length, priority and send sequence (valid from `READY`) |
/// | `next` | the next slot in the same bucket, or on the free list (valid while linked) |
#[repr(C)]
pub(super) struct SlotHeader {
    pub(super) state: AtomicU32,
    pub(super) len: AtomicU32,
    pub(super) priority: AtomicU32,
    pub(super) next: AtomicU32,
    pub(super) seq: AtomicU64,
    reserved: AtomicU64,
}

const _: () = {
    assert!(size_of::<Bucket>() == 16);
    assert!(size_of::<SlotHeader>() == SLOT_HEADER_SIZE);
};

// ---------------------------------------------------------------------------- geometry

/// Where everything is, computed from the two creation parameters only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Geometry {
    pub(super) max_msgs: u32,
    pub(super) max_msg_size: u32,
    pub(super) stride: usize,
    slots_at: usize,
    /// Bytes from the control block's start to the end of the last slot.
    pub(super) len: usize,
}

fn round_up(n: usize, to: usize) -> Option<usize> {
    n.checked_add(to - 1).map(|n| n / to * to)
}

impl Geometry {
    /// The geometry of a queue of `max_msgs` messages of up to `max_msg_size` bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `max_msgs` is 0 or above [`MAX_MSGS`], or
    /// `max_msg_size` is above [`MAX_MSG_SIZE`], or the total does not fit the address space.
    pub(super) fn new(max_msgs: usize, max_msg_size: usize) -> Result<Geometry> {
        if max_msgs == 0 || max_msgs > MAX_MSGS {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("a queue holds 1 to {MAX_MSGS} messages, not {max_msgs}"),
            ));
        }
        if max_msg_size > MAX_MSG_SIZE {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("a queue's messages are at most {MAX_MSG_SIZE} bytes, not {max_msg_size}"),
            ));
        }
        let too_big = || {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "a queue of {max_msgs} messages of {max_msg_size} bytes does not fit the \
                     address space"
                ),
            )
        };
        let stride = round_up(SLOT_HEADER_SIZE + max_msg_size, LINE).ok_or_else(too_big)?;
        let slots_at =
            round_up(CONTROL_SIZE + max_msgs * size_of::<Bucket>(), LINE).ok_or_else(too_big)?;
        let len = stride
            .checked_mul(max_msgs)
            .and_then(|s| s.checked_add(slots_at))
            .filter(|&l| l <= isize::MAX as usize / 2)
            .ok_or_else(too_big)?;
        Ok(Geometry {
            max_msgs: max_msgs as u32,
            max_msg_size: max_msg_size as u32,
            stride,
            slots_at,
            len,
        })
    }
}

// ---------------------------------------------------------------------------- the door

/// A slot number checked against the cached `max_msgs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot(u32);

impl Slot {
    /// The number as stored in shared memory.
    pub(super) fn raw(self) -> u32 {
        self.0
    }
}

/// A position in the bucket ring checked against the cached `max_msgs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BucketPos(u32);

/// The process's view of one queue's memory: a base address and the cached, validated geometry.
///
/// Invariant: `base..base + geo.len` is mapped read-write, 64-byte aligned, for as long as the
/// handle owning this `View` (and its mapping) lives; the memory there is only accessed as the
/// atomics of [`Control`], [`Bucket`] and [`SlotHeader`], and as
/// message bytes under the slot protocol (module docs).
#[derive(Debug)]
pub(super) struct View {
    base: *mut u8,
    geo: Geometry,
}

// SAFETY: the pointer addresses process-shared memory, not thread-local data; all metadata
// access is atomic, and message bytes follow the slot protocol, which identifies owners by thread
// id and so holds across threads as across processes.
unsafe impl Send for View {}
// SAFETY: as for Send; `&View` only hands out atomics and checked addresses.
unsafe impl Sync for View {}

impl View {
    /// A view of the control block at `base`, trusting `geo`.
    ///
    /// # Safety
    ///
    /// `base..base + geo.len` is mapped read-write and 64-byte aligned, stays so while the view
    /// lives, and is accessed only as described on [`View`].
    pub(super) unsafe fn new(base: *mut u8, geo: Geometry) -> View {
        debug_assert!((base as usize).is_multiple_of(LINE));
        View { base, geo }
    }

    /// The cached geometry.
    pub(super) fn geometry(&self) -> &Geometry {
        &self.geo
    }

    /// The control block.
    pub(super) fn control(&self) -> &Control {
        // SAFETY: offset 0 is inside the mapping and 64-aligned (View invariant); Control is
        // atomics only, valid for any bits.
        unsafe { &*self.base.cast::<Control>() }
    }

    /// Writes the creator's initial state: geometry, no message, every slot on the free list.
    ///
    /// # Safety
    ///
    /// No other process or thread uses the queue yet (its creator has not published it).
    pub(super) unsafe fn initialise(&self) {
        let c = self.control();
        let g = &self.geo;
        c.max_msgs.store(g.max_msgs, Relaxed);
        c.max_msg_size.store(g.max_msg_size, Relaxed);
        c.stride.store(g.stride as u32, Relaxed);
        c.area_len.store(g.len as u64, Relaxed);
        // The lock word is zero in fresh memory: unlocked.
        for field in [
            &c.count,
            &c.last_priority,
            &c.bucket_first,
            &c.bucket_count,
            &c.not_empty_seq,
            &c.not_empty_sleepers,
            &c.not_full_seq,
            &c.not_full_sleepers,
            &c.repairs,
        ] {
            field.store(0, Relaxed);
        }
        c.head.store(NIL, Relaxed);
        c.tail.store(NIL, Relaxed);
        c.send_seq.store(0, Relaxed);
        // The free list in slot order: the first send uses slot 0.
        for i in 0..g.max_msgs {
            let h = self.header(Slot(i));
            h.state.store(FREE, Relaxed);
            h.next
                .store(if i + 1 < g.max_msgs { i + 1 } else { NIL }, Relaxed);
        }
        c.free_head.store(0, Relaxed);
        c.free_tail.store(g.max_msgs - 1, Relaxed);
        c.free_count.store(g.max_msgs, Relaxed);
    }

    /// Checks the geometry stored in the control block at `base` against itself and `mapped`
    /// (the bytes mapped from `base`), and returns it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] naming the mismatch.
    pub(super) fn read_geometry(control: &Control, mapped: usize, name: &str) -> Result<Geometry> {
        let max_msgs = control.max_msgs.load(Relaxed) as usize;
        let max_msg_size = control.max_msg_size.load(Relaxed) as usize;
        let corrupt = |why: String| {
            Error::new(
                ErrorKind::Corrupted,
                format!("message queue `{name}` has a damaged header: {why}"),
            )
        };
        let geo = Geometry::new(max_msgs, max_msg_size).map_err(|e| corrupt(e.to_string()))?;
        let stride = control.stride.load(Relaxed) as usize;
        let area = control.area_len.load(Relaxed);
        if stride != geo.stride || area != geo.len as u64 {
            return Err(corrupt(format!(
                "{max_msgs} messages of {max_msg_size} bytes need a stride of {} and {} bytes, \
                 but it records {stride} and {area}",
                geo.stride, geo.len
            )));
        }
        if mapped < geo.len {
            return Err(corrupt(format!(
                "{max_msgs} messages of {max_msg_size} bytes need {} bytes, but only {mapped} \
                 are there",
                geo.len
            )));
        }
        Ok(geo)
    }

    /// The slot numbered `raw`, if it exists.
    #[inline]
    pub(super) fn slot(&self, raw: u32) -> Option<Slot> {
        (raw < self.geo.max_msgs).then_some(Slot(raw))
    }

    /// Ring position `first + k` (mod `max_msgs`), if `first` and `k` are in range.
    #[inline]
    pub(super) fn bucket_pos(&self, first: u32, k: u32) -> Option<BucketPos> {
        let n = self.geo.max_msgs;
        if first >= n || k >= n {
            return None;
        }
        let p = first + k; // < 2n <= 2^25: no overflow
        Some(BucketPos(if p >= n { p - n } else { p }))
    }

    /// The previous ring position.
    #[inline]
    pub(super) fn bucket_before(&self, p: BucketPos) -> BucketPos {
        BucketPos(if p.0 == 0 {
            self.geo.max_msgs - 1
        } else {
            p.0 - 1
        })
    }

    /// The next ring position.
    #[inline]
    pub(super) fn bucket_after(&self, p: BucketPos) -> BucketPos {
        let q = p.0 + 1;
        BucketPos(if q == self.geo.max_msgs { 0 } else { q })
    }

    /// The number of a ring position.
    #[inline]
    pub(super) fn bucket_index(&self, p: BucketPos) -> u32 {
        p.0
    }

    /// The bucket at a ring position.
    #[inline]
    pub(super) fn bucket(&self, p: BucketPos) -> &Bucket {
        // SAFETY: p < max_msgs (BucketPos invariant), so the bucket lies in
        // CONTROL_SIZE..slots_at, inside the mapping; 16-aligned from a 64-aligned base; atomics.
        unsafe {
            &*self
                .base
                .add(CONTROL_SIZE + p.0 as usize * size_of::<Bucket>())
                .cast::<Bucket>()
        }
    }

    /// A slot's header.
    #[inline]
    pub(super) fn header(&self, s: Slot) -> &SlotHeader {
        // SAFETY: s < max_msgs (Slot invariant): the slot lies inside the mapping; slots_at and
        // stride are multiples of 64; atomics.
        unsafe {
            &*self
                .base
                .add(self.geo.slots_at + s.0 as usize * self.geo.stride)
                .cast::<SlotHeader>()
        }
    }

    /// Asks the CPU to start fetching slot `raw`'s header and first message bytes for writing
    /// (a hint only: nothing is read or written, and an out-of-range `raw` is ignored).
    #[inline(always)]
    pub(super) fn prefetch(&self, raw: u32) {
        if raw >= self.geo.max_msgs {
            return;
        }
        let p = self
            .base
            .wrapping_add(self.geo.slots_at + raw as usize * self.geo.stride);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch never faults and has no effect on memory contents; the address is
        // inside the mapping anyway.
        unsafe {
            use std::arch::x86_64::{_MM_HINT_ET0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_ET0>(p.cast::<i8>());
            _mm_prefetch::<_MM_HINT_ET0>(p.wrapping_add(LINE).cast::<i8>());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }

    /// The first message byte of a slot; `max_msg_size` bytes are valid from there.
    #[inline]
    fn data(&self, s: Slot) -> *mut u8 {
        // Arithmetic inside the mapping (Slot invariant); dereferenced only by the copy
        // functions below.
        self.base
            .wrapping_add(self.geo.slots_at + s.0 as usize * self.geo.stride + SLOT_HEADER_SIZE)
    }

    /// Copies `src` into slot `s`'s message bytes.
    ///
    /// # Safety
    ///
    /// The calling thread owns `s`'s bytes under the slot protocol (module docs).
    ///
    /// # Panics
    ///
    /// If `src` is longer than `max_msg_size` (the callers check it first).
    #[inline]
    pub(super) unsafe fn write_message(&self, s: Slot, src: &[u8]) {
        assert!(src.len() <= self.geo.max_msg_size as usize);
        // SAFETY: the destination is max_msg_size bytes inside the slot (Slot invariant), owned
        // by this thread (caller); `src` is a separate allocation or mapping range.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.data(s), src.len()) };
    }

    /// Copies the first `dst.len()` message bytes of slot `s` into `dst`.
    ///
    /// # Safety
    ///
    /// As [`write_message`](View::write_message).
    ///
    /// # Panics
    ///
    /// If `dst` is longer than `max_msg_size`.
    #[inline]
    pub(super) unsafe fn read_message(&self, s: Slot, dst: &mut [u8]) {
        assert!(dst.len() <= self.geo.max_msg_size as usize);
        // SAFETY: as in write_message, reading.
        unsafe { std::ptr::copy_nonoverlapping(self.data(s), dst.as_mut_ptr(), dst.len()) };
    }

    /// Slot `s`'s first `len` message bytes as a slice.
    ///
    /// # Safety
    ///
    /// The calling thread owns `s`'s bytes under the slot protocol for as long as the slice
    /// lives (no cooperating process writes them meanwhile).
    ///
    /// # Panics
    ///
    /// If `len` exceeds `max_msg_size`.
    pub(super) unsafe fn message(&self, s: Slot, len: usize) -> &[u8] {
        assert!(len <= self.geo.max_msg_size as usize);
        // SAFETY: in bounds (Slot invariant, len checked), initialised memory (shared memory
        // starts zeroed and is only written with bytes), unaliased by writers (caller).
        unsafe { std::slice::from_raw_parts(self.data(s), len) }
    }

    /// Slot `s`'s whole message area as a mutable slice.
    ///
    /// # Safety
    ///
    /// The calling thread owns `s`'s bytes under the slot protocol for as long as the slice
    /// lives, and makes no other reference to them meanwhile.
    #[allow(clippy::mut_from_ref)] // exclusivity comes from the slot protocol, not from &mut
    pub(super) unsafe fn message_mut(&self, s: Slot) -> &mut [u8] {
        // SAFETY: in bounds (Slot invariant); exclusive under the slot protocol (caller).
        unsafe { std::slice::from_raw_parts_mut(self.data(s), self.geo.max_msg_size as usize) }
    }
}
