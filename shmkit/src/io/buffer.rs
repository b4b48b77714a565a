//! [`BufferStream`]: `Read`/`Write`/`Seek` over a fixed window of shared memory.
#![allow(unsafe_code)]

use std::fmt;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::AtomicU8;

use crate::error::{Error, ErrorKind, Result};
use crate::region::MappedRegion;

/// Bytes in shared memory that other processes may read and write at any time: read and
/// written only by copying (with atomic loads and stores), never lent out as `&[u8]`.
///
/// Implemented for `&[AtomicU8]` (a byte array in a managed segment, from
/// [`construct_array`](crate::SegmentManager::construct_array)) and `&MappedRegion` (a
/// whole mapping, through [`MappedRegion::read_at`] and [`MappedRegion::write_at`]).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::AtomicU8;
/// use shmkit::io::SharedBytes;
///
/// let cells: [AtomicU8; 4] = Default::default();
/// let bytes = &cells[..];
/// bytes.store(1, b"hi")?;
/// let mut out = [0; 4];
/// bytes.load(0, &mut out)?;
/// assert_eq!(out, [0, b'h', b'i', 0]);
/// assert_eq!(bytes.len(), 4);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub trait SharedBytes {
    /// The number of bytes.
    fn len(&self) -> usize;

    /// Whether there are no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `buf.len()` bytes starting at `offset` into `buf`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the range is outside the bytes.
    fn load(&self, offset: usize, buf: &mut [u8]) -> Result<()>;

    /// Copies `data` to the bytes starting at `offset`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the range is outside the bytes;
    /// [`ErrorKind::PermissionDenied`] if they are read-only.
    fn store(&self, offset: usize, data: &[u8]) -> Result<()>;
}

fn check_range(offset: usize, n: usize, len: usize) -> Result<()> {
    if offset <= len && n <= len - offset {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "bytes {offset}..{} are outside a buffer of {len} bytes",
                offset.saturating_add(n)
            ),
        ))
    }
}

impl SharedBytes for &[AtomicU8] {
    fn len(&self) -> usize {
        <[AtomicU8]>::len(self)
    }

    fn load(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        check_range(offset, buf.len(), <[AtomicU8]>::len(self))?;
        // SAFETY: `offset..offset + buf.len()` is inside the slice (checked), which is borrowed,
        // so mapped and readable; atomic loads are sound whatever other processes do.
        unsafe { crate::region::atomic_load(self.as_ptr().cast::<u8>().add(offset), buf) };
        Ok(())
    }

    fn store(&self, offset: usize, data: &[u8]) -> Result<()> {
        check_range(offset, data.len(), <[AtomicU8]>::len(self))?;
        // SAFETY: the range is inside the slice (checked); `AtomicU8` is interior-mutable, so
        // storing through a pointer derived from the shared reference is allowed, and atomic
        // stores are sound whatever other processes do.
        unsafe {
            crate::region::atomic_store(self.as_ptr().cast::<u8>().cast_mut().add(offset), data);
        };
        Ok(())
    }
}

impl SharedBytes for &MappedRegion {
    fn len(&self) -> usize {
        MappedRegion::len(self)
    }

    fn load(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.read_at(offset, buf)
    }

    fn store(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.write_at(offset, data)
    }
}

/// A stream over a fixed window of shared memory: Boost.Interprocess's `bufferstream`.
///
/// Reads copy out of the window, writes copy into it (with atomic loads and stores: other
/// processes may be writing the same bytes, and nothing here lends `&[u8]` into them). The
/// window never grows: a write that finds no room left is an
/// [`io::ErrorKind::WriteZero`] error (a write that finds some room writes what fits, as
/// `std::io::Cursor<&mut [u8]>` does, and `write_all` then fails with `WriteZero`). Reads at
/// the end return 0 bytes. Positions are relative to the start of the window.
///
/// Sharing the bytes between processes safely is up to the program (a [`Mutex`](crate::sync::Mutex)
/// around the writes, a message in a queue saying "ready"): the copies are never undefined
/// behaviour, but a reader may see a half-written record without one.
///
/// # Examples
///
/// Formatting into a byte array in a managed segment, and parsing it back:
///
/// ```
/// use std::io::{Read, Seek, SeekFrom, Write};
/// use std::sync::atomic::AtomicU8;
/// use shmkit::ManagedHeapMemory;
/// use shmkit::io::BufferStream;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let buf = seg.construct_array("buf", 32, |_| AtomicU8::new(0))?;
/// let mut s = BufferStream::new(buf);
/// write!(s, "{} {}", 6, 7)?;
/// assert_eq!(s.position(), 3);
/// s.seek(SeekFrom::Start(0))?;
/// let mut text = [0u8; 3];
/// s.read_exact(&mut text)?;
/// assert_eq!(&text, b"6 7");
///
/// // The window is 32 bytes: writing more is an error, not an overflow.
/// let e = s.write_all(&[b'x'; 40]).unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::WriteZero);
/// assert_eq!(s.remaining(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct BufferStream<B: SharedBytes> {
    bytes: B,
    start: usize,
    len: usize,
    pos: usize,
}

impl<B: SharedBytes> BufferStream<B> {
    /// A stream over all of `bytes`, at position 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::AtomicU8;
    /// use shmkit::io::BufferStream;
    /// let cells: [AtomicU8; 8] = Default::default();
    /// let s = BufferStream::new(&cells[..]);
    /// assert_eq!((s.len(), s.position()), (8, 0));
    /// ```
    pub fn new(bytes: B) -> BufferStream<B> {
        let len = bytes.len();
        BufferStream {
            bytes,
            start: 0,
            len,
            pos: 0,
        }
    }

