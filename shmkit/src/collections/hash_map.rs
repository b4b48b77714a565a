//! [`HashMap`]: an open-addressing hash table in a managed segment, and its iterators and
//! entries.
//!
//! ```
//! use shmkit::ManagedHeapMemory;
//! use shmkit::sync::Mutex;
//! use shmkit::collections::{hash_map::Entry, HashMap, String};
//!
//! let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
//! let words = seg.construct("words", Mutex::new(HashMap::<String, u32>::new()))?;
//! let mut words = words.lock().unwrap();
//! for w in "the cat saw the dog".split(' ') {
//!     *words.entry(w).or_insert(0) += 1;
//! }
//! assert_eq!(words["the"], 2);
//! if let Entry::Occupied(o) = words.entry("cat") {
//!     o.remove();
//! }
//! assert_eq!(words.len(), 3);
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Layout
//!
//! The table is one segment allocation of `buckets / 8 + 1` *groups*; a group is 8 control
//! bytes followed by 8 buckets (`key`, `value`, `repr(C)`), so a lookup usually touches one or
//! two neighbouring cache lines. A control byte is `0xFF` (empty), `0x80` (deleted) or the top
//! 7 bits of the key's hash (full). A key's first group is chosen by the low bits of its hash;
//! probing visits groups in triangular steps (`g, g+1, g+3, g+6, …` modulo the group count,
//! which visits every group since the count is a power of two), comparing the 7-bit tag of all
//! 8 control bytes at once (SWAR on one `u64`), and stops at the first group with an empty
//! byte. At most 7 of every 8 buckets hold entries, so such a group exists; probes are bounded
//! by the group count anyway, so a table a peer corrupted ends a probe instead of looping.
//!
//! The extra last group is the *staging* bucket: a key that arrives through
//! [`IntoSegment`] is written there first, so that it is inside the segment while it is hashed
//! and compared (a shmkit `String` moved out of its segment cannot lend its bytes), then moved
//! into its bucket.
//!
//! Removing an entry marks its byte empty if its group still has an empty byte (no probe ever
//! went past such a group), deleted otherwise. When the table is full, it is rehashed into a
//! new allocation: twice the size, or the same size when at least half of its capacity is
//! deleted entries. The old table is freed only once the new one is published in the header,
//! so a failed allocation leaves the map as it was.
#![allow(unsafe_code)]

mod hasher;

pub use hasher::{DefaultShmHasher, ShmHasher};

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Index;

use super::segment_ref::{AsSegment, SegmentAlloc, SegmentRef, ShmAlloc};
use super::{IntoSegment, Where, fail};
use crate::error::{Error, ErrorKind, Result};
use crate::ptr::{RelPtr, SegmentBase};
use crate::shm_safe::ShmSafe;

const GROUP: usize = 8;
const EMPTY: u8 = 0xFF;
const DELETED: u8 = 0x80;
const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// One entry's storage.
#[repr(C)]
struct Bucket<K, V> {
    key: K,
    value: V,
}

/// 8 control bytes and the 8 buckets they describe.
#[repr(C)]
struct Group<K, V> {
    ctrl: [u8; GROUP],
    slots: MaybeUninit<[Bucket<K, V>; GROUP]>,
}

/// Bytes of `tag` in `w` (may include false positives on full bytes: keys are compared).
#[inline(always)]
fn match_tag(w: u64, tag: u8) -> u64 {
    let x = w ^ (LO * u64::from(tag));
    x.wrapping_sub(LO) & !x & HI
}

/// Empty bytes (`0xFF`: bits 7 and 6 set).
#[inline(always)]
fn match_empty(w: u64) -> u64 {
    w & (w << 1) & HI
}

/// Empty or deleted bytes (bit 7 set).
#[inline(always)]
fn match_free(w: u64) -> u64 {
    w & HI
}

/// Full bytes (bit 7 clear).
#[inline(always)]
fn match_full(w: u64) -> u64 {
    !w & HI
}

/// The byte index of the lowest match.
#[inline(always)]
fn lowest(m: u64) -> usize {
    m.trailing_zeros() as usize / 8
}

/// The control tag of `hash`: its top 7 bits.
#[inline(always)]
fn tag_of(hash: u64) -> u8 {
    (hash >> 57) as u8
}

/// Entries a table of `buckets` buckets holds: 7 per group.
#[inline]
fn cap_of(buckets: usize) -> usize {
    buckets / GROUP * (GROUP - 1)
}

/// The bucket count for `n` entries: 0 for none, else a power of two of at least 8.
fn buckets_for(n: usize) -> Result<usize> {
    if n == 0 {
        return Ok(0);
    }
    n.div_ceil(GROUP - 1)
        .checked_next_power_of_two()
        .and_then(|g| g.checked_mul(GROUP))
        .ok_or_else(|| Error::new(ErrorKind::OutOfMemory, "hash map capacity overflow"))
}

/// The table's byte size for `buckets` buckets (plus the staging group).
fn table_bytes<K, V>(buckets: usize) -> Result<usize> {
    (buckets / GROUP + 1)
        .checked_mul(size_of::<Group<K, V>>())
        .filter(|b| *b <= isize::MAX as usize)
        .ok_or_else(|| Error::new(ErrorKind::OutOfMemory, "hash map capacity overflow"))
}

#[cold]
fn corrupted(what: &str) -> Error {
    Error::new(
        ErrorKind::Corrupted,
        format!("a hash map's table is corrupt: {what}"),
    )
}

#[cold]
fn detached_map<H>(header: &H) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "this hash map (at {:p}) is not inside its segment: it was moved out (removed, \
             taken, cloned), so it cannot lend references to its entries; store it back in the \
             segment, or consume it with `into_iter`",
            std::ptr::from_ref(header)
        ),
    )
}

/// A table resolved and checked for one operation.
struct Raw<K, V> {
    groups: *mut Group<K, V>,
    buckets: usize,
}

impl<K, V> Clone for Raw<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for Raw<K, V> {}

impl<K, V> Raw<K, V> {
    const NONE: Raw<K, V> = Raw {
        groups: std::ptr::null_mut(),
        buckets: 0,
    };

    /// The control word of group `g` (`g <= buckets / 8`).
    #[inline(always)]
    fn word(&self, g: usize) -> u64 {
        // SAFETY: `g` is at most the group count, and `groups` points at that many + 1 groups
        // inside the mapping (checked by `HashMap::raw`); control bytes are plain bytes.
        u64::from_le_bytes(unsafe { std::ptr::addr_of!((*self.groups.add(g)).ctrl).read() })
    }

    /// Control byte `i` (`i < buckets`).
    #[inline(always)]
    fn ctrl(&self, i: usize) -> *mut u8 {
        // SAFETY: `i < buckets`, so group `i / 8` is inside the checked table.
        unsafe {
            std::ptr::addr_of_mut!((*self.groups.add(i / GROUP)).ctrl)
                .cast::<u8>()
                .add(i % GROUP)
        }
    }

    /// Bucket `i` (`i <= buckets`; `buckets` is the staging bucket).
    #[inline(always)]
    fn slot(&self, i: usize) -> *mut Bucket<K, V> {
        // SAFETY: `i <= buckets`, so group `i / 8` is inside the checked table.
        unsafe {
            std::ptr::addr_of_mut!((*self.groups.add(i / GROUP)).slots)
                .cast::<Bucket<K, V>>()
                .add(i % GROUP)
        }
    }

    #[inline(always)]
    fn staging(&self) -> *mut Bucket<K, V> {
        self.slot(self.buckets)
    }

    /// Sets control byte `i`.
    #[inline(always)]
    fn set_ctrl(&self, i: usize, c: u8) {
        // SAFETY: a byte of the checked table.
        unsafe { self.ctrl(i).write(c) }
    }

    /// Looks `hash` up: the index of the entry whose key satisfies `eq`, or else the first
    /// free bucket of the probe sequence (`None` only for a corrupt table).
    #[inline]
    fn probe(&self, hash: u64, mut eq: impl FnMut(&K) -> bool) -> Probe {
        if self.buckets == 0 {
            return Probe::Vacant(None);
        }
        let groups = self.buckets / GROUP;
        let mask = groups - 1;
        let tag = tag_of(hash);
        let mut g = (hash as usize) & mask;
        let mut free = None;
        for stride in 1..=groups {
            let w = self.word(g);
            let mut m = match_tag(w, tag);
            while m != 0 {
                let i = g * GROUP + lowest(m);
                // SAFETY: `i < buckets`; a bucket whose byte is full holds a key (any bytes of
                // a `ShmSafe` type are a value), which nothing mutates while `&self` lives.
                if eq(unsafe { &(*self.slot(i)).key }) {
                    return Probe::Found(i);
                }
                m &= m - 1;
            }
            if free.is_none() {
                let f = match_free(w);
                if f != 0 {
                    free = Some(g * GROUP + lowest(f));
                }
            }
            if match_empty(w) != 0 {
                break;
            }
            g = (g + stride) & mask;
        }
        Probe::Vacant(free)
    }

    /// The first free bucket of `hash`'s probe sequence.
    #[inline]
    fn free_slot(&self, hash: u64) -> Option<usize> {
        match self.probe(hash, |_| false) {
            Probe::Vacant(f) => f,
            Probe::Found(_) => None,
        }
    }
}

enum Probe {
    Found(usize),
    Vacant(Option<usize>),
}

