//! The cached allocators, [`CachedNodeAlloc`] and [`CachedAdaptivePoolAlloc`], and the
//! per-thread caches of nodes they keep in process memory.
//!
//! The allocator value lives in shared memory, in collection headers every process reads, so
//! it cannot hold the cache itself. Each thread keeps a small table of caches instead, keyed by
//! (segment id, pool offset): a `Vec` of node offsets that this thread took from the shared
//! pool and may hand out without its lock. Nodes in a cache count as in use for the pool.
#![allow(unsafe_code)]

use std::cell::RefCell;

use crate::alloc::MemoryAlgorithm;
use crate::collections::{AsSegment, SegmentRef, ShmAlloc};
use crate::error::Result;
use crate::fingerprint::{combine, fnv1a};
use crate::ptr::SegmentId;
use crate::segment::{NameIndex, SegmentManager};
use crate::shm_safe::ShmSafe;
use crate::sys;

use super::PoolStats;
use super::allocs::{attach_shared, pool_allocate};
use super::core::{Geometry, Kind, Pool, fits};

/// How many free nodes a thread's cache holds at most, unless
/// [`set_max_cached`](CachedNodeAlloc::set_max_cached) says otherwise.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::pool::{CachedNodeAlloc, DEFAULT_MAX_CACHED};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let a = CachedNodeAlloc::new(&seg, 32, 64)?;
/// assert_eq!(a.max_cached(&seg)?, DEFAULT_MAX_CACHED);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub const DEFAULT_MAX_CACHED: usize = 64;

struct Entry {
    seg: u64,
    pool: u64,
    kind: Kind,
    node_size: u64,
    max: usize,
    nodes: Vec<u64>,
}

struct Caches {
    /// The thread id the caches were filled under: a process `fork`ed by this thread gets a
    /// copy of them whose nodes belong to the parent, and must not use it.
    tid: u32,
    entries: Vec<Entry>,
}

impl Caches {
    /// This thread's cache of `pool` in `seg`, created on first use.
    #[inline]
    fn entry(&mut self, seg: &SegmentRef<'_>, pool: u64, kind: Kind) -> Result<&mut Entry> {
        let tid = sys::current_tid();
        if self.tid != tid {
            // A forked copy: the nodes are the parent's. Forget them.
            self.entries.clear();
            self.tid = tid;
        }
        let id = seg.id().as_u64();
        let i = match self
            .entries
            .iter()
            .position(|e| e.seg == id && e.pool == pool && e.kind == kind)
        {
            Some(i) => i,
            None => {
                let p = Pool::at(seg, pool, kind)?;
                self.entries.push(Entry {
                    seg: id,
                    pool,
                    kind,
                    node_size: p.node_size(),
                    max: DEFAULT_MAX_CACHED,
                    nodes: Vec::new(),
                });
                self.entries.len() - 1
            }
        };
        Ok(&mut self.entries[i])
    }
}

impl Drop for Caches {
    /// A thread ending gives its cached nodes back, if their segment is still mapped exactly
    /// once in this process; otherwise they stay allocated in the pool (a leak of at most
    /// `max_cached` nodes per pool and thread).
    fn drop(&mut self) {
        if self.tid != sys::current_tid() {
            return;
        }
        for e in self.entries.drain(..) {
            if e.nodes.is_empty() {
                continue;
            }
            if let Some(id) = SegmentId::from_u64(e.seg) {
                let _ = SegmentRef::with_detached(id, |s| {
                    Pool::at(&s, e.pool, e.kind).and_then(|p| p.free_batch(&s, &e.nodes))
                });
            }
        }
    }
}

thread_local! {
    static CACHES: RefCell<Caches> = const {
        RefCell::new(Caches {
            tid: 0,
            entries: Vec::new(),
        })
    };
}

/// Runs `f` on this thread's cache of `pool`, or returns `None` when the caches cannot be used
/// (the thread is ending, or re-entered).
#[inline]
fn with_cache<R>(
    seg: &SegmentRef<'_>,
    pool: u64,
    kind: Kind,
    f: impl FnOnce(&mut Entry) -> Result<R>,
) -> Option<Result<R>> {
    CACHES
        .try_with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            Some(c.entry(seg, pool, kind).and_then(f))
        })
        .ok()
        .flatten()
}

