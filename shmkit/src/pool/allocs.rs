//! The four uncached pool allocators: [`NodeAlloc`], [`PrivateNodeAlloc`],
//! [`AdaptivePoolAlloc`], [`PrivateAdaptivePoolAlloc`].
#![allow(unsafe_code)]

use crate::alloc::MemoryAlgorithm;
use crate::collections::{AsSegment, SegmentRef, ShmAlloc};
use crate::error::Result;
use crate::fingerprint::{combine, fnv1a};
use crate::segment::{NameIndex, SegmentManager};
use crate::shm_safe::ShmSafe;

use super::PoolStats;
use super::core::{Geometry, Kind, Pool, fits};

/// Finds or constructs the shared pool of shape `g` (named after it) and attaches to it.
pub(crate) fn attach_shared<M: MemoryAlgorithm, I: NameIndex>(
    seg: &SegmentManager<M, I>,
    g: &Geometry,
    requested_per_block: usize,
) -> Result<u64> {
    let pool = seg.find_or_construct(&g.name(requested_per_block), || Pool::new(g))?;
    pool.publish(seg, g)
}

/// Constructs a private pool of shape `g` (an anonymous object) and attaches to it.
pub(crate) fn attach_private<M: MemoryAlgorithm, I: NameIndex>(
    seg: &SegmentManager<M, I>,
    g: &Geometry,
) -> Result<u64> {
    let pool = seg.construct_anonymous(Pool::new(g))?;
    pool.publish(seg, g)
}

/// Allocates through the pool at `pool`, or from the segment for requests the nodes do not
/// fit.
#[inline]
pub(crate) fn pool_allocate(
    seg: &SegmentRef<'_>,
    pool: u64,
    kind: Kind,
    size: usize,
    align: usize,
) -> Result<u64> {
    let p = Pool::at(seg, pool, kind)?;
    if !fits(p.node_size(), size, align) {
        return seg.allocate(size, align);
    }
    p.alloc_one(seg)
}

/// Frees what [`pool_allocate`] returned for the same `size` and `align`.
#[inline]
pub(crate) fn pool_deallocate(
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
    p.free_one(seg, offset)
}

/// The methods every pool allocator has, and its `ShmSafe` and `ShmAlloc` impls.
macro_rules! pool_alloc_common {
    ($name:ident, $kind:expr, $new:literal, $flush:literal) => {
        // SAFETY: repr(C) over one u64 (the pool's offset): every bit pattern is a value, and
        // every use checks it (`Pool::at`: bounds, alignment, magic and the pool's own offset).
        // No address, Send + Sync, no drop glue.
        unsafe impl ShmSafe for $name {
            const FINGERPRINT: u64 = combine(
                fnv1a(concat!("shmkit::pool::", stringify!($name)).as_bytes()),
                u64::FINGERPRINT,
            );
            const NO_PADDING: bool = true;
        }

        impl $name {
            #[doc = concat!(
                "The pool's offset in its segment: its identity (every process attached to the \
                 same pool sees the same value).\n\n# Examples\n\n```\n\
                 use shmkit::ManagedHeapMemory;\n\
                 use shmkit::pool::", stringify!($name), ";\n\
                 let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;\n\
                 let a = ", $new, ";\n\
                 assert!(a.pool_offset() >= 4096);\n\
                 # Ok::<(), shmkit::Error>(())\n```"
            )]
            #[inline]
            pub fn pool_offset(&self) -> u64 {
                self.pool
            }

            #[doc = concat!(
                "A snapshot of the pool's counters (taken under its lock).\n\n\
                 # Errors\n\n[`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) \
                 if this allocator's pool is not in `seg`.\n\n# Examples\n\n```\n\
                 use shmkit::ManagedHeapMemory;\n\
                 use shmkit::collections::{AsSegment, ShmAlloc};\n\
                 use shmkit::pool::", stringify!($name), ";\n\
                 let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;\n\
                 let a = ", $new, ";\n\
                 let off = a.allocate(&seg.segment()?, 24, 8)?;\n\
                 let st = a.stats(&seg)?;\n\
                 assert_eq!((st.node_size, st.blocks), (32, 1));\n\
                 assert!(st.live_nodes >= 1);\n\
                 a.deallocate(&seg.segment()?, off, 24, 8)?;\n", $flush, "\
                 assert_eq!(a.stats(&seg)?.live_nodes, 0);\n\
                 # Ok::<(), shmkit::Error>(())\n```"
            )]
            pub fn stats<M: MemoryAlgorithm, I: NameIndex>(
                &self,
                seg: &SegmentManager<M, I>,
            ) -> Result<PoolStats> {
                let s = seg.segment()?;
                Ok(Pool::at(&s, self.pool, $kind)?.stats(&s))
            }

            #[doc = concat!(
                "Gives every block whose nodes are all free back to the segment (Boost's \
                 `deallocate_free_blocks`); returns how many blocks went back. Node pools \
                 only grow otherwise; adaptive pools already give back blocks beyond their \
                 `max_free_blocks`, and this gives back the rest.\n\n\
                 # Errors\n\n[`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) \
                 if this allocator's pool is not in `seg`; \
                 [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) if the pool's lists \
                 are broken.\n\n# Examples\n\n```\n\
                 use shmkit::ManagedHeapMemory;\n\
                 use shmkit::collections::{AsSegment, ShmAlloc};\n\
                 use shmkit::pool::", stringify!($name), ";\n\
                 let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;\n\
                 let a = ", $new, ";\n\
                 let s = seg.segment()?;\n\
                 let before = seg.free_memory()?;\n\
                 let off = a.allocate(&s, 32, 8)?;\n\
                 a.deallocate(&s, off, 32, 8)?;\n", $flush, "\
                 a.deallocate_free_blocks(&seg)?;\n\
                 assert_eq!(seg.free_memory()?, before);\n\
                 # Ok::<(), shmkit::Error>(())\n```"
            )]
            #[doc(alias = "deallocate_free_chunks")]
            pub fn deallocate_free_blocks<M: MemoryAlgorithm, I: NameIndex>(
                &self,
                seg: &SegmentManager<M, I>,
            ) -> Result<usize> {
                let s = seg.segment()?;
                Pool::at(&s, self.pool, $kind)?.release_free_blocks(&s)
            }

        }
    };
}