/// Iterates over the full buckets of a table, group by group.
struct RawIter<K, V> {
    raw: Raw<K, V>,
    next_group: usize,
    base: usize,
    bits: u64,
    left: usize,
}

impl<K, V> RawIter<K, V> {
    fn new(raw: Raw<K, V>, items: usize) -> RawIter<K, V> {
        RawIter {
            raw,
            next_group: 0,
            base: 0,
            bits: 0,
            left: if raw.buckets == 0 { 0 } else { items },
        }
    }
}

impl<K, V> Iterator for RawIter<K, V> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        loop {
            if self.bits != 0 {
                let i = self.base + lowest(self.bits);
                self.bits &= self.bits - 1;
                self.left -= 1;
                return Some(i);
            }
            if self.next_group >= self.raw.buckets / GROUP {
                self.left = 0;
                return None;
            }
            self.bits = match_full(self.raw.word(self.next_group));
            self.base = self.next_group * GROUP;
            self.next_group += 1;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// A hash map whose header and entries live in a managed segment, shared by every process that
/// maps it: `std::collections::HashMap`'s API, with the segment as its allocator and a
/// deterministic hasher `S` stored in the header (the same in every process).
///
/// Entries are stored in one segment allocation (open addressing, 8-byte control groups; see
/// the [module docs](self)), not one node each. The header (48 bytes) stores offsets, so it may
/// move anywhere inside its segment; see the [collections docs](crate::collections) for where it
/// finds its segment and what works once a map has left it (inserting, removing, `retain`,
/// `into_iter` and drop work; lookups that return references need the map inside its segment).
///
/// Keys and values enter through [`IntoSegment`], so `map.insert("alice", vec![1, 2])` works for
/// a `HashMap<String, Vec<u32>>`, and lookups take borrowed forms (`map.get("alice")`).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{HashMap, String, Vec};
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let shared = seg.construct("scores", Mutex::new(HashMap::<String, Vec<u32>>::new()))?;
/// let mut scores = shared.lock().unwrap();
/// scores.insert("alice", vec![10, 20]);
/// scores.insert("bob", vec![7]);
/// scores.entry("bob").or_default().push(8);
/// assert_eq!(scores["bob"], [7, 8]);
/// assert_eq!(scores.get("alice").map(|v| v.len()), Some(2));
/// assert!(scores.remove("alice").is_some());
/// assert_eq!(scores.len(), 1);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct HashMap<
    K: ShmSafe + Unpin,
    V: ShmSafe + Unpin,
    S: ShmSafe = DefaultShmHasher,
    A: ShmAlloc = SegmentAlloc,
> {
    seg: SegmentBase,
    table: RelPtr<u8>,
    buckets: usize,
    items: usize,
    growth_left: usize,
    hasher: S,
    alloc: A,
    _entries: PhantomData<Bucket<K, V>>,
}

// SAFETY: repr(C) of `ShmSafe` fields (the id and offset are atomics, the counts integers, the
// hasher and allocator `ShmSafe`, the marker zero-sized): any bit pattern is a value, and every
// use checks it (the id against the mapping the header lies in, the table's range and alignment
// against that mapping, the counts against the bucket count; probes and scans are bounded by
// the bucket count), so a garbage header or control byte is an error, never an access outside
// the segment. Nothing in it is an address. Send + Sync as its fields (`K`, `V` are `ShmSafe`).
unsafe impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, S: ShmSafe, A: ShmAlloc> ShmSafe
    for HashMap<K, V, S, A>
{
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::HashMap"),
        crate::fingerprint::combine(
            crate::fingerprint::combine(K::FINGERPRINT, V::FINGERPRINT),
            crate::fingerprint::combine(S::FINGERPRINT, A::FINGERPRINT),
        ),
    );
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin> HashMap<K, V> {
    /// An empty map, not yet tied to a segment (nothing is allocated): construct it in a
    /// segment, or store it in a collection there, and it allocates from that segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::HashMap;
    /// let m: HashMap<u64, u64> = HashMap::new();
    /// assert_eq!((m.len(), m.capacity()), (0, 0));
    /// ```
    pub const fn new() -> HashMap<K, V> {
        HashMap::with_hasher_and_alloc(DefaultShmHasher::new(), SegmentAlloc)
    }

    /// An empty map tied to `seg` (nothing is allocated yet): it can be filled before it is
    /// stored in the segment.
    ///
    /// # Panics
    ///
    /// If `seg` is not a registered segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let mut m = HashMap::<u32, u32>::new_in(&*seg);
    /// m.insert(1, 10);
    /// let m = seg.construct("m", m)?;
    /// assert_eq!(m[&1], 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(seg: &impl AsSegment) -> HashMap<K, V> {
        Self::with_capacity_in(0, seg)
    }