/// Gives nodes beyond `keep` back to the pool.
fn trim(seg: &SegmentRef<'_>, e: &mut Entry, keep: usize) -> Result<()> {
    if e.nodes.len() <= keep {
        return Ok(());
    }
    let extra = e.nodes.split_off(keep);
    Pool::at(seg, e.pool, e.kind)?.free_batch(seg, &extra)
}

impl Caches {
    /// This thread's existing cache of `pool` in segment `id`, if the caches are this
    /// thread's (not a forked copy): the fast paths' lookup.
    #[inline]
    fn find(&mut self, id: u64, pool: u64, kind: Kind) -> Option<&mut Entry> {
        if self.tid != sys::current_tid() {
            return None;
        }
        self.entries
            .iter_mut()
            .find(|e| e.pool == pool && e.seg == id && e.kind == kind)
    }
}

#[inline]
fn cached_allocate(
    seg: &SegmentRef<'_>,
    pool: u64,
    kind: Kind,
    size: usize,
    align: usize,
) -> Result<u64> {
    let id = seg.id().as_u64();
    // The fast path moves a plain `u64` out of the thread-local: no `Result` crosses it.
    let hit = CACHES
        .try_with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            let e = c.find(id, pool, kind)?;
            if fits(e.node_size, size, align) {
                e.nodes.pop()
            } else {
                None
            }
        })
        .ok()
        .flatten();
    match hit {
        Some(n) => Ok(n),
        None => cached_allocate_slow(seg, pool, kind, size, align),
    }
}

#[cold]
fn cached_allocate_slow(
    seg: &SegmentRef<'_>,
    pool: u64,
    kind: Kind,
    size: usize,
    align: usize,
) -> Result<u64> {
    let r = with_cache(seg, pool, kind, |e| {
        if !fits(e.node_size, size, align) {
            return seg.allocate(size, align);
        }
        if let Some(n) = e.nodes.pop() {
            return Ok(n);
        }
        let p = Pool::at(seg, pool, kind)?;
        if e.max == 0 {
            return p.alloc_one(seg);
        }
        p.alloc_batch(seg, e.max.div_ceil(2), &mut e.nodes)?;
        e.nodes
            .pop()
            .ok_or_else(|| crate::Error::new(crate::ErrorKind::OutOfMemory, "empty pool"))
    });
    r.unwrap_or_else(|| pool_allocate(seg, pool, kind, size, align))
}

#[inline]
fn cached_deallocate(
    seg: &SegmentRef<'_>,
    pool: u64,
    kind: Kind,
    offset: u64,
    size: usize,
    align: usize,
) -> Result<()> {
    let p = Pool::at(seg, pool, kind)?;
    if !fits(p.node_size(), size, align) {
        return seg.deallocate(offset);
    }
    // Check the node before caching it: a cached offset is handed out again unchecked.
    p.check_node(seg, offset)?;
    let id = seg.id().as_u64();
    let cached = CACHES
        .try_with(|c| {
            let Ok(mut c) = c.try_borrow_mut() else {
                return false;
            };
            match c.find(id, pool, kind) {
                Some(e) if e.nodes.len() < e.max => {
                    e.nodes.push(offset);
                    true
                }
                _ => false,
            }
        })
        .unwrap_or(false);
    if cached {
        return Ok(());
    }
    cached_deallocate_slow(seg, p, pool, kind, offset)
}

#[cold]
fn cached_deallocate_slow(
    seg: &SegmentRef<'_>,
    p: &Pool,
    pool: u64,
    kind: Kind,
    offset: u64,
) -> Result<()> {
    let r = with_cache(seg, pool, kind, |e| {
        e.nodes.push(offset);
        if e.nodes.len() > e.max {
            trim(seg, e, e.max / 2)?;
        }
        Ok(())
    });
    r.unwrap_or_else(|| p.free_one(seg, offset))
}

