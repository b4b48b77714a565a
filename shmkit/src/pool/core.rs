//! The pool object that lives in the segment, and its two algorithms: segregated storage (the
//! node pool) and per-block free lists over page-aligned blocks (the adaptive pool).
//!
//! Everything here is reached through a [`SegmentRef`] and offsets; every offset read from the
//! segment is checked (bounds and alignment through [`SegmentRef::ptr`], block and page check
//! words) before use, and every walk is bounded. See the [module docs](super) for the layout and
//! the crash argument.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::collections::{AsSegment, SegmentRef};
use crate::error::{Error, ErrorKind, Result};
use crate::fingerprint::{combine, fnv1a};
use crate::shm_safe::ShmSafe;
use crate::sync::{Acquired, RawMutex};
use crate::sys;

use super::PoolStats;

/// Adaptive blocks are made of pages of this size, each aligned to it.
pub(crate) const PAGE: u64 = 4096;
/// Every page of an adaptive block starts with `[block offset, check word]`.
const PAGE_HDR: u64 = 16;
/// The first page then holds the block header.
const BLOCK_HDR: u64 = 64;
/// Where the first page's nodes start.
const FIRST: u64 = PAGE_HDR + BLOCK_HDR;
/// A node-pool block starts with `[next block, check word]`.
const NODE_BLOCK_HDR: u64 = 16;

// Adaptive block header fields (offsets from the block's start).
const B_NEXT: u64 = 16;
const B_PREV_AVAIL: u64 = 24;
const B_NEXT_AVAIL: u64 = 32;
const B_FREE: u64 = 40;
const B_NFREE: u64 = 48;
const B_IN_AVAIL: u64 = 56;

const MAGIC_NODE: u64 = fnv1a(b"shmkit.pool.node.v1");
const MAGIC_ADAPTIVE: u64 = fnv1a(b"shmkit.pool.adaptive.v1");
const MAGIC_BLOCK: u64 = fnv1a(b"shmkit.pool.block");
const MAGIC_PAGE: u64 = fnv1a(b"shmkit.pool.page");

/// Which algorithm a pool runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Segregated storage: one free list of nodes, blocks kept until the pool is released.
    Node,
    /// Page-aligned blocks with their own free lists, returned to the segment when free.
    Adaptive,
}

impl Kind {
    fn magic(self) -> u64 {
        match self {
            Kind::Node => MAGIC_NODE,
            Kind::Adaptive => MAGIC_ADAPTIVE,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Adaptive => "adaptive",
        }
    }
}

/// A pool's shape, computed once from the requested node size and block count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) kind: Kind,
    /// Bytes per node: the request rounded up to 8, at least 8.
    pub(crate) node_size: u64,
    /// Nodes per block (for adaptive pools, what the pages hold: at least the request).
    pub(crate) per_block: u64,
    /// Bytes per block.
    pub(crate) block_bytes: u64,
    /// Adaptive pools: completely free blocks kept before returning them to the segment.
    pub(crate) max_free_blocks: u64,
}

impl Geometry {
    pub(crate) fn new(
        kind: Kind,
        node_size: usize,
        per_block: usize,
        max_free_blocks: usize,
    ) -> Result<Geometry> {
        let bad = |why: &str| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "a {} pool of {node_size}-byte nodes, {per_block} per block: {why}",
                    kind.word()
                ),
            )
        };
        if per_block == 0 {
            return Err(bad("a block needs at least one node"));
        }
        let ns = (node_size.max(8) as u64)
            .checked_next_multiple_of(8)
            .ok_or_else(|| bad("too large"))?;
        let per = per_block as u64;
        let (per, bytes) = match kind {
            Kind::Node => {
                let bytes = per
                    .checked_mul(ns)
                    .and_then(|b| b.checked_add(NODE_BLOCK_HDR))
                    .filter(|b| *b <= 1 << 40)
                    .ok_or_else(|| bad("the block would be larger than 1 TiB"))?;
                (per, bytes)
            }
            Kind::Adaptive => {
                if ns > PAGE - FIRST {
                    return Err(bad(&format!(
                        "adaptive pools hold nodes of at most {} bytes (a node may not cross a \
                         page)",
                        PAGE - FIRST
                    )));
                }
                let first = (PAGE - FIRST) / ns;
                let other = (PAGE - PAGE_HDR) / ns;
                let pages = if per <= first {
                    1
                } else {
                    1 + (per - first).div_ceil(other)
                };
                if pages > 1 << 16 {
                    return Err(bad("the block would be larger than 256 MiB"));
                }
                (first + (pages - 1) * other, pages * PAGE)
            }
        };
        Ok(Geometry {
            kind,
            node_size: ns,
            per_block: per,
            block_bytes: bytes,
            max_free_blocks: if kind == Kind::Adaptive {
                max_free_blocks as u64
            } else {
                0
            },
        })
    }

    /// The name of the shared pool with this geometry.
    pub(crate) fn name(&self, requested_per_block: usize) -> String {
        match self.kind {
            Kind::Node => format!("shmkit.pool.node.{}x{requested_per_block}", self.node_size),
            Kind::Adaptive => format!(
                "shmkit.pool.adaptive.{}x{requested_per_block}x{}",
                self.node_size, self.max_free_blocks
            ),
        }
    }
}

/// The alignment every node of a pool with `node_size`-byte nodes has (blocks and node areas
/// start on 16-byte boundaries): 8 or 16.
#[inline]
pub(crate) fn node_align(node_size: u64) -> usize {
    1 << node_size.trailing_zeros().min(4)
}