    /// An empty map tied to `seg` with room for `capacity` entries.
    ///
    /// # Panics
    ///
    /// Where [`try_with_capacity_in`](Self::try_with_capacity_in) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = HashMap::<u64, u64>::with_capacity_in(100, &*seg);
    /// assert!(m.capacity() >= 100);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_capacity_in(capacity: usize, seg: &impl AsSegment) -> HashMap<K, V> {
        Self::try_with_capacity_in(capacity, seg).unwrap_or_else(|e| fail(e))
    }

    /// [`with_capacity_in`](Self::with_capacity_in), returning errors.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full; as [`AsSegment::segment`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let e = HashMap::<u64, u64>::try_with_capacity_in(1 << 20, &*seg).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_with_capacity_in(capacity: usize, seg: &impl AsSegment) -> Result<HashMap<K, V>> {
        HashMap::try_with_capacity_and_hasher_in(capacity, DefaultShmHasher::new(), seg)
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, S: ShmSafe, A: ShmAlloc> HashMap<K, V, S, A> {
    /// An empty map with hasher `hasher` and allocator `alloc`, not yet tied to a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{DefaultShmHasher, HashMap, SegmentAlloc};
    /// let m: HashMap<u8, u8> =
    ///     HashMap::with_hasher_and_alloc(DefaultShmHasher::with_seed(9), SegmentAlloc);
    /// assert_eq!(m.hasher().seed(), 9);
    /// ```
    pub const fn with_hasher_and_alloc(hasher: S, alloc: A) -> HashMap<K, V, S, A> {
        HashMap {
            seg: SegmentBase::unbound(),
            table: RelPtr::null(),
            buckets: 0,
            items: 0,
            growth_left: 0,
            hasher,
            alloc,
            _entries: PhantomData,
        }
    }

    /// The number of entries.
    ///
    /// # Examples
    ///
    /// ```
    /// let m: shmkit::collections::HashMap<u8, u8> = shmkit::collections::HashMap::new();
    /// assert_eq!(m.len(), 0);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.items
    }

    /// Whether the map has no entries.
    ///
    /// # Examples
    ///
    /// ```
    /// let m: shmkit::collections::HashMap<u8, u8> = shmkit::collections::HashMap::new();
    /// assert!(m.is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// How many entries fit before the table is reallocated.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert!(HashMap::<u8, u8>::with_capacity_in(10, &*seg).capacity() >= 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.items.saturating_add(self.growth_left)
    }

    /// The hasher (stored in the header, shared by every process).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{DefaultShmHasher, HashMap};
    /// let m: HashMap<u8, u8> = HashMap::new();
    /// assert_eq!(*m.hasher(), DefaultShmHasher::default());
    /// ```
    pub fn hasher(&self) -> &S {
        &self.hasher
    }

    /// The allocator.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{HashMap, SegmentAlloc};
    /// let m: HashMap<u8, u8> = HashMap::new();
    /// assert_eq!(*m.allocator(), SegmentAlloc);
    /// ```
    pub fn allocator(&self) -> &A {
        &self.alloc
    }

    #[inline]
    fn place(&self) -> Result<Where<'_>> {
        Where::of(self, &self.seg)
    }

    /// The segment, for operations that hand out references (the map must be inside it).
    /// One registry lookup on the hot path; the slow path sorts out the error.
    #[inline]
    fn resident(&self) -> Result<SegmentRef<'_>> {
        match self.place() {
            Ok(Where::Resident(s)) => Ok(s),
            _ => self.resident_slow(),
        }
    }

    #[cold]
    fn resident_slow(&self) -> Result<SegmentRef<'_>> {
        match self.place()? {
            Where::Resident(s) => Ok(s),
            Where::Detached(_) | Where::Unbound => Err(detached_map(self)),
        }
    }

    /// Runs `f` with the segment this map belongs to: the one its header lies in, or, for a
    /// map that left its segment, the segment's one mapping in this process (kept mapped
    /// while `f` runs).
    #[inline]
    fn with_seg<R>(
        &mut self,
        f: impl FnOnce(&mut Self, &SegmentRef<'_>) -> Result<R>,
    ) -> Result<R> {
        super::with_seg_mut(self, |h| &h.seg, f)
    }

    /// The table, checked against `s` and the header's counts.
    #[inline]
    fn raw(&self, s: &SegmentRef<'_>) -> Result<Raw<K, V>> {
        let Some(off) = self.table.offset() else {
            if self.buckets != 0 || self.items != 0 || self.growth_left != 0 {
                return Err(corrupted("counts without a table"));
            }
            return Ok(Raw::NONE);
        };
        let b = self.buckets;
        if b < GROUP
            || !b.is_power_of_two()
            || self
                .items
                .checked_add(self.growth_left)
                .is_none_or(|n| n > cap_of(b))
        {
            return Err(corrupted("bad bucket count or length"));
        }
        let groups = s.ptr::<Group<K, V>>(off, b / GROUP + 1)?;
        Ok(Raw { groups, buckets: b })
    }

    /// Allocates an all-empty table of `buckets` buckets; returns its offset.
    fn new_table(&self, s: &SegmentRef<'_>, buckets: usize) -> Result<(u64, Raw<K, V>)> {
        let bytes = table_bytes::<K, V>(buckets)?;
        let align = align_of::<Group<K, V>>();
        let off = self.alloc.allocate(s, bytes, align)?;
        let new = match s.ptr::<Group<K, V>>(off, buckets / GROUP + 1) {
            Ok(groups) => Raw { groups, buckets },
            Err(e) => {
                let _ = self.alloc.deallocate(s, off, bytes, align);
                return Err(e);
            }
        };
        for g in 0..=buckets / GROUP {
            // SAFETY: group `g` of the new, checked table.
            unsafe { std::ptr::addr_of_mut!((*new.groups.add(g)).ctrl).write([EMPTY; GROUP]) };
        }
        Ok((off, new))
    }

    /// Gives a map without a table an empty one for `capacity` entries (at least one).
    fn first_table(&mut self, s: &SegmentRef<'_>, capacity: usize) -> Result<()> {
        if !self.table.is_null() {
            return Ok(());
        }
        self.raw(s)?;
        let buckets = buckets_for(capacity.max(1))?;
        let (off, _) = self.new_table(s, buckets)?;
        self.seg.store_id(s.id());
        self.table.set_offset(off);
        self.buckets = buckets;
        self.growth_left = cap_of(buckets);
        Ok(())
    }

    /// Marks bucket `i` (full) free and counts the entry out; the caller moves or drops it.
    fn erase(&mut self, raw: &Raw<K, V>, i: usize) {
        let c = if match_empty(raw.word(i / GROUP)) != 0 {
            self.growth_left += 1;
            EMPTY
        } else {
            DELETED
        };
        raw.set_ctrl(i, c);
        self.items -= 1;
    }

    /// Frees everything: entries, then the table. The header is emptied first.
    fn free(&mut self, s: &SegmentRef<'_>) -> Result<()> {
        let raw = self.raw(s)?;
        let Some(off) = self.table.offset() else {
            return Ok(());
        };
        let items = self.items;
        self.table.set_null();
        self.buckets = 0;
        self.items = 0;
        self.growth_left = 0;
        if std::mem::needs_drop::<Bucket<K, V>>() {
            for i in RawIter::new(raw, items) {
                // SAFETY: a full bucket of the checked table, no longer reachable from the
                // header, dropped once.
                unsafe { std::ptr::drop_in_place(raw.slot(i)) };
            }
        }
        self.alloc.deallocate(
            s,
            off,
            table_bytes::<K, V>(raw.buckets)?,
            align_of::<Group<K, V>>(),
        )
    }

    /// Removes every entry, keeping the table.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 1);
    /// m.clear();
    /// assert!(m.is_empty() && m.capacity() > 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn clear(&mut self) {
        if self.items == 0 && self.growth_left == cap_of(self.buckets) {
            return;
        }
        let _ = self.with_seg(|m, s| {
            let raw = m.raw(s)?;
            for i in RawIter::new(raw, m.items) {
                // Count it out first: a panicking destructor leaks the rest.
                raw.set_ctrl(i, EMPTY);
                m.items -= 1;
                // SAFETY: a full bucket, now marked empty, dropped once.
                unsafe { std::ptr::drop_in_place(raw.slot(i)) };
            }
            for g in 0..raw.buckets / GROUP {
                // SAFETY: group `g` of the checked table.
                unsafe { std::ptr::addr_of_mut!((*raw.groups.add(g)).ctrl).write([EMPTY; GROUP]) };
            }
            m.items = 0;
            m.growth_left = cap_of(raw.buckets);
            Ok(())
        });
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, S: ShmSafe + BuildHasher, A: ShmAlloc>
    HashMap<K, V, S, A>
{
    /// [`with_capacity_in`](HashMap::with_capacity_in) with hasher `hasher` (the allocator is
    /// `A::default()`).
    ///
    /// # Errors
    ///
    /// As [`try_with_capacity_in`](HashMap::try_with_capacity_in).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::{DefaultShmHasher, HashMap};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m: HashMap<u64, u64> =
    ///     HashMap::try_with_capacity_and_hasher_in(10, DefaultShmHasher::random(), &*seg)?;
    /// assert!(m.capacity() >= 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_with_capacity_and_hasher_in(
        capacity: usize,
        hasher: S,
        seg: &impl AsSegment,
    ) -> Result<HashMap<K, V, S, A>>
    where
        A: Default,
    {
        let s = seg.segment()?;
        let mut m = HashMap::with_hasher_and_alloc(hasher, A::default());
        m.seg.store_id(s.id());
        if capacity > 0 {
            m.first_table(&s, capacity)?;
        }
        Ok(m)
    }

    /// Rehashes into a new table for at least `min_items` entries (and the current ones),
    /// carrying the staging bucket if `staged`. On error the map is unchanged.
    fn resize(&mut self, s: &SegmentRef<'_>, min_items: usize, staged: bool) -> Result<()>
    where
        K: Hash,
    {
        let old = self.raw(s)?;
        let new_buckets = buckets_for(min_items.max(self.items))?;
        let align = align_of::<Group<K, V>>();
        let old_off = self.table.offset();
        if new_buckets == 0 {
            if let Some(off) = old_off {
                self.table.set_null();
                self.buckets = 0;
                self.growth_left = 0;
                let _ = self
                    .alloc
                    .deallocate(s, off, table_bytes::<K, V>(old.buckets)?, align);
            }
            return Ok(());
        }
        let full: usize = (0..old.buckets / GROUP)
            .map(|g| match_full(old.word(g)).count_ones() as usize)
            .sum();
        if full != self.items {
            return Err(corrupted("the length does not match the full buckets"));
        }
        let bytes = table_bytes::<K, V>(new_buckets)?;
        let (off, new) = self.new_table(s, new_buckets)?;
        // Copy the entries bitwise; the old table keeps owning them until the new one is
        // published (a panicking `hash` leaks the new table, nothing else).
        let mut moved = 0;
        let mut bad = None;
        for i in RawIter::new(old, self.items) {
            // SAFETY: a full bucket of the old, checked table.
            let hash = self.hasher.hash_one(unsafe { &(*old.slot(i)).key });
            let Some(j) = new.free_slot(hash) else {
                bad = Some("no free bucket while rehashing");
                break;
            };
            // SAFETY: distinct buckets of two distinct checked tables.
            unsafe { std::ptr::copy_nonoverlapping(old.slot(i), new.slot(j), 1) };
            new.set_ctrl(j, tag_of(hash));
            moved += 1;
        }
        if bad.is_none() && moved != self.items {
            bad = Some("fewer full buckets than the length");
        }
        if let Some(what) = bad {
            let _ = self.alloc.deallocate(s, off, bytes, align);
            return Err(corrupted(what));
        }
        if staged {
            // SAFETY: the staging buckets of both checked tables.
            unsafe { std::ptr::copy_nonoverlapping(old.staging(), new.staging(), 1) };
        }
        self.seg.store_id(s.id());
        self.table.set_offset(off);
        self.buckets = new_buckets;
        self.growth_left = cap_of(new_buckets) - self.items;
        if let Some(o) = old_off {
            let _ = self
                .alloc
                .deallocate(s, o, table_bytes::<K, V>(old.buckets)?, align);
        }
        Ok(())
    }

    /// Grows for one more entry: the same size when at least half the capacity is deleted
    /// entries, else double.
    fn grow_one(&mut self, s: &SegmentRef<'_>, staged: bool) -> Result<()>
    where
        K: Hash,
    {
        let need = self
            .items
            .checked_add(1)
            .ok_or_else(|| Error::new(ErrorKind::OutOfMemory, "hash map capacity overflow"))?;
        let full = cap_of(self.buckets);
        let target = if need <= full / 2 {
            need
        } else {
            need.max(full + 1)
        };
        self.resize(s, target, staged)
    }

    /// Moves the staged entry into free bucket `i` of `raw`.
    #[inline]
    fn place_staged(&mut self, raw: &Raw<K, V>, i: usize, hash: u64) {
        // SAFETY: `i < buckets` is free, the staging bucket holds an entry; it is moved once
        // (the staging bucket is considered empty afterwards).
        let was_empty = unsafe {
            let was = *raw.ctrl(i) == EMPTY;
            std::ptr::copy_nonoverlapping(raw.staging(), raw.slot(i), 1);
            was
        };
        raw.set_ctrl(i, tag_of(hash));
        self.items += 1;
        if was_empty {
            self.growth_left = self.growth_left.saturating_sub(1);
        }
    }

    /// Inserts the staged (vacant, hash `hash`) entry; returns its bucket. On error the staged
    /// entry is dropped and the map is unchanged.
    fn insert_staged_vacant(
        &mut self,
        s: &SegmentRef<'_>,
        raw: Raw<K, V>,
        free: Option<usize>,
        hash: u64,
    ) -> Result<(Raw<K, V>, usize)>
    where
        K: Hash,
    {
        let slot = match free {
            // SAFETY: a byte of the checked table.
            Some(i) if self.growth_left > 0 || unsafe { *raw.ctrl(i) } == DELETED => Some(i),
            _ => None,
        };
        let (raw, i) = match slot {
            Some(i) => (raw, i),
            None => {
                if let Err(e) = self.grow_one(s, true) {
                    // SAFETY: the old table still holds the staged entry, dropped once.
                    unsafe { std::ptr::drop_in_place(raw.staging()) };
                    return Err(e);
                }
                let raw = self.raw(s)?;
                let i = raw
                    .free_slot(hash)
                    .ok_or_else(|| corrupted("no free bucket after growing"))?;
                (raw, i)
            }
        };
        self.place_staged(&raw, i, hash);
        Ok((raw, i))
    }

    /// Writes `k` into the staging bucket's key (the table exists) and returns its hash.
    #[inline]
    fn stage_key(&self, s: &SegmentRef<'_>, k: impl IntoSegment<K>) -> Result<(Raw<K, V>, u64)>
    where
        K: Hash,
    {
        let raw = self.raw(s)?;
        let key = k.into_segment(s)?;
        // SAFETY: the staging bucket of the checked table, unused (its previous content was
        // moved or dropped); writing does not drop anything.
        let hash = unsafe {
            let st = raw.staging();
            std::ptr::addr_of_mut!((*st).key).write(key);
            self.hasher.hash_one(&(*st).key)
        };
        Ok((raw, hash))
    }

    /// Inserts `k` → `v`; returns the previous value of an equal key (the key already stored
    /// is kept, as `std` does).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full (the map is unchanged, `k` and `v`
    /// are dropped); [`ErrorKind::InvalidArgument`] if the map cannot reach its segment;
    /// [`ErrorKind::Corrupted`] for a corrupt table.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u64, [u8; 256]>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// let mut n = 0;
    /// while m.try_insert(n, [1; 256]).is_ok() {
    ///     n += 1;
    /// }
    /// let e = m.try_insert(n, [2; 256]).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    /// assert_eq!(m.len() as u64, n);
    /// assert_eq!(m.try_insert(0, [3; 256])?, Some([1; 256])); // replacing needs no room
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn try_insert(
        &mut self,
        k: impl IntoSegment<K>,
        v: impl IntoSegment<V>,
    ) -> Result<Option<V>>
    where
        K: Hash + Eq,
    {
        self.with_seg(|m, s| m.insert_in(s, k, v))
    }

    #[inline]
    fn insert_in(
        &mut self,
        s: &SegmentRef<'_>,
        k: impl IntoSegment<K>,
        v: impl IntoSegment<V>,
    ) -> Result<Option<V>>
    where
        K: Hash + Eq,
    {
        self.first_table(s, 1)?;
        let (raw, hash) = self.stage_key(s, k)?;
        let st = raw.staging();
        let value = match v.into_segment(s) {
            Ok(v) => v,
            Err(e) => {
                // SAFETY: the staged key, dropped once.
                unsafe { std::ptr::drop_in_place(std::ptr::addr_of_mut!((*st).key)) };
                return Err(e);
            }
        };
        // SAFETY: the staging bucket's value slot is unused.
        unsafe { std::ptr::addr_of_mut!((*st).value).write(value) };
        // SAFETY: the staged key is initialised and not aliased mutably.
        let staged_key = unsafe { &(*st).key };
        match raw.probe(hash, |k| k == staged_key) {
            Probe::Found(i) => {
                // SAFETY: bucket `i` is full; the staged value moves into it, the old value
                // out, and the staged key is dropped: each once.
                unsafe {
                    let slot = raw.slot(i);
                    let old = std::ptr::addr_of_mut!((*slot).value).read();
                    std::ptr::copy_nonoverlapping(
                        std::ptr::addr_of!((*st).value),
                        std::ptr::addr_of_mut!((*slot).value),
                        1,
                    );
                    std::ptr::drop_in_place(std::ptr::addr_of_mut!((*st).key));
                    Ok(Some(old))
                }
            }
            Probe::Vacant(free) => {
                self.insert_staged_vacant(s, raw, free, hash)?;
                Ok(None)
            }
        }
    }

    /// Inserts `k` → `v`; panics where [`try_insert`](Self::try_insert) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{HashMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<String, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// assert_eq!(m.insert("a", 1), None);
    /// assert_eq!(m.insert("a", 2), Some(1));
    /// assert_eq!(m["a"], 2);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn insert(&mut self, k: impl IntoSegment<K>, v: impl IntoSegment<V>) -> Option<V>
    where
        K: Hash + Eq,
    {
        self.try_insert(k, v).unwrap_or_else(|e| fail(e))
    }

    /// The bucket of `q`, in the resident map.
    #[inline]
    fn find<Q>(&self, q: &Q) -> Result<Option<(Raw<K, V>, usize)>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.items == 0 {
            return Ok(None);
        }
        let s = self.resident()?;
        let raw = self.raw(&s)?;
        let hash = self.hasher.hash_one(q);
        Ok(match raw.probe(hash, |k| k.borrow() == q) {
            Probe::Found(i) => Some((raw, i)),
            Probe::Vacant(_) => None,
        })
    }

    /// The value of `k`.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment (moved out of it) and not empty, or its table is
    /// corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{HashMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<String, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert("k", 5);
    /// assert_eq!(m.get("k"), Some(&5));
    /// assert_eq!(m.get("nope"), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.find(k) {
            // SAFETY: a full bucket of the checked table, in the mapping the header lies in,
            // which lives as long as `&self`; the entry belongs to this map, which `&self`
            // borrows.
            Ok(Some((raw, i))) => Some(unsafe { &(*raw.slot(i)).value }),
            Ok(None) => None,
            Err(e) => fail(e),
        }
    }

    /// The stored key and value of `k`.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{HashMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<String, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert("k", 5);
    /// let (k, v) = m.get_key_value("k").unwrap();
    /// assert_eq!((k.as_str(), *v), ("k", 5));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get_key_value<Q>(&self, k: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.find(k) {
            Ok(Some((raw, i))) => {
                // SAFETY: as in `get`.
                let b = unsafe { &*raw.slot(i) };
                Some((&b.key, &b.value))
            }
            Ok(None) => None,
            Err(e) => fail(e),
        }
    }

    /// The value of `k`, mutably.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 5);
    /// *m.get_mut(&1).unwrap() += 1;
    /// assert_eq!(m[&1], 6);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get_mut<Q>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.find(k) {
            // SAFETY: as in `get`; `&mut self` makes the access exclusive in this process.
            Ok(Some((raw, i))) => Some(unsafe { &mut (*raw.slot(i)).value }),
            Ok(None) => None,
            Err(e) => fail(e),
        }
    }

    /// Whether the map holds `k`. Works for a map moved out of its segment too.
    ///
    /// # Panics
    ///
    /// If the map cannot reach its segment, or its table is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{HashMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<String, ()>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert("here", ());
    /// assert!(m.contains_key("here"));
    /// assert!(!m.contains_key("there"));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.items == 0 {
            return false;
        }
        let look = |s: &SegmentRef<'_>| -> Result<bool> {
            let raw = self.raw(s)?;
            let hash = self.hasher.hash_one(k);
            Ok(matches!(
                raw.probe(hash, |x| x.borrow() == k),
                Probe::Found(_)
            ))
        };
        let r = match self.place() {
            Ok(Where::Resident(s)) => look(&s),
            Ok(Where::Detached(id)) => SegmentRef::with_detached(id, |s| look(&s))
                .unwrap_or_else(|| Err(super::not_mapped(id))),
            Ok(Where::Unbound) => Err(super::unbound()),
            Err(e) => Err(e),
        };
        r.unwrap_or_else(|e| fail(e))
    }

    /// Removes `k` and returns its value (moved out of the segment).
    ///
    /// # Panics
    ///
    /// As [`try_remove_entry`](Self::try_remove_entry).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{HashMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<String, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert("k", 5);
    /// assert_eq!(m.remove("k"), Some(5));
    /// assert_eq!(m.remove("k"), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove<Q>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_entry(k).map(|(_, v)| v)
    }

    /// Removes `k` and returns the stored key and value (moved out of the segment).
    ///
    /// # Panics
    ///
    /// As [`try_remove_entry`](Self::try_remove_entry).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 5);
    /// assert_eq!(m.remove_entry(&1), Some((1, 5)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove_entry<Q>(&mut self, k: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.try_remove_entry(k).unwrap_or_else(|e| fail(e))
    }

    /// [`remove_entry`](Self::remove_entry), returning errors. Works for a map moved out of
    /// its segment too.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the map cannot reach its segment;
    /// [`ErrorKind::Corrupted`] for a corrupt table.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 5);
    /// let mut taken = std::mem::take(&mut *m); // moved out of the segment
    /// assert_eq!(taken.try_remove_entry(&1)?, Some((1, 5)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_remove_entry<Q>(&mut self, k: &Q) -> Result<Option<(K, V)>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.items == 0 {
            return Ok(None);
        }
        self.with_seg(|m, s| {
            let raw = m.raw(s)?;
            let hash = m.hasher.hash_one(k);
            match raw.probe(hash, |x| x.borrow() == k) {
                Probe::Found(i) => {
                    m.erase(&raw, i);
                    // SAFETY: bucket `i` was full and is now free: its entry is moved out once.
                    let b = unsafe { raw.slot(i).read() };
                    Ok(Some((b.key, b.value)))
                }
                Probe::Vacant(_) => Ok(None),
            }
        })
    }

    /// Makes room for `additional` more entries without reallocating.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full (the map is unchanged); as
    /// [`try_insert`](Self::try_insert).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u64, u64>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.try_reserve(100)?;
    /// assert!(m.capacity() >= 100);
    /// assert_eq!(m.try_reserve(1 << 20).unwrap_err().kind(), ErrorKind::OutOfMemory);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_reserve(&mut self, additional: usize) -> Result<()>
    where
        K: Hash,
    {
        let need = self
            .items
            .checked_add(additional)
            .ok_or_else(|| Error::new(ErrorKind::OutOfMemory, "hash map capacity overflow"))?;
        if need <= self.capacity() {
            return Ok(());
        }
        self.with_seg(|m, s| {
            let target = need.max(cap_of(m.buckets) + 1);
            m.resize(s, target, false)
        })
    }

    /// Makes room for `additional` more entries; panics where
    /// [`try_reserve`](Self::try_reserve) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u64, u64>::new()))?;
    /// m.lock().unwrap().reserve(50);
    /// assert!(m.lock().unwrap().capacity() >= 50);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn reserve(&mut self, additional: usize)
    where
        K: Hash,
    {
        self.try_reserve(additional).unwrap_or_else(|e| fail(e));
    }

    /// Shrinks the table to the smallest that holds the entries (freeing it when empty). If
    /// the segment has no room for the smaller table, the map keeps its table.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u64, u64>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.reserve(1000);
    /// m.insert(1, 1);
    /// m.shrink_to_fit();
    /// assert!(m.capacity() < 100);
    /// assert_eq!(m[&1], 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn shrink_to_fit(&mut self)
    where
        K: Hash,
    {
        if self.table.is_null() {
            return;
        }
        let Ok(target) = buckets_for(self.items) else {
            return;
        };
        if target >= self.buckets {
            return;
        }
        let _ = self.with_seg(|m, s| m.resize(s, m.items, false));
    }

    /// Shrinks the table as far as it can while holding at least `min_capacity` entries (and
    /// every entry it has). If the segment has no room for the smaller table, the map keeps
    /// its table.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u64, u64>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.reserve(1000);
    /// m.shrink_to(100);
    /// assert!(m.capacity() >= 100 && m.capacity() < 1000);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn shrink_to(&mut self, min_capacity: usize)
    where
        K: Hash,
    {
        if self.table.is_null() {
            return;
        }
        let Ok(target) = buckets_for(min_capacity.max(self.items)) else {
            return;
        };
        if target >= self.buckets {
            return;
        }
        let _ = self.with_seg(|m, s| m.resize(s, min_capacity.max(m.items), false));
    }

    /// Keeps the entries for which `keep` returns `true`. Works for a map moved out of its
    /// segment too.
    ///
    /// If `keep` panics, the entries not yet visited stay in the map.
    ///
    /// # Panics
    ///
    /// If the map cannot reach its segment, or its table is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u32, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend((0..10).map(|i| (i, i * i)));
    /// m.retain(|k, v| { *v += 1; k % 2 == 0 });
    /// assert_eq!(m.len(), 5);
    /// assert_eq!(m[&4], 17);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        if self.items == 0 {
            return;
        }
        self.with_seg(|m, s| {
            let raw = m.raw(s)?;
            for i in RawIter::new(raw, m.items) {
                // SAFETY: a full bucket of the checked table; `&mut self` makes the access
                // exclusive.
                let b = unsafe { &mut *raw.slot(i) };
                if !keep(&b.key, &mut b.value) {
                    m.erase(&raw, i);
                    // SAFETY: the bucket is now free: its entry is dropped once.
                    unsafe { std::ptr::drop_in_place(raw.slot(i)) };
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| fail(e));
    }

    /// Removes every entry and returns them (moved out of the segment) as an iterator; the
    /// table is kept. Works for a map moved out of its segment too.
    ///
    /// # Panics
    ///
    /// If the map cannot reach its segment, or its table is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(1, 2), (3, 4)]);
    /// let mut out: Vec<(u8, u8)> = m.drain().collect();
    /// out.sort();
    /// assert_eq!(out, [(1, 2), (3, 4)]);
    /// assert!(m.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn drain(&mut self) -> std::vec::IntoIter<(K, V)> {
        if self.items == 0 {
            return std::vec::Vec::new().into_iter();
        }
        self.with_seg(|m, s| m.take_all(s))
            .unwrap_or_else(|e| fail(e))
            .into_iter()
    }

    /// Moves every entry out into a `std` vector, leaving the table empty.
    fn take_all(&mut self, s: &SegmentRef<'_>) -> Result<std::vec::Vec<(K, V)>> {
        let raw = self.raw(s)?;
        let mut out = std::vec::Vec::with_capacity(self.items);
        for i in RawIter::new(raw, self.items) {
            raw.set_ctrl(i, EMPTY);
            // SAFETY: a full bucket, now marked empty: its entry is moved out once.
            let b = unsafe { raw.slot(i).read() };
            out.push((b.key, b.value));
        }
        for g in 0..raw.buckets / GROUP {
            // SAFETY: group `g` of the checked table.
            unsafe { std::ptr::addr_of_mut!((*raw.groups.add(g)).ctrl).write([EMPTY; GROUP]) };
        }
        self.items = 0;
        self.growth_left = cap_of(raw.buckets);
        Ok(out)
    }

    /// The entry of `k`, for in-place manipulation.
    ///
    /// # Panics
    ///
    /// Where [`try_entry`](Self::try_entry) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{HashMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<String, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// for w in ["a", "b", "a"] {
    ///     *m.entry(w).or_insert(0) += 1;
    /// }
    /// assert_eq!(m["a"], 2);
    /// m.entry("b").and_modify(|n| *n *= 10).or_insert(0);
    /// assert_eq!(m["b"], 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn entry(&mut self, k: impl IntoSegment<K>) -> Entry<'_, K, V, S, A>
    where
        K: Hash + Eq,
    {
        self.try_entry(k).unwrap_or_else(|e| fail(e))
    }

    /// [`entry`](Self::entry), returning errors. The map must be inside its segment (an entry
    /// lends references).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment has no room for the key (or for the map's
    /// first table); [`ErrorKind::InvalidArgument`] if the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.try_entry(1)?.or_insert(2);
    /// assert_eq!(m[&1], 2);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_entry(&mut self, k: impl IntoSegment<K>) -> Result<Entry<'_, K, V, S, A>>
    where
        K: Hash + Eq,
    {
        let s = self.resident()?;
        // SAFETY: `self` lies in the mapping and is borrowed for `'_` (the entry's lifetime),
        // so the mapping outlives `s`.
        let s = unsafe { s.detach_lifetime() };
        self.first_table(&s, 1)?;
        let (raw, hash) = self.stage_key(&s, k)?;
        let st = raw.staging();
        // SAFETY: the staged key is initialised.
        let staged_key = unsafe { &(*st).key };
        match raw.probe(hash, |x| x == staged_key) {
            Probe::Found(index) => {
                // SAFETY: the staged key is dropped once; the map keeps its own.
                unsafe { std::ptr::drop_in_place(std::ptr::addr_of_mut!((*st).key)) };
                Ok(Entry::Occupied(OccupiedEntry {
                    map: self,
                    raw,
                    index,
                }))
            }
            Probe::Vacant(_) => Ok(Entry::Vacant(VacantEntry {
                map: Some(self),
                raw,
                hash,
            })),
        }
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, S: ShmSafe, A: ShmAlloc> HashMap<K, V, S, A> {
    /// The raw iterator over the resident map.
    fn raw_iter(&self) -> RawIter<K, V> {
        if self.items == 0 {
            return RawIter::new(Raw::NONE, 0);
        }
        let raw = self
            .resident()
            .and_then(|s| self.raw(&s))
            .unwrap_or_else(|e| fail(e));
        RawIter::new(raw, self.items)
    }

    /// The entries, in table order.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment (moved out of it) and not empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(1, 10), (2, 20)]);
    /// assert_eq!(m.iter().map(|(k, v)| u32::from(*k * *v)).sum::<u32>(), 50);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            inner: self.raw_iter(),
            _life: PhantomData,
        }
    }

    /// Runs `f` on an iterator over the entries, wherever the map is: inside its segment, or
    /// moved out of it (the segment must then be mapped exactly once in this process; it stays
    /// mapped while `f` runs).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the map cannot reach its segment;
    /// [`ErrorKind::Corrupted`] for a corrupt table.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().extend([(1, 10), (2, 20)]);
    /// let taken = std::mem::take(&mut *m.lock().unwrap()); // now on the stack
    /// assert_eq!(taken.with_entries(|it| it.map(|(_, v)| *v).sum::<u8>())?, 30);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_entries<R>(&self, f: impl for<'b> FnOnce(Iter<'b, K, V>) -> R) -> Result<R> {
        let iter = |raw: Raw<K, V>, items: usize| Iter {
            inner: RawIter::new(raw, items),
            _life: PhantomData,
        };
        if self.items == 0 {
            return Ok(f(iter(Raw::NONE, 0)));
        }
        let read = |s: &SegmentRef<'_>| -> Result<R> {
            let raw = self.raw(s)?;
            Ok(f(iter(raw, self.items)))
        };
        super::with_seg_ref(self, &self.seg, read)
    }

    /// The entries, with mutable values.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(1, 10), (2, 20)]);
    /// for (_, v) in m.iter_mut() {
    ///     *v += 1;
    /// }
    /// assert_eq!(m[&2], 21);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        IterMut {
            inner: self.raw_iter(),
            _life: PhantomData,
        }
    }

    /// The keys.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(1, 10), (2, 20)]);
    /// let mut k: Vec<u8> = m.keys().copied().collect();
    /// k.sort();
    /// assert_eq!(k, [1, 2]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn keys(&self) -> Keys<'_, K, V> {
        Keys { inner: self.iter() }
    }

    /// The values.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(1, 10), (2, 20)]);
    /// assert_eq!(m.values().map(|v| u32::from(*v)).sum::<u32>(), 30);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn values(&self) -> Values<'_, K, V> {
        Values { inner: self.iter() }
    }

    /// The values, mutably.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(1, 10), (2, 20)]);
    /// m.values_mut().for_each(|v| *v = 0);
    /// assert!(m.values().all(|v| *v == 0));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn values_mut(&mut self) -> ValuesMut<'_, K, V> {
        ValuesMut {
            inner: self.iter_mut(),
        }
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, S: ShmSafe, A: ShmAlloc> Drop for HashMap<K, V, S, A> {
    /// Drops the entries and frees the table through the segment; leaks them if the map
    /// cannot reach its segment (moved into another segment, its segment unmapped or mapped
    /// twice in this process, a corrupt header). Never panics on its own account.
    fn drop(&mut self) {
        if self.table.is_null() {
            return;
        }
        let _ = self.with_seg(|m, s| m.free(s));
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, S: ShmSafe + Default, A: ShmAlloc + Default> Default
    for HashMap<K, V, S, A>
{
    fn default() -> Self {
        HashMap::with_hasher_and_alloc(S::default(), A::default())
    }
}

impl<K, V, S, A> fmt::Debug for HashMap<K, V, S, A>
where
    K: ShmSafe + Unpin + fmt::Debug,
    V: ShmSafe + Unpin + fmt::Debug,
    S: ShmSafe,
    A: ShmAlloc,
{
    /// Formats the entries, also for a map moved out of its segment (while the segment is
    /// mapped once in this process); otherwise a placeholder with the length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.with_entries(|it| f.debug_map().entries(it).finish()) {
            Ok(r) => r,
            Err(e) => write!(f, "HashMap {{ len: {}, <{}> }}", self.items, e.kind()),
        }
    }
}

