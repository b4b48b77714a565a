//! [`SeqFit`]: first fit over an address-ordered free list (Boost's `simple_seq_fit`).
//!
//! # Layout
//!
//! The area header (offset 0, [`SeqFitHeader`], 40 bytes):
//!
//! | offset | field | meaning |
//! |---:|---|---|
//! | 0 | `magic` | `"SKMA"`, layout version 1, algorithm 2; written last by `init` |
//! | 8 | `len` | the area's length, checked against the arena's on open |
//! | 16 | `free` | bytes in free blocks |
//! | 24 | `head` | offset of the first free block (the lowest address), 0 when none |
//! | 32 | `pending` | during `expand_bwd` only: the block start whose header the commit makes stale |
//!
//! The first block starts at offset 48 and the 16-byte end sentinel at `len - 16`. Blocks use
//! the shared header word (see the [module docs](super)) without `PREV_ALLOC` and without
//! footers:
//!
//! | offset in block | allocated block | free block |
//! |---:|---|---|
//! | 0 | tail of the block before | same (unused if the block before is free) |
//! | 8 | header word: size, `ALLOC`, tag | header word: size, tag |
//! | 16 | the caller's bytes | `next`: the next free block, at a higher address (0 = last) |
//!
//! # Invariants (between operations)
//!
//! 1. The blocks tile `48..len-16` and the chain ends at the end sentinel.
//! 2. The free list holds every free block exactly once, in strictly increasing address order.
//! 3. No two free blocks are adjacent.
//! 4. `free` is the sum of the free blocks' sizes.
//!
//! Allocation walks the list and takes the first block that fits, splitting off the rest (which
//! keeps the front's place in the list). Freeing walks the list to the block's place and merges
//! with the free blocks just before and after it: O(number of free blocks) for both, as in Boost.
//! The address order also bounds every walk: a link that does not go up is corruption.
//!
//! # Crash consistency
//!
//! The same discipline as [`BestFit`](super::BestFit): list links first, then the new headers
//! inside the range the old header still covers, then the one header store that switches the
//! chain (the commit), then the clean-up. [`SeqFit::repair`] rebuilds the list from the chain.

use super::MemoryAlgorithm;
use super::arena::Arena;
use super::block::{
    self, ALLOC, END_SIZE, MIN_BLOCK, OVERHEAD, UNIT, block_size, corrupt, not_allocated,
    out_of_memory, size_of_word,
};
use crate::error::{Error, ErrorKind, Result};

const NAME: &str = "seq-fit";
const KIND: u16 = 2;

/// The area header of [`SeqFit`], at offset 0 (documentation of the layout; the fields are
/// accessed through the arena at their `offset_of!`).
#[repr(C)]
#[allow(dead_code)]
struct SeqFitHeader {
    magic: u64,
    len: u64,
    free: u64,
    head: u64,
    pending: u64,
}
const _: () = assert!(size_of::<SeqFitHeader>() == 40);

const MAGIC: usize = std::mem::offset_of!(SeqFitHeader, magic);
const LEN: usize = std::mem::offset_of!(SeqFitHeader, len);
const FREE: usize = std::mem::offset_of!(SeqFitHeader, free);
const HEAD: usize = std::mem::offset_of!(SeqFitHeader, head);
const PENDING: usize = std::mem::offset_of!(SeqFitHeader, pending);
const FIRST: usize = size_of::<SeqFitHeader>().next_multiple_of(UNIT);
/// The link word of a free block.
const NEXT: usize = 16;

/// Sequential first fit over an address-ordered, singly linked free list: Boost's
/// `simple_seq_fit`. Small and simple; allocation and freeing are O(number of free blocks).
///
/// The same block format and overheads as [`BestFit`](super::BestFit) (8 bytes per allocation,
/// 16-byte alignment, 32-byte minimum block), and a 40-byte area header.
///
/// # Examples
///
/// ```
/// use shmkit::alloc::{Arena, MemoryAlgorithm, SeqFit};
///
/// let mut algo = SeqFit::init(Arena::heap(4096)?)?;
/// let a = algo.allocate(100)?;
/// let b = algo.allocate(100)?;
/// algo.deallocate(a)?;
/// // First fit: the hole at `a` is reused.
/// assert_eq!(algo.allocate(50)?, a);
/// algo.check_sanity()?;
/// # let _ = b;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug)]
pub struct SeqFit {
    arena: Arena,
    end: usize,
    max_steps: usize,
}