/// Whether a request of `size` bytes aligned to `align` is served by nodes of `node_size`.
#[inline]
pub(crate) fn fits(node_size: u64, size: usize, align: usize) -> bool {
    size as u64 <= node_size && align <= node_align(node_size)
}

/// The pool object, in the segment (a named object for shared pools, an anonymous one for
/// private pools). Every field is an atomic; all but `refs` change only under `lock`.
#[repr(C)]
pub(crate) struct Pool {
    magic: AtomicU64,
    /// The pool's own offset, written once after construction: a copied or foreign pool fails
    /// the check in [`Pool::at`].
    self_off: AtomicU64,
    node_size: AtomicU64,
    per_block: AtomicU64,
    block_bytes: AtomicU64,
    max_free_blocks: AtomicU64,
    lock: RawMutex,
    _pad: AtomicU32,
    /// Attached allocators (shared pools: every `new` adds one, every `detach` takes one).
    refs: AtomicU64,
    /// Node pool: the free list's head (a node offset, 0 = empty).
    free: AtomicU64,
    /// Every block, singly linked through its first word (node) or `B_NEXT` (adaptive).
    blocks: AtomicU64,
    /// Adaptive: blocks with free nodes, doubly linked (head and tail).
    avail: AtomicU64,
    avail_tail: AtomicU64,
    nblocks: AtomicU64,
    nfree: AtomicU64,
    /// Nodes handed out (including those in process-local caches).
    live: AtomicU64,
    /// Adaptive: blocks whose every node is free.
    free_blocks: AtomicU64,
    recoveries: AtomicU64,
}

// SAFETY: repr(C) of atomics and a RawMutex (itself ShmSafe): any bit pattern is a valid value
// and every use validates what it reads (the magic and own offset in `Pool::at`, every node and
// block offset against the mapping and the check words). No addresses, Send + Sync, no drop
// glue.
unsafe impl ShmSafe for Pool {
    const FINGERPRINT: u64 = combine(
        fnv1a(b"shmkit::pool::Pool"),
        crate::fingerprint::primitive("layout", size_of::<Pool>()),
    );
}

/// The pool's lock, held; released on drop.
struct Held<'p> {
    pool: &'p Pool,
    tid: u32,
}

impl Drop for Held<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `Held` is only built by `Pool::lock` after this thread (id `tid`) took the
        // lock, and it is neither `Send` nor cloned.
        unsafe { self.pool.lock.unlock_as(self.tid) }
    }
}

/// An atomic word of the segment at `off`, checked (inside the mapping, 8-aligned).
#[inline]
fn word<'s>(seg: &SegmentRef<'s>, off: u64) -> Result<&'s AtomicU64> {
    let p = seg.ptr::<AtomicU64>(off, 1)?;
    // SAFETY: `ptr` checked that the word lies in the mapping, which stays mapped for `'s`, and
    // is aligned; any bit pattern is a valid `AtomicU64`, and pool metadata and free nodes are
    // only accessed atomically while the pool owns them.
    Ok(unsafe { &*p })
}

/// A check word binding `a` and `b` under `salt`: the splitmix64 finalizer, a few cycles (the
/// fingerprint hash, byte-serial FNV, costs tens of nanoseconds and this runs on every free).
/// It catches stray offsets and scribbles, not a hostile writer (who can write anything).
#[inline]
fn tag(a: u64, b: u64, salt: u64) -> u64 {
    let mut x = a ^ b.rotate_left(17) ^ salt;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[inline]
fn dec(a: &AtomicU64) {
    a.store(a.load(Relaxed).saturating_sub(1), Relaxed);
}

#[inline]
fn inc(a: &AtomicU64) {
    a.store(a.load(Relaxed).wrapping_add(1), Relaxed);
}

#[cold]
fn corrupted(what: String) -> Error {
    Error::new(ErrorKind::Corrupted, what)
}

#[cold]
fn not_a_pool(off: u64, kind: Kind) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "offset {off} does not hold a {} pool of this segment: the allocator was made for \
             another segment, or its pool was destroyed",
            kind.word()
        ),
    )
}

#[cold]
fn not_a_node(off: u64) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("offset {off} is not a node of this pool"),
    )
}

impl Pool {
    /// A new pool of `g`'s shape (its `self_off` is published by [`Pool::publish`]).
    pub(crate) fn new(g: &Geometry) -> Pool {
        Pool {
            magic: AtomicU64::new(g.kind.magic()),
            self_off: AtomicU64::new(0),
            node_size: AtomicU64::new(g.node_size),
            per_block: AtomicU64::new(g.per_block),
            block_bytes: AtomicU64::new(g.block_bytes),
            max_free_blocks: AtomicU64::new(g.max_free_blocks),
            lock: RawMutex::new(),
            _pad: AtomicU32::new(0),
            refs: AtomicU64::new(0),
            free: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
            avail: AtomicU64::new(0),
            avail_tail: AtomicU64::new(0),
            nblocks: AtomicU64::new(0),
            nfree: AtomicU64::new(0),
            live: AtomicU64::new(0),
            free_blocks: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
        }
    }

