//! The per-process table of live mappings: which address ranges hold which segment.
//!
//! Segment-relative pointers find their segment's base from their own address: [`lookup`]
//! answers "which registered mapping contains this address?" with the mapping's base, length
//! and [`SegmentId`].
//!
//! # Structure
//!
//! * A global table, `RwLock<Vec<Entry>>`, sorted by base address; ranges never overlap
//!   ([`register`] refuses an overlapping range with [`ErrorKind::Busy`]). A miss takes the read
//!   lock and binary-searches.
//! * A global **generation** counter, bumped (under the write lock) every time a mapping is
//!   unregistered. Registering does not bump it: a new mapping cannot invalidate what a thread
//!   has cached about an old, still live one.
//! * A per-thread **last-hit cache**: (base, length, id, generation). A lookup first loads the
//!   generation and checks the cache; it is used only if its generation is current and the
//!   address is in its range. After an unregistration every cache in every thread is stale, so
//!   an address in a mapping that went away is never resolved through the old entry, even by
//!   the thread that cached it (the entry is re-read from the table, where it no longer is).
//!
//! A cache hit costs a thread-local load, an atomic load and two compares; a miss costs the
//! read lock (see `ARCHITECTURE.md` for measured figures). Lookups that come from a live
//! reference into a mapping cannot race with that mapping's removal: the reference keeps the
//! mapping alive, and the mapping is unregistered before it is unmapped.
//!
//! # Contract of a registration
//!
//! [`register`] is `unsafe`: a registered range is trusted to be mapped until its
//! [`Registration`] is dropped, and to hold shared-memory data (not an ordinary Rust allocation
//! whose values are moved around). [`RegisteredRegion`] is the safe door: it owns the
//! [`MappedRegion`] it registers, so the mapping outlives the entry in every case, including
//! `mem::forget` (which then leaks both).
//!
//! # Examples
//!
//! ```
//! use shmkit::ptr::{SegmentId, registry::{self, RegisteredRegion}};
//!
//! let id = SegmentId::random();
//! let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, id)?;
//! let inside = segment.as_ptr().wrapping_add(123);
//! assert_eq!(registry::lookup(inside).map(|m| m.id()), Some(id));
//! let region = segment.into_region(); // unregistered: every thread's cache is now stale
//! assert!(registry::lookup(region.as_ptr().wrapping_add(123)).is_none());
//! # Ok::<(), shmkit::Error>(())
//! ```
#![allow(unsafe_code)]

use std::cell::Cell;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};

use super::segment_id::SegmentId;
use super::segment_view::SegmentView;
use crate::error::{Error, ErrorKind, Result};
use crate::region::MappedRegion;

/// One registered mapping: base address, length and segment id.
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{SegmentId, registry::{self, RegisteredRegion}};
///
/// let id = SegmentId::random();
/// let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, id)?;
/// let m = registry::lookup(segment.as_ptr().wrapping_add(100)).unwrap();
/// assert_eq!((m.base().cast_const(), m.len(), m.id()), (segment.as_ptr(), 4096, id));
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Mapping {
    pub(crate) base: usize,
    pub(crate) len: usize,
    pub(crate) id: SegmentId,
    /// How to allocate in this mapping (managed segments opened for writing), if at all.
    pub(crate) hooks: Option<&'static SegmentHooks>,
}

impl PartialEq for Mapping {
    fn eq(&self, other: &Mapping) -> bool {
        (self.base, self.len, self.id) == (other.base, other.len, other.id)
    }
}

impl Eq for Mapping {}

/// The allocation entry points of a managed segment, registered with its mapping so that the
/// collections can allocate from the segment their header lies in (see `collections`).
///
/// Each function receives the mapping's base and length and works on the segment's own bytes
/// (its control block, lock and algorithm); none keeps state in the process.
pub(crate) struct SegmentHooks {
    /// Allocates `size` bytes aligned to `align`; returns the block's offset from the base.
    pub(crate) allocate:
        unsafe fn(base: *mut u8, len: usize, size: usize, align: usize) -> Result<u64>,
    /// Frees the block at an offset returned by `allocate`.
    pub(crate) deallocate: unsafe fn(base: *mut u8, len: usize, offset: u64) -> Result<()>,
    /// Grows the block at `offset` in place to at least `min` bytes (up to `preferred`);
    /// returns its new usable size, or `Ok(None)` when the neighbour is not free.
    pub(crate) grow_in_place: unsafe fn(
        base: *mut u8,
        len: usize,
        offset: u64,
        min: usize,
        preferred: usize,
    ) -> Result<Option<usize>>,
}

