//! Memory algorithms: how a segment's bytes are split into blocks, handed out and taken back.
//!
//! A memory algorithm manages a byte area, an [`Arena`], on behalf of a segment manager that
//! calls it while holding the segment's (robust) lock. Two algorithms implement the
//! [`MemoryAlgorithm`] trait, and users may write their own:
//!
//! | algorithm | Boost's | allocate | free | index |
//! |---|---|---|---|---|
//! | [`BestFit`] (default) | `rbtree_best_fit` | exact best fit, O(1) for blocks ≤ 496 B, O(log n) above | O(1) merge + index update | exact-size bins + a treap |
//! | [`SeqFit`] | `simple_seq_fit` | first fit, O(free blocks) | O(free blocks) | address-ordered list |
//!
//! # Offsets, not pointers
//!
//! The area may be mapped at a different address in every process, so everything the algorithms
//! store refers to other places by their offset from the area's start, and every allocation is
//! returned as an offset (a `usize`): the caller's block is `arena.as_ptr() + offset`. The
//! algorithms never hold an address into the area.
//!
//! # The block format (shared by both algorithms)
//!
//! Offsets, sizes and links are little-endian `u64` words. The area starts with the algorithm's
//! header, then the blocks, then a 16-byte end sentinel:
//!
//! ```text
//! 0          FIRST                                                       len-16     len
//! | header   | block | block | block | ...                          | block | end  |
//! ```
//!
//! A block starts at an offset `b` that is a multiple of 16; its size `n` (a multiple of 16, at
//! least 32) runs from `b` to the next block's start. Its header word is at `b + 8` and the
//! caller's bytes are `b + 16 .. b + n + 8`: the word at `b + n`, the first word of the next
//! block, belongs to this block while it is allocated (Boost's "usable by the previous chunk"
//! trick). So a block costs 8 bytes of overhead, a request of `s` bytes takes
//! `max(32, round_up(s + 8, 16))` bytes, and a 64-byte request takes 80, as in Boost.
//!
//! The header word:
//!
//! | bits | meaning |
//! |---|---|
//! | 0 | `ALLOC`: the block is allocated (always set on the end sentinel) |
//! | 1 | `PREV_ALLOC` ([`BestFit`] only): the block before is allocated. When it is clear, the word at `b` is the *footer* of the free block before: its size, so the block before is found in O(1) |
//! | 2–3 | zero |
//! | 4–47 | the size in bytes (bits 0–3 of a size are zero) |
//! | 48–63 | check tag: a hash of `(b, size)` |
//!
//! The tag lets every operation refuse a header that was not written for this offset and size:
//! a stray offset, a scribbled word, or a header left behind inside a bigger block. Headers that
//! merging leaves inside a free block are also cleared, so a double free is refused.
//!
//! # Untrusted metadata
//!
//! Other processes can write the area, by bug or by crash. Every offset and size read from the
//! area is checked (range, alignment, tag, state, list back-links) before it is used, every walk
//! is bounded by the number of blocks the area can hold, and all accesses go through [`Arena`]'s
//! word-atomic, bounds-checked door. Bad metadata therefore gives an error of kind
//! [`ErrorKind::Corrupted`] (or a failed
//! [`check_sanity`](MemoryAlgorithm::check_sanity)), never an out-of-bounds access, a panic or an
//! endless loop. An offset passed to `deallocate`, `size_of`, the expand and shrink operations
//! that does not name an allocated block is an
//! [`ErrorKind::InvalidArgument`] and changes nothing. These
//! checks are exact for offsets that are not block starts unless the bytes there happen to form
//! a header with a valid 16-bit tag for that offset: a stale or forged header could pass, with a
//! probability of about 2⁻¹⁶ for random bytes.
//!
//! # Crashes and [`repair`](MemoryAlgorithm::repair)
//!
//! The chain of block headers (each block's size leads to the next block) is the source of
//! truth; the free index (bins, treap, list) and the counters are derived from it. Every
//! operation writes in an order that keeps the chain a valid tiling of the area at every single
//! store:
//!
//! 1. update the free index (it is rebuilt after a crash, so its state does not matter);
//! 2. write the headers and footers of the blocks being created *inside* the range that an
//!    existing header still covers, where no walk of the chain can see them;
//! 3. store the one header word that switches the chain from the old tiling to the new one (the
//!    commit: an aligned 8-byte atomic store, never torn);
//! 4. fix up the neighbours' flags, clear stale headers, update the free byte counter.
//!
//! A process killed anywhere in an operation therefore leaves a chain that shows either the state
//! before or the state after the step, possibly with an index, flags, footers or a counter that
//! disagree, and possibly with two adjacent free blocks (a block marked free before its merge
//! committed). `repair` walks the chain, merges adjacent free blocks, rewrites the derived
//! metadata and rebuilds the index; the algorithms' `repair` docs list each crash state. The
//! worst a crash costs is the block being allocated (or expanded backwards) by the process that
//! died: it stays allocated with nobody knowing its offset, as when a process dies right after
//! `allocate` returns.
//!
//! # Examples
//!
//! ```
//! use shmkit::MappedRegion;
//! use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
//!
//! let arena = Arena::from_region(MappedRegion::anonymous(1 << 20)?)?;
//! let mut algo = BestFit::init(arena)?;
//! let off = algo.allocate(11)?;
//! algo.arena().write(off, b"hello world")?;
//!
//! // Another process (or a later run) opens the same bytes and finds the same state.
//! let arena = algo.into_arena();
//! let mut again = BestFit::open(arena)?;
//! let mut buf = [0; 11];
//! again.arena().read(off, &mut buf)?;
//! assert_eq!(&buf, b"hello world");
//! again.deallocate(off)?;
//! assert!(again.all_memory_deallocated());
//! # Ok::<(), shmkit::Error>(())
//! ```

