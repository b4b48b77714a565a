//! [`ManagedHeapMemory`]: a managed segment in process memory.

use std::fmt;
use std::ops::{Deref, DerefMut};

use super::index::{HashIndex, NameIndex};
use super::manager::{Mode, SegmentManager};
use super::mem::Mem;
use super::open;
use crate::alloc::{BestFit, MemoryAlgorithm};
use crate::error::Result;

/// A managed segment in this process's heap: Boost's `managed_heap_memory`. The same objects
/// and functions as a shared segment, for data built in one process and then, say, written to
/// a file or copied into shared memory (everything inside is offsets, so the bytes work at any
/// address). It can [`grow`](Self::grow).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// seg.construct("x", 1u64)?;
/// seg.grow(1 << 16)?;
/// assert_eq!(seg.size(), 2 << 16);
/// assert_eq!(seg.find::<u64>("x")?, Some(&1));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct ManagedHeapMemory<M: MemoryAlgorithm = BestFit, I: NameIndex = HashIndex> {
    seg: SegmentManager<M, I>,
}

impl<M: MemoryAlgorithm, I: NameIndex> fmt::Debug for ManagedHeapMemory<M, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedHeapMemory")
            .field("segment", &self.seg)
            .finish()
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> ManagedHeapMemory<M, I> {
    /// A new, empty segment of `size` bytes on the heap (page-aligned).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a size below a page
    /// plus the algorithm's minimum, or above any address space (2^56 bytes);
    /// [`ErrorKind::OutOfMemory`](crate::ErrorKind::OutOfMemory) if the heap cannot provide it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// assert!(<ManagedHeapMemory>::new(1 << 16).is_ok());
    /// assert_eq!(<ManagedHeapMemory>::new(100).unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// ```
    pub fn new(size: usize) -> Result<Self> {
        open::check_size::<M, I>(size)?;
        let mem = Mem::heap(size)?;
        SegmentManager::<M, I>::format(&mem)?;
        SegmentManager::<M, I>::stamp_local(&mem)?;
        let seg = SegmentManager::attach(mem, Mode::ReadWrite, "heap segment")?;
        Ok(ManagedHeapMemory { seg })
    }

    /// Grows the segment by `extra` bytes (at least 32, rounded up to 16): the bytes are copied
    /// into a larger buffer (so `&mut self`: no reference into the old one may live), and the
    /// new bytes become free memory.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`](crate::ErrorKind::OutOfMemory) if the heap cannot provide the
    /// larger buffer (the segment is unchanged);
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for `extra == 0` or a
    /// size beyond any address space.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let before = seg.free_memory()?;
    /// seg.grow(4096)?;
    /// assert_eq!(seg.free_memory()?, before + 4096);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn grow(&mut self, extra: usize) -> Result<()> {
        let new = open::grown_size(self.seg.size(), extra)?;
        // `&mut self` means no guard of this handle is alive, and a heap segment has no other
        // handles; but a collection moved out of the segment can still free memory in it from
        // another thread (through the pointer registry), so the copy is taken under the lock.
        let mem = self.seg.locked_heap_copy(new)?;
        self.seg = SegmentManager::grow_in_place(mem, "heap segment")?;
        Ok(())
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> Deref for ManagedHeapMemory<M, I> {
    type Target = SegmentManager<M, I>;

    fn deref(&self) -> &SegmentManager<M, I> {
        &self.seg
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> DerefMut for ManagedHeapMemory<M, I> {
    fn deref_mut(&mut self) -> &mut SegmentManager<M, I> {
        &mut self.seg
    }
}
