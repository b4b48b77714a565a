//! [`VecStream`]: `Read`/`Write`/`Seek` over a growable `Vec<u8>` in a managed segment.

use std::fmt;
use std::io;

use crate::collections::{SegmentAlloc, ShmAlloc, Vec};
use crate::error::{Error, ErrorKind};

/// A stream over a [`collections::Vec<u8>`](Vec) in a managed segment: Boost.Interprocess's
/// `vectorstream`.
///
/// It borrows the vector (typically through the guard of a [`Mutex`](crate::sync::Mutex) in
/// the segment) and keeps a position, as `std::io::Cursor<&mut Vec<u8>>` does: writes
/// overwrite the bytes at the position and grow the vector past its end (a position past the
/// end is filled with zeros first), reads copy from the position, and seeking may go past the
/// end. A write that does not fit in the segment is an [`io::ErrorKind::OutOfMemory`] error
/// carrying the segment's message, and writes nothing.
///
/// The vector must be inside its segment to overwrite bytes or to be read through
/// [`BufRead`](io::BufRead); a vector moved out of its segment (popped, taken) can still be
/// appended to and read with `Read`.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::Vec;
/// use shmkit::io::VecStream;
/// use shmkit::sync::Mutex;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let shared = seg.construct("text", Mutex::new(Vec::<u8>::new()))?;
/// let mut v = shared.lock().unwrap();
/// let mut s = VecStream::new(&mut v);
/// write!(s, "pi is about {:.2}", std::f64::consts::PI)?;
/// s.set_position(12);
/// let mut digits = std::string::String::new();
/// s.read_to_string(&mut digits)?;
/// assert_eq!(digits, "3.14");
/// drop(s);
/// assert_eq!(v.as_slice(), b"pi is about 3.14");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct VecStream<'a, A: ShmAlloc = SegmentAlloc> {
    vec: &'a mut Vec<u8, A>,
    pos: usize,
}

impl<'a, A: ShmAlloc> VecStream<'a, A> {
    /// A stream over `vec` at position 0 (writes overwrite from the start).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// use shmkit::io::VecStream;
    /// use shmkit::sync::Mutex;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend_from_slice(b"hello");
    /// VecStream::new(&mut v).write_all(b"J")?;
    /// assert_eq!(v.as_slice(), b"Jello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(vec: &'a mut Vec<u8, A>) -> VecStream<'a, A> {
        VecStream { vec, pos: 0 }
    }

    /// A stream over `vec` positioned at its end (writes append).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// use shmkit::io::VecStream;
    /// use shmkit::sync::Mutex;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend_from_slice(b"hello");
    /// VecStream::append(&mut v).write_all(b", world")?;
    /// assert_eq!(v.as_slice(), b"hello, world");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn append(vec: &'a mut Vec<u8, A>) -> VecStream<'a, A> {
        let pos = vec.len();
        VecStream { vec, pos }
    }

    /// The current position.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// use shmkit::io::VecStream;
    /// use shmkit::sync::Mutex;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// let mut s = VecStream::new(&mut v);
    /// s.write_all(b"abc")?;
    /// assert_eq!(s.position(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    /// Moves to `pos` (which may be past the end: a write there fills the gap with zeros).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// use shmkit::io::VecStream;
    /// use shmkit::sync::Mutex;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// let mut s = VecStream::new(&mut v);
    /// s.set_position(2);
    /// s.write_all(b"x")?;
    /// assert_eq!(v.as_slice(), b"\0\0x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_position(&mut self, pos: u64) {
        self.pos = usize::try_from(pos).unwrap_or(usize::MAX);
    }

    /// The vector's length.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// use shmkit::io::VecStream;
    /// use shmkit::sync::Mutex;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend_from_slice(b"abc");
    /// assert_eq!(VecStream::new(&mut v).len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.vec.len()
    }

    /// Whether the vector is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::Vec;
    /// use shmkit::io::VecStream;
    /// let mut v = Vec::<u8>::new();
    /// assert!(VecStream::new(&mut v).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.vec.is_empty()
    }

    /// Bytes between the position and the end (0 past the end): how much can be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// use shmkit::io::VecStream;
    /// use shmkit::sync::Mutex;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend_from_slice(b"abc");
    /// let mut s = VecStream::new(&mut v);
    /// s.set_position(1);
    /// assert_eq!(s.remaining(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remaining(&self) -> usize {
        self.vec.len().saturating_sub(self.pos)
    }

    /// The vector.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::Vec;
    /// use shmkit::io::VecStream;
    /// let mut v = Vec::<u8>::new();
    /// assert_eq!(VecStream::new(&mut v).get_ref().len(), 0);
    /// ```
    pub fn get_ref(&self) -> &Vec<u8, A> {
        self.vec
    }

    /// The vector, mutably (changing its length leaves the position where it was).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// use shmkit::io::VecStream;
    /// use shmkit::sync::Mutex;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// let mut s = VecStream::new(&mut v);
    /// s.write_all(b"abc")?;
    /// s.get_mut().truncate(1);
    /// assert_eq!(s.get_ref().as_slice(), b"a");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_mut(&mut self) -> &mut Vec<u8, A> {
        self.vec
    }

    /// Gives the borrow of the vector back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// use shmkit::io::VecStream;
    /// use shmkit::sync::Mutex;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// let mut s = VecStream::new(&mut v);
    /// s.write_all(b"abc")?;
    /// let v = s.into_inner();
    /// v.push(b'd');
    /// assert_eq!(v.as_slice(), b"abcd");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_inner(self) -> &'a mut Vec<u8, A> {
        self.vec
    }

    /// Exchanges the stream's vector with `other`, without copying any bytes (the two
    /// headers are swapped), and moves to position 0: Boost's `swap_vector`. Typically `other`
    /// is another vector in the same segment: the stream then works on it while `other` holds
    /// what was written.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// use shmkit::io::VecStream;
    /// use shmkit::sync::Mutex;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let work = seg.construct("work", Mutex::new(Vec::<u8>::new()))?;
    /// let done = seg.construct("done", Mutex::new(Vec::<u8>::new()))?;
    /// let (mut work, mut done) = (work.lock().unwrap(), done.lock().unwrap());
    /// let mut s = VecStream::new(&mut work);
    /// s.write_all(b"first batch")?;
    /// s.swap_vector(&mut done);
    /// assert_eq!((s.position(), s.len()), (0, 0));
    /// s.write_all(b"second")?;
    /// drop(s);
    /// assert_eq!(done.as_slice(), b"first batch");
    /// assert_eq!(work.as_slice(), b"second");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn swap_vector(&mut self, other: &mut Vec<u8, A>) {
        std::mem::swap(self.vec, other);
        self.pos = 0;
    }
}