impl Mapping {
    /// The first byte of the mapping.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::{self, RegisteredRegion}};
    /// let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// assert_eq!(segment.view().mapping().base().cast_const(), segment.as_ptr());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn base(&self) -> *mut u8 {
        std::ptr::with_exposed_provenance_mut(self.base)
    }

    /// The length in bytes (never 0).
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// assert_eq!(segment.view().mapping().len(), 64);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: empty ranges cannot be registered.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// assert!(!segment.view().mapping().is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The segment mapped there.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let id = SegmentId::random();
    /// let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, id)?;
    /// assert_eq!(segment.view().mapping().id(), id);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn id(&self) -> SegmentId {
        self.id
    }

    /// The offset of `addr..addr + size` from the base, if that whole range is inside.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// let m = segment.view().mapping();
    /// assert_eq!(m.offset_of(segment.as_ptr().wrapping_add(60), 4), Some(60));
    /// assert_eq!(m.offset_of(segment.as_ptr().wrapping_add(60), 8), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn offset_of(&self, addr: *const u8, size: usize) -> Option<usize> {
        self.offset_of_addr(addr.addr(), size)
    }

    #[inline]
    pub(crate) fn offset_of_addr(&self, addr: usize, size: usize) -> Option<usize> {
        let off = addr.wrapping_sub(self.base);
        (off < self.len && size <= self.len - off).then_some(off)
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("base", &format_args!("{:#x}", self.base))
            .field("len", &self.len)
            .field("id", &self.id)
            .finish()
    }
}

struct Entry {
    mapping: Mapping,
    /// Which registration owns the entry (registrations are unique even for equal ranges).
    key: u64,
    /// Threads using the mapping through [`with_sole_mapping`]: unregistering waits for them.
    pins: Arc<AtomicUsize>,
}

/// The table, sorted by base; ranges do not overlap.
static TABLE: RwLock<Vec<Entry>> = RwLock::new(Vec::new());
/// Bumped under the write lock whenever an entry is removed. Starts at 1 so that the empty
/// cache (generation 0) never matches. On its own cache line: every cached lookup in every
/// thread reads it, and the table's lock word next to it would bounce the line on each miss.
static GENERATION: CachePadded = CachePadded(AtomicU64::new(1));

#[repr(align(128))]
struct CachePadded(AtomicU64);
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

#[derive(Clone, Copy)]
struct Cached {
    base: usize,
    len: usize,
    id: SegmentId,
    hooks: Option<&'static SegmentHooks>,
    generation: u64,
}

/// The empty cache: length 0 and generation 0 never match.
const EMPTY: Cached = Cached {
    base: 0,
    len: 0,
    id: match SegmentId::from_u64(u64::MAX) {
        Some(id) => id,
        None => unreachable!(),
    },
    hooks: None,
    generation: 0,
};

thread_local! {
    // Const-initialised and without drop glue: accessing it is a plain thread-local load, and
    // it stays usable while the thread's other thread-locals are being destroyed.
    static CACHE: Cell<Cached> = const { Cell::new(EMPTY) };
}

/// The registered mapping that contains `addr`, if any.
///
/// Answered from this thread's cache when its last hit contains `addr` and no mapping has been
/// unregistered since; otherwise from the table (under its read lock), and then cached.
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{SegmentId, registry::{self, RegisteredRegion}};
///
/// let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, SegmentId::random())?;
/// assert!(registry::lookup(segment.as_ptr()).is_some());
/// let local = 5u64;
/// assert!(registry::lookup((&raw const local).cast()).is_none());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[inline]
pub fn lookup(addr: *const u8) -> Option<Mapping> {
    lookup_addr(addr.addr())
}

