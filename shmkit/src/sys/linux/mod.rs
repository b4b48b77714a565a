//! The Linux backend of [`crate::sys`].
#![allow(unsafe_code)]

mod fd;
mod flock;
mod fs;
mod futex;
mod mmap;
mod shm;
mod xsi;

pub(crate) use fd::*;
pub(crate) use flock::*;
pub(crate) use fs::*;
pub(crate) use futex::*;
pub(crate) use mmap::*;
pub(crate) use shm::*;
pub(crate) use xsi::*;

/// The longest shared memory name accepted: 253 bytes. A path component may have 255
/// (`NAME_MAX`), but glibc's `shm_open` refuses names of 254 or more bytes (it counts the NUL),
/// and shmkit's names must work from C and C++ programs (Boost) too.
pub(crate) const MAX_NAME_LEN: usize = 253;

use crate::error::Error;

/// Wraps a rustix error with a message.
pub(crate) fn os_err(e: rustix::io::Errno, what: impl std::fmt::Display) -> Error {
    Error::from_io(std::io::Error::from(e), what.to_string())
}

/// Retries `f` while it fails with `EINTR`.
pub(crate) fn retry<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> rustix::io::Result<T> {
    loop {
        match f() {
            Err(rustix::io::Errno::INTR) => continue,
            other => return other,
        }
    }
}