    /// A stream over `range` of `bytes` (positions count from the range's start): for a
    /// [`MappedRegion`] whose first bytes hold something else.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the range is outside `bytes`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use shmkit::MappedRegion;
    /// use shmkit::io::BufferStream;
    ///
    /// let region = MappedRegion::anonymous(4096)?;
    /// let mut s = BufferStream::with_range(&region, 64..128)?;
    /// s.write_all(b"at 64")?;
    /// let mut back = [0; 5];
    /// region.read_at(64, &mut back)?;
    /// assert_eq!(&back, b"at 64");
    /// assert!(BufferStream::with_range(&region, 4000..5000).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_range(bytes: B, range: impl RangeBounds<usize>) -> Result<BufferStream<B>> {
        let total = bytes.len();
        let start = match range.start_bound() {
            Bound::Included(&s) => Some(s),
            Bound::Excluded(&s) => s.checked_add(1),
            Bound::Unbounded => Some(0),
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.checked_add(1),
            Bound::Excluded(&e) => Some(e),
            Bound::Unbounded => Some(total),
        };
        match (start, end) {
            (Some(start), Some(end)) if start <= end && end <= total => Ok(BufferStream {
                bytes,
                start,
                len: end - start,
                pos: 0,
            }),
            _ => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "the range {:?}..{:?} is outside a buffer of {total} bytes",
                    range.start_bound(),
                    range.end_bound()
                ),
            )),
        }
    }

    /// The window's length in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::AtomicU8;
    /// use shmkit::io::BufferStream;
    /// let cells: [AtomicU8; 8] = Default::default();
    /// assert_eq!(BufferStream::with_range(&cells[..], 2..)?.len(), 6);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the window is empty (every write fails).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::AtomicU8;
    /// use shmkit::io::BufferStream;
    /// let cells: [AtomicU8; 8] = Default::default();
    /// assert!(BufferStream::with_range(&cells[..], 8..)?.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The current position, from the window's start.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::sync::atomic::AtomicU8;
    /// use shmkit::io::BufferStream;
    /// let cells: [AtomicU8; 8] = Default::default();
    /// let mut s = BufferStream::new(&cells[..]);
    /// s.write_all(b"abc")?;
    /// assert_eq!(s.position(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    /// Moves to `pos` (clamped to the window's length).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::AtomicU8;
    /// use shmkit::io::BufferStream;
    /// let cells: [AtomicU8; 8] = Default::default();
    /// let mut s = BufferStream::new(&cells[..]);
    /// s.set_position(5);
    /// assert_eq!(s.remaining(), 3);
    /// s.set_position(100);
    /// assert_eq!(s.position(), 8);
    /// ```
    pub fn set_position(&mut self, pos: u64) {
        self.pos = usize::try_from(pos).map_or(self.len, |p| p.min(self.len));
    }

    /// Bytes between the position and the window's end: how much can still be read or written.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::sync::atomic::AtomicU8;
    /// use shmkit::io::BufferStream;
    /// let cells: [AtomicU8; 8] = Default::default();
    /// let mut s = BufferStream::new(&cells[..]);
    /// s.write_all(b"abc")?;
    /// assert_eq!(s.remaining(), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remaining(&self) -> usize {
        self.len - self.pos
    }

    /// The underlying bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::AtomicU8;
    /// use shmkit::io::{BufferStream, SharedBytes};
    /// let cells: [AtomicU8; 8] = Default::default();
    /// let s = BufferStream::new(&cells[..]);
    /// assert_eq!(s.get_ref().len(), 8);
    /// ```
    pub fn get_ref(&self) -> &B {
        &self.bytes
    }

    /// Gives the underlying bytes back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::sync::atomic::{AtomicU8, Ordering};
    /// use shmkit::io::BufferStream;
    /// let cells: [AtomicU8; 8] = Default::default();
    /// let mut s = BufferStream::new(&cells[..]);
    /// s.write_all(b"z")?;
    /// let bytes = s.into_inner();
    /// assert_eq!(bytes[0].load(Ordering::Relaxed), b'z');
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_inner(self) -> B {
        self.bytes
    }
}

impl<B: SharedBytes> io::Read for BufferStream<B> {
    /// Copies up to `buf.len()` bytes from the position; 0 at the window's end.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.remaining());
        self.bytes.load(self.start + self.pos, &mut buf[..n])?;
        self.pos += n;
        Ok(n)
    }
}

impl<B: SharedBytes> io::Write for BufferStream<B> {
    /// Copies as much of `buf` as fits from the position.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::WriteZero`] if `buf` is not empty and there is no room left;
    /// [`io::ErrorKind::PermissionDenied`] for read-only bytes.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(self.remaining());
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("the buffer stream is full ({} bytes)", self.len),
            ));
        }
        self.bytes.store(self.start + self.pos, &buf[..n])?;
        self.pos += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<B: SharedBytes> io::Seek for BufferStream<B> {
    /// Moves within the window.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] for a position before the start or past the end (the
    /// position is then unchanged).
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        let target = super::seek_target(pos, self.pos, self.len)?;
        match usize::try_from(target) {
            Ok(t) if t <= self.len => {
                self.pos = t;
                Ok(target)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "seek to {target}, past the end of a {}-byte buffer stream",
                    self.len
                ),
            )),
        }
    }
}

impl<B: SharedBytes> fmt::Write for BufferStream<B> {
    /// Writes all of `s`, or nothing if it does not fit (`fmt::Error`: use `io::Write`'s
    /// `write!` to get the `io::Error`).
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() > self.remaining() {
            return Err(fmt::Error);
        }
        io::Write::write_all(self, s.as_bytes()).map_err(|_| fmt::Error)
    }
}