/// The cached allocators' `ShmAlloc` impl and cache methods.
macro_rules! pool_alloc_cached {
    ($name:ident, $kind:expr, $new:literal) => {
        pool_alloc_common!($name, $kind, $new, "a.deallocate_cache(&seg)?;\n");

        // SAFETY: as the uncached allocators: every node a cache holds was taken from the pool
        // (under its lock) by this thread and is handed out at most once; a freed node is
        // checked to be a node of the pool before it is cached. A forked copy of the caches is
        // discarded. Fallback requests go to the segment, told apart by size and alignment.
        unsafe impl ShmAlloc for $name {
            #[inline]
            fn allocate(&self, seg: &SegmentRef<'_>, size: usize, align: usize) -> Result<u64> {
                cached_allocate(seg, self.pool, $kind, size, align)
            }

            #[inline]
            fn deallocate(
                &self,
                seg: &SegmentRef<'_>,
                offset: u64,
                size: usize,
                align: usize,
            ) -> Result<()> {
                cached_deallocate(seg, self.pool, $kind, offset, size, align)
            }
        }

        impl $name {
            #[doc = concat!(
                "Sets how many free nodes this thread's cache of the pool may hold (Boost's \
                 `set_max_cached_nodes`), giving the surplus back. 0 disables caching for this \
                 thread. The setting is per thread and process, not stored in the segment.\n\n\
                 # Errors\n\n[`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) \
                 if this allocator's pool is not in `seg`.\n\n# Examples\n\n```\n\
                 use shmkit::ManagedHeapMemory;\n\
                 use shmkit::collections::{AsSegment, ShmAlloc};\n\
                 use shmkit::pool::", stringify!($name), ";\n\
                 let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;\n\
                 let a = ", $new, ";\n\
                 a.set_max_cached(&seg, 4)?;\n\
                 let s = seg.segment()?;\n\
                 let v: Vec<u64> = (0..10).map(|_| a.allocate(&s, 32, 8)).collect::<Result<_, _>>()?;\n\
                 for n in v {\n    a.deallocate(&s, n, 32, 8)?;\n}\n\
                 assert!(a.cached(&seg)? <= 4);\n\
                 assert_eq!(a.max_cached(&seg)?, 4);\n\
                 # Ok::<(), shmkit::Error>(())\n```"
            )]
            pub fn set_max_cached<M: MemoryAlgorithm, I: NameIndex>(
                &self,
                seg: &SegmentManager<M, I>,
                max: usize,
            ) -> Result<()> {
                let s = seg.segment()?;
                with_cache(&s, self.pool, $kind, |e| {
                    e.max = max;
                    trim(&s, e, max)
                })
                .unwrap_or(Ok(()))
            }

            #[doc = concat!(
                "This thread's cache limit for the pool (Boost's `get_max_cached_nodes`).\n\n\
                 # Errors\n\n[`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) \
                 if this allocator's pool is not in `seg`.\n\n# Examples\n\n```\n\
                 use shmkit::ManagedHeapMemory;\n\
                 use shmkit::pool::{", stringify!($name), ", DEFAULT_MAX_CACHED};\n\
                 let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;\n\
                 let a = ", $new, ";\n\
                 assert_eq!(a.max_cached(&seg)?, DEFAULT_MAX_CACHED);\n\
                 # Ok::<(), shmkit::Error>(())\n```"
            )]
            pub fn max_cached<M: MemoryAlgorithm, I: NameIndex>(
                &self,
                seg: &SegmentManager<M, I>,
            ) -> Result<usize> {
                let s = seg.segment()?;
                with_cache(&s, self.pool, $kind, |e| Ok(e.max)).unwrap_or(Ok(0))
            }

            #[doc = concat!(
                "How many free nodes this thread's cache of the pool holds now.\n\n\
                 # Errors\n\n[`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) \
                 if this allocator's pool is not in `seg`.\n\n# Examples\n\n```\n\
                 use shmkit::ManagedHeapMemory;\n\
                 use shmkit::collections::{AsSegment, ShmAlloc};\n\
                 use shmkit::pool::", stringify!($name), ";\n\
                 let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;\n\
                 let a = ", $new, ";\n\
                 let s = seg.segment()?;\n\
                 let n = a.allocate(&s, 32, 8)?;\n\
                 a.deallocate(&s, n, 32, 8)?;\n\
                 assert!(a.cached(&seg)? >= 1);\n\
                 # Ok::<(), shmkit::Error>(())\n```"
            )]
            pub fn cached<M: MemoryAlgorithm, I: NameIndex>(
                &self,
                seg: &SegmentManager<M, I>,
            ) -> Result<usize> {
                let s = seg.segment()?;
                with_cache(&s, self.pool, $kind, |e| Ok(e.nodes.len())).unwrap_or(Ok(0))
            }

            #[doc = concat!(
                "Gives every node in this thread's cache back to the shared pool (Boost's \
                 `deallocate_cache`). Do this before a thread that used the allocator ends if \
                 the segment may be unmapped first, and before measuring the pool.\n\n\
                 # Errors\n\n[`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) \
                 if this allocator's pool is not in `seg`.\n\n# Examples\n\n```\n\
                 use shmkit::ManagedHeapMemory;\n\
                 use shmkit::collections::{AsSegment, ShmAlloc};\n\
                 use shmkit::pool::", stringify!($name), ";\n\
                 let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;\n\
                 let a = ", $new, ";\n\
                 let s = seg.segment()?;\n\
                 let n = a.allocate(&s, 32, 8)?;\n\
                 a.deallocate(&s, n, 32, 8)?;\n\
                 a.deallocate_cache(&seg)?;\n\
                 assert_eq!((a.cached(&seg)?, a.stats(&seg)?.live_nodes), (0, 0));\n\
                 # Ok::<(), shmkit::Error>(())\n```"
            )]
            pub fn deallocate_cache<M: MemoryAlgorithm, I: NameIndex>(
                &self,
                seg: &SegmentManager<M, I>,
            ) -> Result<()> {
                let s = seg.segment()?;
                with_cache(&s, self.pool, $kind, |e| trim(&s, e, 0)).unwrap_or(Ok(()))
            }

            #[doc = concat!(
                "Gives this thread's cache back, then detaches from the pool (see \
                 [`NodeAlloc::detach`](super::NodeAlloc::detach)); returns whether this was \
                 the last attachment.\n\n\
                 # Errors\n\n[`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) \
                 if this allocator's pool is not in `seg`.\n\n# Examples\n\n```\n\
                 use shmkit::ManagedHeapMemory;\n\
                 use shmkit::pool::", stringify!($name), ";\n\
                 let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;\n\
                 let a = ", $new, ";\n\
                 assert!(a.detach(&seg)?);\n\
                 # Ok::<(), shmkit::Error>(())\n```"
            )]
            pub fn detach<M: MemoryAlgorithm, I: NameIndex>(
                self,
                seg: &SegmentManager<M, I>,
            ) -> Result<bool> {
                self.deallocate_cache(seg)?;
                let s = seg.segment()?;
                Pool::at(&s, self.pool, $kind)?.detach(&s)
            }
        }
    };
}

