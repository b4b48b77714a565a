//! [`Arena`]: the byte area a memory algorithm manages, and the one door through which the
//! algorithms read and write it.
//!
//! Every access to the area goes through this file. Metadata words are read and written with
//! relaxed atomic loads and stores of aligned `u64`s: other processes may write the same bytes at
//! any moment (a bug, a crash, a hostile peer), and an atomic access is defined whatever they do,
//! where a plain read racing with a write would be undefined behaviour. Under the segment lock
//! nobody else writes, so relaxed ordering is enough; the lock's acquire/release orders the rest.
//! On x86-64 these compile to plain `mov`s.
//!
//! # The door's checks
//!
//! [`Arena::load`] and [`Arena::store`] take an offset into the area. The algorithms validate
//! every offset they read from the area before using it, so an out-of-range offset here would be
//! an algorithm bug, not bad data: it trips a `debug_assert!` in debug builds. In release builds
//! the door still refuses it, by reading 0 (a word that fails every header check) and dropping the
//! write, so no out-of-bounds access can happen even then. Offsets are also rounded down to a
//! multiple of 8, which keeps every atomic access aligned.
#![allow(unsafe_code)]

use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::error::{Error, ErrorKind, Result};
use crate::region::MappedRegion;

/// What keeps an arena's memory alive.
enum Owner {
    /// The caller, per the contract of [`Arena::new`].
    Borrowed,
    /// A heap buffer from [`Arena::heap`], freed on drop (`Box::into_raw` of a `[u128]` slice).
    Heap(usize),
    /// A mapping from [`Arena::from_region`], unmapped on drop.
    Region(#[allow(dead_code)] MappedRegion),
}

/// A byte area `[0, len)` for a [`MemoryAlgorithm`](super::MemoryAlgorithm): a base address and a
/// length, with word-atomic accessors.
///
/// Everything an algorithm stores lives inside the area and refers to other places by their
/// offset from the base, so the area may be mapped at a different address in each process.
/// Offsets handed out by the algorithms are offsets into the arena; add them to
/// [`as_ptr`](Arena::as_ptr) to get an address in this process.
///
/// The base is aligned to 16 bytes and the length is a multiple of 16 (the constructors round it
/// down), so an offset aligned to `a <= 16` is an address aligned to `a`. Mappings are
/// page-aligned, so for arenas over a whole mapping that holds for any `a` up to the page size.
///
/// # Examples
///
/// ```
/// use shmkit::alloc::Arena;
///
/// let arena = Arena::heap(4096)?;
/// assert_eq!(arena.len(), 4096);
/// arena.write(100, b"hello")?;
/// let mut buf = [0; 5];
/// arena.read(100, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Arena {
    base: NonNull<u8>,
    len: usize,
    owner: Owner,
    /// Unit tests only: how many more metadata stores reach memory (a simulated crash drops the
    /// rest).
    #[cfg(test)]
    budget: std::sync::atomic::AtomicUsize,
}

// SAFETY: the arena refers to memory that is not tied to a thread (a heap buffer it owns, a
// mapping it owns, or memory the caller promised stays valid); every access through `&Arena` is an
// atomic load or store, so sharing it between threads is as safe as sharing `[AtomicU64]`.
unsafe impl Send for Arena {}
// SAFETY: see `Send`.
unsafe impl Sync for Arena {}

impl fmt::Debug for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena")
            .field("base", &self.base)
            .field("len", &self.len)
            .finish()
    }
}

const ALIGN: usize = 16;

fn check_base(ptr: *mut u8, len: usize) -> Result<(NonNull<u8>, usize)> {
    let Some(base) = NonNull::new(ptr) else {
        return Err(Error::new(ErrorKind::InvalidArgument, "arena base is null"));
    };
    if !ptr.addr().is_multiple_of(ALIGN) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("arena base {ptr:p} is not aligned to {ALIGN} bytes"),
        ));
    }
    Ok((base, len & !(ALIGN - 1)))
}

