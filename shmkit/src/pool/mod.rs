//! Pool allocators: fixed-size nodes for collections, from pools that live in the segment
//! (Boost's `node_allocator`, `private_node_allocator`, `cached_node_allocator`,
//! `adaptive_pool`, `private_adaptive_pool`, `cached_adaptive_pool`).
//!
//! Every allocator here implements [`ShmAlloc`](crate::collections::ShmAlloc), so it is the
//! `A` parameter of shmkit's collections: `Vec<T, NodeAlloc>`, and above all the node-based
//! collections (lists, trees), whose nodes all have one size. Its value is 8 bytes, the pool
//! object's offset in the segment, stored in each collection header. Requests that do not fit a
//! node (larger, or aligned more than the nodes are) go to the segment's general allocator, so
//! a `Vec` that outgrows its node keeps working; freeing tells the two apart by the size and
//! alignment, which callers pass unchanged as `ShmAlloc` requires.
//!
//! | allocator | pool | shared with | blocks go back to the segment |
//! |---|---|---|---|
//! | [`NodeAlloc`] | segregated node pool, named `shmkit.pool.node.<size>x<per block>` | every allocator and process with the same shape | on [`deallocate_free_blocks`](NodeAlloc::deallocate_free_blocks) and the last [`detach`](NodeAlloc::detach) |
//! | [`PrivateNodeAlloc`] | its own node pool (anonymous object) | nobody | as above |
//! | [`CachedNodeAlloc`] | the shared node pool + a per-thread cache | as `NodeAlloc` | as above, once caches are given back |
//! | [`AdaptivePoolAlloc`] | adaptive pool, named `shmkit.pool.adaptive.<size>x<per block>x<max free>` | every allocator and process with the same shape | as soon as a block is free, beyond `max_free_blocks` kept |
//! | [`PrivateAdaptivePoolAlloc`] | its own adaptive pool | nobody | as above |
//! | [`CachedAdaptivePoolAlloc`] | the shared adaptive pool + a per-thread cache | as `AdaptivePoolAlloc` | as above, once caches are given back |
//!
//! # The pool object
//!
//! A pool is one [`ShmSafe`](crate::ShmSafe) object in the segment (about 140 bytes of
//! atomics): a magic word for its kind, its own offset (written once; an allocator value whose
//! offset does not lead to a pool that names that offset is an
//! [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)), its shape, a robust
//! lock, an attachment count, list heads and counters. Shared pools are named objects, found or
//! constructed atomically by [`find_or_construct`](crate::SegmentManager::find_or_construct)
//! under the name derived from the shape, so every process (and every collection) asking for
//! the same shape gets the same pool; private pools are anonymous objects.
//!
//! - **Node pool** (segregated storage): blocks of `16 + n × size` bytes from the segment, each
//!   starting with a link to the next block and a check word; free nodes are one singly linked
//!   list through their first word. Allocate and free are a pop and a push. Blocks stay in the
//!   pool until [`deallocate_free_blocks`](NodeAlloc::deallocate_free_blocks) (which sorts the
//!   blocks and counts the free nodes of each: O(n log n)) or the last detach.
//! - **Adaptive pool**: blocks of whole 4 KiB pages aligned to 4 KiB. Every page starts with
//!   `[block offset, check word]` (the check binds page, block and pool), so a node's block is
//!   found by masking its offset; the first page also holds the block header (its own free
//!   list and count, links). Blocks with free nodes are on a doubly linked list the pool
//!   allocates from; a block that becomes completely free is given back to the segment when the
//!   pool already keeps `max_free_blocks` free ones.
//!
//! # Locking
//!
//! Each pool has its own [`RawMutex`](crate::sync::RawMutex): an allocation or a free is one
//! CAS to lock and one to unlock, uncontended, and never takes the segment's lock. Growing
//! (allocating a block) and giving blocks back happen *outside* the pool's lock, so the lock
//! order is never pool then segment: a thread inside [`atomic`](crate::SegmentManager::atomic)
//! (holding the segment's lock) may allocate from a pool without deadlocking with another that
//! refills it.
//!
//! # Crashes
//!
//! A process killed while it holds a pool's lock leaves the lock to be taken over by the next
//! locker, which is told its owner died and repairs the pool before its own operation: it
//! walks the lists (bounded; a bad link cuts the list there) and recounts the counters; for an
//! adaptive pool it recounts each block's free list and rebuilds the list of blocks with free
//! nodes from the list of all blocks. Every operation orders its stores so that a list is
//! well formed after each one (a pop or push is a single store of the head; a new block is
//! linked into the list of blocks before its nodes are published; a block is unlinked before
//! it is freed; relinking a list writes from the tail so a half-rewritten list is only
//! shorter), so the worst a crash costs is the node being allocated or freed (or a block
//! being given back), which stays allocated with nobody using it, as when a process dies
//! holding a node. [`PoolStats::recoveries`] counts the repairs.
//!
//! # The per-thread caches
//!
//! [`CachedNodeAlloc`] and [`CachedAdaptivePoolAlloc`] store the same 8 bytes as the others, so
//! the cache cannot live in the value: each thread keeps a table in process memory, keyed by
//! (segment id, pool offset), of node offsets it took from the pool. See [`CachedNodeAlloc`]
//! for the policy and what happens to cached nodes when threads end or processes die.
//!
//! # Examples
//!
//! ```
//! use shmkit::ManagedHeapMemory;
//! use shmkit::collections::Vec;
//! use shmkit::pool::{AdaptivePoolAlloc, NodeAlloc};
//! use shmkit::sync::Mutex;
//!
//! let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
//! // Small vectors from a node pool of 64-byte nodes.
//! let nodes = NodeAlloc::new(&seg, 64, 64)?;
//! let v = seg.construct("v", Mutex::new(Vec::<u16, NodeAlloc>::new_with(nodes)))?;
//! v.lock().unwrap().extend([1, 2, 3]);
//! assert_eq!(nodes.stats(&seg)?.live_nodes, 1);
//!
//! // An adaptive pool gives its blocks back when they are free.
//! let adaptive = AdaptivePoolAlloc::new(&seg, 64, 64, 0)?;
//! let w = seg.construct("w", Mutex::new(Vec::<u16, AdaptivePoolAlloc>::new_with(adaptive)))?;
//! w.lock().unwrap().push(9);
//! w.lock().unwrap().clear();
//! w.lock().unwrap().shrink_to_fit();
//! assert_eq!(adaptive.stats(&seg)?.blocks, 0);
//! # Ok::<(), shmkit::Error>(())
//! ```

