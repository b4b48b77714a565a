//! Streams over shared memory (Boost.Interprocess's `bufferstream` and `vectorstream`):
//! `std::io::Read`, `Write`, `Seek` and `fmt::Write` for formatting into, and parsing out of,
//! memory other processes see.
//!
//! - [`BufferStream`]: a fixed window of shared bytes ([`SharedBytes`]: a `&[AtomicU8]` in a
//!   segment, or a [`MappedRegion`](crate::MappedRegion)). The bytes may be written by other
//!   processes at any time, so they are copied in and out with atomic loads and stores, never
//!   lent as `&[u8]`; writing past the end is an error
//!   ([`std::io::ErrorKind::WriteZero`]), never an overflow.
//! - [`VecStream`]: a growable [`collections::Vec<u8>`](crate::collections::Vec) in a managed
//!   segment, typically reached through a [`Mutex`](crate::sync::Mutex) guard; writes grow it
//!   (a full segment is an [`std::io::ErrorKind::OutOfMemory`] error), and
//!   [`swap_vector`](VecStream::swap_vector) exchanges the vector without copying.
//!
//! # Examples
//!
//! ```
//! use std::io::{BufRead, Write};
//! use shmkit::ManagedHeapMemory;
//! use shmkit::collections::Vec;
//! use shmkit::io::VecStream;
//! use shmkit::sync::Mutex;
//!
//! let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
//! let log = seg.construct("log", Mutex::new(Vec::<u8>::new()))?;
//! let mut guard = log.lock().unwrap();
//! let mut out = VecStream::new(&mut guard);
//! for i in 0..3 {
//!     writeln!(out, "record {i}: {}", i * i)?;
//! }
//! out.set_position(0);
//! let lines: std::vec::Vec<_> = out.lines().collect::<Result<_, _>>()?;
//! assert_eq!(lines, ["record 0: 0", "record 1: 1", "record 2: 4"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod buffer;
mod vec_stream;

pub use buffer::{BufferStream, SharedBytes};
pub use vec_stream::VecStream;

use std::io;

/// Resolves a seek to an absolute position (`len` is the stream's current length).
pub(crate) fn seek_target(pos: io::SeekFrom, current: usize, len: usize) -> io::Result<u64> {
    let (base, delta) = match pos {
        io::SeekFrom::Start(n) => return Ok(n),
        io::SeekFrom::End(d) => (len as u64, d),
        io::SeekFrom::Current(d) => (current as u64, d),
    };
    base.checked_add_signed(delta).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("seek to {base} {delta:+} is before the start of the stream"),
        )
    })
}
