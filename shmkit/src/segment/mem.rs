//! [`Mem`]: a segment's bytes, and the one door through which the segment layer touches them.
//!
//! Everything the segment stores for itself (the control block, object headers, names, index
//! nodes) is read and written here as aligned `u64` words with relaxed atomic loads and stores:
//! other processes may write the same bytes at any moment (a bug, a crash, a hostile peer), and
//! atomic accesses are defined whatever they do. Under the segment lock nobody else writes
//! them, so relaxed ordering suffices; the lock's acquire and release order the rest. On x86-64
//! these are plain `mov`s.
//!
//! # The door's checks
//!
//! Word accessors take an offset from the segment's base. The segment validates every offset it
//! reads from the segment before using it, so an out-of-range word offset here is a bug in the
//! segment layer: it trips a `debug_assert!`, and in release builds the door still refuses it
//! (a load reads 0, which no validity check accepts; a store is dropped). Offsets are rounded
//! down to a multiple of 8, which keeps every atomic access aligned.
//!
//! Typed views ([`Mem::get`], [`Mem::get_slice`]) check bounds and the *address* alignment of
//! the result, and are `unsafe`: their contract is the segment's protocol (only the value bytes
//! of a live object are viewed, and nothing in this process writes them meanwhile).
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::alloc::Arena;
use crate::error::{Error, ErrorKind, Result};
use crate::region::MappedRegion;
use crate::shm_safe::ShmSafe;

/// The alignment of heap-backed segments: a page, as for mappings, so that every object
/// alignment a segment accepts (up to 4096) is an address alignment too.
pub(crate) const HEAP_ALIGN: usize = 4096;

/// What keeps the bytes alive.
enum Backing {
    /// A mapping, unmapped when the `Mem` drops.
    Region(MappedRegion),
    /// A zeroed heap buffer allocated with this layout, freed on drop.
    Heap(Layout),
    /// The caller's buffer, per the contract of [`Mem::borrowed`].
    Borrowed,
}

/// A segment's bytes `[0, len)`: a base address, a length, and what keeps them alive.
pub(crate) struct Mem {
    base: NonNull<u8>,
    len: usize,
    backing: Backing,
}

// SAFETY: the bytes are not tied to a thread (a mapping or heap buffer the value owns, or a
// buffer the caller lent for the value's lifetime); every access through `&Mem` is an atomic
// load or store, or a typed view whose contract covers concurrency.
unsafe impl Send for Mem {}
// SAFETY: see `Send`.
unsafe impl Sync for Mem {}

impl fmt::Debug for Mem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mem")
            .field("base", &self.base)
            .field("len", &self.len)
            .finish()
    }
}