#[macro_use]
mod allocs;
mod cache;
mod core;

pub use allocs::{AdaptivePoolAlloc, NodeAlloc, PrivateAdaptivePoolAlloc, PrivateNodeAlloc};
pub use cache::{CachedAdaptivePoolAlloc, CachedNodeAlloc, DEFAULT_MAX_CACHED};

/// Boost's default number of nodes per block (`NodesPerBlock = 64`).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::pool::{DEFAULT_NODES_PER_BLOCK, NodeAlloc};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let a = NodeAlloc::new(&seg, 32, DEFAULT_NODES_PER_BLOCK)?;
/// assert_eq!(a.stats(&seg)?.nodes_per_block, 64);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub const DEFAULT_NODES_PER_BLOCK: usize = 64;

/// Boost's default number of completely free blocks an adaptive pool keeps
/// (`MaxFreeBlocks = 2`).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::pool::{AdaptivePoolAlloc, DEFAULT_MAX_FREE_BLOCKS, DEFAULT_NODES_PER_BLOCK};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let a = AdaptivePoolAlloc::new(&seg, 32, DEFAULT_NODES_PER_BLOCK, DEFAULT_MAX_FREE_BLOCKS)?;
/// assert_eq!(a.stats(&seg)?.blocks, 0);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub const DEFAULT_MAX_FREE_BLOCKS: usize = 2;

/// A snapshot of a pool's shape and counters, from `stats` on any pool allocator.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::{AsSegment, ShmAlloc};
/// use shmkit::pool::NodeAlloc;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let a = NodeAlloc::new(&seg, 16, 100)?;
/// a.allocate(&seg.segment()?, 16, 8)?;
/// let st = a.stats(&seg)?;
/// assert_eq!((st.blocks, st.free_nodes, st.live_nodes), (1, 99, 1));
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Bytes per node (the requested size rounded up to a multiple of 8).
    pub node_size: usize,
    /// Nodes per block.
    pub nodes_per_block: usize,
    /// Bytes per block, as allocated from the segment.
    pub block_bytes: usize,
    /// Blocks the pool holds.
    pub blocks: usize,
    /// Free nodes in the pool (not counting per-thread caches).
    pub free_nodes: usize,
    /// Nodes handed out: in use, in per-thread caches, or leaked by a process that died.
    pub live_nodes: usize,
    /// Attachments (`new` minus `detach`).
    pub attached: usize,
    /// How many times a process repaired the pool after another died holding its lock.
    pub recoveries: u64,
}
