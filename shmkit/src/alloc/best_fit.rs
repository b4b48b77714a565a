//! [`BestFit`]: exact best fit with boundary tags, exact-size bins and a treap (the default).
//!
//! # Layout
//!
//! The area header (offset 0, [`BestFitHeader`], 288 bytes):
//!
//! | offset | field | meaning |
//! |---:|---|---|
//! | 0 | `magic` | `"SKMA"`, layout version 1, algorithm 1; written last by `init` |
//! | 8 | `len` | the area's length, checked against the arena's on open |
//! | 16 | `free` | bytes in free blocks (block sizes, headers included) |
//! | 24 | `root` | offset of the treap's root block, 0 when empty |
//! | 32 | `bin_map` | bit `i` set iff bin `i` is not empty |
//! | 40 | `pending` | during `expand_bwd` only: the block start whose header the commit makes stale |
//! | 48 | `bins[30]` | head of the list of free blocks of size `32 + 16 i`, 0 when empty |
//!
//! The first block starts at offset 288 and the 16-byte end sentinel at `len - 16`. Blocks (see
//! the [module docs](super) for the header word):
//!
//! | offset in block | allocated block | free block, 32–496 bytes | free block, 512 bytes and up |
//! |---:|---|---|---|
//! | 0 | tail of the block before (if it is allocated) or its size (if free) | same | same |
//! | 8 | header word: size, `ALLOC`, `PREV_ALLOC`, tag | same | same |
//! | 16 | the caller's bytes | `next` in its bin (0 = last) | treap `left` child (0 = none) |
//! | 24 | … | `prev` in its bin (0 = head) | treap `right` child |
//! | 32 | … | … | treap priority |
//! | size | the last 8 caller bytes (the next block's word 0) | the footer: a copy of the size | same |
//!
//! # Invariants (between operations)
//!
//! 1. The blocks tile `288..len-16` and the chain ends at the end sentinel (size 16, `ALLOC`).
//! 2. A block's `PREV_ALLOC` bit is set iff the block before it is allocated (the first block's
//!    is always set); a free block's footer holds its size.
//! 3. No two free blocks are adjacent (freeing merges with both neighbours).
//! 4. Every free block is in exactly one place of the index: the bin of its exact size if it is
//!    at most 496 bytes (doubly linked, so it can be unlinked in O(1)), else the treap keyed by
//!    `(size, offset)`, a binary search tree in key order and a max-heap in priority.
//! 5. `free` is the sum of the free blocks' sizes.
//!
//! # Allocation
//!
//! A request of `n` bytes needs a block of `max(32, round16(n + 8))` bytes. If that is at most
//! 496, the bin map's lowest set bit at or above its bin finds the smallest non-empty exact bin
//! in O(1). Otherwise (or when no bin fits) the treap descent finds the smallest key
//! `>= (need, 0)`: the smallest block that fits, lowest address first, in O(log n). Both are
//! exact best fit. The block is split if the rest is at least 32 bytes; the caller gets the front,
//! the rest stays free. When the rest is still a treap block whose key keeps its place in key
//! order (always so for the single large block of a fresh area), the treap node is moved to the
//! rest's offset in place instead of being removed and reinserted.
//!
//! Freeing looks at both neighbours through the boundary tags (the next block's header, and,
//! when `PREV_ALLOC` is clear, the footer before the block) and merges in O(1), plus the index
//! updates (O(1) in bins, O(log n) in the treap, again in place when the order allows).
//!
//! # Crash consistency
//!
//! Each operation follows one order: (1) take the blocks it consumes out of the index and put the
//! blocks it produces in, (2) write the new blocks' headers and footers *inside* the range the old
//! header still covers, where no walk can see them, (3) write the one header word that switches
//! the chain from the old tiling to the new one (the commit), (4) fix the `PREV_ALLOC` bit of the
//! block after, clear the headers left stale inside the new block, and update `free`. Every word
//! store is a single aligned atomic store, so no word is ever torn. See [`BestFit::repair`] for
//! what a crash at each step leaves and how it is repaired.

use super::MemoryAlgorithm;
use super::arena::Arena;
use super::block::{
    self, ALLOC, END_SIZE, MIN_BLOCK, OVERHEAD, PREV_ALLOC, UNIT, block_size, corrupt,
    free_size_of_word, mix, not_allocated, out_of_memory, size_of_word,
};
use crate::error::{Error, ErrorKind, Result};

const NAME: &str = "best-fit";
const KIND: u16 = 1;

/// Number of exact-size bins: block sizes 32, 48, ..., 496.
const NBINS: usize = 30;
/// The largest block size kept in a bin.
const SMALL_MAX: usize = MIN_BLOCK + (NBINS - 1) * UNIT;
/// The smallest block size kept in the treap.
const TREE_MIN: usize = SMALL_MAX + UNIT;

/// The area header of [`BestFit`], at offset 0 (documentation of the layout; the fields are
/// accessed through the arena at their `offset_of!`).
#[repr(C)]
#[allow(dead_code)]
struct BestFitHeader {
    magic: u64,
    len: u64,
    free: u64,
    root: u64,
    bin_map: u64,
    pending: u64,
    bins: [u64; NBINS],
}
const _: () = assert!(size_of::<BestFitHeader>() == 288);

const MAGIC: usize = std::mem::offset_of!(BestFitHeader, magic);
const LEN: usize = std::mem::offset_of!(BestFitHeader, len);
const FREE: usize = std::mem::offset_of!(BestFitHeader, free);
const ROOT: usize = std::mem::offset_of!(BestFitHeader, root);
const BIN_MAP: usize = std::mem::offset_of!(BestFitHeader, bin_map);
const PENDING: usize = std::mem::offset_of!(BestFitHeader, pending);
const BINS: usize = std::mem::offset_of!(BestFitHeader, bins);
/// Offset of the first block.
const FIRST: usize = size_of::<BestFitHeader>().next_multiple_of(UNIT);