impl<K, V, S, A> Clone for HashMap<K, V, S, A>
where
    K: ShmSafe + Unpin + Clone,
    V: ShmSafe + Unpin + Clone,
    S: ShmSafe + Clone,
    A: ShmAlloc + Clone,
{
    /// A copy in the same segment (returned moved out of it: store it there to use it). The
    /// copy has the same table layout, so no key is rehashed.
    ///
    /// # Panics
    ///
    /// If the segment is full, or the map is not inside its segment.
    fn clone(&self) -> Self {
        let mut out = HashMap::with_hasher_and_alloc(self.hasher.clone(), self.alloc.clone());
        if let Some(id) = self.seg.id() {
            out.seg.store_id(id);
        }
        if self.table.is_null() {
            return out;
        }
        let r = (|| -> Result<()> {
            let s = self.resident()?;
            let raw = self.raw(&s)?;
            out.seg.store_id(s.id());
            let bytes = table_bytes::<K, V>(raw.buckets)?;
            let align = align_of::<Group<K, V>>();
            let off = out.alloc.allocate(&s, bytes, align)?;
            let new = Raw {
                groups: s.ptr::<Group<K, V>>(off, raw.buckets / GROUP + 1)?,
                buckets: raw.buckets,
            };
            // Full buckets are marked deleted until their clone is written, so a panicking
            // `clone` leaves a consistent (smaller) copy that drops cleanly.
            for g in 0..raw.buckets / GROUP {
                let w = raw.word(g);
                let full = match_full(w);
                let c = ((w & !((full >> 7) * 0xFF)) | full).to_le_bytes();
                // SAFETY: group `g` of both checked tables.
                unsafe { std::ptr::addr_of_mut!((*new.groups.add(g)).ctrl).write(c) };
            }
            out.table.set_offset(off);
            out.buckets = raw.buckets;
            out.growth_left = self.growth_left;
            for i in RawIter::new(raw, self.items) {
                // SAFETY: a full bucket of the source, borrowed with `&self`.
                let b = unsafe { &*raw.slot(i) };
                let copy = Bucket {
                    key: b.key.clone(),
                    value: b.value.clone(),
                };
                // SAFETY: bucket `i` of the new table, marked deleted (unused).
                unsafe { new.slot(i).write(copy) };
                // SAFETY: a byte of the source's checked table.
                new.set_ctrl(i, unsafe { *raw.ctrl(i) });
                out.items += 1;
            }
            Ok(())
        })();
        r.unwrap_or_else(|e| fail(e));
        out
    }
}