/// The uncached allocators' `ShmAlloc` impl and `detach`.
macro_rules! pool_alloc_uncached {
    ($name:ident, $kind:expr, $new:literal) => {
        pool_alloc_common!($name, $kind, $new, "");

        // SAFETY: nodes come from blocks the pool allocated from the segment and owns; a node is
        // handed out only after it left the pool's free list (under the pool's lock) and goes
        // back only through `deallocate`, so live nodes are disjoint. Requests the nodes do not
        // fit (size or alignment) go to the segment's own allocator, and `deallocate` tells the
        // two apart by the same size and alignment, as the `ShmAlloc` contract requires.
        unsafe impl ShmAlloc for $name {
            #[inline]
            fn allocate(&self, seg: &SegmentRef<'_>, size: usize, align: usize) -> Result<u64> {
                pool_allocate(seg, self.pool, $kind, size, align)
            }

            #[inline]
            fn deallocate(
                &self,
                seg: &SegmentRef<'_>,
                offset: u64,
                size: usize,
                align: usize,
            ) -> Result<()> {
                pool_deallocate(seg, self.pool, $kind, offset, size, align)
            }
        }

        impl $name {
            #[doc = concat!(
                "Detaches from the pool (the reverse of `new`). The last detach, if no node is \
                 in use, gives all the pool's blocks back to the segment; returns whether this \
                 was the last attachment. Copies of the allocator stored in collections are \
                 not attachments: they keep working after the last detach (the pool object \
                 stays and grows again on demand).\n\n\
                 # Errors\n\n[`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) \
                 if this allocator's pool is not in `seg`.\n\n# Examples\n\n```\n\
                 use shmkit::ManagedHeapMemory;\n\
                 use shmkit::pool::", stringify!($name), ";\n\
                 let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;\n\
                 let a = ", $new, ";\n\
                 assert_eq!(a.stats(&seg)?.attached, 1);\n\
                 assert!(a.detach(&seg)?);\n\
                 # Ok::<(), shmkit::Error>(())\n```"
            )]
            pub fn detach<M: MemoryAlgorithm, I: NameIndex>(
                self,
                seg: &SegmentManager<M, I>,
            ) -> Result<bool> {
                let s = seg.segment()?;
                Pool::at(&s, self.pool, $kind)?.detach(&s)
            }
        }
    };
}