/// Where a block sits in the free list: the slot that would point to it, and the free blocks
/// just before and after it.
struct Place {
    slot: usize,
    prev: Option<(usize, usize)>,
    next: usize,
}

impl SeqFit {
    fn new(arena: Arena) -> Result<SeqFit> {
        let len = arena.len();
        if len < Self::min_arena_len() || len > block::MAX_LEN {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{NAME}: an arena of {len} bytes is outside {}..={}",
                    Self::min_arena_len(),
                    block::MAX_LEN
                ),
            ));
        }
        let end = len - END_SIZE;
        Ok(SeqFit {
            arena,
            end,
            max_steps: block::max_blocks(FIRST, end),
        })
    }

    #[inline(always)]
    fn load(&self, off: usize) -> usize {
        self.arena.load(off) as usize
    }

    #[inline(always)]
    fn store(&self, off: usize, v: usize) {
        self.arena.store(off, v as u64)
    }

    #[inline(always)]
    fn hdr(&self, b: usize) -> u64 {
        self.arena.load(b + 8)
    }

    #[inline(always)]
    fn set_hdr(&self, b: usize, size: usize, flags: u64) {
        self.arena.store(b + 8, block::word(b, size, flags))
    }

    fn add_free(&self, n: usize) {
        self.store(FREE, self.load(FREE).wrapping_add(n));
    }

    fn sub_free(&self, n: usize) {
        self.store(FREE, self.load(FREE).wrapping_sub(n));
    }

    /// The size of the free block at `b`, which the list reached after `min` (exclusive of
    /// every earlier free block), validated.
    fn free_at(&self, b: usize, min: usize) -> Result<usize> {
        if b.is_multiple_of(UNIT) && b >= min && b < self.end {
            let w = self.hdr(b);
            if let Some(s) = size_of_word(b, w)
                && w & ALLOC == 0
                && s >= MIN_BLOCK
                && s <= self.end - b
            {
                return Ok(s);
            }
        }
        Err(corrupt(
            NAME,
            "a free-list link to a bad block or out of order",
            b,
        ))
    }

    fn allocated_at(&self, off: usize) -> Result<(usize, usize)> {
        if off.is_multiple_of(UNIT) && off >= FIRST + 16 && off <= self.end {
            let b = off - 16;
            let w = self.hdr(b);
            if let Some(n) = size_of_word(b, w)
                && w & ALLOC != 0
                && n >= MIN_BLOCK
                && n <= self.end - b
                && size_of_word(b + n, self.hdr(b + n)).is_some()
            {
                return Ok((b, n));
            }
        }
        Err(not_allocated(NAME, off))
    }

    /// Finds where the block `b` goes in the free list (walking it in address order).
    fn place(&self, b: usize) -> Result<Place> {
        let (mut slot, mut prev, mut min) = (HEAD, None, FIRST);
        loop {
            let cur = self.load(slot);
            if cur == 0 || cur >= b {
                return Ok(Place {
                    slot,
                    prev,
                    next: cur,
                });
            }
            let s = self.free_at(cur, min)?;
            if cur + s > b {
                return Err(corrupt(NAME, "a free block overlaps a block in use", cur));
            }
            prev = Some((cur, s));
            min = cur + s;
            slot = cur + NEXT;
        }
    }

    /// Frees the block `b` of `n` bytes, which is not in the list (its header may say allocated
    /// or free): merges it with free neighbours, links the result, counts `n` more free bytes.
    fn release(&self, b: usize, n: usize) -> Result<()> {
        let Place { slot, prev, next } = self.place(b)?;
        let merge_next = next != 0 && next == b + n;
        if next != 0 && next < b + n {
            return Err(corrupt(
                NAME,
                "a free block overlaps the block being freed",
                next,
            ));
        }
        let (m, after) = if merge_next {
            let m = self.free_at(next, b + n)?;
            (m, self.load(next + NEXT))
        } else {
            (0, next)
        };
        match prev {
            Some((p, k)) if p + k == b => {
                // Marked free first, so that its header, stale once the merge commits, never
                // looks allocated.
                self.set_hdr(b, n, 0);
                self.store(p + NEXT, after);
                self.set_hdr(p, k + n + m, 0); // the commit
                self.arena.store(b + 8, 0);
            }
            _ => {
                self.store(b + NEXT, after);
                self.set_hdr(b, n + m, 0); // the commit
                self.store(slot, b);
            }
        }
        if merge_next {
            self.arena.store(next + 8, 0);
        }
        self.add_free(n);
        Ok(())
    }

    fn shrink_block(&self, b: usize, n: usize, nn: usize) -> Result<usize> {
        if n - nn < MIN_BLOCK {
            return Ok(n);
        }
        let (t, ts) = (b + nn, n - nn);
        self.set_hdr(t, ts, 0);
        self.set_hdr(b, nn, ALLOC); // the commit
        self.release(t, ts)?;
        Ok(nn)
    }

    fn walk(&self, f: impl FnMut(usize, usize, u64) -> Result<()>) -> Result<u64> {
        block::walk(&self.arena, NAME, FIRST, self.end, self.max_steps, f)
    }
}