impl<K, V, S, A, S2, A2> PartialEq<HashMap<K, V, S2, A2>> for HashMap<K, V, S, A>
where
    K: ShmSafe + Unpin + Hash + Eq,
    V: ShmSafe + Unpin + PartialEq,
    S: ShmSafe,
    A: ShmAlloc,
    S2: ShmSafe + BuildHasher,
    A2: ShmAlloc,
{
    /// Same length, and every entry of `self` is in `other` with an equal value.
    fn eq(&self, other: &HashMap<K, V, S2, A2>) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<K, V, S, A> Eq for HashMap<K, V, S, A>
where
    K: ShmSafe + Unpin + Hash + Eq,
    V: ShmSafe + Unpin + Eq,
    S: ShmSafe + BuildHasher,
    A: ShmAlloc,
{
}

impl<K, V, S, A, Q> Index<&Q> for HashMap<K, V, S, A>
where
    K: ShmSafe + Unpin + Borrow<Q> + Hash + Eq,
    V: ShmSafe + Unpin,
    S: ShmSafe + BuildHasher,
    A: ShmAlloc,
    Q: Hash + Eq + ?Sized,
{
    type Output = V;

    /// The value of `key`.
    ///
    /// # Panics
    ///
    /// If the key is not in the map, and as [`get`](HashMap::get).
    fn index(&self, key: &Q) -> &V {
        self.get(key)
            .unwrap_or_else(|| panic!("shmkit HashMap: key not found"))
    }
}

impl<K, V, S, A, KI, VI> Extend<(KI, VI)> for HashMap<K, V, S, A>
where
    K: ShmSafe + Unpin + Hash + Eq,
    V: ShmSafe + Unpin,
    S: ShmSafe + BuildHasher,
    A: ShmAlloc,
    KI: IntoSegment<K>,
    VI: IntoSegment<V>,
{
    /// # Panics
    ///
    /// Where [`insert`](HashMap::insert) panics.
    fn extend<I: IntoIterator<Item = (KI, VI)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        let hint = iter.size_hint().0;
        if hint > 0 {
            self.reserve(hint);
        }
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K, V, S, A> IntoIterator for HashMap<K, V, S, A>
where
    K: ShmSafe + Unpin,
    V: ShmSafe + Unpin,
    S: ShmSafe + BuildHasher,
    A: ShmAlloc,
{
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    /// Moves the entries out of the segment (into a process-local `std::vec::Vec`) and frees
    /// the table; works for a map inside its segment or moved out of it.
    ///
    /// # Panics
    ///
    /// If the map cannot reach its segment, or its table is corrupt.
    fn into_iter(mut self) -> std::vec::IntoIter<(K, V)> {
        if self.table.is_null() {
            return std::vec::Vec::new().into_iter();
        }
        self.with_seg(|m, s| {
            let out = m.take_all(s)?;
            m.free(s)?;
            Ok(out)
        })
        .unwrap_or_else(|e| fail(e))
        .into_iter()
    }
}

impl<K, V, S, A> HashMap<K, V, S, A>
where
    K: ShmSafe + Unpin,
    V: ShmSafe + Unpin,
    S: ShmSafe + BuildHasher,
    A: ShmAlloc,
{
    /// The keys, moved out of the segment (the values are dropped, the table freed).
    ///
    /// # Panics
    ///
    /// As `into_iter`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().extend([(1, 10), (2, 20)]);
    /// let taken = std::mem::take(&mut *m.lock().unwrap());
    /// let mut keys: Vec<u8> = taken.into_keys().collect();
    /// keys.sort();
    /// assert_eq!(keys, [1, 2]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn into_keys(self) -> std::vec::IntoIter<K> {
        self.into_iter()
            .map(|(k, _)| k)
            .collect::<std::vec::Vec<_>>()
            .into_iter()
    }

    /// The values, moved out of the segment (the keys are dropped, the table freed).
    ///
    /// # Panics
    ///
    /// As `into_iter`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().extend([(1, 10), (2, 20)]);
    /// let taken = std::mem::take(&mut *m.lock().unwrap());
    /// assert_eq!(taken.into_values().map(u32::from).sum::<u32>(), 30);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn into_values(self) -> std::vec::IntoIter<V> {
        self.into_iter()
            .map(|(_, v)| v)
            .collect::<std::vec::Vec<_>>()
            .into_iter()
    }
}