/// Boost's `node_allocator`: allocates fixed-size nodes from the segment's **shared node pool**
/// for that node size and block count, which every process and every `NodeAlloc` of the same
/// shape uses.
///
/// The pool is a named object, `shmkit.pool.node.<node size>x<nodes per block>` (node size
/// rounded up to 8), found or constructed by [`new`](Self::new), so a second process (or
/// collection) attaches to the same pool; its blocks of nodes come from the segment and stay
/// in the pool (segregated storage only grows) until [`deallocate_free_blocks`](Self::deallocate_free_blocks)
/// or the last [`detach`](Self::detach). An allocation or a free is one pass through the pool's
/// own robust lock (one CAS in, one CAS out), not the segment's.
///
/// The value is 8 bytes, the pool's offset, and is stored in collection headers: use it as the
/// `A` parameter of shmkit collections (`Vec<T, NodeAlloc>`, and the node-based collections).
/// Requests larger than the node size, or aligned more than the nodes are (8, or 16 when the
/// node size is a multiple of 16), go to the segment's general allocator, so a `Vec` that
/// outgrows a node keeps working; `deallocate` must get the same size and alignment as the
/// allocation, as [`ShmAlloc`] requires. Freeing checks that the offset lies inside the segment
/// and is aligned (an [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
/// otherwise); unlike the adaptive pool, a node pool cannot tell in O(1) whether an offset is
/// one of its nodes, so freeing something else, or freeing twice, corrupts its free list the
/// way it does Boost's (within the segment: every link is bounds-checked when it is used).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::Vec;
/// use shmkit::pool::NodeAlloc;
/// use shmkit::sync::Mutex;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let nodes = NodeAlloc::new(&seg, 64, 128)?;
/// let v = seg.construct("small", Mutex::new(Vec::<u32, NodeAlloc>::new_with(nodes)))?;
/// v.lock().unwrap().extend([1, 2, 3]);
/// assert_eq!(nodes.stats(&seg)?.live_nodes, 1);
/// // Another attachment (another process, another collection) finds the same pool.
/// assert_eq!(NodeAlloc::new(&seg, 64, 128)?, nodes);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct NodeAlloc {
    pool: u64,
}

pool_alloc_uncached!(NodeAlloc, Kind::Node, "NodeAlloc::new(&seg, 32, 64)?");

impl NodeAlloc {
    /// Attaches to the segment's shared node pool for nodes of `node_size` bytes (rounded up to
    /// a multiple of 8, at least 8), `nodes_per_block` per block, constructing it if this is
    /// the first attachment. ([`DEFAULT_NODES_PER_BLOCK`](super::DEFAULT_NODES_PER_BLOCK) is
    /// Boost's default.)
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a zero block count
    /// or an absurd size; [`ErrorKind::OutOfMemory`](crate::ErrorKind::OutOfMemory) if the pool
    /// object does not fit; [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) if the object
    /// under the pool's name has another shape; the errors of
    /// [`find_or_construct`](SegmentManager::find_or_construct).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::pool::NodeAlloc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
    /// let a = NodeAlloc::new(&seg, 60, 64)?;
    /// assert_eq!(a.stats(&seg)?.node_size, 64);
    /// assert!(seg.named_objects()?.iter().any(|o| o.name == "shmkit.pool.node.64x64"));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new<M: MemoryAlgorithm, I: NameIndex>(
        seg: &SegmentManager<M, I>,
        node_size: usize,
        nodes_per_block: usize,
    ) -> Result<NodeAlloc> {
        let g = Geometry::new(Kind::Node, node_size, nodes_per_block, 0)?;
        Ok(NodeAlloc {
            pool: attach_shared(seg, &g, nodes_per_block)?,
        })
    }
}

/// Boost's `private_node_allocator`: a node pool of its own (an anonymous object in the
/// segment), not shared with any other allocator made by [`new`](Self::new).
///
/// "Private" means that no other collection draws from or returns to this pool, so its blocks
/// hold only its own nodes and are given back together
/// ([`deallocate_free_blocks`](Self::deallocate_free_blocks), [`detach`](Self::detach)). It does
/// *not* mean lock-free: the value is `Copy` and lives in a collection that other processes use
/// too (under the user's `Mutex`), and nothing stops two collections from holding copies, so
/// the pool keeps its own lock, which costs one uncontended CAS each way.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::pool::PrivateNodeAlloc;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let a = PrivateNodeAlloc::new(&seg, 32, 64)?;
/// let b = PrivateNodeAlloc::new(&seg, 32, 64)?;
/// assert_ne!(a, b);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct PrivateNodeAlloc {
    pool: u64,
}

pool_alloc_uncached!(
    PrivateNodeAlloc,
    Kind::Node,
    "PrivateNodeAlloc::new(&seg, 32, 64)?"
);

