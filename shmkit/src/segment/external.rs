//! [`ManagedExternalBuffer`]: a managed segment in a buffer the caller owns.
#![allow(unsafe_code)]

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use super::index::{HashIndex, NameIndex};
use super::manager::{Mode, SegmentManager};
use super::mem::Mem;
use super::open;
use crate::alloc::{BestFit, MemoryAlgorithm};
use crate::error::Result;

/// A managed segment in a byte buffer the caller lends for the segment's lifetime: Boost's
/// `managed_external_buffer`.
///
/// The buffer is borrowed mutably (`&'a mut [u8]`), so nothing else can touch it while the
/// segment lives, and it can be reopened afterwards ([`open`](Self::open)) to find the same
/// objects: everything inside is offsets. The segment starts at the buffer's first 16-byte
/// boundary (up to 15 bytes are skipped if the buffer is misaligned; reopen it at the same
/// alignment). Objects whose type is aligned more than the buffer's address are refused
/// ([`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedExternalBuffer;
///
/// let mut buf = vec![0u8; 1 << 16];
/// {
///     let seg: ManagedExternalBuffer = ManagedExternalBuffer::create(&mut buf)?;
///     seg.construct("answer", 42u32)?;
/// }
/// let seg: ManagedExternalBuffer = ManagedExternalBuffer::open(&mut buf)?;
/// assert_eq!(seg.find::<u32>("answer")?, Some(&42));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct ManagedExternalBuffer<'a, M: MemoryAlgorithm = BestFit, I: NameIndex = HashIndex> {
    seg: SegmentManager<M, I>,
    _buffer: PhantomData<&'a mut [u8]>,
}

impl<M: MemoryAlgorithm, I: NameIndex> fmt::Debug for ManagedExternalBuffer<'_, M, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedExternalBuffer")
            .field("segment", &self.seg)
            .finish()
    }
}

/// The buffer's bytes from its first 16-byte boundary.
fn borrow(buf: &mut [u8]) -> Result<Mem> {
    let skip = buf.as_ptr().align_offset(16).min(buf.len());
    let buf = &mut buf[skip..];
    // SAFETY: the caller's `&'a mut [u8]` is held (as `PhantomData`) by the segment built on
    // this `Mem`, so the bytes stay valid and untouched by anything else until it drops; the
    // start is 16-aligned (skipped to above).
    unsafe { Mem::borrowed(buf.as_mut_ptr(), buf.len()) }
}

impl<'a, M: MemoryAlgorithm, I: NameIndex> ManagedExternalBuffer<'a, M, I> {
    /// Formats `buf` as a new, empty segment (whatever it held is lost).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) if the buffer is too
    /// small (a page plus the algorithm's minimum).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedExternalBuffer};
    /// let mut small = [0u8; 100];
    /// let err = <ManagedExternalBuffer>::create(&mut small).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// ```
    pub fn create(buf: &'a mut [u8]) -> Result<Self> {
        let mem = borrow(buf)?;
        open::check_size::<M, I>(mem.len())?;
        SegmentManager::<M, I>::format(&mem)?;
        SegmentManager::<M, I>::stamp_local(&mem)?;
        let seg = SegmentManager::attach(mem, Mode::ReadWrite, "external buffer")?;
        Ok(ManagedExternalBuffer {
            seg,
            _buffer: PhantomData,
        })
    }

    /// Opens the segment a previous [`create`](Self::create) left in `buf`, checking it first.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Incompatible`](crate::ErrorKind::Incompatible) if `buf` does not hold a
    /// shmkit segment of this layout, algorithm and index;
    /// [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) if it is truncated or broken.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedExternalBuffer};
    /// let mut buf = vec![0u8; 1 << 16];
    /// let err = <ManagedExternalBuffer>::open(&mut buf).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Incompatible);
    /// ```
    pub fn open(buf: &'a mut [u8]) -> Result<Self> {
        let mem = borrow(buf)?;
        SegmentManager::<M, I>::check_local(&mem, "the buffer")?;
        let seg = SegmentManager::attach(mem, Mode::ReadWrite, "the buffer")?;
        Ok(ManagedExternalBuffer {
            seg,
            _buffer: PhantomData,
        })
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> Deref for ManagedExternalBuffer<'_, M, I> {
    type Target = SegmentManager<M, I>;

    fn deref(&self) -> &SegmentManager<M, I> {
        &self.seg
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> DerefMut for ManagedExternalBuffer<'_, M, I> {
    fn deref_mut(&mut self) -> &mut SegmentManager<M, I> {
        &mut self.seg
    }
}