/// Link words inside a free block: bins use `NEXT`/`PREV`, the treap `LEFT`/`RIGHT`/`PRIO`.
const NEXT: usize = 16;
const PREV: usize = 24;
const LEFT: usize = 16;
const RIGHT: usize = 24;
const PRIO: usize = 32;
/// The first payload byte of a free block that no index word uses.
const fn payload_start(size: usize) -> usize {
    if size >= TREE_MIN { PRIO + 8 } else { PREV + 8 }
}

/// A treap key: `(size, offset)`.
type Key = (usize, usize);

/// A treap key packed for one 128-bit comparison: the size above the offset, so that the order
/// is the order of `(size, offset)`.
#[inline(always)]
fn key128(size: usize, off: usize) -> u128 {
    (size as u128) << 64 | off as u128
}

/// The result of a best-fit search in the treap.
struct Fit {
    node: usize,
    size: usize,
    /// The word that points to `node` (the root field or a parent's child link).
    slot: usize,
    /// The node before `node` in key order, 0 if none (its size is read only when needed).
    pred: usize,
}

/// Exact best fit over boundary-tagged blocks: Boost's `rbtree_best_fit`, with exact-size bins
/// for small blocks and a treap for the rest. The default algorithm.
///
/// 8 bytes of overhead per allocation, 16-byte alignment, 32-byte minimum block (24 usable
/// bytes); O(1) allocation from the bins, O(log n) from the treap, O(1) merging with both
/// neighbours. The layout, invariants and crash-consistency argument are in the source file's
/// module documentation.
///
/// # Examples
///
/// ```
/// use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
///
/// let mut algo = BestFit::init(Arena::heap(1 << 20)?)?;
/// let a = algo.allocate(64)?;
/// let b = algo.allocate(1000)?;
/// assert_eq!(a % 16, 0);
/// assert!(algo.size_of(b)? >= 1000);
/// algo.deallocate(a)?;
/// algo.deallocate(b)?;
/// assert!(algo.all_memory_deallocated());
/// algo.check_sanity()?;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug)]
pub struct BestFit {
    arena: Arena,
    /// Offset of the end sentinel (from the arena's length, never from the area).
    end: usize,
    /// Bound on every walk: more steps than blocks can exist means a cycle.
    max_steps: usize,
    /// `(end - FIRST) / UNIT`: the number of 16-byte units a block may start at (see `in_range`).
    units: usize,
}