impl PrivateNodeAlloc {
    /// Constructs a new private node pool for nodes of `node_size` bytes (rounded up to a
    /// multiple of 8), `nodes_per_block` per block.
    ///
    /// # Errors
    ///
    /// As [`NodeAlloc::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::pool::PrivateNodeAlloc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
    /// let a = PrivateNodeAlloc::new(&seg, 16, 256)?;
    /// assert_eq!(a.stats(&seg)?.nodes_per_block, 256);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new<M: MemoryAlgorithm, I: NameIndex>(
        seg: &SegmentManager<M, I>,
        node_size: usize,
        nodes_per_block: usize,
    ) -> Result<PrivateNodeAlloc> {
        let g = Geometry::new(Kind::Node, node_size, nodes_per_block, 0)?;
        Ok(PrivateNodeAlloc {
            pool: attach_private(seg, &g)?,
        })
    }

    /// Destroys the private pool: gives its blocks back and frees the pool object. Copies of
    /// this allocator (in collections) are refused from then on
    /// ([`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) if a node is still in
    /// use (nothing changes), or if the pool is not in `seg`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::{AsSegment, ShmAlloc};
    /// use shmkit::pool::PrivateNodeAlloc;
    /// let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
    /// let before = seg.free_memory()?;
    /// let a = PrivateNodeAlloc::new(&seg, 32, 64)?;
    /// let n = a.allocate(&seg.segment()?, 32, 8)?;
    /// assert!(a.destroy(&mut seg).is_err()); // a node is in use
    /// a.deallocate(&seg.segment()?, n, 32, 8)?;
    /// a.destroy(&mut seg)?;
    /// assert_eq!(seg.free_memory()?, before);
    /// assert!(a.allocate(&seg.segment()?, 32, 8).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn destroy<M: MemoryAlgorithm, I: NameIndex>(
        self,
        seg: &mut SegmentManager<M, I>,
    ) -> Result<()> {
        let p = {
            let s = seg.segment()?;
            let pool = Pool::at(&s, self.pool, Kind::Node)?;
            pool.retire(&s)?;
            std::ptr::from_ref(pool)
        };
        seg.destroy_ptr(p)
    }
}

/// Boost's `adaptive_pool`: allocates fixed-size nodes from the segment's **shared adaptive
/// pool** for that shape, whose blocks go back to the segment when all their nodes are free.
///
/// A block is a run of 4 KiB pages aligned to 4 KiB; every page starts with a 16-byte header
/// naming its block, so freeing a node finds its block by masking the offset, and each block
/// keeps its own free list and count. Blocks with free nodes are on a list the pool allocates
/// from; a block whose nodes are all free is kept while the pool holds at most
/// `max_free_blocks` such blocks ([`DEFAULT_MAX_FREE_BLOCKS`](super::DEFAULT_MAX_FREE_BLOCKS)
/// = 2, Boost's default) and given back to the segment beyond that;
/// [`deallocate_free_blocks`](Self::deallocate_free_blocks) gives back all of them. Nodes are
/// at most 4016 bytes. The pool is the named object
/// `shmkit.pool.adaptive.<node size>x<nodes per block>x<max free blocks>`.
///
/// Fallback for requests the nodes do not fit, locking and crash behaviour: as [`NodeAlloc`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::{AsSegment, ShmAlloc};
/// use shmkit::pool::AdaptivePoolAlloc;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let a = AdaptivePoolAlloc::new(&seg, 64, 64, 0)?;
/// let s = seg.segment()?;
/// let before = seg.free_memory()?;
/// let nodes: Vec<u64> = (0..200).map(|_| a.allocate(&s, 64, 8)).collect::<Result<_, _>>()?;
/// assert!(seg.free_memory()? < before);
/// for n in nodes {
///     a.deallocate(&s, n, 64, 8)?;
/// }
/// // With max_free_blocks = 0, every block went back as soon as it was free.
/// assert_eq!(seg.free_memory()?, before);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct AdaptivePoolAlloc {
    pool: u64,
}

pool_alloc_uncached!(
    AdaptivePoolAlloc,
    Kind::Adaptive,
    "AdaptivePoolAlloc::new(&seg, 32, 64, 2)?"
);