/// [`lookup`] by address.
#[inline]
pub(crate) fn lookup_addr(addr: usize) -> Option<Mapping> {
    // Relaxed is enough (Acquire would add no edge: nothing is read through the generation).
    // An address in a registered mapping reached this thread after that mapping was registered
    // under the table's lock, which was taken after any earlier, overlapping mapping was
    // unregistered (and the generation bumped) under the same lock; so the bump happens before
    // this load, and coherence forbids the load from returning an older generation.
    let generation = GENERATION.0.load(Ordering::Relaxed);
    let c = CACHE.with(Cell::get);
    if c.generation == generation && addr.wrapping_sub(c.base) < c.len {
        return Some(Mapping {
            base: c.base,
            len: c.len,
            id: c.id,
            hooks: c.hooks,
        });
    }
    lookup_slow(addr)
}

/// The registered mapping containing all of `addr..addr + size`, if any.
#[inline]
pub(crate) fn lookup_range(addr: usize, size: usize) -> Option<(Mapping, usize)> {
    let m = lookup_addr(addr)?;
    let off = m.offset_of_addr(addr, size)?;
    Some((m, off))
}

#[cold]
#[inline(never)]
fn lookup_slow(addr: usize) -> Option<Mapping> {
    let table = TABLE.read().unwrap_or_else(PoisonError::into_inner);
    // Stable while we hold the read lock: it only changes under the write lock.
    let generation = GENERATION.0.load(Ordering::Relaxed);
    let after = table.partition_point(|e| e.mapping.base <= addr);
    let e = table.get(after.checked_sub(1)?)?;
    let m = e.mapping;
    if addr - m.base >= m.len {
        return None;
    }
    CACHE.with(|c| {
        c.set(Cached {
            base: m.base,
            len: m.len,
            id: m.id,
            hooks: m.hooks,
            generation,
        })
    });
    Some(m)
}

/// Registers `base..base + len` as a mapping of segment `id`, until the returned
/// [`Registration`] is dropped.
///
/// Prefer [`RegisteredRegion::new`], which is safe. This is for code that owns a mapping in
/// another form (the managed segments) and keeps the registration next to it.
///
/// # Errors
///
/// [`ErrorKind::InvalidArgument`] for a null base, a zero length or a range that wraps around
/// the address space; [`ErrorKind::Busy`] if the range overlaps one already registered.
///
/// # Safety
///
/// Until the returned `Registration` is dropped:
///
/// 1. the whole range stays mapped and readable (drop the registration *before* unmapping; do
///    not leak it unless the memory is never unmapped);
/// 2. the range is shared memory holding [`ShmSafe`](crate::ShmSafe) data, not an ordinary Rust
///    allocation: no Rust code moves an `!Unpin` value inside it (values pinned with
///    [`pin_in_segment`](super::pin_in_segment) stay where they are; code that relocates values,
///    like a growing collection, moves only `Unpin` ones).
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{SegmentId, registry};
///
/// let region = shmkit::MappedRegion::anonymous(4096)?;
/// // SAFETY: `region` outlives the registration (declared after it, dropped before it), and
/// // holds shared memory.
/// let reg = unsafe { registry::register(region.as_ptr(), region.len(), SegmentId::random())? };
/// assert_eq!(registry::lookup(region.as_ptr()).unwrap().id(), reg.id());
/// drop(reg);
/// assert!(registry::lookup(region.as_ptr()).is_none());
/// # Ok::<(), shmkit::Error>(())
/// ```
pub unsafe fn register(base: *const u8, len: usize, id: SegmentId) -> Result<Registration> {
    // SAFETY: the caller's contract is ours.
    unsafe { register_with_hooks(base, len, id, None) }
}