    /// Records the pool's offset (once; every attacher computes the same) and checks that the
    /// pool found under a name has the shape asked for; counts one more attachment.
    pub(crate) fn publish(&self, seg: &impl AsSegment, g: &Geometry) -> Result<u64> {
        let s = seg.segment()?;
        let off = s
            .offset_of(std::ptr::from_ref(self))
            .ok_or_else(|| corrupted("a pool object outside its segment".to_owned()))?;
        let _ = self.self_off.compare_exchange(0, off, Relaxed, Relaxed);
        let same = self.magic.load(Relaxed) == g.kind.magic()
            && self.self_off.load(Relaxed) == off
            && self.node_size.load(Relaxed) == g.node_size
            && self.per_block.load(Relaxed) == g.per_block
            && self.block_bytes.load(Relaxed) == g.block_bytes
            && self.max_free_blocks.load(Relaxed) == g.max_free_blocks;
        if !same {
            return Err(corrupted(format!(
                "the pool object at offset {off} does not have the shape its name promises \
                 ({} pool, {}-byte nodes, {} per block)",
                g.kind.word(),
                g.node_size,
                g.per_block
            )));
        }
        self.refs.fetch_add(1, Relaxed);
        Ok(off)
    }

    /// The pool of kind `kind` at `off` in `seg`, checked.
    #[inline]
    pub(crate) fn at<'s>(seg: &SegmentRef<'s>, off: u64, kind: Kind) -> Result<&'s Pool> {
        let p = seg.ptr::<Pool>(off, 1).map_err(|_| not_a_pool(off, kind))?;
        // SAFETY: in the mapping (which stays mapped for `'s`) and aligned, checked by `ptr`;
        // `Pool` is `ShmSafe` (any bit pattern valid, atomics only), so a shared reference to
        // it is fine whatever other processes do with those bytes.
        let pool = unsafe { &*p };
        if pool.magic.load(Relaxed) != kind.magic() || pool.self_off.load(Relaxed) != off {
            return Err(not_a_pool(off, kind));
        }
        Ok(pool)
    }

    /// Bytes per node.
    #[inline]
    pub(crate) fn node_size(&self) -> u64 {
        self.node_size.load(Relaxed)
    }

    fn kind(&self) -> Kind {
        if self.magic.load(Relaxed) == MAGIC_ADAPTIVE {
            Kind::Adaptive
        } else {
            Kind::Node
        }
    }

    /// Takes the pool's lock: one CAS uncontended. If a process died holding it, the pool's
    /// derived state is rebuilt first (see [`repair`](Self::repair)).
    #[inline]
    fn lock(&self, seg: &SegmentRef<'_>) -> Held<'_> {
        let tid = sys::current_tid();
        let died = self.lock.lock_as(tid) == Acquired::OwnerDied;
        let h = Held { pool: self, tid };
        if died {
            self.recover(seg);
        }
        h
    }

    #[cold]
    fn recover(&self, seg: &SegmentRef<'_>) {
        // A repair that fails (corrupt beyond what a crash leaves) still unlocks: the state is
        // as good as it gets, and every later use checks what it reads.
        let _ = self.repair(seg);
        inc(&self.recoveries);
        // SAFETY: this thread holds the lock (taken just above by the caller).
        unsafe { self.lock.mark_consistent() };
    }

    // ----- allocation entry points -------------------------------------------------------------

    /// One node.
    #[inline]
    pub(crate) fn alloc_one(&self, seg: &SegmentRef<'_>) -> Result<u64> {
        {
            let h = self.lock(seg);
            if let Some(n) = self.pop(seg, &h)? {
                inc(&self.live);
                return Ok(n);
            }
        }
        self.grow(seg)
    }

    /// Frees one node.
    #[inline]
    pub(crate) fn free_one(&self, seg: &SegmentRef<'_>, n: u64) -> Result<()> {
        let release = {
            let blk = self.owner_of(seg, n)?;
            let h = self.lock(seg);
            let r = self.push(seg, &h, n, blk)?;
            dec(&self.live);
            r
        };
        if let Some(b) = release {
            seg.deallocate(b)?;
        }
        Ok(())
    }

    /// Up to `n` (at least one) nodes into `out`, under one lock.
    pub(crate) fn alloc_batch(
        &self,
        seg: &SegmentRef<'_>,
        n: usize,
        out: &mut Vec<u64>,
    ) -> Result<()> {
        {
            let h = self.lock(seg);
            let before = out.len();
            while out.len() - before < n.max(1) {
                match self.pop(seg, &h)? {
                    Some(x) => {
                        inc(&self.live);
                        out.push(x);
                    }
                    None => break,
                }
            }
            if out.len() > before {
                return Ok(());
            }
        }
        out.push(self.grow(seg)?);
        Ok(())
    }

    /// Frees every node of `nodes` under one lock.
    pub(crate) fn free_batch(&self, seg: &SegmentRef<'_>, nodes: &[u64]) -> Result<()> {
        let mut owners = Vec::with_capacity(nodes.len());
        for &n in nodes {
            owners.push(self.owner_of(seg, n)?);
        }
        let mut release = Vec::new();
        {
            let h = self.lock(seg);
            for (&n, &blk) in nodes.iter().zip(&owners) {
                if let Some(b) = self.push(seg, &h, n, blk)? {
                    release.push(b);
                }
                dec(&self.live);
            }
        }
        for b in release {
            seg.deallocate(b)?;
        }
        Ok(())
    }

    /// Checks that `n` is a node of this pool (for an adaptive pool: a slot of one of its
    /// blocks; for a node pool: inside the segment, aligned).
    #[inline]
    pub(crate) fn check_node(&self, seg: &SegmentRef<'_>, n: u64) -> Result<()> {
        self.owner_of(seg, n).map(|_| ())
    }

    /// The block a node being freed belongs to (adaptive), or 0 (node pool), after checking
    /// the offset.
    #[inline]
    fn owner_of(&self, seg: &SegmentRef<'_>, n: u64) -> Result<u64> {
        match self.kind() {
            Kind::Node => {
                seg.ptr::<u8>(n, self.node_size() as usize)
                    .map_err(|_| not_a_node(n))?;
                if n < PAGE || !n.is_multiple_of(8) {
                    return Err(not_a_node(n));
                }
                Ok(0)
            }
            Kind::Adaptive => self.node_block(seg, n).map_err(|_| not_a_node(n)),
        }
    }

    #[inline]
    fn pop(&self, seg: &SegmentRef<'_>, h: &Held<'_>) -> Result<Option<u64>> {
        match self.kind() {
            Kind::Node => self.node_pop(seg, h),
            Kind::Adaptive => self.adaptive_pop(seg, h),
        }
    }

    /// Pushes a free node; returns a block to give back to the segment (after unlocking).
    #[inline]
    fn push(&self, seg: &SegmentRef<'_>, h: &Held<'_>, n: u64, blk: u64) -> Result<Option<u64>> {
        match self.kind() {
            Kind::Node => {
                let _ = h;
                let w = word(seg, n)?;
                w.store(self.free.load(Relaxed), Relaxed);
                self.free.store(n, Relaxed);
                inc(&self.nfree);
                Ok(None)
            }
            Kind::Adaptive => self.adaptive_push(seg, h, n, blk),
        }
    }

    /// Adds a block of fresh nodes and returns one of them, allocated, to the caller (so an
    /// allocation needs no retry: other threads cannot take all of a new block first).
    /// Allocates from the segment *without* the pool's lock (the segment's lock is never taken
    /// inside the pool's, so a thread in the segment's `atomic` that allocates from a pool
    /// cannot deadlock with a pool refilling).
    fn grow(&self, seg: &SegmentRef<'_>) -> Result<u64> {
        match self.kind() {
            Kind::Node => self.node_grow(seg),
            Kind::Adaptive => self.adaptive_grow(seg),
        }
    }

    // ----- node pool (segregated storage) -------------------------------------------------------

    fn block_check(&self, b: u64) -> u64 {
        tag(b, self.self_off.load(Relaxed), MAGIC_BLOCK)
    }

    #[inline]
    fn node_pop(&self, seg: &SegmentRef<'_>, _h: &Held<'_>) -> Result<Option<u64>> {
        let head = self.free.load(Relaxed);
        if head == 0 {
            return Ok(None);
        }
        seg.ptr::<u8>(head, self.node_size() as usize)?;
        let next = word(seg, head)?.load(Relaxed);
        self.free.store(next, Relaxed);
        dec(&self.nfree);
        Ok(Some(head))
    }

    fn node_grow(&self, seg: &SegmentRef<'_>) -> Result<u64> {
        let ns = self.node_size();
        let per = self.per_block.load(Relaxed);
        let bytes = self.block_bytes.load(Relaxed);
        let expect = per
            .checked_mul(ns)
            .and_then(|b| b.checked_add(NODE_BLOCK_HDR));
        if per == 0 || ns < 8 || !ns.is_multiple_of(8) || expect != Some(bytes) {
            return Err(corrupted("a node pool with an impossible shape".to_owned()));
        }
        let b = seg.allocate(bytes as usize, 16)?;
        // Node 0 goes to the caller; nodes 1.. are chained for the free list.
        let built = (|| -> Result<u64> {
            seg.ptr::<u8>(b, bytes as usize)?;
            let first = b + NODE_BLOCK_HDR;
            for i in 1..per {
                let n = first + i * ns;
                let next = if i + 1 < per { n + ns } else { 0 };
                word(seg, n)?.store(next, Relaxed);
            }
            word(seg, b + 8)?.store(self.block_check(b), Relaxed);
            Ok(first)
        })();
        let mine = match built {
            Ok(x) => x,
            Err(e) => {
                let _ = seg.deallocate(b);
                return Err(e);
            }
        };
        let _h = self.lock(seg);
        // Commit the block (a crash after this leaves its nodes unreachable: leaked until the
        // pool is released, which frees whole blocks), then its nodes.
        word(seg, b)?.store(self.blocks.load(Relaxed), Relaxed);
        self.blocks.store(b, Relaxed);
        inc(&self.nblocks);
        if per > 1 {
            let last = mine + (per - 1) * ns;
            word(seg, last)?.store(self.free.load(Relaxed), Relaxed);
            self.free.store(mine + ns, Relaxed);
            self.nfree
                .store(self.nfree.load(Relaxed).wrapping_add(per - 1), Relaxed);
        }
        inc(&self.live);
        Ok(mine)
    }

    /// The node pool's blocks, checked, in list order; the walk is bounded.
    fn node_blocks(&self, seg: &SegmentRef<'_>) -> Result<Vec<u64>> {
        let bytes = self.block_bytes.load(Relaxed).max(1);
        let bound = seg.len() as u64 / bytes + 1;
        let mut out = Vec::new();
        let mut b = self.blocks.load(Relaxed);
        while b != 0 {
            if out.len() as u64 >= bound {
                return Err(corrupted("the pool's block list has a cycle".to_owned()));
            }
            seg.ptr::<u8>(b, bytes as usize)?;
            if word(seg, b + 8)?.load(Relaxed) != self.block_check(b) {
                return Err(corrupted(format!("pool block {b} has a bad check word")));
            }
            out.push(b);
            b = word(seg, b)?.load(Relaxed);
        }
        Ok(out)
    }

    /// The node pool's free nodes, in list order; the walk is bounded.
    fn node_free_list(&self, seg: &SegmentRef<'_>) -> Result<Vec<u64>> {
        let ns = self.node_size().max(8);
        let bound = seg.len() as u64 / ns + 1;
        let mut out = Vec::new();
        let mut n = self.free.load(Relaxed);
        while n != 0 {
            if out.len() as u64 >= bound {
                return Err(corrupted("the pool's free list has a cycle".to_owned()));
            }
            seg.ptr::<u8>(n, ns as usize)?;
            out.push(n);
            n = word(seg, n)?.load(Relaxed);
        }
        Ok(out)
    }

    /// Relinks `items` as a list through their word at `field` (0 terminates), writing from the
    /// tail so that every rewritten word points at a rewritten item, then stores the head in
    /// `head`: a crash in between leaves the old list, some of whose items now continue into
    /// the new one (a shorter list, never a cycle).
    fn relink(seg: &SegmentRef<'_>, items: &[u64], field: u64, head: &AtomicU64) -> Result<()> {
        let mut next = 0;
        for &x in items.iter().rev() {
            word(seg, x + field)?.store(next, Relaxed);
            next = x;
        }
        head.store(next, Relaxed);
        Ok(())
    }

    /// Node pool: gives every block whose nodes are all free back to the segment. O(n log n)
    /// in the free nodes.
    fn node_release_free_blocks(&self, seg: &SegmentRef<'_>) -> Result<usize> {
        let ns = self.node_size();
        let per = self.per_block.load(Relaxed);
        let freeable = {
            let _h = self.lock(seg);
            let mut blocks = self.node_blocks(seg)?;
            let free = self.node_free_list(seg)?;
            blocks.sort_unstable();
            let mut count = vec![0u64; blocks.len()];
            let block_of = |n: u64| -> Option<usize> {
                let i = blocks.partition_point(|&b| b <= n).checked_sub(1)?;
                let first = blocks[i] + NODE_BLOCK_HDR;
                (n >= first && n < first.saturating_add(per.saturating_mul(ns))).then_some(i)
            };
            for &n in &free {
                if let Some(i) = block_of(n) {
                    count[i] += 1;
                }
            }
            let gone: Vec<bool> = count.iter().map(|&c| c == per).collect();
            if !gone.contains(&true) {
                return Ok(0);
            }
            let kept_nodes: Vec<u64> = free
                .iter()
                .copied()
                .filter(|&n| block_of(n).is_none_or(|i| !gone[i]))
                .collect();
            let (mut freed, mut kept_blocks) = (Vec::new(), Vec::new());
            for (&b, &g) in blocks.iter().zip(&gone) {
                if g {
                    freed.push(b);
                } else {
                    kept_blocks.push(b);
                }
            }
            Self::relink(seg, &kept_nodes, 0, &self.free)?;
            self.nfree.store(kept_nodes.len() as u64, Relaxed);
            Self::relink(seg, &kept_blocks, 0, &self.blocks)?;
            self.nblocks.store(kept_blocks.len() as u64, Relaxed);
            freed
        };
        for &b in &freeable {
            seg.deallocate(b)?;
        }
        Ok(freeable.len())
    }

    // ----- adaptive pool --------------------------------------------------------------------------

    #[inline]
    fn page_check(&self, block: u64, page: u64) -> u64 {
        tag(
            block ^ page.rotate_left(32),
            self.self_off.load(Relaxed),
            MAGIC_PAGE,
        )
    }

    /// Checks that `b` is one of this pool's blocks (its first page's header).
    #[inline]
    fn check_block(&self, seg: &SegmentRef<'_>, b: u64) -> Result<()> {
        if b == 0
            || !b.is_multiple_of(PAGE)
            || word(seg, b)?.load(Relaxed) != b
            || word(seg, b + 8)?.load(Relaxed) != self.page_check(b, b)
        {
            return Err(corrupted(format!("{b} is not a block of this pool")));
        }
        Ok(())
    }

    #[inline]
    fn bw<'s>(seg: &SegmentRef<'s>, b: u64, field: u64) -> Result<&'s AtomicU64> {
        word(seg, b + field)
    }

    /// The block node `n` belongs to: its page's header names the block, the check word binds
    /// the two to this pool, and `n` must be a slot boundary.
    #[inline]
    fn node_block(&self, seg: &SegmentRef<'_>, n: u64) -> Result<u64> {
        let ns = self.node_size();
        let page = n & !(PAGE - 1);
        let b = word(seg, page)?.load(Relaxed);
        if page == 0 || word(seg, page + 8)?.load(Relaxed) != self.page_check(b, page) {
            return Err(not_a_node(n));
        }
        if b > page || page - b >= self.block_bytes.load(Relaxed) {
            return Err(not_a_node(n));
        }
        let first = if page == b { FIRST } else { PAGE_HDR };
        let rel = n - page;
        if rel < first
            || !(rel - first).is_multiple_of(ns)
            || (rel - first).saturating_add(ns) > PAGE - first
        {
            return Err(not_a_node(n));
        }
        Ok(b)
    }

    /// Whether `n` lies in block `b`'s node area without touching a page header, 8-aligned:
    /// the cheap check of a free-list link on the allocation path (no division; `deallocate`
    /// checks offsets it is given exactly, with [`node_block`](Self::node_block)).
    #[inline]
    fn in_block(&self, b: u64, n: u64) -> bool {
        let page = n & !(PAGE - 1);
        let rel = n - page;
        let first = if page == b { FIRST } else { PAGE_HDR };
        n != 0
            && n.is_multiple_of(8)
            && page >= b
            && page - b < self.block_bytes.load(Relaxed)
            && rel >= first
            && rel.saturating_add(self.node_size()) <= PAGE
    }

    fn avail_push_back(&self, seg: &SegmentRef<'_>, b: u64) -> Result<()> {
        let tail = self.avail_tail.load(Relaxed);
        Self::bw(seg, b, B_PREV_AVAIL)?.store(tail, Relaxed);
        Self::bw(seg, b, B_NEXT_AVAIL)?.store(0, Relaxed);
        if tail == 0 {
            self.avail.store(b, Relaxed);
        } else {
            self.check_block(seg, tail)?;
            Self::bw(seg, tail, B_NEXT_AVAIL)?.store(b, Relaxed);
        }
        self.avail_tail.store(b, Relaxed);
        Self::bw(seg, b, B_IN_AVAIL)?.store(1, Relaxed);
        Ok(())
    }

    fn avail_remove(&self, seg: &SegmentRef<'_>, b: u64) -> Result<()> {
        let prev = Self::bw(seg, b, B_PREV_AVAIL)?.load(Relaxed);
        let next = Self::bw(seg, b, B_NEXT_AVAIL)?.load(Relaxed);
        if prev == 0 {
            self.avail.store(next, Relaxed);
        } else {
            self.check_block(seg, prev)?;
            Self::bw(seg, prev, B_NEXT_AVAIL)?.store(next, Relaxed);
        }
        if next == 0 {
            self.avail_tail.store(prev, Relaxed);
        } else {
            self.check_block(seg, next)?;
            Self::bw(seg, next, B_PREV_AVAIL)?.store(prev, Relaxed);
        }
        Self::bw(seg, b, B_IN_AVAIL)?.store(0, Relaxed);
        Ok(())
    }

    /// Unlinks `b` from the list of all blocks (a walk: blocks are released rarely).
    fn all_remove(&self, seg: &SegmentRef<'_>, b: u64) -> Result<()> {
        let next = Self::bw(seg, b, B_NEXT)?.load(Relaxed);
        let mut at = self.blocks.load(Relaxed);
        if at == b {
            self.blocks.store(next, Relaxed);
            dec(&self.nblocks);
            return Ok(());
        }
        let bound = seg.len() as u64 / PAGE + 1;
        for _ in 0..bound {
            if at == 0 {
                break;
            }
            self.check_block(seg, at)?;
            let w = Self::bw(seg, at, B_NEXT)?;
            if w.load(Relaxed) == b {
                w.store(next, Relaxed);
                dec(&self.nblocks);
                return Ok(());
            }
            at = w.load(Relaxed);
        }
        Err(corrupted(format!(
            "block {b} is missing from its pool's list"
        )))
    }

    #[inline]
    fn adaptive_pop(&self, seg: &SegmentRef<'_>, _h: &Held<'_>) -> Result<Option<u64>> {
        let b = self.avail.load(Relaxed);
        if b == 0 {
            return Ok(None);
        }
        self.check_block(seg, b)?;
        let free = Self::bw(seg, b, B_FREE)?;
        let n = free.load(Relaxed);
        if !self.in_block(b, n) {
            return Err(corrupted(format!("pool block {b} has a bad free list")));
        }
        let next = word(seg, n)?.load(Relaxed);
        free.store(next, Relaxed);
        let nfree = Self::bw(seg, b, B_NFREE)?;
        let nf = nfree.load(Relaxed);
        if nf == self.per_block.load(Relaxed) {
            dec(&self.free_blocks);
        }
        nfree.store(nf.saturating_sub(1), Relaxed);
        dec(&self.nfree);
        if next == 0 {
            self.avail_remove(seg, b)?;
        }
        Ok(Some(n))
    }

    fn adaptive_push(
        &self,
        seg: &SegmentRef<'_>,
        _h: &Held<'_>,
        n: u64,
        b: u64,
    ) -> Result<Option<u64>> {
        let free = Self::bw(seg, b, B_FREE)?;
        word(seg, n)?.store(free.load(Relaxed), Relaxed);
        free.store(n, Relaxed);
        let nfree = Self::bw(seg, b, B_NFREE)?;
        let nf = nfree.load(Relaxed) + 1;
        nfree.store(nf, Relaxed);
        inc(&self.nfree);
        if Self::bw(seg, b, B_IN_AVAIL)?.load(Relaxed) == 0 {
            self.avail_push_back(seg, b)?;
        }
        let per = self.per_block.load(Relaxed);
        if nf >= per {
            inc(&self.free_blocks);
            if self.free_blocks.load(Relaxed) > self.max_free_blocks.load(Relaxed) {
                self.unlink_free_block(seg, b)?;
                return Ok(Some(b));
            }
        }
        Ok(None)
    }

    /// Takes a completely free block out of the pool (the caller frees it to the segment after
    /// unlocking; a crash in between leaks it).
    fn unlink_free_block(&self, seg: &SegmentRef<'_>, b: u64) -> Result<()> {
        self.avail_remove(seg, b)?;
        self.all_remove(seg, b)?;
        dec(&self.free_blocks);
        let per = self.per_block.load(Relaxed);
        self.nfree
            .store(self.nfree.load(Relaxed).saturating_sub(per), Relaxed);
        Ok(())
    }

    /// The slots of an adaptive block, in order.
    fn slots(&self, b: u64) -> impl Iterator<Item = u64> {
        let ns = self.node_size();
        let pages = self.block_bytes.load(Relaxed) / PAGE;
        (0..pages).flat_map(move |p| {
            let page = b + p * PAGE;
            let first = if p == 0 { FIRST } else { PAGE_HDR };
            let count = (PAGE - first) / ns;
            (0..count).map(move |i| page + first + i * ns)
        })
    }

    fn adaptive_grow(&self, seg: &SegmentRef<'_>) -> Result<u64> {
        let bytes = self.block_bytes.load(Relaxed);
        let per = self.per_block.load(Relaxed);
        let ns = self.node_size();
        if bytes == 0
            || !bytes.is_multiple_of(PAGE)
            || bytes > 1 << 28
            || ns < 8
            || !ns.is_multiple_of(8)
            || ns > PAGE - FIRST
        {
            return Err(corrupted(
                "an adaptive pool with an impossible shape".to_owned(),
            ));
        }
        let b = seg.allocate(bytes as usize, PAGE as usize)?;
        // Slot 0 goes to the caller; slots 1.. make the block's free list.
        let built = (|| -> Result<u64> {
            seg.ptr::<u8>(b, bytes as usize)?;
            if !b.is_multiple_of(PAGE) {
                return Err(corrupted("the segment misaligned a pool block".to_owned()));
            }
            for p in 0..bytes / PAGE {
                let page = b + p * PAGE;
                word(seg, page)?.store(b, Relaxed);
                word(seg, page + 8)?.store(self.page_check(b, page), Relaxed);
            }
            let slots: Vec<u64> = self.slots(b).collect();
            if slots.len() as u64 != per || per == 0 {
                return Err(corrupted(
                    "an adaptive pool with an impossible shape".to_owned(),
                ));
            }
            Self::relink(seg, &slots[1..], 0, Self::bw(seg, b, B_FREE)?)?;
            Self::bw(seg, b, B_NFREE)?.store(per - 1, Relaxed);
            Self::bw(seg, b, B_IN_AVAIL)?.store(0, Relaxed);
            Ok(slots[0])
        })();
        let mine = match built {
            Ok(x) => x,
            Err(e) => {
                let _ = seg.deallocate(b);
                return Err(e);
            }
        };
        let _h = self.lock(seg);
        Self::bw(seg, b, B_NEXT)?.store(self.blocks.load(Relaxed), Relaxed);
        self.blocks.store(b, Relaxed);
        inc(&self.nblocks);
        inc(&self.live);
        if per > 1 {
            self.nfree
                .store(self.nfree.load(Relaxed).wrapping_add(per - 1), Relaxed);
            self.avail_push_back(seg, b)?;
        }
        Ok(mine)
    }

    /// Adaptive pool: gives every completely free block back to the segment.
    fn adaptive_release_free_blocks(&self, seg: &SegmentRef<'_>) -> Result<usize> {
        let per = self.per_block.load(Relaxed);
        let freed = {
            let _h = self.lock(seg);
            let bound = seg.len() as u64 / PAGE + 1;
            let mut freed = Vec::new();
            let mut b = self.avail.load(Relaxed);
            let mut steps = 0;
            while b != 0 {
                steps += 1;
                if steps > bound {
                    return Err(corrupted("the pool's block list has a cycle".to_owned()));
                }
                self.check_block(seg, b)?;
                let next = Self::bw(seg, b, B_NEXT_AVAIL)?.load(Relaxed);
                if Self::bw(seg, b, B_NFREE)?.load(Relaxed) >= per {
                    self.unlink_free_block(seg, b)?;
                    freed.push(b);
                }
                b = next;
            }
            self.free_blocks.store(0, Relaxed);
            freed
        };
        for &b in &freed {
            seg.deallocate(b)?;
        }
        Ok(freed.len())
    }

    /// Every block of an adaptive pool, checked (the walk stops at the first bad link, which a
    /// repair then cuts).
    fn adaptive_blocks(&self, seg: &SegmentRef<'_>) -> (Vec<u64>, bool) {
        let bound = seg.len() as u64 / PAGE + 1;
        let mut out = Vec::new();
        let mut b = self.blocks.load(Relaxed);
        while b != 0 {
            if out.len() as u64 >= bound || self.check_block(seg, b).is_err() {
                return (out, false);
            }
            out.push(b);
            b = match Self::bw(seg, b, B_NEXT) {
                Ok(w) => w.load(Relaxed),
                Err(_) => return (out, false),
            };
        }
        (out, true)
    }

    // ----- repair, release, statistics ----------------------------------------------------------

    /// Rebuilds the pool's derived state after a process died holding its lock. Every
    /// operation's stores keep the lists well formed (a node or block being added or removed is
    /// at worst missing from them), so this recounts, cuts lists at a bad link (which only a
    /// stray write makes) and, for adaptive pools, rebuilds the list of blocks with free nodes
    /// and each block's count from its free list. Nodes the dead process held, or was moving,
    /// stay allocated: the leak the module docs promise.
    fn repair(&self, seg: &SegmentRef<'_>) -> Result<()> {
        match self.kind() {
            Kind::Node => {
                let ns = self.node_size().max(8);
                let bound = seg.len() as u64 / ns + 1;
                let mut count = 0u64;
                let mut prev: Option<u64> = None;
                let mut n = self.free.load(Relaxed);
                while n != 0 {
                    let ok = count < bound && seg.ptr::<u8>(n, ns as usize).is_ok() && n >= PAGE;
                    if !ok {
                        match prev {
                            Some(p) => word(seg, p)?.store(0, Relaxed),
                            None => self.free.store(0, Relaxed),
                        }
                        break;
                    }
                    count += 1;
                    prev = Some(n);
                    n = word(seg, n)?.load(Relaxed);
                }
                self.nfree.store(count, Relaxed);
                let blocks = match self.node_blocks(seg) {
                    Ok(b) => b,
                    Err(_) => {
                        // Keep what we cannot walk: a leak, not a hang or a bad free later.
                        self.blocks.store(0, Relaxed);
                        Vec::new()
                    }
                };
                self.nblocks.store(blocks.len() as u64, Relaxed);
                let per = self.per_block.load(Relaxed);
                self.live.store(
                    (blocks.len() as u64)
                        .saturating_mul(per)
                        .saturating_sub(count),
                    Relaxed,
                );
                Ok(())
            }
            Kind::Adaptive => {
                let per = self.per_block.load(Relaxed);
                let (blocks, whole) = self.adaptive_blocks(seg);
                if !whole {
                    match blocks.last() {
                        Some(&last) => Self::bw(seg, last, B_NEXT)?.store(0, Relaxed),
                        None => self.blocks.store(0, Relaxed),
                    }
                }
                self.avail.store(0, Relaxed);
                self.avail_tail.store(0, Relaxed);
                let (mut nfree, mut free_blocks) = (0, 0);
                for &b in &blocks {
                    // Recount the block's free list, cutting it at the first bad link.
                    let free = Self::bw(seg, b, B_FREE)?;
                    let mut count = 0;
                    let mut prev: Option<u64> = None;
                    let mut n = free.load(Relaxed);
                    while n != 0 {
                        if count >= per || self.node_block(seg, n).ok() != Some(b) {
                            match prev {
                                Some(p) => word(seg, p)?.store(0, Relaxed),
                                None => free.store(0, Relaxed),
                            }
                            break;
                        }
                        count += 1;
                        prev = Some(n);
                        n = word(seg, n)?.load(Relaxed);
                    }
                    Self::bw(seg, b, B_NFREE)?.store(count, Relaxed);
                    Self::bw(seg, b, B_IN_AVAIL)?.store(0, Relaxed);
                    nfree += count;
                    if count == per {
                        free_blocks += 1;
                    }
                    if count > 0 {
                        self.avail_push_back(seg, b)?;
                    }
                }
                self.nblocks.store(blocks.len() as u64, Relaxed);
                self.nfree.store(nfree, Relaxed);
                self.free_blocks.store(free_blocks, Relaxed);
                self.live.store(
                    (blocks.len() as u64)
                        .saturating_mul(per)
                        .saturating_sub(nfree),
                    Relaxed,
                );
                Ok(())
            }
        }
    }

    /// Gives every block whose nodes are all free back to the segment; returns how many.
    pub(crate) fn release_free_blocks(&self, seg: &SegmentRef<'_>) -> Result<usize> {
        match self.kind() {
            Kind::Node => self.node_release_free_blocks(seg),
            Kind::Adaptive => self.adaptive_release_free_blocks(seg),
        }
    }

    /// One attachment fewer; the last one, with no node in use, gives every block back.
    /// Returns whether it was the last.
    pub(crate) fn detach(&self, seg: &SegmentRef<'_>) -> Result<bool> {
        let prev = self
            .refs
            .fetch_update(Relaxed, Relaxed, |r| Some(r.saturating_sub(1)))
            .unwrap_or(0);
        if prev > 1 {
            return Ok(false);
        }
        let blocks = {
            let _h = self.lock(seg);
            if self.live.load(Relaxed) != 0 || self.refs.load(Relaxed) != 0 {
                return Ok(true);
            }
            let blocks = match self.kind() {
                Kind::Node => self.node_blocks(seg)?,
                Kind::Adaptive => {
                    let (b, whole) = self.adaptive_blocks(seg);
                    if !whole {
                        return Err(corrupted("the pool's block list is broken".to_owned()));
                    }
                    b
                }
            };
            // Empty the pool first: a crash after this leaks the blocks, never frees twice.
            self.free.store(0, Relaxed);
            self.blocks.store(0, Relaxed);
            self.avail.store(0, Relaxed);
            self.avail_tail.store(0, Relaxed);
            self.nblocks.store(0, Relaxed);
            self.nfree.store(0, Relaxed);
            self.free_blocks.store(0, Relaxed);
            blocks
        };
        for &b in &blocks {
            seg.deallocate(b)?;
        }
        Ok(true)
    }

    /// Retires a pool whose object is about to be destroyed: refuses if a node is in use, gives
    /// every block back, and clears the magic word so that copies of its allocators are refused
    /// from now on (before the object's memory can be reused).
    pub(crate) fn retire(&self, seg: &SegmentRef<'_>) -> Result<()> {
        let blocks = {
            let _h = self.lock(seg);
            let live = self.live.load(Relaxed);
            if live != 0 {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("the pool still has {live} nodes in use (or in caches)"),
                ));
            }
            let blocks = match self.kind() {
                Kind::Node => self.node_blocks(seg)?,
                Kind::Adaptive => self.adaptive_blocks(seg).0,
            };
            self.magic.store(0, Relaxed);
            self.free.store(0, Relaxed);
            self.blocks.store(0, Relaxed);
            self.avail.store(0, Relaxed);
            self.avail_tail.store(0, Relaxed);
            blocks
        };
        for &b in &blocks {
            seg.deallocate(b)?;
        }
        Ok(())
    }

    pub(crate) fn stats(&self, seg: &SegmentRef<'_>) -> PoolStats {
        let _h = self.lock(seg);
        PoolStats {
            node_size: self.node_size() as usize,
            nodes_per_block: self.per_block.load(Relaxed) as usize,
            block_bytes: self.block_bytes.load(Relaxed) as usize,
            blocks: self.nblocks.load(Relaxed) as usize,
            free_nodes: self.nfree.load(Relaxed) as usize,
            live_nodes: self.live.load(Relaxed) as usize,
            attached: self.refs.load(Relaxed) as usize,
            recoveries: self.recoveries.load(Relaxed),
        }
    }
}