impl<A: ShmAlloc> io::Read for VecStream<'_, A> {
    /// Copies up to `buf.len()` bytes from the position; 0 at (or past) the end.
    ///
    /// # Errors
    ///
    /// As [`Vec::with_slice`] (a vector that cannot reach its segment, a corrupt header).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let pos = self.pos;
        if pos >= self.vec.len() || buf.is_empty() {
            return Ok(0);
        }
        let n = self.vec.with_slice(|bytes| {
            let src = &bytes[pos..];
            let n = src.len().min(buf.len());
            buf[..n].copy_from_slice(&src[..n]);
            n
        })?;
        self.pos += n;
        Ok(n)
    }
}

impl<A: ShmAlloc> io::BufRead for VecStream<'_, A> {
    /// The bytes from the position to the end (the vector must be inside its segment).
    ///
    /// # Errors
    ///
    /// As [`Vec::try_as_slice`].
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let bytes = self.vec.try_as_slice()?;
        Ok(bytes.get(self.pos..).unwrap_or(&[]))
    }

    fn consume(&mut self, amt: usize) {
        self.pos = self.pos.saturating_add(amt);
    }
}

impl<A: ShmAlloc> io::Write for VecStream<'_, A> {
    /// Writes all of `buf` at the position: overwriting, then growing the vector.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::OutOfMemory`] (the segment's message inside) if the vector cannot grow
    /// enough, [`io::ErrorKind::PermissionDenied`] for a segment mapped read-only, or as
    /// [`Vec::try_as_mut_slice`] when overwriting; nothing is written then.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let len = self.vec.len();
        let end = self.pos.checked_add(buf.len()).ok_or_else(|| {
            io::Error::from(Error::new(
                ErrorKind::OutOfMemory,
                "a vector stream position overflows",
            ))
        })?;
        // Reserve everything first, so a full segment changes nothing.
        if end > len {
            self.vec.try_reserve(end - len)?;
        }
        // Overwrite what is there.
        let overlap = len.saturating_sub(self.pos).min(buf.len());
        if overlap > 0 {
            self.vec.try_as_mut_slice()?[self.pos..self.pos + overlap]
                .copy_from_slice(&buf[..overlap]);
        }
        // Fill a gap left by seeking past the end, then append the rest.
        if self.pos > len {
            self.vec.try_extend_from_slice(&vec![0u8; self.pos - len])?;
        }
        if overlap < buf.len() {
            self.vec.try_extend_from_slice(&buf[overlap..])?;
        }
        self.pos = end;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<A: ShmAlloc> io::Seek for VecStream<'_, A> {
    /// Moves to a position (past the end is allowed).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] for a position before the start or beyond `usize`.
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        let target = super::seek_target(pos, self.pos, self.vec.len())?;
        self.pos = usize::try_from(target).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("seek to {target}, beyond this machine's address space"),
            )
        })?;
        Ok(target)
    }
}

impl<A: ShmAlloc> fmt::Write for VecStream<'_, A> {
    /// Writes `s` at the position (`fmt::Error` where `io::Write` fails: use `io::Write`'s
    /// `write!` to get the `io::Error`).
    fn write_str(&mut self, s: &str) -> fmt::Result {
        io::Write::write_all(self, s.as_bytes()).map_err(|_| fmt::Error)
    }
}