impl Arena {
    /// An arena over `len` bytes at `ptr`, borrowed from the caller. The length is rounded down
    /// to a multiple of 16.
    ///
    /// # Safety
    ///
    /// Until the arena (and any algorithm built on it) is dropped:
    ///
    /// * `ptr..ptr + len` stays valid for reads and writes (mapped, writable, not freed);
    /// * no Rust reference (`&[u8]`, `&mut [u8]`, `&T`) to any of those bytes is used. Other
    ///   processes and atomic accesses may touch them: that is what the arena expects.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `ptr` is null or not aligned to 16 bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::MappedRegion;
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    ///
    /// let region = MappedRegion::anonymous(1 << 16)?;
    /// // SAFETY: `region` outlives `algo` below, and no slice of it is taken meanwhile.
    /// let arena = unsafe { Arena::new(region.as_mut_ptr(), region.len()) }?;
    /// let mut algo = BestFit::init(arena)?;
    /// let off = algo.allocate(100)?;
    /// assert!(off + 100 <= region.len());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub unsafe fn new(ptr: *mut u8, len: usize) -> Result<Arena> {
        let (base, len) = check_base(ptr, len)?;
        Ok(Arena {
            base,
            len,
            owner: Owner::Borrowed,
            #[cfg(test)]
            budget: usize::MAX.into(),
        })
    }

    /// An arena over a fresh, zeroed heap buffer of `len` bytes (rounded down to a multiple of
    /// 16): process-local memory, for tests and for heap-backed segments.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the buffer cannot be allocated.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = shmkit::alloc::Arena::heap(1000)?;
    /// assert_eq!(arena.len(), 992);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn heap(len: usize) -> Result<Arena> {
        let words = len / ALIGN;
        let mut v: Vec<u128> = Vec::new();
        v.try_reserve_exact(words).map_err(|_| {
            Error::new(
                ErrorKind::OutOfMemory,
                format!("cannot allocate a {len}-byte heap arena"),
            )
        })?;
        v.resize(words, 0);
        let raw = Box::into_raw(v.into_boxed_slice());
        let ptr = raw.cast::<u8>();
        let (base, len) = check_base(ptr, words * ALIGN)?;
        Ok(Arena {
            base,
            len,
            owner: Owner::Heap(words),
            #[cfg(test)]
            budget: usize::MAX.into(),
        })
    }

    /// An arena over a whole writable [`MappedRegion`], which it keeps mapped until dropped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`] for a read-only region; [`ErrorKind::InvalidArgument`] if
    /// the region does not start on a 16-byte boundary (it was mapped from an odd offset).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::MappedRegion;
    /// use shmkit::alloc::{Arena, MemoryAlgorithm, SeqFit};
    ///
    /// let arena = Arena::from_region(MappedRegion::anonymous(1 << 16)?)?;
    /// let mut algo = SeqFit::init(arena)?;
    /// algo.allocate(10)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn from_region(region: MappedRegion) -> Result<Arena> {
        if !region.access().is_writable() {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                "an arena needs a writable region",
            ));
        }
        let (base, len) = check_base(region.as_mut_ptr(), region.len())?;
        Ok(Arena {
            base,
            len,
            owner: Owner::Region(region),
            #[cfg(test)]
            budget: usize::MAX.into(),
        })
    }

    /// The arena's length in bytes (a multiple of 16).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::alloc::Arena::heap(64)?.len(), 64);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the arena has no bytes at all.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::alloc::Arena::heap(8)?.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of byte 0 in this process: offsets from the algorithms are relative to it.
    /// Writing through it is the caller's business (see [`Arena::new`]'s contract for what the
    /// algorithms expect of the bytes they manage).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = shmkit::alloc::Arena::heap(64)?;
    /// assert_eq!(arena.as_ptr() as usize % 16, 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    fn check_range(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "range {offset}..{offset}+{len} is outside the arena ({} bytes)",
                    self.len
                ),
            )),
        }
    }

    /// Copies bytes from the arena at `offset` into `buf`, with atomic byte loads (defined even
    /// while another process writes them).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the range leaves the arena.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = shmkit::alloc::Arena::heap(64)?;
    /// let mut buf = [1; 4];
    /// arena.read(60, &mut buf)?;
    /// assert_eq!(buf, [0; 4]);
    /// assert!(arena.read(61, &mut buf).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check_range(offset, buf.len())?;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.byte(offset + i).load(Ordering::Relaxed);
        }
        Ok(())
    }

    /// Copies `data` into the arena at `offset`, with atomic byte stores.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the range leaves the arena.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = shmkit::alloc::Arena::heap(64)?;
    /// arena.write(0, &[1, 2, 3])?;
    /// assert!(arena.write(63, &[1, 2]).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.check_range(offset, data.len())?;
        for (i, b) in data.iter().enumerate() {
            self.byte(offset + i).store(*b, Ordering::Relaxed);
        }
        Ok(())
    }

    fn byte(&self, offset: usize) -> &AtomicU8 {
        debug_assert!(offset < self.len);
        // SAFETY: callers checked `offset < len`, so the byte is inside the area, which is valid
        // for reads and writes while `self` lives (the constructors' contracts); AtomicU8 has
        // alignment 1 and may alias bytes other processes write.
        unsafe { AtomicU8::from_ptr(self.base.as_ptr().add(offset)) }
    }

    /// The metadata word at `offset` (rounded down to a multiple of 8), or 0 if it lies outside
    /// the arena (an algorithm bug: debug builds panic).
    #[inline(always)]
    pub(crate) fn load(&self, offset: usize) -> u64 {
        match self.word(offset) {
            Some(w) => w.load(Ordering::Relaxed),
            None => 0,
        }
    }

    /// Stores the metadata word at `offset` (rounded down to a multiple of 8); a store outside the
    /// arena (an algorithm bug: debug builds panic) is dropped.
    #[inline(always)]
    pub(crate) fn store(&self, offset: usize, value: u64) {
        #[cfg(test)]
        if !self.spend_store() {
            return;
        }
        if let Some(w) = self.word(offset) {
            w.store(value, Ordering::Relaxed);
        }
    }

    /// Zeroes the words of `start..end` (both rounded down to multiples of 8), clamped to the
    /// arena.
    pub(crate) fn zero(&self, start: usize, end: usize) {
        let end = end.min(self.len) & !7;
        let mut o = start & !7;
        while o < end {
            self.store(o, 0);
            o += 8;
        }
    }

    /// Unit tests: lets only the next `n` metadata stores through (a crash after them).
    #[cfg(test)]
    pub(crate) fn set_store_budget(&self, n: usize) {
        self.budget.store(n, Ordering::Relaxed);
    }

    /// Unit tests: the stores left in the budget.
    #[cfg(test)]
    pub(crate) fn store_budget(&self) -> usize {
        self.budget.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn spend_store(&self) -> bool {
        let b = self.budget.load(Ordering::Relaxed);
        if b == 0 {
            return false;
        }
        self.budget.store(b - 1, Ordering::Relaxed);
        true
    }

    #[inline(always)]
    fn word(&self, offset: usize) -> Option<&AtomicU64> {
        let offset = offset & !7;
        let in_bounds = self.len >= 8 && offset <= self.len - 8;
        debug_assert!(
            in_bounds,
            "memory algorithm bug: unvalidated offset {offset} (arena of {} bytes)",
            self.len
        );
        if !in_bounds {
            return None;
        }
        // SAFETY: `offset + 8 <= len`, so the word is inside the area, valid for reads and writes
        // while `self` lives (the constructors' contracts); `base` is 16-aligned and `offset` a
        // multiple of 8, so the pointer is aligned for AtomicU64; atomics may alias memory other
        // processes write.
        Some(unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast::<u64>()) })
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        if let Owner::Heap(words) = self.owner {
            let slice =
                std::ptr::slice_from_raw_parts_mut(self.base.as_ptr().cast::<u128>(), words);
            // SAFETY: `Arena::heap` made `base` with `Box::into_raw` of a boxed `[u128]` of
            // `words` elements, and nothing else frees it; no references into it outlive `self`.
            drop(unsafe { Box::from_raw(slice) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_out_of_range_is_refused() {
        let a = Arena::heap(64).unwrap();
        a.store(8, 0x1234);
        assert_eq!(a.load(8), 0x1234);
        assert_eq!(a.load(12), 0x1234, "offsets round down to 8");
        a.zero(0, 64);
        assert_eq!(a.load(8), 0);
    }

    #[test]
    fn misaligned_base_is_refused() {
        let mut v = vec![0u128; 4];
        let p = v.as_mut_ptr().cast::<u8>().wrapping_add(8);
        // SAFETY: the buffer outlives the attempt; it fails before any access.
        let e = unsafe { Arena::new(p, 32) }.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn region_arena_keeps_the_mapping() {
        let r = MappedRegion::anonymous(4096).unwrap();
        assert!(Arena::from_region(r).is_ok());
    }
}