impl Mem {
    /// The bytes of a whole writable mapping (shared read-write, or private), kept mapped until
    /// the `Mem` drops.
    pub(crate) fn from_region(region: MappedRegion) -> Result<Mem> {
        if !region.access().is_writable() {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                "a segment needs a writable (shared or private) mapping",
            ));
        }
        let base = NonNull::new(region.as_mut_ptr())
            .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "a mapping at address 0"))?;
        Ok(Mem {
            base,
            len: region.len(),
            backing: Backing::Region(region),
        })
    }

    /// `len` zeroed bytes on the heap, aligned to [`HEAP_ALIGN`].
    pub(crate) fn heap(len: usize) -> Result<Mem> {
        let oom = || {
            Error::new(
                ErrorKind::OutOfMemory,
                format!("cannot allocate a {len}-byte heap segment"),
            )
        };
        if len == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "a heap segment needs a non-zero size",
            ));
        }
        let layout = Layout::from_size_align(len, HEAP_ALIGN).map_err(|_| oom())?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let base = NonNull::new(ptr).ok_or_else(oom)?;
        Ok(Mem {
            base,
            len,
            backing: Backing::Heap(layout),
        })
    }

    /// The caller's `len` bytes at `ptr` (aligned to 16).
    ///
    /// # Safety
    ///
    /// Until the `Mem` drops, `ptr..ptr + len` stays valid for reads and writes and nothing
    /// else accesses it (the caller holds an exclusive borrow of it for that long).
    pub(crate) unsafe fn borrowed(ptr: *mut u8, len: usize) -> Result<Mem> {
        let base = NonNull::new(ptr)
            .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "a null buffer"))?;
        if !ptr.addr().is_multiple_of(16) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "a segment buffer must be aligned to 16 bytes",
            ));
        }
        Ok(Mem {
            base,
            len,
            backing: Backing::Borrowed,
        })
    }

    /// Runs `f` with a temporary `Mem` over the whole of `region`, which must be writable (a
    /// creator formatting a segment before publishing it).
    pub(crate) fn scoped<R>(region: &MappedRegion, f: impl FnOnce(&Mem) -> Result<R>) -> Result<R> {
        if !region.access().is_writable() {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                "formatting a segment needs a writable mapping",
            ));
        }
        // SAFETY: the region stays mapped while `&region` lives, which outlives the temporary
        // (it is dropped before this function returns and cannot escape `f`: `Mem` is neither
        // `Clone` nor handed out by value); its accesses are atomic, like every other access
        // the segment layer makes to these bytes.
        let mem = unsafe { Mem::borrowed(region.as_mut_ptr(), region.len()) }?;
        f(&mem)
    }

    /// A fresh heap `Mem` holding a copy of the whole of `region` (which may be read-only):
    /// the snapshot behind read-only and copy-on-write opens of System V segments.
    pub(crate) fn heap_snapshot(region: &MappedRegion) -> Result<Mem> {
        let mem = Mem::heap(region.len())?;
        let mut chunk = vec![0u8; 1 << 16];
        let mut off = 0;
        while off < region.len() {
            let n = chunk.len().min(region.len() - off);
            region.read_at(off, &mut chunk[..n])?;
            let mut i = 0;
            while i + 8 <= n {
                let word = u64::from_ne_bytes(chunk[i..i + 8].try_into().unwrap_or([0; 8]));
                mem.store(off + i, word);
                i += 8;
            }
            off += n;
        }
        Ok(mem)
    }

    /// A fresh heap `Mem` of `len` bytes (at least this one's) holding a copy of these bytes:
    /// growing a heap segment.
    pub(crate) fn heap_copy(&self, len: usize) -> Result<Mem> {
        let new = Mem::heap(len.max(self.len))?;
        let mut off = 0;
        while off + 8 <= self.len {
            new.store(off, self.load(off));
            off += 8;
        }
        Ok(new)
    }

    /// The number of bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The address of byte 0 in this process.
    pub(crate) fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// The mapping, for segments over one (to flush it).
    pub(crate) fn region(&self) -> Option<&MappedRegion> {
        match &self.backing {
            Backing::Region(r) => Some(r),
            _ => None,
        }
    }

    /// Whether `off..off + len` lies inside the segment.
    #[inline(always)]
    pub(crate) fn contains(&self, off: usize, len: usize) -> bool {
        off.checked_add(len).is_some_and(|end| end <= self.len)
    }

    /// The offset of `ptr`'s `size` bytes from the base, if they lie inside the segment.
    pub(crate) fn offset_of(&self, ptr: *const u8, size: usize) -> Option<usize> {
        let off = ptr.addr().checked_sub(self.base.as_ptr().addr())?;
        self.contains(off, size).then_some(off)
    }

    #[inline(always)]
    fn word(&self, off: usize) -> Option<&AtomicU64> {
        let off = off & !7;
        let ok = self.len >= 8 && off <= self.len - 8;
        debug_assert!(
            ok,
            "segment bug: unvalidated offset {off} (segment of {} bytes)",
            self.len
        );
        if !ok {
            return None;
        }
        // SAFETY: `off + 8 <= len`, so the word is inside the bytes, which stay valid while
        // `self` lives (the constructors' contracts); the base is 16-aligned (mappings and heap
        // buffers are page-aligned, borrowed buffers are checked) and `off` a multiple of 8, so
        // the pointer is aligned for `AtomicU64`; atomics may alias memory other processes write.
        Some(unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(off).cast::<u64>()) })
    }

    /// The `N` words from the 8-aligned `off`, if they lie inside the segment: one bounds check
    /// for a structure read many times (a B-tree node during a search).
    #[inline(always)]
    pub(crate) fn words<const N: usize>(&self, off: usize) -> Option<&[AtomicU64; N]> {
        if !off.is_multiple_of(8) || !self.contains(off, 8 * N) {
            return None;
        }
        // SAFETY: `off..off + 8N` is inside the bytes, which stay valid while `self` lives (the
        // constructors' contracts); the base is 16-aligned and `off` a multiple of 8, so the
        // pointer is aligned for `AtomicU64` (and an array of them); atomics may alias memory
        // other processes write.
        Some(unsafe { &*self.base.as_ptr().add(off).cast::<[AtomicU64; N]>() })
    }

    /// The word at `off` (rounded down to 8), or 0 outside the segment (a bug: debug builds
    /// panic).
    #[inline(always)]
    pub(crate) fn load(&self, off: usize) -> u64 {
        self.word(off).map_or(0, |w| w.load(Ordering::Relaxed))
    }

    /// Stores the word at `off` (rounded down to 8); dropped outside the segment (a bug).
    #[inline(always)]
    pub(crate) fn store(&self, off: usize, value: u64) {
        if let Some(w) = self.word(off) {
            w.store(value, Ordering::Relaxed);
        }
    }

    /// [`load`](Mem::load) with acquire ordering: the state word of an object, read without the
    /// lock.
    #[inline(always)]
    pub(crate) fn load_acquire(&self, off: usize) -> u64 {
        self.word(off).map_or(0, |w| w.load(Ordering::Acquire))
    }

    /// [`store`](Mem::store) with release ordering: publishing an object.
    #[inline(always)]
    pub(crate) fn store_release(&self, off: usize, value: u64) {
        if let Some(w) = self.word(off) {
            w.store(value, Ordering::Release);
        }
    }

    /// Hints that the cache line holding `off` will be read soon (a lookup starting several
    /// independent loads at once). No effect outside the segment or on other architectures.
    #[inline(always)]
    pub(crate) fn prefetch(&self, off: usize) {
        #[cfg(target_arch = "x86_64")]
        if off < self.len {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: a prefetch never faults and reads nothing architecturally; SSE is part
            // of the x86-64 baseline, so the target feature the intrinsic requires is present;
            // the address is inside the bytes anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(self.base.as_ptr().add(off).cast::<i8>()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = off;
    }

    /// [`prefetch`](Self::prefetch) of every cache line of `off..off + len`, with one bounds
    /// check for the range (nothing is prefetched if it does not lie inside the segment).
    #[inline(always)]
    pub(crate) fn prefetch_range<const LEN: usize>(&self, off: usize) {
        #[cfg(target_arch = "x86_64")]
        if self.contains(off, LEN) {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let p = self.base.as_ptr().wrapping_add(off);
            for line in 0..LEN.div_ceil(64) {
                // SAFETY: as in `prefetch`; the addresses are inside the bytes.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64 * line).cast::<i8>()) };
            }
            // SAFETY: as above (the range's last byte, whose line the loop misses when `off`
            // is not line-aligned).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(LEN - 1).cast::<i8>()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = off;
    }

    /// Zeroes the words of `off..off + len` (both rounded down to 8), clamped to the segment.
    pub(crate) fn zero(&self, off: usize, len: usize) {
        let end = off.saturating_add(len).min(self.len) & !7;
        let mut o = off & !7;
        while o < end {
            self.store(o, 0);
            o += 8;
        }
    }

    fn byte(&self, off: usize) -> &AtomicU8 {
        debug_assert!(off < self.len);
        // SAFETY: callers checked `off < len`; the byte is valid while `self` lives; AtomicU8
        // has alignment 1 and may alias bytes other processes write.
        unsafe { AtomicU8::from_ptr(self.base.as_ptr().add(off)) }
    }

    /// Copies `buf.len()` bytes from `off` with atomic loads.
    pub(crate) fn read_bytes(&self, off: usize, buf: &mut [u8]) -> Result<()> {
        self.check(off, buf.len())?;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.byte(off + i).load(Ordering::Relaxed);
        }
        Ok(())
    }

    fn check(&self, off: usize, len: usize) -> Result<()> {
        if self.contains(off, len) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Corrupted,
                format!(
                    "range {off}..{off}+{len} is outside the segment ({} bytes)",
                    self.len
                ),
            ))
        }
    }

    fn typed<T>(&self, off: usize, n: usize) -> Result<*mut T> {
        let bytes = size_of::<T>()
            .checked_mul(n)
            .ok_or_else(|| Error::new(ErrorKind::Corrupted, "an object size overflows"))?;
        self.check(off, bytes)?;
        // Arithmetic only: `off <= len`.
        let p = self.base.as_ptr().wrapping_add(off);
        if !p.addr().is_multiple_of(align_of::<T>()) {
            return Err(Error::new(
                ErrorKind::Corrupted,
                format!(
                    "offset {off} is not aligned for {} (alignment {}) in this mapping",
                    std::any::type_name::<T>(),
                    align_of::<T>()
                ),
            ));
        }
        Ok(p.cast())
    }

    /// Views the bytes at `off` as a `T`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] if `T` does not fit at `off` or the address is misaligned.
    ///
    /// # Safety
    ///
    /// While the reference lives, this process accesses those bytes only through shared `&T`
    /// references: they are the value bytes of a live object (or shmkit's own lock), never
    /// written by the segment layer meanwhile. Whatever other processes write is a valid `T`
    /// (`ShmSafe`).
    pub(crate) unsafe fn get<T: ShmSafe>(&self, off: usize) -> Result<&T> {
        let p = self.typed::<T>(off, 1)?;
        // SAFETY: in bounds, aligned, valid while `self` lives; any bit pattern is a valid `T`;
        // the caller keeps other accesses away.
        Ok(unsafe { &*p })
    }

    /// Views `n` consecutive `T`s at `off` as a slice.
    ///
    /// # Errors
    ///
    /// As [`get`](Mem::get).
    ///
    /// # Safety
    ///
    /// As [`get`](Mem::get), for every element.
    pub(crate) unsafe fn get_slice<T: ShmSafe>(&self, off: usize, n: usize) -> Result<&[T]> {
        let p = self.typed::<T>(off, n)?;
        // SAFETY: as for `get`; `n * size_of::<T>()` bytes are in bounds (checked, no overflow).
        Ok(unsafe { std::slice::from_raw_parts(p, n) })
    }

    /// Moves `value` into the bytes at `off` (overwriting them without dropping anything).
    ///
    /// # Errors
    ///
    /// As [`get`](Mem::get).
    ///
    /// # Safety
    ///
    /// No reference to those bytes exists in this process, and no other process uses them yet:
    /// they belong to an object under construction that has not been published.
    pub(crate) unsafe fn put<T: ShmSafe>(&self, off: usize, value: T) -> Result<()> {
        let p = self.typed::<T>(off, 1)?;
        // SAFETY: in bounds, aligned and writable (constructors require writable memory); no
        // reference to these bytes exists (caller).
        unsafe { p.write(value) };
        Ok(())
    }

    /// An [`Arena`] over `off..off + len`, for the segment's memory algorithm.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] if the range leaves the segment; [`ErrorKind::InvalidArgument`]
    /// if its start is not 16-aligned.
    ///
    /// # Safety
    ///
    /// The arena (and the algorithm built on it) is dropped before this `Mem`.
    pub(crate) unsafe fn arena(&self, off: usize, len: usize) -> Result<Arena> {
        self.check(off, len)?;
        // SAFETY: the range is inside the bytes, which outlive the arena (caller); the
        // algorithm accesses them atomically, as the arena's contract expects, and the segment
        // layer never takes a Rust reference to the words the algorithm manages (block headers
        // and free blocks): only to the value bytes of live objects, which the algorithm does not
        // touch while they are allocated.
        unsafe { Arena::new(self.base.as_ptr().add(off), len) }
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        if let Backing::Heap(layout) = self.backing {
            // SAFETY: `Mem::heap` allocated `base` with this layout, and nothing else frees it;
            // no reference into it outlives `self`.
            unsafe { std::alloc::dealloc(self.base.as_ptr(), layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_bytes_round_trip() {
        let m = Mem::heap(4096).unwrap();
        assert_eq!(m.base().addr() % HEAP_ALIGN, 0);
        m.store(16, 0x1234);
        assert_eq!(m.load(20), 0x1234, "offsets round down to 8");
        m.store(96, u64::from_le_bytes(*b"\0\0\0\0hell"));
        m.store(104, u64::from(b'o'));
        let mut b = [0; 5];
        m.read_bytes(100, &mut b).unwrap();
        assert_eq!(&b, b"hello");
        assert!(m.read_bytes(4094, &mut b).is_err());
        let big = m.heap_copy(8192).unwrap();
        assert_eq!(big.load(16), 0x1234);
        assert_eq!(big.len(), 8192);
    }

    #[test]
    fn typed_views_check_bounds_and_alignment() {
        let m = Mem::heap(64).unwrap();
        // SAFETY: nothing else accesses these bytes in this test.
        unsafe {
            assert!(m.get::<u64>(56).is_ok());
            assert!(m.get::<u64>(60).is_err());
            assert!(m.get::<u64>(4).is_err());
            assert!(m.get_slice::<u32>(0, 16).is_ok());
            assert!(m.get_slice::<u32>(0, 17).is_err());
            assert!(m.get_slice::<u32>(0, usize::MAX).is_err());
        }
        assert_eq!(m.offset_of(m.base().wrapping_add(8), 8), Some(8));
        assert_eq!(m.offset_of(m.base().wrapping_add(60), 8), None);
    }
}