/// [`register`], with the segment's allocation entry points.
///
/// # Safety
///
/// As [`register`]; and `hooks`, given the mapping's base and length, operate on a managed
/// segment laid out there.
pub(crate) unsafe fn register_with_hooks(
    base: *const u8,
    len: usize,
    id: SegmentId,
    hooks: Option<&'static SegmentHooks>,
) -> Result<Registration> {
    if base.is_null() || len == 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "cannot register a mapping at {base:p} of {len} bytes: base and length must be non-zero"
            ),
        ));
    }
    let addr = base.expose_provenance();
    let Some(end) = addr.checked_add(len) else {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("a mapping at {addr:#x} of {len} bytes wraps around the address space"),
        ));
    };
    let mapping = Mapping {
        base: addr,
        len,
        id,
        hooks,
    };
    let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    let mut table = TABLE.write().unwrap_or_else(PoisonError::into_inner);
    let at = table.partition_point(|e| e.mapping.base < addr);
    let overlaps_prev = at > 0 && {
        let p = &table[at - 1].mapping;
        p.base + p.len > addr
    };
    let overlaps_next = table.get(at).is_some_and(|n| n.mapping.base < end);
    if overlaps_prev || overlaps_next {
        let other = if overlaps_prev {
            table[at - 1].mapping
        } else {
            table[at].mapping
        };
        return Err(Error::new(
            ErrorKind::Busy,
            format!(
                "cannot register {addr:#x}..{end:#x} for segment {id}: it overlaps the registered \
                 mapping {:#x}..{:#x} of segment {}",
                other.base,
                other.base + other.len,
                other.id
            ),
        ));
    }
    table.insert(
        at,
        Entry {
            mapping,
            key,
            pins: Arc::new(AtomicUsize::new(0)),
        },
    );
    Ok(Registration { mapping, key })
}

/// Runs `f` on the one registered mapping of segment `id`, which cannot be unregistered (and
/// so not unmapped) until `f` returns: unregistering waits for it. `None` when no mapping, or
/// more than one, has that id: with two mappings of one segment in this process (one of them
/// possibly a private copy) nothing says which one is meant.
///
/// For values that left their segment (a collection popped onto the stack): they free their
/// memory when dropped. The table's lock is not held while `f` runs, so `f` may resolve other
/// pointers; it must not drop the handle of this very mapping (that would wait for itself).
pub(crate) fn with_sole_mapping<R>(id: SegmentId, f: impl FnOnce(Mapping) -> R) -> Option<R> {
    let (mapping, pins) = {
        let table = TABLE.read().unwrap_or_else(PoisonError::into_inner);
        let mut found = table.iter().filter(|e| e.mapping.id == id);
        let one = found.next()?;
        if found.next().is_some() {
            return None;
        }
        // Taken under the read lock: an unregistration (write lock) either removed the entry
        // before (not found) or will see this pin after.
        one.pins.fetch_add(1, Ordering::Acquire);
        (one.mapping, Arc::clone(&one.pins))
    };
    struct Unpin(Arc<AtomicUsize>);
    impl Drop for Unpin {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Release);
        }
    }
    let _unpin = Unpin(pins);
    Some(f(mapping))
}

fn unregister(key: u64) {
    let pins = {
        let mut table = TABLE.write().unwrap_or_else(PoisonError::into_inner);
        let pins = table
            .iter()
            .position(|e| e.key == key)
            .map(|i| table.remove(i).pins);
        // Under the write lock: a reader holding the read lock sees a generation that matches
        // the table it searches.
        GENERATION.0.fetch_add(1, Ordering::Relaxed);
        pins
    };
    // The entry is gone, so no new pin can be taken; wait for the threads still using it.
    if let Some(pins) = pins {
        let mut spins = 0u32;
        while pins.load(Ordering::Acquire) != 0 {
            spins += 1;
            if spins < 100 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
        }
    }
}

/// A registered mapping; dropping it unregisters the range (and invalidates every thread's
/// cached lookups). Returned by [`register`].
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{SegmentId, registry};
///
/// let region = shmkit::MappedRegion::anonymous(4096)?;
/// // SAFETY: `region` outlives the registration and holds shared memory.
/// let reg = unsafe { registry::register(region.as_ptr(), region.len(), SegmentId::random())? };
/// let view = reg.view();
/// assert_eq!(view.len(), 4096);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[must_use = "dropping a Registration unregisters the mapping at once"]
pub struct Registration {
    mapping: Mapping,
    key: u64,
}