/// Boost's `cached_node_allocator`: [`NodeAlloc`](super::NodeAlloc)'s shared node pool with a
/// cache of free nodes in each thread of each process, so most allocations and frees take no
/// lock at all.
///
/// The allocator value (8 bytes, stored in collection headers) is the same as the uncached
/// one's: the pool's offset. The cache is process memory, per thread, keyed by the segment's id
/// and the pool's offset. An empty cache takes half its limit from the pool under one lock; a
/// cache over its limit gives half back. Nodes in caches count as in use for the pool (its
/// [`deallocate_free_blocks`](Self::deallocate_free_blocks) cannot return their blocks). A
/// thread that ends gives its cache back if the segment is still mapped exactly once in the
/// process; a process that dies or unmaps first leaks at most the cached nodes. A `fork`ed
/// child does not use its copy of the parent's caches.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::Vec;
/// use shmkit::pool::CachedNodeAlloc;
/// use shmkit::sync::Mutex;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let a = CachedNodeAlloc::new(&seg, 64, 64)?;
/// let v = seg.construct("v", Mutex::new(Vec::<u64, CachedNodeAlloc>::new_with(a)))?;
/// v.lock().unwrap().extend([1, 2, 3]);
/// assert_eq!(v.lock().unwrap().iter().sum::<u64>(), 6);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct CachedNodeAlloc {
    pool: u64,
}