impl AdaptivePoolAlloc {
    /// Attaches to the segment's shared adaptive pool for nodes of `node_size` bytes (rounded
    /// up to a multiple of 8), at least `nodes_per_block` per block (a block is whole pages, so
    /// it may hold more), keeping at most `max_free_blocks` completely free blocks;
    /// constructing it if this is the first attachment.
    ///
    /// # Errors
    ///
    /// As [`NodeAlloc::new`]; [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// for nodes over 4016 bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::pool::AdaptivePoolAlloc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
    /// let a = AdaptivePoolAlloc::new(&seg, 64, 64, 2)?;
    /// let st = a.stats(&seg)?;
    /// assert!(st.nodes_per_block >= 64);
    /// assert_eq!(st.block_bytes % 4096, 0);
    /// assert!(AdaptivePoolAlloc::new(&seg, 5000, 64, 2).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new<M: MemoryAlgorithm, I: NameIndex>(
        seg: &SegmentManager<M, I>,
        node_size: usize,
        nodes_per_block: usize,
        max_free_blocks: usize,
    ) -> Result<AdaptivePoolAlloc> {
        let g = Geometry::new(Kind::Adaptive, node_size, nodes_per_block, max_free_blocks)?;
        Ok(AdaptivePoolAlloc {
            pool: attach_shared(seg, &g, nodes_per_block)?,
        })
    }
}

/// Boost's `private_adaptive_pool`: an adaptive pool of its own (an anonymous object), not
/// shared with other allocators; see [`AdaptivePoolAlloc`] for the algorithm and
/// [`PrivateNodeAlloc`] for what "private" means (a pool of its own, still locked).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::Vec;
/// use shmkit::pool::PrivateAdaptivePoolAlloc;
/// use shmkit::sync::Mutex;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let a = PrivateAdaptivePoolAlloc::new(&seg, 32, 64, 1)?;
/// let v = seg.construct("v", Mutex::new(Vec::<u64, _>::new_with(a)))?;
/// v.lock().unwrap().push(7);
/// assert_eq!(a.stats(&seg)?.live_nodes, 1);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct PrivateAdaptivePoolAlloc {
    pool: u64,
}

pool_alloc_uncached!(
    PrivateAdaptivePoolAlloc,
    Kind::Adaptive,
    "PrivateAdaptivePoolAlloc::new(&seg, 32, 64, 2)?"
);

impl PrivateAdaptivePoolAlloc {
    /// Constructs a new private adaptive pool (parameters as [`AdaptivePoolAlloc::new`]).
    ///
    /// # Errors
    ///
    /// As [`AdaptivePoolAlloc::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::pool::PrivateAdaptivePoolAlloc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
    /// let a = PrivateAdaptivePoolAlloc::new(&seg, 48, 10, 2)?;
    /// assert_eq!(a.stats(&seg)?.node_size, 48);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new<M: MemoryAlgorithm, I: NameIndex>(
        seg: &SegmentManager<M, I>,
        node_size: usize,
        nodes_per_block: usize,
        max_free_blocks: usize,
    ) -> Result<PrivateAdaptivePoolAlloc> {
        let g = Geometry::new(Kind::Adaptive, node_size, nodes_per_block, max_free_blocks)?;
        Ok(PrivateAdaptivePoolAlloc {
            pool: attach_private(seg, &g)?,
        })
    }

    /// Destroys the private pool: gives its blocks back and frees the pool object. Copies of
    /// this allocator (in collections) are refused from then on
    /// ([`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) if a node is still in
    /// use (nothing changes), or if the pool is not in `seg`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::{AsSegment, ShmAlloc};
    /// use shmkit::pool::PrivateAdaptivePoolAlloc;
    /// let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
    /// let before = seg.free_memory()?;
    /// let a = PrivateAdaptivePoolAlloc::new(&seg, 32, 64, 2)?;
    /// let n = a.allocate(&seg.segment()?, 32, 8)?;
    /// assert!(a.destroy(&mut seg).is_err()); // a node is in use
    /// a.deallocate(&seg.segment()?, n, 32, 8)?;
    /// a.destroy(&mut seg)?;
    /// assert_eq!(seg.free_memory()?, before);
    /// assert!(a.allocate(&seg.segment()?, 32, 8).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn destroy<M: MemoryAlgorithm, I: NameIndex>(
        self,
        seg: &mut SegmentManager<M, I>,
    ) -> Result<()> {
        let p = {
            let s = seg.segment()?;
            let pool = Pool::at(&s, self.pool, Kind::Adaptive)?;
            pool.retire(&s)?;
            std::ptr::from_ref(pool)
        };
        seg.destroy_ptr(p)
    }
}