impl MemoryAlgorithm for SeqFit {
    fn min_arena_len() -> usize {
        FIRST + MIN_BLOCK + END_SIZE
    }

    fn init(arena: Arena) -> Result<SeqFit> {
        let algo = SeqFit::new(arena)?;
        let a = &algo.arena;
        a.store(MAGIC, 0);
        algo.store(LEN, a.len());
        let size = algo.end - FIRST;
        algo.set_hdr(FIRST, size, 0);
        algo.store(FIRST + NEXT, 0);
        algo.set_hdr(algo.end, END_SIZE, ALLOC);
        algo.store(FREE, size);
        algo.store(HEAD, FIRST);
        algo.store(PENDING, 0);
        a.store(MAGIC, block::magic(KIND));
        Ok(algo)
    }

    fn open(arena: Arena) -> Result<SeqFit> {
        let algo = SeqFit::new(arena)?;
        block::check_magic(
            NAME,
            KIND,
            algo.arena.load(MAGIC),
            algo.arena.load(LEN),
            algo.arena.len(),
        )?;
        Ok(algo)
    }

    fn arena(&self) -> &Arena {
        &self.arena
    }

    fn into_arena(self) -> Arena {
        self.arena
    }

    fn allocate(&mut self, size: usize) -> Result<usize> {
        let need = block_size(size).ok_or_else(|| out_of_memory(NAME, size))?;
        let (mut slot, mut min) = (HEAD, FIRST);
        loop {
            let b = self.load(slot);
            if b == 0 {
                return Err(out_of_memory(NAME, size));
            }
            let s = self.free_at(b, min)?;
            if s >= need {
                let next = self.load(b + NEXT);
                if s - need >= MIN_BLOCK {
                    let r = b + need;
                    self.store(r + NEXT, next);
                    self.set_hdr(r, s - need, 0);
                    self.store(slot, r);
                    self.set_hdr(b, need, ALLOC); // the commit
                    self.sub_free(need);
                } else {
                    self.store(slot, next);
                    self.set_hdr(b, s, ALLOC); // the commit
                    self.sub_free(s);
                }
                return Ok(b + 16);
            }
            min = b + s;
            slot = b + NEXT;
        }
    }