impl<'a, K: ShmSafe + Unpin, V: ShmSafe + Unpin, S: ShmSafe, A: ShmAlloc> IntoIterator
    for &'a HashMap<K, V, S, A>
{
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

impl<'a, K: ShmSafe + Unpin, V: ShmSafe + Unpin, S: ShmSafe, A: ShmAlloc> IntoIterator
    for &'a mut HashMap<K, V, S, A>
{
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;

    fn into_iter(self) -> IterMut<'a, K, V> {
        self.iter_mut()
    }
}

impl<K, V, S, A, KI, VI, H> IntoSegment<HashMap<K, V, S, A>>
    for std::collections::HashMap<KI, VI, H>
where
    K: ShmSafe + Unpin + Hash + Eq,
    V: ShmSafe + Unpin,
    S: ShmSafe + BuildHasher + Default,
    A: ShmAlloc + Default,
    KI: IntoSegment<K>,
    VI: IntoSegment<V>,
{
    /// A shmkit map with the same entries, in `seg`.
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<HashMap<K, V, S, A>> {
        let mut m = HashMap::try_with_capacity_and_hasher_in(self.len(), S::default(), seg)?;
        for (k, v) in self {
            m.try_insert(k, v)?;
        }
        Ok(m)
    }
}

/// An iterator over a [`HashMap`]'s entries, from [`HashMap::iter`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{hash_map::Iter, HashMap};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.insert(1, 2);
/// let it: Iter<'_, u8, u8> = m.iter();
/// assert_eq!(it.len(), 1);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Iter<'a, K, V> {
    inner: RawIter<K, V>,
    _life: PhantomData<&'a Bucket<K, V>>,
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    #[inline]
    fn next(&mut self) -> Option<(&'a K, &'a V)> {
        let i = self.inner.next()?;
        // SAFETY: a full bucket of the checked table, in the mapping the map lies in, borrowed
        // for `'a` through the map.
        let b = unsafe { &*self.inner.raw.slot(i) };
        Some((&b.key, &b.value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.inner.left, Some(self.inner.left))
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}

// SAFETY: an `Iter` stands for shared references to entries (`&K`, `&V`) that it hands out;
// it is Send and Sync when those references are.
unsafe impl<K: Sync, V: Sync> Send for Iter<'_, K, V> {}
// SAFETY: as above: `&Iter` only reads the position.
unsafe impl<K: Sync, V: Sync> Sync for Iter<'_, K, V> {}

impl<K, V> Clone for Iter<'_, K, V> {
    fn clone(&self) -> Self {
        Iter {
            inner: RawIter {
                raw: self.inner.raw,
                next_group: self.inner.next_group,
                base: self.inner.base,
                bits: self.inner.bits,
                left: self.inner.left,
            },
            _life: PhantomData,
        }
    }
}