impl Registration {
    /// The registered mapping.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry};
    /// let region = shmkit::MappedRegion::anonymous(64)?;
    /// // SAFETY: `region` outlives the registration and holds shared memory.
    /// let reg = unsafe { registry::register(region.as_ptr(), 64, SegmentId::random())? };
    /// assert_eq!(reg.mapping().len(), 64);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn mapping(&self) -> Mapping {
        self.mapping
    }

    /// The segment id it was registered with.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry};
    /// let region = shmkit::MappedRegion::anonymous(64)?;
    /// let id = SegmentId::random();
    /// // SAFETY: `region` outlives the registration and holds shared memory.
    /// let reg = unsafe { registry::register(region.as_ptr(), 64, id)? };
    /// assert_eq!(reg.id(), id);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn id(&self) -> SegmentId {
        self.mapping.id
    }

    /// A view of the mapping, for offsets and handles; valid while the registration lives.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry};
    /// let region = shmkit::MappedRegion::anonymous(64)?;
    /// // SAFETY: `region` outlives the registration and holds shared memory.
    /// let reg = unsafe { registry::register(region.as_ptr(), 64, SegmentId::random())? };
    /// assert_eq!(reg.view().ptr_at::<u64>(8)?.cast_const(), region.as_ptr().wrapping_add(8).cast());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn view(&self) -> SegmentView<'_> {
        SegmentView::new(self.mapping)
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("mapping", &self.mapping)
            .finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        unregister(self.key);
    }
}

/// A [`MappedRegion`] registered as a segment: the safe way to register a mapping.
///
/// It owns the region, so the registration cannot outlive the mapping; dropping it unregisters
/// first and unmaps second. It dereferences to the region for everything else.
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{SegmentId, SegmentPtr, registry::RegisteredRegion};
///
/// let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, SegmentId::random())?;
/// // SAFETY: these bytes are only accessed through these references.
/// let (p, target): (&SegmentPtr<u64>, &u64) = unsafe { (segment.get(0)?, segment.get(64)?) };
/// p.set(target)?;
/// assert_eq!(p.get()?.cast_const(), target as *const u64);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct RegisteredRegion {
    // Field order matters: the registration is dropped before the region is unmapped.
    registration: Registration,
    region: MappedRegion,
}

impl RegisteredRegion {
    /// Registers the whole of `region` as a mapping of segment `id`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for an empty region; [`ErrorKind::Busy`] if it overlaps a
    /// registered mapping (it cannot, unless registered through [`register`] by hand).
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// assert_eq!(segment.len(), 64);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new(region: MappedRegion, id: SegmentId) -> Result<RegisteredRegion> {
        // SAFETY: the returned value owns `region` and drops the registration before it (field
        // order), and `into_region` unregisters before handing the region back; if it is leaked,
        // both are leaked and the memory stays mapped. The region is shared memory from
        // `mmap`/`shmat`, never a Rust allocation, and `RegisteredRegion` hands out no `&mut`
        // into it.
        let registration = unsafe { register(region.as_ptr(), region.len(), id)? };
        Ok(RegisteredRegion {
            registration,
            region,
        })
    }

    /// The segment id.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let id = SegmentId::random();
    /// let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, id)?;
    /// assert_eq!(segment.id(), id);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn id(&self) -> SegmentId {
        self.registration.id()
    }

    /// A view of the whole region as a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// assert_eq!(segment.view().base().cast_const(), segment.as_ptr());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn view(&self) -> SegmentView<'_> {
        self.registration.view()
    }

    /// Unregisters the region and gives it back.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::{self, RegisteredRegion}};
    /// let segment = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// let region = segment.into_region();
    /// assert!(registry::lookup(region.as_ptr()).is_none());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn into_region(self) -> MappedRegion {
        let RegisteredRegion {
            registration,
            region,
        } = self;
        drop(registration);
        region
    }
}

impl Deref for RegisteredRegion {
    type Target = MappedRegion;