mod arena;
mod best_fit;
mod block;
#[cfg(test)]
mod crash_tests;
mod seq_fit;

pub use arena::Arena;
pub use best_fit::BestFit;
pub use seq_fit::SeqFit;

use crate::error::{Error, ErrorKind, Result};

// Layouts store offsets and sizes as u64 words and hand them out as usize.
const _: () = assert!(
    usize::BITS == 64,
    "shmkit's segment layouts assume a 64-bit target"
);

/// A segment memory algorithm: Boost's `MemoryAlgorithm` concept, over an [`Arena`].
///
/// Offsets and sizes are `usize`s: an offset is relative to the start of the arena, and the
/// caller's block is `arena.as_ptr() + offset`, aligned to 16 bytes (or more, from
/// [`allocate_aligned`](MemoryAlgorithm::allocate_aligned)). Sizes are the caller's usable bytes.
///
/// The trait is not internally synchronised: the methods that change the area take `&mut self`,
/// and a segment shared between processes must be locked (with the segment's robust lock) around
/// every call, as Boost's `mutex_family` does inside its algorithms. If the lock reports that its
/// owner died, call [`repair`](MemoryAlgorithm::repair) before anything else.
///
/// # Implementing it
///
/// An implementation keeps all its state inside the arena (a header at offset 0, block headers
/// beside the blocks), stores offsets rather than addresses, checks everything it reads from the
/// area, and bounds every walk; see the [module docs](self) for how the provided algorithms do it.
///
/// # Examples
///
/// Code written once for any algorithm:
///
/// ```
/// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm, SeqFit};
///
/// fn fill<A: MemoryAlgorithm>(len: usize) -> shmkit::Result<usize> {
///     let mut algo = A::init(Arena::heap(len)?)?;
///     let mut n = 0;
///     while algo.allocate(64).is_ok() {
///         n += 1;
///     }
///     algo.check_sanity()?;
///     Ok(n)
/// }
/// assert_eq!(fill::<BestFit>(1 << 16)?, fill::<SeqFit>(1 << 16)? - 3);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub trait MemoryAlgorithm: Sized {
    /// The smallest arena [`init`](MemoryAlgorithm::init) accepts.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{BestFit, MemoryAlgorithm};
    /// assert_eq!(BestFit::min_arena_len(), 336);
    /// ```
    fn min_arena_len() -> usize;

    /// Formats the arena: writes the algorithm's header and one free block covering the rest.
    /// Whatever the arena held is lost. The header's magic word is written last, so an area whose
    /// initialisation was interrupted does not [`open`](MemoryAlgorithm::open).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the arena is shorter than
    /// [`min_arena_len`](MemoryAlgorithm::min_arena_len).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let algo = BestFit::init(Arena::heap(4096)?)?;
    /// assert!(algo.all_memory_deallocated());
    /// assert!(BestFit::init(Arena::heap(64)?).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn init(arena: Arena) -> Result<Self>;

    /// Opens an arena that [`init`](MemoryAlgorithm::init) formatted (in this or another
    /// process), checking its header.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Incompatible`] if the area does not hold this algorithm's header (another
    /// algorithm, another layout version, random bytes); [`ErrorKind::Corrupted`] if the header's
    /// length disagrees with the arena's; [`ErrorKind::InvalidArgument`] for a too small arena.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ErrorKind;
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm, SeqFit};
    ///
    /// let arena = BestFit::init(Arena::heap(4096)?)?.into_arena();
    /// let arena = BestFit::open(arena)?.into_arena();
    /// assert_eq!(SeqFit::open(arena).unwrap_err().kind(), ErrorKind::Incompatible);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn open(arena: Arena) -> Result<Self>;

    /// The arena, to reach the allocated bytes (`arena().as_ptr() + offset`, or
    /// [`Arena::read`]/[`Arena::write`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// let off = algo.allocate(4)?;
    /// algo.arena().write(off, &[1, 2, 3, 4])?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn arena(&self) -> &Arena;

    /// Gives the arena back (the area keeps its state; [`open`](MemoryAlgorithm::open) it again).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, MemoryAlgorithm, SeqFit};
    /// let arena = SeqFit::init(Arena::heap(4096)?)?.into_arena();
    /// assert!(SeqFit::open(arena)?.all_memory_deallocated());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn into_arena(self) -> Arena;

    /// Allocates a block of at least `size` usable bytes, aligned to 16; returns its offset.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if no free block is large enough (nothing changes);
    /// [`ErrorKind::Corrupted`] if the area's metadata is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ErrorKind;
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// let off = algo.allocate(100)?;
    /// assert_eq!(off % 16, 0);
    /// assert_eq!(algo.allocate(1 << 20).unwrap_err().kind(), ErrorKind::OutOfMemory);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn allocate(&mut self, size: usize) -> Result<usize>;

    /// Allocates a block of at least `size` usable bytes whose offset is a multiple of `align`
    /// (any power of two). The address is aligned as much when the arena's base is (mappings are
    /// page-aligned; [`Arena`] guarantees 16).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `align` is not a power of two; otherwise as
    /// [`allocate`](MemoryAlgorithm::allocate). It needs a free block of `size + align + 32`
    /// bytes or so, as Boost's does.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, MemoryAlgorithm, SeqFit};
    /// let mut algo = SeqFit::init(Arena::heap(1 << 16)?)?;
    /// let off = algo.allocate_aligned(100, 4096)?;
    /// assert_eq!(off % 4096, 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn allocate_aligned(&mut self, size: usize, align: usize) -> Result<usize>;

    /// Frees the block at `offset`, merging it with free neighbours.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `offset` does not name an allocated block (a double
    /// free, an offset inside a block, garbage): nothing changes. [`ErrorKind::Corrupted`] if
    /// the neighbours' or the index's metadata is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ErrorKind;
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// let off = algo.allocate(100)?;
    /// algo.deallocate(off)?;
    /// assert_eq!(algo.deallocate(off).unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn deallocate(&mut self, offset: usize) -> Result<()>;

    /// The usable size of the block at `offset` (at least what was asked for).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `offset` does not name an allocated block.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// let off = algo.allocate(1)?;
    /// assert_eq!(algo.size_of(off)?, 24);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn size_of(&self, offset: usize) -> Result<usize>;

    /// Grows the block at `offset` in place, into the free block after it: to `preferred` usable
    /// bytes if possible, else as far as possible but at least `min_size` (Boost's
    /// `allocation_command` with `expand_fwd`). Returns the new usable size; the offset and the
    /// contents stay. A block that already has `preferred` bytes is left alone.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the block cannot reach `min_size` (nothing changes);
    /// [`ErrorKind::InvalidArgument`] for a bad offset.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// let off = algo.allocate(100)?;
    /// assert!(algo.expand_fwd(off, 200, 1000)? >= 1000);
    /// assert!(algo.expand_fwd(off, 1 << 20, 1 << 20).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn expand_fwd(&mut self, offset: usize, min_size: usize, preferred: usize) -> Result<usize>;

    /// Grows the block at `offset` backwards, into the free block before it: to `preferred`
    /// usable bytes if possible, else at least `min_size` (Boost's `expand_bwd`). Returns the
    /// block's new offset and usable size.
    ///
    /// **The data is not moved**: the caller's bytes stay where they were, now at
    /// `old_offset - new_offset` bytes into the block; moving them (with `memmove`: the ranges
    /// overlap) is the caller's job. The old offset no longer names a block.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the block cannot reach `min_size` (nothing changes);
    /// [`ErrorKind::InvalidArgument`] for a bad offset.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// let a = algo.allocate(200)?;
    /// let b = algo.allocate(100)?;
    /// algo.deallocate(a)?;
    /// let (start, size) = algo.expand_bwd(b, 150, 300)?;
    /// assert!(start < b && size >= 300);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn expand_bwd(
        &mut self,
        offset: usize,
        min_size: usize,
        preferred: usize,
    ) -> Result<(usize, usize)>;

    /// Shrinks the block at `offset` in place to at least `new_size` usable bytes, freeing the
    /// tail if it is large enough to form a block (32 bytes). Returns the new usable size.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a bad offset, or a `new_size` above the current size.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// let off = algo.allocate(1000)?;
    /// let before = algo.free_memory();
    /// assert_eq!(algo.shrink_in_place(off, 100)?, 104);
    /// assert!(algo.free_memory() > before);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn shrink_in_place(&mut self, offset: usize, new_size: usize) -> Result<usize>;

    /// Bytes in free blocks (block sizes, their 8-byte headers included).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// let before = algo.free_memory();
    /// algo.allocate(64)?;
    /// assert_eq!(algo.free_memory(), before - 80);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn free_memory(&self) -> usize;

    /// Checks every invariant: the header, the chain of blocks, their flags and footers, the
    /// free index against the chain, and the free byte count. O(blocks); allocates a little
    /// process memory.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] naming the first broken invariant;
    /// [`ErrorKind::Incompatible`] if the header is not this algorithm's.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, MemoryAlgorithm, SeqFit};
    /// let mut algo = SeqFit::init(Arena::heap(4096)?)?;
    /// algo.allocate(10)?;
    /// algo.check_sanity()?;
    /// algo.arena().write(56, &[0xFF; 8])?; // scribble over the first block's header
    /// assert!(algo.check_sanity().is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn check_sanity(&self) -> Result<()>;

    /// Writes zeros over the free blocks' bytes (all but the words the index uses), so later
    /// allocations start zeroed and freed data does not linger.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] if the chain of blocks is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// let off = algo.allocate(100)?;
    /// algo.arena().write(off + 50, &[7; 50])?;
    /// algo.deallocate(off)?;
    /// algo.zero_free_memory()?;
    /// let mut buf = [1; 50];
    /// algo.arena().read(off + 50, &mut buf)?;
    /// assert_eq!(buf, [0; 50]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn zero_free_memory(&mut self) -> Result<()>;

    /// Whether nothing is allocated: the whole area is one free block.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// let off = algo.allocate(1)?;
    /// assert!(!algo.all_memory_deallocated());
    /// algo.deallocate(off)?;
    /// assert!(algo.all_memory_deallocated());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn all_memory_deallocated(&self) -> bool;

    /// Rebuilds everything derived from the chain of block headers (the free index, flags,
    /// footers, counters), merging adjacent free blocks: the recovery after a process died in the
    /// middle of an operation. Each algorithm documents the crash states it handles.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] if the chain itself is broken (which no crash causes: only stray
    /// writes); nothing is written then. [`ErrorKind::Incompatible`] for a foreign header.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// algo.allocate(100)?;
    /// algo.arena().write(24, &[0; 8])?; // lose the free index's root, as a crash could
    /// assert!(algo.check_sanity().is_err());
    /// algo.repair()?;
    /// algo.check_sanity()?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn repair(&mut self) -> Result<()>;

    /// Calls `f(offset, usable_size)` for every allocated block, in address order: what a
    /// segment manager walks after a crash to find the blocks it owns (the objects it
    /// constructed, its index nodes) and rebuild its structures from them. The walk is bounded
    /// and checks every header it reads.
    ///
    /// The default implementation returns [`ErrorKind::Unsupported`]: an algorithm without it
    /// works, but a segment over it cannot recover from a process that died holding the
    /// segment's lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] if the chain of blocks is broken; whatever `f` returns (the walk
    /// stops there); [`ErrorKind::Unsupported`] (default).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// let a = algo.allocate(100)?;
    /// let b = algo.allocate(10)?;
    /// let mut seen = Vec::new();
    /// algo.for_each_allocated(|off, size| {
    ///     seen.push((off, size));
    ///     Ok(())
    /// })?;
    /// assert_eq!(seen, [(a, algo.size_of(a)?), (b, algo.size_of(b)?)]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn for_each_allocated(&self, f: impl FnMut(usize, usize) -> Result<()>) -> Result<()> {
        let _ = f;
        Err(Error::new(
            ErrorKind::Unsupported,
            "this memory algorithm cannot list its allocated blocks",
        ))
    }

    /// Opens an area that [`init`](MemoryAlgorithm::init) formatted for a *shorter* arena and
    /// extends it to the whole of `arena`, whose first bytes hold the area as it was (Boost's
    /// `grow`): the new bytes become free memory, merged with a free block at the old end. An
    /// arena of the recorded length is simply opened.
    ///
    /// The default implementation returns [`ErrorKind::Unsupported`].
    ///
    /// # Errors
    ///
    /// As [`open`](MemoryAlgorithm::open), except that the recorded length may be shorter than
    /// the arena's; [`ErrorKind::InvalidArgument`] if the arena is shorter than the recorded
    /// length or longer by less than a minimal block (32 bytes);
    /// [`ErrorKind::Unsupported`] (default).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    ///
    /// let mut bytes = vec![0u128; 4096 / 16];
    /// let ptr = bytes.as_mut_ptr().cast::<u8>();
    /// // SAFETY: `bytes` outlives both arenas and is not otherwise accessed meanwhile.
    /// let mut algo = BestFit::init(unsafe { Arena::new(ptr, 1024) }?)?;
    /// let kept = algo.allocate(100)?;
    /// drop(algo);
    /// let before = 1024 - 288 - 16 - 112;
    /// // SAFETY: as above.
    /// let grown = BestFit::grow(unsafe { Arena::new(ptr, 4096) }?)?;
    /// assert_eq!(grown.free_memory(), before + 3072);
    /// assert!(grown.size_of(kept)? >= 100);
    /// grown.check_sanity()?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn grow(arena: Arena) -> Result<Self> {
        let _ = arena;
        Err(Error::new(
            ErrorKind::Unsupported,
            "this memory algorithm cannot grow its area",
        ))
    }

    /// Shrinks the area to the shortest length that keeps every allocated block: a free block
    /// at the end of the area is cut off (Boost's `shrink_to_fit`). Returns the new length; the
    /// algorithm must then be reopened over an arena of that length
    /// ([`into_arena`](MemoryAlgorithm::into_arena), a shorter arena over the same bytes,
    /// [`open`](MemoryAlgorithm::open)): until then its other methods see a length mismatch.
    ///
    /// The default implementation returns [`ErrorKind::Unsupported`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] if the metadata at the end of the area is broken;
    /// [`ErrorKind::Unsupported`] (default).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, MemoryAlgorithm, SeqFit};
    ///
    /// let mut bytes = vec![0u128; 4096 / 16];
    /// let ptr = bytes.as_mut_ptr().cast::<u8>();
    /// // SAFETY: `bytes` outlives both arenas and is not otherwise accessed meanwhile.
    /// let mut algo = SeqFit::init(unsafe { Arena::new(ptr, 4096) }?)?;
    /// let kept = algo.allocate(100)?;
    /// let len = algo.shrink_to_fit()?;
    /// assert!(len < 4096);
    /// drop(algo);
    /// // SAFETY: as above.
    /// let algo = SeqFit::open(unsafe { Arena::new(ptr, len) }?)?;
    /// assert!(algo.size_of(kept)? >= 100);
    /// algo.check_sanity()?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn shrink_to_fit(&mut self) -> Result<usize> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "this memory algorithm cannot shrink its area",
        ))
    }

    /// Allocates one block per entry of `sizes`, all or nothing: on failure the blocks already
    /// allocated are freed again and the error is returned (Boost's `allocate_many`).
    ///
    /// # Errors
    ///
    /// As [`allocate`](MemoryAlgorithm::allocate).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
    /// let mut algo = BestFit::init(Arena::heap(4096)?)?;
    /// let offs = algo.allocate_many(&[10, 20, 30])?;
    /// assert_eq!(offs.len(), 3);
    /// let free = algo.free_memory();
    /// assert!(algo.allocate_many(&[10, 1 << 20]).is_err());
    /// assert_eq!(algo.free_memory(), free);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn allocate_many(&mut self, sizes: &[usize]) -> Result<Vec<usize>> {
        let mut out = Vec::with_capacity(sizes.len());
        for &size in sizes {
            match self.allocate(size) {
                Ok(off) => out.push(off),
                Err(e) => {
                    for &off in out.iter().rev() {
                        self.deallocate(off)?;
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Frees every block of `offsets`. All are checked first: if any does not name an allocated
    /// block (or one appears twice), nothing is freed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a bad or repeated offset; otherwise as
    /// [`deallocate`](MemoryAlgorithm::deallocate).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::alloc::{Arena, MemoryAlgorithm, SeqFit};
    /// let mut algo = SeqFit::init(Arena::heap(4096)?)?;
    /// let offs = algo.allocate_many(&[10, 20, 30])?;
    /// assert!(algo.deallocate_many(&[offs[0], offs[0]]).is_err());
    /// algo.deallocate_many(&offs)?;
    /// assert!(algo.all_memory_deallocated());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    fn deallocate_many(&mut self, offsets: &[usize]) -> Result<()> {
        for &off in offsets {
            self.size_of(off)?;
        }
        let mut sorted = offsets.to_vec();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("offset {} appears twice", w[0]),
            ));
        }
        offsets.iter().try_for_each(|&off| self.deallocate(off))
    }
}