pool_alloc_cached!(
    CachedNodeAlloc,
    Kind::Node,
    "CachedNodeAlloc::new(&seg, 32, 64)?"
);

impl CachedNodeAlloc {
    /// Attaches to the segment's shared node pool for this shape (the same pool as
    /// [`NodeAlloc::new`](super::NodeAlloc::new) with the same arguments).
    ///
    /// # Errors
    ///
    /// As [`NodeAlloc::new`](super::NodeAlloc::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::pool::{CachedNodeAlloc, NodeAlloc};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
    /// let a = CachedNodeAlloc::new(&seg, 32, 64)?;
    /// assert_eq!(a.pool_offset(), NodeAlloc::new(&seg, 32, 64)?.pool_offset());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new<M: MemoryAlgorithm, I: NameIndex>(
        seg: &SegmentManager<M, I>,
        node_size: usize,
        nodes_per_block: usize,
    ) -> Result<CachedNodeAlloc> {
        let g = Geometry::new(Kind::Node, node_size, nodes_per_block, 0)?;
        Ok(CachedNodeAlloc {
            pool: attach_shared(seg, &g, nodes_per_block)?,
        })
    }
}

/// Boost's `cached_adaptive_pool`: [`AdaptivePoolAlloc`](super::AdaptivePoolAlloc)'s shared
/// adaptive pool with a per-thread cache of free nodes, as [`CachedNodeAlloc`] does for the
/// node pool. Blocks go back to the segment only once their nodes have left every cache too
/// ([`deallocate_cache`](Self::deallocate_cache)).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::{AsSegment, ShmAlloc};
/// use shmkit::pool::CachedAdaptivePoolAlloc;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let a = CachedAdaptivePoolAlloc::new(&seg, 64, 64, 2)?;
/// let s = seg.segment()?;
/// let before = seg.free_memory()?;
/// let n = a.allocate(&s, 64, 8)?;
/// a.deallocate(&s, n, 64, 8)?;
/// a.deallocate_cache(&seg)?;
/// a.deallocate_free_blocks(&seg)?;
/// assert_eq!(seg.free_memory()?, before);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct CachedAdaptivePoolAlloc {
    pool: u64,
}

pool_alloc_cached!(
    CachedAdaptivePoolAlloc,
    Kind::Adaptive,
    "CachedAdaptivePoolAlloc::new(&seg, 32, 64, 2)?"
);

impl CachedAdaptivePoolAlloc {
    /// Attaches to the segment's shared adaptive pool for this shape (the same pool as
    /// [`AdaptivePoolAlloc::new`](super::AdaptivePoolAlloc::new) with the same arguments).
    ///
    /// # Errors
    ///
    /// As [`AdaptivePoolAlloc::new`](super::AdaptivePoolAlloc::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::pool::{AdaptivePoolAlloc, CachedAdaptivePoolAlloc};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
    /// let a = CachedAdaptivePoolAlloc::new(&seg, 32, 64, 2)?;
    /// let b = AdaptivePoolAlloc::new(&seg, 32, 64, 2)?;
    /// assert_eq!(a.pool_offset(), b.pool_offset());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new<M: MemoryAlgorithm, I: NameIndex>(
        seg: &SegmentManager<M, I>,
        node_size: usize,
        nodes_per_block: usize,
        max_free_blocks: usize,
    ) -> Result<CachedAdaptivePoolAlloc> {
        let g = Geometry::new(Kind::Adaptive, node_size, nodes_per_block, max_free_blocks)?;
        Ok(CachedAdaptivePoolAlloc {
            pool: attach_shared(seg, &g, nodes_per_block)?,
        })
    }
}