impl BestFit {
    fn new(arena: Arena) -> Result<BestFit> {
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
        Ok(BestFit {
            arena,
            end,
            max_steps: block::max_blocks(FIRST, end),
            units: (end - FIRST) / UNIT,
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

    /// Whether `b` is a multiple of 16 in `FIRST..end`, in one comparison: rotating the
    /// distance from `FIRST` right by 4 bits moves a misalignment into the top bits, and a `b`
    /// below `FIRST` wraps to a huge distance, so either makes the result at least `2^60`.
    #[inline(always)]
    fn in_range(&self, b: usize) -> bool {
        const _: () = assert!(FIRST.is_multiple_of(UNIT) && UNIT == 1 << 4);
        b.wrapping_sub(FIRST).rotate_right(4) < self.units
    }

    #[inline(always)]
    fn step(&self, steps: &mut usize, at: usize) -> Result<()> {
        *steps -= 1;
        if *steps == 0 {
            return Err(corrupt(NAME, "a cycle in the free index", at));
        }
        Ok(())
    }

    fn sub_free(&self, n: usize) {
        self.store(FREE, self.load(FREE).wrapping_sub(n));
    }

    fn add_free(&self, n: usize) {
        self.store(FREE, self.load(FREE).wrapping_add(n));
    }

    /// The size and header word of the free block at `b`, if `b` holds a valid free header.
    #[inline(always)]
    fn free_block(&self, b: usize) -> Option<(usize, u64)> {
        if !self.in_range(b) {
            return None;
        }
        let w = self.hdr(b);
        let s = free_size_of_word(b, w)?;
        (s >= MIN_BLOCK && s <= self.end - b).then_some((s, w))
    }

    /// The size and header word of the free block at `b`, validated.
    #[inline(always)]
    fn free_at(&self, b: usize) -> Result<(usize, u64)> {
        self.free_block(b)
            .ok_or_else(|| corrupt(NAME, "a free-index link to a bad block", b))
    }

    /// The size of the treap node at `n`, validated.
    #[inline(always)]
    fn node_size(&self, n: usize) -> Result<usize> {
        // Accepts exactly what `free_block` plus `s >= TREE_MIN` accepts: `s >= TREE_MIN` and
        // `n + s <= end` imply `n + TREE_MIN <= end` (and `s >= MIN_BLOCK`), so that bound is
        // checked up front instead of `n < end`. It is written against the arena's own length
        // (`end + 16`, see `new`), which lets the compiler drop the arena's bounds check on the
        // header load below (measured: one branch and three instructions per visited node).
        let len = self.arena.len();
        if n.is_multiple_of(UNIT)
            && n >= FIRST
            && len >= END_SIZE + TREE_MIN
            && n <= len - (END_SIZE + TREE_MIN)
        {
            let w = self.hdr(n);
            if let Some(s) = free_size_of_word(n, w)
                && s >= TREE_MIN
                && s <= len - END_SIZE - n
            {
                return Ok(s);
            }
        }
        Err(corrupt(NAME, "a treap link to a bad block", n))
    }

    /// The allocated block whose caller offset is `off`: `(start, size, header word)`.
    #[inline]
    fn allocated_at(&self, off: usize) -> Result<(usize, usize, u64)> {
        if off.is_multiple_of(UNIT) && off >= FIRST + 16 && off <= self.end {
            let b = off - 16;
            let w = self.hdr(b);
            if let Some(n) = size_of_word(b, w)
                && w & ALLOC != 0
                && n >= MIN_BLOCK
                && n <= self.end - b
            {
                let nw = self.hdr(b + n);
                if size_of_word(b + n, nw).is_some() && nw & PREV_ALLOC != 0 {
                    return Ok((b, n, w));
                }
            }
        }
        Err(not_allocated(NAME, off))
    }

    /// The free block before `b` (whose `PREV_ALLOC` bit is clear): `(start, size, word)`.
    fn free_before(&self, b: usize) -> Result<(usize, usize, u64)> {
        let foot = self.load(b);
        let p = b.wrapping_sub(foot);
        match self.free_block(p) {
            Some((k, w)) if k == foot => Ok((p, k, w)),
            _ => Err(corrupt(
                NAME,
                "the block before is marked free but its footer disagrees",
                b,
            )),
        }
    }

    // ----- bins -------------------------------------------------------------------------------

    fn bin_slot(size: usize) -> (usize, usize) {
        let i = size / UNIT - 2;
        (i, BINS + 8 * i)
    }

    fn bin_push(&self, b: usize, size: usize) -> Result<()> {
        let (i, slot) = Self::bin_slot(size);
        let head = self.load(slot);
        if head != 0 && !self.in_range(head) {
            return Err(corrupt(NAME, "a bin head out of range", head));
        }
        self.store(b + NEXT, head);
        self.store(b + PREV, 0);
        if head != 0 {
            self.store(head + PREV, b);
        }
        self.store(slot, b);
        self.store(BIN_MAP, self.load(BIN_MAP) | 1 << i);
        Ok(())
    }

    fn bin_remove(&self, b: usize, size: usize) -> Result<()> {
        let (i, slot) = Self::bin_slot(size);
        let next = self.load(b + NEXT);
        let prev = self.load(b + PREV);
        let prev_ok = if prev == 0 {
            self.load(slot) == b
        } else {
            self.in_range(prev) && self.load(prev + NEXT) == b
        };
        let next_ok = next == 0 || (self.in_range(next) && self.load(next + PREV) == b);
        if !prev_ok || !next_ok {
            return Err(corrupt(NAME, "broken bin links", b));
        }
        if prev == 0 {
            self.store(slot, next);
            if next == 0 {
                self.store(BIN_MAP, self.load(BIN_MAP) & !(1 << i));
            }
        } else {
            self.store(prev + NEXT, next);
        }
        if next != 0 {
            self.store(next + PREV, prev);
        }
        Ok(())
    }

    fn bin_pop(&self, i: usize) -> Result<usize> {
        let slot = BINS + 8 * i;
        let head = self.load(slot);
        let size = MIN_BLOCK + i * UNIT;
        if self.free_at(head)?.0 != size {
            return Err(corrupt(NAME, "a block in the wrong bin", head));
        }
        let next = self.load(head + NEXT);
        if next != 0 {
            if !self.in_range(next) || self.load(next + PREV) != head {
                return Err(corrupt(NAME, "broken bin links", head));
            }
            self.store(next + PREV, 0);
        } else {
            self.store(BIN_MAP, self.load(BIN_MAP) & !(1 << i));
        }
        self.store(slot, next);
        Ok(head)
    }

    // ----- treap ------------------------------------------------------------------------------

    fn tree_insert(&self, node: usize, size: usize) -> Result<()> {
        let key = key128(size, node);
        let prio = mix(node) as usize;
        let mut steps = self.max_steps;
        let mut slot = ROOT;
        let mut cur = self.load(slot);
        // The size of `cur` once validated (the descent stops at a validated node); 0 for none
        // (no treap node is that small).
        let mut cs = 0;
        while cur != 0 {
            let s = self.node_size(cur)?;
            if self.load(cur + PRIO) < prio {
                cs = s;
                break;
            }
            slot = cur + if key < key128(s, cur) { LEFT } else { RIGHT };
            cur = self.load(slot);
            self.step(&mut steps, cur)?;
        }
        // Split the subtree at `cur` around `key` into the new node's children.
        let (mut l, mut r) = (node + LEFT, node + RIGHT);
        while cs != 0 {
            let next = if key128(cs, cur) < key {
                self.store(l, cur);
                l = cur + RIGHT;
                l
            } else {
                self.store(r, cur);
                r = cur + LEFT;
                r
            };
            cur = self.load(next);
            self.step(&mut steps, cur)?;
            cs = if cur != 0 { self.node_size(cur)? } else { 0 };
        }
        self.store(l, 0);
        self.store(r, 0);
        self.store(node + PRIO, prio);
        self.store(slot, node);
        Ok(())
    }

    /// Replaces `node` (pointed to by `slot`) with the merge of its two subtrees.
    fn tree_unlink(&self, mut slot: usize, node: usize) -> Result<()> {
        let mut steps = self.max_steps;
        let (mut a, mut b) = (self.load(node + LEFT), self.load(node + RIGHT));
        loop {
            if a == 0 {
                self.store(slot, b);
                return Ok(());
            }
            if b == 0 {
                self.store(slot, a);
                return Ok(());
            }
            self.node_size(a)?;
            self.node_size(b)?;
            if self.load(a + PRIO) > self.load(b + PRIO) {
                self.store(slot, a);
                slot = a + RIGHT;
                a = self.load(slot);
            } else {
                self.store(slot, b);
                slot = b + LEFT;
                b = self.load(slot);
            }
            self.step(&mut steps, node)?;
        }
    }

    /// Finds `node` of `size`: the slot pointing to it, and the nearest ancestors' keys below and
    /// above it.
    #[inline]
    fn tree_find(&self, node: usize, size: usize) -> Result<(usize, Option<Key>, Option<Key>)> {
        let key = key128(size, node);
        let mut steps = self.max_steps;
        let (mut slot, mut lo, mut hi) = (ROOT, None, None);
        let mut cur = self.load(slot);
        loop {
            if cur == node {
                return Ok((slot, lo, hi));
            }
            if cur == 0 {
                return Err(corrupt(NAME, "a free block missing from the treap", node));
            }
            let s = self.node_size(cur)?;
            let at = cur;
            if key < key128(s, cur) {
                hi = Some((s, cur));
                slot = cur + LEFT;
            } else {
                lo = Some((s, cur));
                slot = cur + RIGHT;
            }
            cur = self.load(slot);
            self.step(&mut steps, at)?;
        }
    }

    fn tree_remove(&self, node: usize, size: usize) -> Result<()> {
        let (slot, _, _) = self.tree_find(node, size)?;
        self.tree_unlink(slot, node)
    }

    /// The smallest (`left`) or largest (`right`) key of the subtree at `n`.
    fn tree_extreme(&self, mut n: usize, side: usize) -> Result<Key> {
        let mut steps = self.max_steps;
        loop {
            let s = self.node_size(n)?;
            let c = self.load(n + side);
            if c == 0 {
                return Ok((s, n));
            }
            n = c;
            self.step(&mut steps, n)?;
        }
    }

    /// Turns the treap entry `(old_size, old)` into `(new_size, new)`: in place (the node's words
    /// moved to `new`) when the new key keeps its position in key order, else by removal and
    /// insertion. Reads `old`'s header, so it runs before any header changes.
    #[inline]
    fn tree_rekey(&self, old: usize, old_size: usize, new: usize, new_size: usize) -> Result<()> {
        let (slot, lo, hi) = self.tree_find(old, old_size)?;
        let (okey, nkey) = ((old_size, old), (new_size, new));
        let fits = if nkey > okey {
            let r = self.load(old + RIGHT);
            let succ = if r != 0 {
                Some(self.tree_extreme(r, LEFT)?)
            } else {
                hi
            };
            succ.is_none_or(|s| nkey < s)
        } else {
            let l = self.load(old + LEFT);
            let pred = if l != 0 {
                Some(self.tree_extreme(l, RIGHT)?)
            } else {
                lo
            };
            pred.is_none_or(|p| p < nkey)
        };
        if fits {
            self.move_node(old, new, slot);
            Ok(())
        } else {
            self.tree_unlink(slot, old)?;
            self.tree_insert(new, new_size)
        }
    }

    /// Moves the treap node's words from `old` to `new` and repoints `slot`.
    fn move_node(&self, old: usize, new: usize, slot: usize) {
        if old != new {
            let (l, r, p) = (
                self.load(old + LEFT),
                self.load(old + RIGHT),
                self.load(old + PRIO),
            );
            self.store(new + LEFT, l);
            self.store(new + RIGHT, r);
            self.store(new + PRIO, p);
            self.store(slot, new);
        }
    }

    /// The smallest treap block of at least `need` bytes.
    fn tree_best(&self, need: usize) -> Result<Option<Fit>> {
        let mut steps = self.max_steps;
        // Only offsets are carried down (few live values keep the loop in registers): the slot
        // of the best node so far (0 = none) and the last node passed on the right. The best
        // node is read from its slot again, and validated again, at the end.
        let (mut slot, mut best_slot, mut pred) = (ROOT, 0, 0);
        let mut cur = self.load(slot);
        while cur != 0 {
            let s = self.node_size(cur)?;
            let at = cur;
            if s >= need {
                best_slot = slot;
                slot = cur + LEFT;
            } else {
                pred = cur;
                slot = cur + RIGHT;
            }
            cur = self.load(slot);
            self.step(&mut steps, at)?;
        }
        if best_slot == 0 {
            return Ok(None);
        }
        let best = self.load(best_slot);
        Ok(Some(Fit {
            node: best,
            size: self.node_size(best)?,
            slot: best_slot,
            pred,
        }))
    }

    // ----- index ------------------------------------------------------------------------------

    fn insert_index(&self, b: usize, size: usize) -> Result<()> {
        if size <= SMALL_MAX {
            self.bin_push(b, size)
        } else {
            self.tree_insert(b, size)
        }
    }

    fn remove_index(&self, b: usize, size: usize) -> Result<()> {
        if size <= SMALL_MAX {
            self.bin_remove(b, size)
        } else {
            self.tree_remove(b, size)
        }
    }

    // ----- block operations -------------------------------------------------------------------

    /// Allocates all of the free block `b` of `size` bytes, already out of the index.
    fn take_whole(&self, b: usize, size: usize, flags: u64) -> usize {
        self.set_hdr(b, size, ALLOC | flags);
        let nb = b + size;
        self.arena.store(nb + 8, self.hdr(nb) | PREV_ALLOC);
        self.sub_free(size);
        b + 16
    }

    /// Splits the free block `b` (already out of the index, its rest `r` already in it or about
    /// to be) into an allocated front of `need` bytes and a free rest.
    fn commit_split(&self, b: usize, s: usize, need: usize, flags: u64) -> usize {
        let (r, rs) = (b + need, s - need);
        self.set_hdr(r, rs, PREV_ALLOC);
        self.store(b + s, rs);
        self.set_hdr(b, need, ALLOC | flags); // the commit
        self.sub_free(need);
        b + 16
    }

    fn take_from_bin(&self, i: usize, need: usize) -> Result<usize> {
        let b = self.bin_pop(i)?;
        let s = MIN_BLOCK + i * UNIT;
        let flags = self.hdr(b) & PREV_ALLOC;
        if s - need >= MIN_BLOCK {
            self.bin_push(b + need, s - need)?;
            Ok(self.commit_split(b, s, need, flags))
        } else {
            Ok(self.take_whole(b, s, flags))
        }
    }

    fn take_from_tree(&self, fit: Fit, need: usize) -> Result<usize> {
        let Fit {
            node: b,
            size: s,
            slot,
            pred,
        } = fit;
        let flags = self.hdr(b) & PREV_ALLOC;
        if s - need < MIN_BLOCK {
            self.tree_unlink(slot, b)?;
            return Ok(self.take_whole(b, s, flags));
        }
        let (r, rs) = (b + need, s - need);
        if rs >= TREE_MIN && (pred == 0 || key128(self.node_size(pred)?, pred) < key128(rs, r)) {
            self.move_node(b, r, slot);
        } else {
            self.tree_unlink(slot, b)?;
            self.insert_index(r, rs)?;
        }
        Ok(self.commit_split(b, s, need, flags))
    }

    /// Frees the block `b` of `n` bytes, which is in no index (its header may say allocated or
    /// free): merges it with free neighbours, indexes the result, counts `n` more free bytes.
    #[inline]
    fn release(&self, b: usize, n: usize) -> Result<()> {
        let mut flags = self.hdr(b) & PREV_ALLOC;
        let (mut start, mut total) = (b, n);
        let nb = b + n;
        let next = if nb < self.end && self.hdr(nb) & ALLOC == 0 {
            Some(self.free_at(nb)?.0)
        } else {
            None
        };
        let prev = if flags == 0 {
            let (p, k, pw) = self.free_before(b)?;
            flags = pw & PREV_ALLOC;
            start = p;
            total += k;
            Some((p, k))
        } else {
            None
        };
        total += next.unwrap_or(0);

        // (1) The index: keep a neighbour's treap node where possible.
        let prev_tree = prev.filter(|&(_, k)| k >= TREE_MIN);
        let next_tree = next.filter(|&m| m >= TREE_MIN);
        if let Some((p, k)) = prev
            && k < TREE_MIN
        {
            self.bin_remove(p, k)?;
        }
        if let Some(m) = next
            && m < TREE_MIN
        {
            self.bin_remove(nb, m)?;
        }
        match (prev_tree, next_tree) {
            (Some((p, k)), nt) => {
                if let Some(m) = nt {
                    self.tree_remove(nb, m)?;
                }
                self.tree_rekey(p, k, start, total)?;
            }
            (None, Some(m)) => self.tree_rekey(nb, m, start, total)?,
            (None, None) => self.insert_index(start, total)?,
        }

        // (2) the freed block marked free first when the block before absorbs it, so that its
        // header, stale once the merge commits, never looks allocated; the footer; (3) the
        // commit; (4) the block after, stale headers, the counter.
        if start != b {
            self.set_hdr(b, n, 0);
        }
        let after = start + total;
        self.store(after, total);
        self.set_hdr(start, total, flags);
        let aw = self.hdr(after);
        if aw & PREV_ALLOC != 0 {
            self.arena.store(after + 8, aw & !PREV_ALLOC);
        }
        if start != b {
            self.arena.store(b + 8, 0);
        }
        if next.is_some() {
            self.arena.store(nb + 8, 0);
        }
        self.add_free(n);
        Ok(())
    }

    /// Shrinks the allocated block `b` of `n` bytes to `nn` bytes (`nn <= n`), freeing the tail if
    /// it can form a block.
    fn shrink_block(&self, b: usize, n: usize, nn: usize) -> Result<usize> {
        if n - nn < MIN_BLOCK {
            return Ok(n);
        }
        let (t, ts) = (b + nn, n - nn);
        self.set_hdr(t, ts, PREV_ALLOC);
        self.store(b + n, ts);
        self.set_hdr(b, nn, ALLOC | (self.hdr(b) & PREV_ALLOC)); // the commit
        self.release(t, ts)?;
        Ok(nn)
    }

    /// Walks the chain of blocks, calling `f(start, size, word)` for each.
    fn walk(&self, f: impl FnMut(usize, usize, u64) -> Result<()>) -> Result<u64> {
        block::walk(&self.arena, NAME, FIRST, self.end, self.max_steps, f)
    }
}

impl MemoryAlgorithm for BestFit {
    fn min_arena_len() -> usize {
        FIRST + MIN_BLOCK + END_SIZE
    }

    fn init(arena: Arena) -> Result<BestFit> {
        let algo = BestFit::new(arena)?;
        let (a, end) = (&algo.arena, algo.end);
        a.store(MAGIC, 0);
        a.zero(LEN, FIRST);
        algo.store(LEN, a.len());
        let size = end - FIRST;
        algo.set_hdr(FIRST, size, PREV_ALLOC);
        algo.store(end, size);
        algo.set_hdr(end, END_SIZE, ALLOC);
        algo.store(FREE, size);
        algo.insert_index(FIRST, size)?;
        a.store(MAGIC, block::magic(KIND));
        Ok(algo)
    }

    fn open(arena: Arena) -> Result<BestFit> {
        let algo = BestFit::new(arena)?;
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
        if need <= SMALL_MAX {
            let i = need / UNIT - 2;
            let map = (self.arena.load(BIN_MAP) & ((1 << NBINS) - 1)) >> i;
            if map != 0 {
                return self.take_from_bin(i + map.trailing_zeros() as usize, need);
            }
        }
        match self.tree_best(need)? {
            Some(fit) => self.take_from_tree(fit, need),
            None => Err(out_of_memory(NAME, size)),
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
        // A block of `need + align + 32` bytes holds an aligned block of `need` bytes with a front
        // of 0 or at least 32 bytes.
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
            // Free the front: the aligned block's header and the front's footer first, inside
            // the allocated block; then the commit that makes the front a free block.
            let d = aligned - off;
            let (b2, n2) = (b + d, n - d);
            self.set_hdr(b2, n2, ALLOC);
            self.store(b2, d);
            self.set_hdr(b, d, self.hdr(b) & PREV_ALLOC);
            self.release(b, d)?;
            (b2, n2)
        };
        self.shrink_block(b2, n2, need)?;
        Ok(b2 + 16)
    }

    fn deallocate(&mut self, offset: usize) -> Result<()> {
        let (b, n, _) = self.allocated_at(offset)?;
        self.release(b, n)
    }

    fn size_of(&self, offset: usize) -> Result<usize> {
        let (_, n, _) = self.allocated_at(offset)?;
        Ok(n - OVERHEAD)
    }

    fn expand_fwd(&mut self, offset: usize, min_size: usize, preferred: usize) -> Result<usize> {
        let (b, n, w) = self.allocated_at(offset)?;
        let u = n - OVERHEAD;
        let pref = preferred.max(min_size);
        if u >= pref {
            return Ok(u);
        }
        let nb = b + n;
        let avail = if nb < self.end && self.hdr(nb) & ALLOC == 0 {
            self.free_at(nb)?.0
        } else {
            0
        };
        if avail == 0 || u + avail < min_size {
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
        let r = b + nn;
        if rest >= TREE_MIN && avail >= TREE_MIN {
            self.tree_rekey(nb, avail, r, rest)?;
        } else {
            self.remove_index(nb, avail)?;
            if rest > 0 {
                self.insert_index(r, rest)?;
            }
        }
        if rest > 0 {
            self.set_hdr(r, rest, PREV_ALLOC);
            self.store(r + rest, rest);
        }
        self.set_hdr(b, nn, ALLOC | (w & PREV_ALLOC)); // the commit
        if rest == 0 {
            let after = b + nn;
            self.arena.store(after + 8, self.hdr(after) | PREV_ALLOC);
        }
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
        let (b, n, w) = self.allocated_at(offset)?;
        let u = n - OVERHEAD;
        let pref = preferred.max(min_size);
        let unchanged = |u: usize| {
            if u >= min_size {
                Ok((offset, u))
            } else {
                Err(out_of_memory(NAME, min_size))
            }
        };
        if u >= pref || w & PREV_ALLOC != 0 {
            return unchanged(u);
        }
        let (p, k, pw) = self.free_before(b)?;
        if u + k < min_size {
            return unchanged(u);
        }
        let nn = block_size(pref.min(u + k)).unwrap_or(n + k);
        let mut take = nn - n;
        if k - take < MIN_BLOCK {
            take = k;
        }
        let (nb, rest) = (b - take, k - take);
        // The commit leaves the old header (allocated, at `b`) inside the grown block until it is
        // cleared: `pending` tells `repair` to clear it if a crash comes in between.
        self.store(PENDING, b);
        if rest >= TREE_MIN && k >= TREE_MIN {
            self.tree_rekey(p, k, p, rest)?;
        } else {
            self.remove_index(p, k)?;
            if rest > 0 {
                self.insert_index(p, rest)?;
            }
        }
        if rest > 0 {
            self.set_hdr(nb, n + take, ALLOC);
            self.store(nb, rest);
            self.set_hdr(p, rest, pw & PREV_ALLOC); // the commit
        } else {
            self.set_hdr(p, n + take, ALLOC | (pw & PREV_ALLOC)); // the commit
        }
        self.arena.store(b + 8, 0);
        self.store(PENDING, 0);
        self.sub_free(take);
        Ok((nb + 16, n + take - OVERHEAD))
    }

    fn shrink_in_place(&mut self, offset: usize, new_size: usize) -> Result<usize> {
        let (b, n, _) = self.allocated_at(offset)?;
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
        let mut prev_free = false;
        let end_word = self.walk(|b, n, w| {
            if (w & PREV_ALLOC == 0) != prev_free {
                return Err(corrupt(NAME, "a PREV_ALLOC bit disagrees", b));
            }
            prev_free = w & ALLOC == 0;
            if prev_free {
                if free_blocks.last().is_some_and(|&(p, k)| p + k == b) {
                    return Err(corrupt(NAME, "two adjacent free blocks", b));
                }
                if self.load(b + n) != n {
                    return Err(corrupt(NAME, "a free block's footer disagrees", b));
                }
                free_blocks.push((b, n));
            }
            Ok(())
        })?;
        if (end_word & PREV_ALLOC == 0) != prev_free {
            return Err(corrupt(
                NAME,
                "the end's PREV_ALLOC bit disagrees",
                self.end,
            ));
        }
        let sum: usize = free_blocks.iter().map(|&(_, n)| n).sum();
        if self.load(FREE) != sum {
            return Err(corrupt(NAME, "the free byte count disagrees", FREE));
        }

        let mut seen = vec![false; free_blocks.len()];
        let mut mark = |b: usize, want: &dyn Fn(usize) -> bool| -> Result<usize> {
            let i = free_blocks
                .binary_search_by_key(&b, |&(x, _)| x)
                .map_err(|_| corrupt(NAME, "an index entry is not a free block", b))?;
            if std::mem::replace(&mut seen[i], true) {
                return Err(corrupt(NAME, "a free block indexed twice", b));
            }
            let n = free_blocks[i].1;
            if !want(n) {
                return Err(corrupt(NAME, "a free block in the wrong index", b));
            }
            Ok(n)
        };
        let map = self.arena.load(BIN_MAP);
        if map >> NBINS != 0 {
            return Err(corrupt(NAME, "bin map bits past the last bin", BIN_MAP));
        }
        for i in 0..NBINS {
            let size = MIN_BLOCK + i * UNIT;
            let mut cur = self.load(BINS + 8 * i);
            if (cur != 0) != (map >> i & 1 == 1) {
                return Err(corrupt(
                    NAME,
                    "the bin map disagrees with a bin",
                    BINS + 8 * i,
                ));
            }
            let mut prev = 0;
            while cur != 0 {
                mark(cur, &|n| n == size)?;
                if self.load(cur + PREV) != prev {
                    return Err(corrupt(NAME, "broken bin links", cur));
                }
                prev = cur;
                cur = self.load(cur + NEXT);
            }
        }
        // Treap: key order within (lo, hi), heap order on priorities.
        let mut stack = vec![(self.load(ROOT), None::<Key>, None::<Key>, usize::MAX)];
        while let Some((node, lo, hi, max_prio)) = stack.pop() {
            if node == 0 {
                continue;
            }
            let size = mark(node, &|n| n >= TREE_MIN)?;
            let key = (size, node);
            let prio = self.load(node + PRIO);
            if lo.is_some_and(|l| l >= key) || hi.is_some_and(|h| h <= key) || prio > max_prio {
                return Err(corrupt(NAME, "treap order broken", node));
            }
            stack.push((self.load(node + LEFT), lo, Some(key), prio));
            stack.push((self.load(node + RIGHT), Some(key), hi, prio));
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(corrupt(
                NAME,
                "a free block missing from the index",
                free_blocks[i].0,
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
            self.arena.zero(b + payload_start(n), b + n);
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
    fn grow(arena: Arena) -> Result<BestFit> {
        let old_len = block::grow_check(NAME, KIND, &arena, Self::min_arena_len())?;
        if old_len == arena.len() {
            return Self::open(arena);
        }
        let algo = BestFit::new(arena)?;
        let old_end = old_len - END_SIZE;
        let w = algo.hdr(old_end);
        if size_of_word(old_end, w) != Some(END_SIZE) || w & ALLOC == 0 {
            return Err(corrupt(NAME, "a bad end sentinel", old_end));
        }
        let extra = algo.end - old_end;
        algo.set_hdr(algo.end, END_SIZE, ALLOC | PREV_ALLOC);
        algo.set_hdr(old_end, extra, ALLOC | (w & PREV_ALLOC));
        algo.store(LEN, algo.arena.len());
        algo.release(old_end, extra)?;
        Ok(algo)
    }

    /// Cuts off the free block before the end sentinel (keeping a minimal one if it is the
    /// only block).
    fn shrink_to_fit(&mut self) -> Result<usize> {
        let len = self.arena.len();
        if self.hdr(self.end) & PREV_ALLOC != 0 {
            return Ok(len);
        }
        let (p, k, pw) = self.free_before(self.end)?;
        let keep = if p == FIRST { MIN_BLOCK } else { 0 };
        if k == keep {
            return Ok(len);
        }
        self.remove_index(p, k)?;
        let new_end = p + keep;
        if keep > 0 {
            self.set_hdr(p, keep, pw & PREV_ALLOC);
            self.store(new_end, keep);
            self.insert_index(p, keep)?;
        }
        let prev = if keep > 0 { 0 } else { PREV_ALLOC };
        self.set_hdr(new_end, END_SIZE, ALLOC | prev);
        self.sub_free(k - keep);
        let new_len = new_end + END_SIZE;
        self.store(LEN, new_len);
        Ok(new_len)
    }

    /// Rebuilds the free index from the boundary tags.
    ///
    /// The chain of block headers is the source of truth: every operation keeps it a valid tiling
    /// at every store (see the module docs), so after a crash it shows either the old or the new
    /// state of the interrupted step. `repair` walks it (failing with
    /// [`ErrorKind::Corrupted`], and writing nothing, if it is not a valid tiling), then rebuilds:
    /// it merges runs of adjacent free blocks into one, rewrites every footer and `PREV_ALLOC`
    /// bit, clears the headers left stale inside merged blocks, refills the bins and the treap,
    /// and recounts `free`. What a crash can leave, per operation step:
    ///
    /// * index updated, commit not written (any operation): the index disagrees with the chain;
    ///   rebuilt. The operation did not happen.
    /// * a split half done (`allocate`, `shrink_in_place`, `expand_fwd`, an aligned allocation):
    ///   the rest's header and footer are written but lie inside the block whose header still
    ///   has the old size, so no walk sees them; the block is still whole (and free, or still
    ///   the caller's), and the index is rebuilt.
    /// * allocation committed, `PREV_ALLOC` of the next block or `free` not yet updated: fixed;
    ///   the block stays allocated (leaked: its owner died before getting the offset).
    /// * a block marked free (a freed block, a shrunk tail, the front cut off an aligned block)
    ///   before the merge with a free neighbour committed: two adjacent free blocks; merged.
    /// * a merge committed, stale headers not yet cleared: they sit inside a free block, where no
    ///   walk goes, and none of them says allocated (a block is marked free before a merge into
    ///   the block before it commits), so `deallocate` and `size_of` refuse their offsets.
    /// * `expand_bwd` committed, the old header not yet cleared: the header's `pending` field
    ///   names it, and `repair` clears it (if it still holds that block's tag). The block now
    ///   starts at the new offset and the old offset no longer names a block; the block is leaked
    ///   with its owner.
    ///
    /// A crash inside `repair` leaves a valid chain too (it only commits merges, in the same
    /// order), so `repair` can simply run again.
    fn repair(&mut self) -> Result<()> {
        let magic = self.arena.load(MAGIC);
        block::check_magic(NAME, KIND, magic, self.arena.len() as u64, self.arena.len())?;
        let pending = self.load(PENDING);
        let mut pending_is_block = false;
        self.walk(|b, _, _| {
            pending_is_block |= b == pending;
            Ok(())
        })?;
        if pending != 0 && !pending_is_block && self.in_range(pending) {
            block::clear_stale(&self.arena, pending);
        }
        self.store(PENDING, 0);
        self.store(ROOT, 0);
        self.store(BIN_MAP, 0);
        self.arena.zero(BINS, BINS + 8 * NBINS);
        let (mut b, mut prev_alloc, mut free) = (FIRST, PREV_ALLOC, 0);
        let size_at = |x: usize| {
            size_of_word(x, self.hdr(x))
                .filter(|&n| n >= MIN_BLOCK && n <= self.end - x)
                .ok_or_else(|| corrupt(NAME, "the chain changed during repair", x))
        };
        while b != self.end {
            let w = self.hdr(b);
            let n = size_at(b)?;
            if w & ALLOC != 0 {
                if w & PREV_ALLOC != prev_alloc {
                    self.arena.store(b + 8, (w & !PREV_ALLOC) | prev_alloc);
                }
                prev_alloc = PREV_ALLOC;
                b += n;
                continue;
            }
            let mut total = n;
            while b + total != self.end && self.hdr(b + total) & ALLOC == 0 {
                total += size_at(b + total)?;
            }
            self.store(b + total, total);
            self.set_hdr(b, total, prev_alloc); // commits the merge of the run
            let mut x = b + n;
            while x < b + total {
                let xn = size_at(x)?;
                self.arena.store(x + 8, 0);
                x += xn;
            }
            self.insert_index(b, total)?;
            free += total;
            prev_alloc = 0;
            b += total;
        }
        let ew = self.hdr(self.end);
        self.arena
            .store(self.end + 8, (ew & !PREV_ALLOC) | prev_alloc);
        self.store(FREE, free);
        self.store(LEN, self.arena.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn algo(len: usize) -> BestFit {
        BestFit::init(Arena::heap(len).unwrap()).unwrap()
    }

    #[test]
    fn layout_constants() {
        assert_eq!(FIRST, 288);
        assert_eq!(SMALL_MAX, 496);
        assert_eq!(TREE_MIN, 512);
        assert_eq!(BINS, 48);
    }

    #[test]
    fn in_range_is_an_aligned_offset_in_the_block_area() {
        let a = algo(1 << 12);
        let end = (1 << 12) - END_SIZE;
        for b in (0..FIRST + 64).chain(end - 64..end + 64).chain([
            usize::MAX,
            usize::MAX - 15,
            usize::MAX - FIRST,
            1 << 63,
            (1 << 63) + FIRST,
        ]) {
            let want = b.is_multiple_of(UNIT) && b >= FIRST && b < end;
            assert_eq!(a.in_range(b), want, "{b}");
        }
    }

    #[test]
    fn treap_links_to_bad_blocks_are_refused() {
        let mut a = algo(1 << 16);
        let x = a.allocate(1000).unwrap() - 16;
        let y = a.allocate(1000).unwrap() - 16;
        let _z = a.allocate(1000).unwrap();
        a.deallocate(y + 16).unwrap();
        // The free block `y` and the rest of the area are treap nodes; `x` is allocated.
        assert!(a.node_size(y).unwrap() >= TREE_MIN);
        for bad in [
            0,
            8,
            FIRST - 16,
            x,
            y + 8,
            y + 16,
            a.end,
            a.end + 16,
            usize::MAX - 15,
        ] {
            assert_eq!(
                a.node_size(bad).unwrap_err().kind(),
                ErrorKind::Corrupted,
                "{bad}"
            );
        }
        // A treap-sized free header whose block would run past the end sentinel.
        let fake = a.end - 256;
        a.arena.store(fake + 8, block::word(fake, TREE_MIN, 0));
        assert_eq!(a.node_size(fake).unwrap_err().kind(), ErrorKind::Corrupted);
    }

    #[test]
    fn fresh_area_is_one_free_block() {
        let a = algo(1 << 16);
        a.check_sanity().unwrap();
        assert!(a.all_memory_deallocated());
        assert_eq!(a.free_memory(), (1 << 16) - FIRST - END_SIZE);
    }

    #[test]
    fn bins_serve_exact_sizes_and_merge_back() {
        let mut a = algo(1 << 16);
        let offs: Vec<_> = (0..40)
            .map(|i| a.allocate(8 + 16 * (i % 20)).unwrap())
            .collect();
        for &o in offs.iter().step_by(2) {
            a.deallocate(o).unwrap();
            a.check_sanity().unwrap();
        }
        // A freed 8-byte block (32 bytes) is the best fit for a new 8-byte request.
        let again = a.allocate(8).unwrap();
        assert!(again == offs[0] || again == offs[20], "{again}");
        a.deallocate(again).unwrap();
        for &o in offs.iter().skip(1).step_by(2) {
            a.deallocate(o).unwrap();
            a.check_sanity().unwrap();
        }
        assert!(a.all_memory_deallocated());
    }

    #[test]
    fn best_fit_picks_the_smallest_block_that_fits() {
        let mut a = algo(1 << 20);
        let sizes = [2000, 100, 1500, 100, 1000, 100, 3000, 100];
        let offs: Vec<_> = sizes.iter().map(|&s| a.allocate(s).unwrap()).collect();
        for i in [0, 2, 4, 6] {
            a.deallocate(offs[i]).unwrap();
        }
        a.check_sanity().unwrap();
        assert_eq!(a.allocate(1200).unwrap(), offs[2]);
        assert_eq!(a.allocate(900).unwrap(), offs[4]);
        assert_eq!(a.allocate(1900).unwrap(), offs[0]);
        a.check_sanity().unwrap();
    }

    #[test]
    fn double_free_and_bad_offsets_are_refused() {
        let mut a = algo(1 << 16);
        let x = a.allocate(100).unwrap();
        let y = a.allocate(100).unwrap();
        for bad in [0, 1, 8, 16, x + 16, x - 16, y + 8, 1 << 20] {
            assert_eq!(
                a.deallocate(bad).unwrap_err().kind(),
                ErrorKind::InvalidArgument,
                "{bad}"
            );
        }
        a.deallocate(x).unwrap();
        assert!(a.deallocate(x).is_err());
        a.deallocate(y).unwrap();
        assert!(a.deallocate(y).is_err());
        assert!(a.deallocate(x).is_err());
        a.check_sanity().unwrap();
        assert!(a.all_memory_deallocated());
    }
}