    fn allocate_aligned(&mut self, size: usize, align: usize) -> Result<usize> {
        if !align.is_power_of_two() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{NAME}: alignment {align} is not a power of two"),
            ));
        }
        if align <= UNIT {
            return self.allocate(size);
        }
        let need = block_size(size).ok_or_else(|| out_of_memory(NAME, size))?;
        let req = need
            .checked_add(align + MIN_BLOCK - OVERHEAD)
            .ok_or_else(|| out_of_memory(NAME, size))?;
        let off = self.allocate(req)?;
        let b = off - 16;
        let n = size_of_word(b, self.hdr(b)).unwrap_or(0);
        let mut aligned = off.next_multiple_of(align);
        if aligned != off && aligned - off < MIN_BLOCK {
            aligned += align;
        }
        let (b2, n2) = if aligned == off {
            (b, n)
        } else {
            let d = aligned - off;
            let (b2, n2) = (b + d, n - d);
            self.set_hdr(b2, n2, ALLOC);
            self.set_hdr(b, d, 0); // the commit: the front is a free block, not yet listed
            self.release(b, d)?;
            (b2, n2)
        };
        self.shrink_block(b2, n2, need)?;
        Ok(b2 + 16)
    }

    fn deallocate(&mut self, offset: usize) -> Result<()> {
        let (b, n) = self.allocated_at(offset)?;
        self.release(b, n)
    }

    fn size_of(&self, offset: usize) -> Result<usize> {
        Ok(self.allocated_at(offset)?.1 - OVERHEAD)
    }

    fn expand_fwd(&mut self, offset: usize, min_size: usize, preferred: usize) -> Result<usize> {
        let (b, n) = self.allocated_at(offset)?;
        let u = n - OVERHEAD;
        let pref = preferred.max(min_size);
        if u >= pref {
            return Ok(u);
        }
        let nb = b + n;
        let next_free = nb < self.end && self.hdr(nb) & ALLOC == 0;
        let place = if next_free {
            Some(self.place(nb)?)
        } else {
            None
        };
        let Some(Place { slot, .. }) = place.filter(|p| p.next == nb) else {
            return if u >= min_size {
                Ok(u)
            } else {
                Err(out_of_memory(NAME, min_size))
            };
        };
        let avail = self.free_at(nb, nb)?;
        if u + avail < min_size {
            return if u >= min_size {
                Ok(u)
            } else {
                Err(out_of_memory(NAME, min_size))
            };
        }
        let mut nn = block_size(pref.min(u + avail)).unwrap_or(n + avail);
        let mut rest = n + avail - nn;
        if rest < MIN_BLOCK {
            nn += rest;
            rest = 0;
        }
        let after = self.load(nb + NEXT);
        if rest > 0 {
            let r = b + nn;
            self.store(r + NEXT, after);
            self.set_hdr(r, rest, 0);
            self.store(slot, r);
        } else {
            self.store(slot, after);
        }
        self.set_hdr(b, nn, ALLOC); // the commit
        self.arena.store(nb + 8, 0);
        self.sub_free(nn - n);
        Ok(nn - OVERHEAD)
    }

    fn expand_bwd(
        &mut self,
        offset: usize,
        min_size: usize,
        preferred: usize,
    ) -> Result<(usize, usize)> {
        let (b, n) = self.allocated_at(offset)?;
        let u = n - OVERHEAD;
        let pref = preferred.max(min_size);
        let unchanged = |u: usize| {
            if u >= min_size {
                Ok((offset, u))
            } else {
                Err(out_of_memory(NAME, min_size))
            }
        };
        if u >= pref {
            return unchanged(u);
        }
        let place = self.place(b)?;
        let Some((p, k)) = place.prev.filter(|&(p, k)| p + k == b) else {
            return unchanged(u);
        };
        if u + k < min_size {
            return unchanged(u);
        }
        // The slot pointing to `p`: walk again (the list is singly linked).
        let p_place = self.place(p)?;
        let nn = block_size(pref.min(u + k)).unwrap_or(n + k);
        let mut take = nn - n;
        if k - take < MIN_BLOCK {
            take = k;
        }
        let (nb, rest) = (b - take, k - take);
        // The commit leaves the old header (allocated, at `b`) inside the grown block until it is
        // cleared: `pending` tells `repair` to clear it if a crash comes in between.
        self.store(PENDING, b);
        if rest > 0 {
            self.set_hdr(nb, n + take, ALLOC);
            self.set_hdr(p, rest, 0); // the commit
        } else {
            self.store(p_place.slot, self.load(p + NEXT));
            self.set_hdr(p, n + take, ALLOC); // the commit
        }
        self.arena.store(b + 8, 0);
        self.store(PENDING, 0);
        self.sub_free(take);
        Ok((nb + 16, n + take - OVERHEAD))
    }

    fn shrink_in_place(&mut self, offset: usize, new_size: usize) -> Result<usize> {
        let (b, n) = self.allocated_at(offset)?;
        if new_size > n - OVERHEAD {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{NAME}: cannot shrink a block of {} usable bytes to {new_size}",
                    n - OVERHEAD
                ),
            ));
        }
        let nn = block_size(new_size).unwrap_or(n);
        Ok(self.shrink_block(b, n, nn)? - OVERHEAD)
    }

    fn free_memory(&self) -> usize {
        self.load(FREE).min(self.arena.len())
    }

    fn check_sanity(&self) -> Result<()> {
        block::check_magic(
            NAME,
            KIND,
            self.arena.load(MAGIC),
            self.arena.load(LEN),
            self.arena.len(),
        )?;
        let mut free_blocks = Vec::new();
        self.walk(|b, n, w| {
            if w & !ALLOC & 0xF != 0 {
                return Err(corrupt(NAME, "unknown flags in a header", b));
            }
            if w & ALLOC == 0 {
                if free_blocks.last().is_some_and(|&(p, k)| p + k == b) {
                    return Err(corrupt(NAME, "two adjacent free blocks", b));
                }
                free_blocks.push((b, n));
            }
            Ok(())
        })?;
        let sum: usize = free_blocks.iter().map(|&(_, n)| n).sum();
        if self.load(FREE) != sum {
            return Err(corrupt(NAME, "the free byte count disagrees", FREE));
        }
        let mut cur = self.load(HEAD);
        for &(b, _) in &free_blocks {
            if cur != b {
                return Err(corrupt(NAME, "the free list disagrees with the chain", b));
            }
            cur = self.load(b + NEXT);
        }
        if cur != 0 {
            return Err(corrupt(
                NAME,
                "the free list goes past the last free block",
                cur,
            ));
        }
        Ok(())
    }

    fn zero_free_memory(&mut self) -> Result<()> {
        let mut free = Vec::new();
        self.walk(|b, n, w| {
            if w & ALLOC == 0 {
                free.push((b, n));
            }
            Ok(())
        })?;
        for (b, n) in free {
            self.arena.zero(b + NEXT + 8, b + n + 8);
        }
        Ok(())
    }

    fn all_memory_deallocated(&self) -> bool {
        let w = self.hdr(FIRST);
        w & ALLOC == 0 && size_of_word(FIRST, w) == Some(self.end - FIRST)
    }

    fn for_each_allocated(&self, mut f: impl FnMut(usize, usize) -> Result<()>) -> Result<()> {
        self.walk(|b, n, w| {
            if w & ALLOC != 0 {
                f(b + 16, n - OVERHEAD)
            } else {
                Ok(())
            }
        })
        .map(|_| ())
    }

    /// The old end sentinel becomes an allocated block reaching the new one, which is then
    /// freed (merging with a free block before it).
    fn grow(arena: Arena) -> Result<SeqFit> {
        let old_len = block::grow_check(NAME, KIND, &arena, Self::min_arena_len())?;
        if old_len == arena.len() {
            return Self::open(arena);
        }
        let algo = SeqFit::new(arena)?;
        let old_end = old_len - END_SIZE;
        let w = algo.hdr(old_end);
        if size_of_word(old_end, w) != Some(END_SIZE) || w & ALLOC == 0 {
            return Err(corrupt(NAME, "a bad end sentinel", old_end));
        }
        let extra = algo.end - old_end;
        algo.set_hdr(algo.end, END_SIZE, ALLOC);
        algo.set_hdr(old_end, extra, ALLOC);
        algo.store(LEN, algo.arena.len());
        algo.release(old_end, extra)?;
        Ok(algo)
    }

    /// Cuts off the last block if it is free (keeping a minimal one if it is the only block).
    fn shrink_to_fit(&mut self) -> Result<usize> {
        let len = self.arena.len();
        let mut last = None;
        self.walk(|b, n, w| {
            last = Some((b, n, w));
            Ok(())
        })?;
        let Some((b, n, w)) = last else {
            return Ok(len);
        };
        if w & ALLOC != 0 {
            return Ok(len);
        }
        let keep = if b == FIRST { MIN_BLOCK } else { 0 };
        if n == keep {
            return Ok(len);
        }
        let place = self.place(b)?;
        if place.next != b || self.load(b + NEXT) != 0 {
            return Err(corrupt(
                NAME,
                "the last free block is not last in the list",
                b,
            ));
        }
        let new_end = b + keep;
        if keep > 0 {
            self.set_hdr(b, keep, 0);
        } else {
            self.store(place.slot, 0);
        }
        self.set_hdr(new_end, END_SIZE, ALLOC);
        self.sub_free(n - keep);
        let new_len = new_end + END_SIZE;
        self.store(LEN, new_len);
        Ok(new_len)
    }

    /// Rebuilds the free list from the chain of block headers.
    ///
    /// As for [`BestFit::repair`](super::BestFit::repair): the chain is always a valid tiling, so
    /// after a crash it shows the old or the new state of the interrupted step; `repair` checks
    /// it (writing nothing if it is broken: [`ErrorKind::Corrupted`]), clears the old header an
    /// interrupted `expand_bwd` left (named by `pending`), merges adjacent free blocks, relinks
    /// every free block in address order, and recounts `free`.
    fn repair(&mut self) -> Result<()> {
        let magic = self.arena.load(MAGIC);
        block::check_magic(NAME, KIND, magic, self.arena.len() as u64, self.arena.len())?;
        let pending = self.load(PENDING);
        let mut pending_is_block = false;
        self.walk(|b, _, _| {
            pending_is_block |= b == pending;
            Ok(())
        })?;
        if pending != 0 && !pending_is_block && pending.is_multiple_of(UNIT) && pending < self.end {
            block::clear_stale(&self.arena, pending);
        }
        self.store(PENDING, 0);
        let size_at = |x: usize| {
            size_of_word(x, self.hdr(x))
                .filter(|&n| n >= MIN_BLOCK && n <= self.end - x)
                .ok_or_else(|| corrupt(NAME, "the chain changed during repair", x))
        };
        let (mut b, mut slot, mut free) = (FIRST, HEAD, 0);
        while b != self.end {
            let n = size_at(b)?;
            let w = self.hdr(b);
            if w & ALLOC != 0 {
                if w & 0xF != ALLOC {
                    self.set_hdr(b, n, ALLOC);
                }
                b += n;
                continue;
            }
            let mut total = n;
            while b + total != self.end && self.hdr(b + total) & ALLOC == 0 {
                total += size_at(b + total)?;
            }
            self.store(b + NEXT, 0);
            self.set_hdr(b, total, 0); // commits the merge of the run
            let mut x = b + n;
            while x < b + total {
                let xn = size_at(x)?;
                self.arena.store(x + 8, 0);
                x += xn;
            }
            self.store(slot, b);
            slot = b + NEXT;
            free += total;
            b += total;
        }
        self.store(slot, 0);
        self.store(FREE, free);
        self.store(LEN, self.arena.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_splits_and_merges() {
        let mut a = SeqFit::init(Arena::heap(8192).unwrap()).unwrap();
        let x: Vec<_> = (0..10).map(|_| a.allocate(100).unwrap()).collect();
        for &o in &x[2..6] {
            a.deallocate(o).unwrap();
            a.check_sanity().unwrap();
        }
        assert_eq!(a.allocate(300).unwrap(), x[2]);
        a.check_sanity().unwrap();
        for &o in x[..2].iter().chain(&x[6..]) {
            a.deallocate(o).unwrap();
        }
        a.deallocate(x[2]).unwrap();
        a.check_sanity().unwrap();
        assert!(a.all_memory_deallocated());
    }
}