/// An iterator over a [`HashMap`]'s entries with mutable values, from [`HashMap::iter_mut`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::HashMap;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.insert(1, 2);
/// for (_, v) in &mut *m {
///     *v = 3;
/// }
/// assert_eq!(m[&1], 3);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct IterMut<'a, K, V> {
    inner: RawIter<K, V>,
    _life: PhantomData<&'a mut Bucket<K, V>>,
}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);

    #[inline]
    fn next(&mut self) -> Option<(&'a K, &'a mut V)> {
        let i = self.inner.next()?;
        // SAFETY: as in `Iter::next`; each bucket is yielded once and the map is borrowed
        // mutably for `'a`.
        let b = unsafe { &mut *self.inner.raw.slot(i) };
        Some((&b.key, &mut b.value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.inner.left, Some(self.inner.left))
    }
}

impl<K, V> ExactSizeIterator for IterMut<'_, K, V> {}

// SAFETY: an `IterMut` stands for `&K` and `&mut V` to distinct entries: Send as those are.
unsafe impl<K: Sync, V: Send> Send for IterMut<'_, K, V> {}
// SAFETY: `&IterMut` hands out nothing (iteration needs `&mut`).
unsafe impl<K: Sync, V: Sync> Sync for IterMut<'_, K, V> {}

/// An iterator over a [`HashMap`]'s keys, from [`HashMap::keys`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::HashMap;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
/// m.lock().unwrap().insert(4, 2);
/// assert_eq!(m.lock().unwrap().keys().next(), Some(&4));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Keys<'a, K, V> {
    inner: Iter<'a, K, V>,
}

impl<'a, K, V> Keys<'a, K, V> {
    /// The keys of an entry iterator.
    pub(crate) fn of(inner: Iter<'a, K, V>) -> Keys<'a, K, V> {
        Keys { inner }
    }
}

impl<'a, K, V> Iterator for Keys<'a, K, V> {
    type Item = &'a K;

    #[inline]
    fn next(&mut self) -> Option<&'a K> {
        self.inner.next().map(|(k, _)| k)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V> ExactSizeIterator for Keys<'_, K, V> {}

/// An iterator over a [`HashMap`]'s values, from [`HashMap::values`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::HashMap;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
/// m.lock().unwrap().insert(4, 2);
/// assert_eq!(m.lock().unwrap().values().next(), Some(&2));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Values<'a, K, V> {
    inner: Iter<'a, K, V>,
}

impl<'a, K, V> Iterator for Values<'a, K, V> {
    type Item = &'a V;

    #[inline]
    fn next(&mut self) -> Option<&'a V> {
        self.inner.next().map(|(_, v)| v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V> ExactSizeIterator for Values<'_, K, V> {}

/// An iterator over a [`HashMap`]'s values, mutably, from [`HashMap::values_mut`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::HashMap;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.insert(4, 2);
/// *m.values_mut().next().unwrap() = 7;
/// assert_eq!(m[&4], 7);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct ValuesMut<'a, K, V> {
    inner: IterMut<'a, K, V>,
}

impl<'a, K, V> Iterator for ValuesMut<'a, K, V> {
    type Item = &'a mut V;

    #[inline]
    fn next(&mut self) -> Option<&'a mut V> {
        self.inner.next().map(|(_, v)| v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V> ExactSizeIterator for ValuesMut<'_, K, V> {}

/// A view into one key's place in a [`HashMap`], from [`HashMap::entry`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{hash_map::Entry, HashMap};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// match m.entry(1) {
///     Entry::Occupied(_) => unreachable!(),
///     Entry::Vacant(v) => { v.insert(5); }
/// }
/// assert!(matches!(m.entry(1), Entry::Occupied(_)));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub enum Entry<
    'a,
    K: ShmSafe + Unpin,
    V: ShmSafe + Unpin,
    S: ShmSafe = DefaultShmHasher,
    A: ShmAlloc = SegmentAlloc,
> {
    /// The key is in the map.
    Occupied(OccupiedEntry<'a, K, V, S, A>),
    /// The key is not in the map.
    Vacant(VacantEntry<'a, K, V, S, A>),
}

/// An entry whose key is in the map.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{hash_map::Entry, HashMap};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.insert(1, 5);
/// if let Entry::Occupied(o) = m.entry(1) {
///     assert_eq!(o.remove(), 5);
/// }
/// assert!(m.is_empty());
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct OccupiedEntry<'a, K: ShmSafe + Unpin, V: ShmSafe + Unpin, S: ShmSafe, A: ShmAlloc> {
    map: &'a mut HashMap<K, V, S, A>,
    raw: Raw<K, V>,
    index: usize,
}

/// An entry whose key is not in the map; it holds the key (already in the segment).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{hash_map::Entry, HashMap, String};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(HashMap::<String, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// if let Entry::Vacant(v) = m.entry("k") {
///     assert_eq!(v.key(), "k");
///     *v.insert(1) += 1;
/// }
/// assert_eq!(m["k"], 2);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct VacantEntry<'a, K: ShmSafe + Unpin, V: ShmSafe + Unpin, S: ShmSafe, A: ShmAlloc> {
    /// `None` once the staged key was used.
    map: Option<&'a mut HashMap<K, V, S, A>>,
    raw: Raw<K, V>,
    hash: u64,
}

impl<'a, K, V, S, A> Entry<'a, K, V, S, A>
where
    K: ShmSafe + Unpin + Hash + Eq,
    V: ShmSafe + Unpin,
    S: ShmSafe + BuildHasher,
    A: ShmAlloc,
{
    /// The value, inserting `default` first if the key is vacant.
    ///
    /// # Panics
    ///
    /// If inserting fails (the segment is full).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// *m.entry(1).or_insert(3) += 1;
    /// assert_eq!(m[&1], 4);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn or_insert(self, default: impl IntoSegment<V>) -> &'a mut V {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(default),
        }
    }

    /// The value, inserting `f()` first if the key is vacant.
    ///
    /// # Panics
    ///
    /// If inserting fails (the segment is full).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{HashMap, Vec};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, Vec<u8>>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.entry(1).or_insert_with(|| vec![1, 2]).push(3);
    /// assert_eq!(m[&1], [1, 2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn or_insert_with<U: IntoSegment<V>>(self, f: impl FnOnce() -> U) -> &'a mut V {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(f()),
        }
    }