    fn deref(&self) -> &MappedRegion {
        &self.region
    }
}

impl fmt::Debug for RegisteredRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredRegion")
            .field("mapping", &self.registration.mapping)
            .field("region", &self.region)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(len: usize) -> MappedRegion {
        MappedRegion::anonymous(len).unwrap()
    }

    #[test]
    fn lookup_finds_the_containing_mapping_only() {
        let a = RegisteredRegion::new(anon(4096), SegmentId::random()).unwrap();
        let b = RegisteredRegion::new(anon(8192), SegmentId::random()).unwrap();
        for (seg, len) in [(&a, 4096), (&b, 8192)] {
            let base = seg.as_ptr();
            for off in [0, 1, len / 2, len - 1] {
                let m = lookup(base.wrapping_add(off)).unwrap();
                assert_eq!((m.base, m.len, m.id), (base.addr(), len, seg.id()));
            }
            assert!(
                lookup(base.wrapping_add(len)).is_none_or(|m| m.base == base.addr() + len),
                "one past the end is not in the mapping"
            );
        }
        assert!(lookup(std::ptr::null()).is_none());
    }

    #[test]
    fn overlapping_and_degenerate_registrations_are_refused() {
        let region = anon(3 * 4096);
        let base = region.as_ptr();
        // SAFETY: `region` outlives every registration in this test and holds shared memory.
        unsafe {
            let mid = register(base.wrapping_add(4096), 4096, SegmentId::random()).unwrap();
            for (start, len) in [(0, 4097), (4095, 2), (8191, 1), (4096, 1), (0, 3 * 4096)] {
                let e = register(base.wrapping_add(start), len, SegmentId::random()).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Busy, "{start}+{len}: {e}");
            }
            let left = register(base, 4096, SegmentId::random()).unwrap();
            let right = register(base.wrapping_add(8192), 4096, SegmentId::random()).unwrap();
            assert_eq!(
                register(base, 0, SegmentId::random()).unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
            assert_eq!(
                register(std::ptr::null(), 1, SegmentId::random())
                    .unwrap_err()
                    .kind(),
                ErrorKind::InvalidArgument
            );
            assert_eq!(
                register(
                    std::ptr::without_provenance(usize::MAX - 10),
                    100,
                    SegmentId::random()
                )
                .unwrap_err()
                .kind(),
                ErrorKind::InvalidArgument
            );
            assert_eq!(lookup(base.wrapping_add(4096)).unwrap().id(), mid.id());
            assert_eq!(lookup(base.wrapping_add(4095)).unwrap().id(), left.id());
            assert_eq!(lookup(base.wrapping_add(8192)).unwrap().id(), right.id());
        }
    }

    #[test]
    fn unregistering_invalidates_the_cache_of_every_thread() {
        let seg = RegisteredRegion::new(anon(4096), SegmentId::random()).unwrap();
        let addr = seg.as_ptr().addr() + 10;
        assert!(lookup_addr(addr).is_some()); // cached here
        let (to_main, from_thread) = std::sync::mpsc::channel();
        let (to_thread, from_main) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            assert!(lookup_addr(addr).is_some()); // cached there
            to_main.send(()).unwrap();
            from_main.recv().unwrap();
            lookup_addr(addr)
        });
        from_thread.recv().unwrap();
        let region = seg.into_region();
        assert!(lookup_addr(addr).is_none());
        to_thread.send(()).unwrap();
        assert!(t.join().unwrap().is_none());
        drop(region);
    }

    #[test]
    fn same_segment_mapped_twice_resolves_per_mapping() {
        let id = SegmentId::random();
        let a = RegisteredRegion::new(anon(4096), id).unwrap();
        let b = RegisteredRegion::new(anon(4096), id).unwrap();
        assert_eq!(lookup(a.as_ptr()).unwrap().base, a.as_ptr().addr());
        assert_eq!(lookup(b.as_ptr()).unwrap().base, b.as_ptr().addr());
        assert_eq!(lookup(a.as_ptr()).unwrap().base, a.as_ptr().addr());
    }
}