    /// The value, inserting `f(&key)` first if the key is vacant.
    ///
    /// # Panics
    ///
    /// If inserting fails (the segment is full).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// assert_eq!(*m.entry(4).or_insert_with_key(|k| k * 2), 8);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn or_insert_with_key<U: IntoSegment<V>>(self, f: impl FnOnce(&K) -> U) -> &'a mut V {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let value = f(v.key());
                v.insert(value)
            }
        }
    }

    /// The value, inserting `V::default()` first if the key is vacant.
    ///
    /// # Panics
    ///
    /// If inserting fails (the segment is full).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{HashMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<String, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// *m.entry("n").or_default() += 5;
    /// assert_eq!(m["n"], 5);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn or_default(self) -> &'a mut V
    where
        V: Default,
    {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(V::default()),
        }
    }

    /// Runs `f` on the value if the key is occupied.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.entry(1).and_modify(|v| *v += 1).or_insert(10);
    /// m.entry(1).and_modify(|v| *v += 1).or_insert(10);
    /// assert_eq!(m[&1], 11);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn and_modify(self, f: impl FnOnce(&mut V)) -> Self {
        match self {
            Entry::Occupied(mut o) => {
                f(o.get_mut());
                Entry::Occupied(o)
            }
            v @ Entry::Vacant(_) => v,
        }
    }

    /// The entry's key (the stored one if occupied, the given one if vacant).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{HashMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<String, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// assert_eq!(m.entry("k").key(), "k");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn key(&self) -> &K {
        match self {
            Entry::Occupied(o) => o.key(),
            Entry::Vacant(v) => v.key(),
        }
    }
}

impl<'a, K, V, S, A> OccupiedEntry<'a, K, V, S, A>
where
    K: ShmSafe + Unpin + Hash + Eq,
    V: ShmSafe + Unpin,
    S: ShmSafe + BuildHasher,
    A: ShmAlloc,
{
    #[inline]
    fn bucket(&self) -> *mut Bucket<K, V> {
        self.raw.slot(self.index)
    }

    /// The stored key.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{hash_map::Entry, HashMap};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 2);
    /// if let Entry::Occupied(o) = m.entry(1) { assert_eq!(*o.key(), 1); }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn key(&self) -> &K {
        // SAFETY: a full bucket of the map's checked table, borrowed through the entry.
        unsafe { &(*self.bucket()).key }
    }

    /// The value.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{hash_map::Entry, HashMap};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 2);
    /// if let Entry::Occupied(o) = m.entry(1) { assert_eq!(*o.get(), 2); }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get(&self) -> &V {
        // SAFETY: as in `key`.
        unsafe { &(*self.bucket()).value }
    }

    /// The value, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{hash_map::Entry, HashMap};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 2);
    /// if let Entry::Occupied(mut o) = m.entry(1) { *o.get_mut() = 3; }
    /// assert_eq!(m[&1], 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get_mut(&mut self) -> &mut V {
        // SAFETY: as in `key`; the entry borrows the map mutably.
        unsafe { &mut (*self.bucket()).value }
    }

    /// The value, borrowed for the map's borrow.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{hash_map::Entry, HashMap};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 2);
    /// if let Entry::Occupied(o) = m.entry(1) { *o.into_mut() = 9; }
    /// assert_eq!(m[&1], 9);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn into_mut(self) -> &'a mut V {
        // SAFETY: as in `get_mut`, for `'a`.
        unsafe { &mut (*self.bucket()).value }
    }

    /// Replaces the value, returning the old one.
    ///
    /// # Panics
    ///
    /// If converting `value` fails (the segment is full).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{hash_map::Entry, HashMap};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 2);
    /// if let Entry::Occupied(mut o) = m.entry(1) { assert_eq!(o.insert(3), 2); }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn insert(&mut self, value: impl IntoSegment<V>) -> V {
        let s = self.map.resident().unwrap_or_else(|e| fail(e));
        let value = value.into_segment(&s).unwrap_or_else(|e| fail(e));
        std::mem::replace(self.get_mut(), value)
    }

    /// Removes the entry, returning its value.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{hash_map::Entry, HashMap};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 2);
    /// if let Entry::Occupied(o) = m.entry(1) { assert_eq!(o.remove(), 2); }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(self) -> V {
        self.remove_entry().1
    }

    /// Removes the entry, returning the stored key and the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{hash_map::Entry, HashMap};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 2);
    /// if let Entry::Occupied(o) = m.entry(1) { assert_eq!(o.remove_entry(), (1, 2)); }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove_entry(self) -> (K, V) {
        self.map.erase(&self.raw, self.index);
        // SAFETY: the bucket was full and is now free: its entry is moved out once.
        let b = unsafe { self.bucket().read() };
        (b.key, b.value)
    }
}

impl<'a, K, V, S, A> VacantEntry<'a, K, V, S, A>
where
    K: ShmSafe + Unpin + Hash + Eq,
    V: ShmSafe + Unpin,
    S: ShmSafe + BuildHasher,
    A: ShmAlloc,
{
    /// The key that would be inserted.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{hash_map::Entry, HashMap};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// if let Entry::Vacant(v) = m.entry(7) { assert_eq!(*v.key(), 7); }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn key(&self) -> &K {
        // SAFETY: the staging bucket holds the key while the entry lives (`map` is `Some`).
        unsafe { &(*self.raw.staging()).key }
    }

    /// Takes the key back (moved out of the segment) without inserting.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{hash_map::Entry, HashMap};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// if let Entry::Vacant(v) = m.entry(7) { assert_eq!(v.into_key(), 7); }
    /// assert!(m.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn into_key(mut self) -> K {
        self.map = None;
        // SAFETY: the staged key, moved out once (`map` is `None`, so drop leaves it).
        unsafe { std::ptr::addr_of!((*self.raw.staging()).key).read() }
    }

    /// Inserts `value` under the key and returns it.
    ///
    /// # Panics
    ///
    /// Where [`try_insert`](Self::try_insert) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{hash_map::Entry, HashMap};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// if let Entry::Vacant(v) = m.entry(7) { assert_eq!(*v.insert(1), 1); }
    /// assert_eq!(m[&7], 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn insert(self, value: impl IntoSegment<V>) -> &'a mut V {
        self.try_insert(value).unwrap_or_else(|e| fail(e))
    }

    /// Inserts `value` under the key and returns it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full (the map is unchanged; the key and
    /// value are dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{hash_map::Entry, HashMap};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(HashMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// if let Entry::Vacant(v) = m.entry(7) { v.try_insert(1)?; }
    /// assert_eq!(m[&7], 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_insert(mut self, value: impl IntoSegment<V>) -> Result<&'a mut V> {
        let map = self
            .map
            .take()
            .unwrap_or_else(|| unreachable!("a vacant entry holds its map"));
        let st = self.raw.staging();
        let r = map.resident().and_then(|s| {
            // SAFETY: the map lies in the mapping and is borrowed for `'a`.
            let s = unsafe { s.detach_lifetime() };
            value.into_segment(&s).map(|v| (s, v))
        });
        let (s, value) = match r {
            Ok(x) => x,
            Err(e) => {
                // SAFETY: the staged key, dropped once.
                unsafe { std::ptr::drop_in_place(std::ptr::addr_of_mut!((*st).key)) };
                return Err(e);
            }
        };
        // SAFETY: the staging bucket's value slot is unused.
        unsafe { std::ptr::addr_of_mut!((*st).value).write(value) };
        let free = self.raw.free_slot(self.hash);
        let (raw, i) = map.insert_staged_vacant(&s, self.raw, free, self.hash)?;
        // SAFETY: bucket `i` now holds the entry, in the map borrowed for `'a`.
        Ok(unsafe { &mut (*raw.slot(i)).value })
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, S: ShmSafe, A: ShmAlloc> Drop
    for VacantEntry<'_, K, V, S, A>
{
    fn drop(&mut self) {
        if self.map.is_some() {
            // SAFETY: the staged key is still there (not inserted, not taken): dropped once.
            unsafe { std::ptr::drop_in_place(std::ptr::addr_of_mut!((*self.raw.staging()).key)) };
        }
    }
}

impl<K, V, S, A> fmt::Debug for Entry<'_, K, V, S, A>
where
    K: ShmSafe + Unpin + Hash + Eq + fmt::Debug,
    V: ShmSafe + Unpin + fmt::Debug,
    S: ShmSafe + BuildHasher,
    A: ShmAlloc,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Occupied(o) => f
                .debug_struct("Occupied")
                .field("key", o.key())
                .field("value", o.get())
                .finish(),
            Entry::Vacant(v) => f.debug_struct("Vacant").field("key", v.key()).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_matches() {
        let w = u64::from_le_bytes([EMPTY, 0x12, DELETED, 0x12, 0x13, EMPTY, 0, 0x7F]);
        assert_eq!(match_empty(w), 0x0000_8000_0000_0080);
        assert_eq!(match_free(w), 0x0000_8000_0080_0080);
        assert_eq!(match_full(w), 0x8080_0080_8000_8000);
        let t = match_tag(w, 0x12);
        assert_ne!(t & 0x8000, 0);
        assert_ne!(t & 0x8000_0000, 0);
        assert_eq!(t & !0x0000_0080_8080_8000, 0);
    }

    #[test]
    fn bucket_counts() {
        assert_eq!(buckets_for(0).unwrap(), 0);
        assert_eq!(buckets_for(1).unwrap(), 8);
        assert_eq!(buckets_for(7).unwrap(), 8);
        assert_eq!(buckets_for(8).unwrap(), 16);
        assert_eq!(buckets_for(1_000_000).unwrap(), 1 << 21);
        assert!(buckets_for(usize::MAX).is_err());
    }
}
