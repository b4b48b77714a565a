//! Memory mappings: `mmap(2)`, `munmap(2)`, `msync(2)`, `madvise(2)`.

use std::ffi::c_void;
use std::ptr;

use rustix::io::Errno;
use rustix::mm::{MapFlags, MsyncFlags, ProtFlags};

use super::{Fd, os_err};
use crate::error::{Error, ErrorKind, Result};

/// The system page size (`getauxval(AT_PAGESZ)`), the granularity of every mapping.
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}

/// Access advice for [`advise`]; the POSIX set, as Boost's `advice_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Advice {
    Normal,
    Sequential,
    Random,
    WillNeed,
    DontNeed,
}

fn prot(write: bool) -> ProtFlags {
    if write {
        ProtFlags::READ | ProtFlags::WRITE
    } else {
        ProtFlags::READ
    }
}

/// Checks what `mmap` returned against the requested address (`hint`), unmapping and failing
/// with `Busy` when the kernel chose another place.
fn check_hint(got: *mut c_void, len: usize, hint: Option<usize>) -> Result<*mut u8> {
    if let Some(want) = hint
        && got as usize != want
    {
        // SAFETY: `got..got+len` is the mapping mmap just created; nothing refers to it yet.
        let _ = unsafe { rustix::mm::munmap(got, len) };
        return Err(Error::new(
            ErrorKind::Busy,
            format!("the kernel did not map at the requested address {want:#x}"),
        ));
    }
    Ok(got.cast())
}

fn map_error(e: Errno, hint: Option<usize>, what: &str) -> Error {
    match (e, hint) {
        (Errno::EXIST, Some(addr)) => Error::new(
            ErrorKind::Busy,
            format!("{what}: the address range at {addr:#x} is already in use"),
        ),
        _ => os_err(e, what),
    }
}

/// `mmap(2)` of `len` bytes of `fd` from `offset` (page-aligned), shared or private, read-only or
/// read-write. With `hint`, `MAP_FIXED_NOREPLACE` asks for exactly that (page-aligned) address and
/// fails with `Busy` if it is taken or not honoured; existing mappings are never replaced.
pub(crate) fn map_fd(
    fd: &Fd,
    offset: u64,
    len: usize,
    write: bool,
    private: bool,
    hint: Option<usize>,
) -> Result<*mut u8> {
    let mut flags = if private {
        MapFlags::PRIVATE
    } else {
        MapFlags::SHARED
    };
    if hint.is_some() {
        flags |= MapFlags::FIXED_NOREPLACE;
    }
    let addr = hint.map_or(ptr::null_mut(), |a| a as *mut c_void);
    // SAFETY: without MAP_FIXED the kernel never replaces an existing mapping (with
    // MAP_FIXED_NOREPLACE it fails instead), so no memory this process uses is affected; the new
    // mapping is owned by the caller.
    let got = unsafe { rustix::mm::mmap(addr, len, prot(write), flags, fd.borrow(), offset) }
        .map_err(|e| map_error(e, hint, "mmap"))?;
    check_hint(got, len, hint)
}

/// `mmap(2)` of `len` bytes of fresh anonymous memory, `MAP_SHARED`: shared with children
/// created by `fork` after this call.
pub(crate) fn map_anonymous_shared(len: usize, hint: Option<usize>) -> Result<*mut u8> {
    let mut flags = MapFlags::SHARED;
    if hint.is_some() {
        flags |= MapFlags::FIXED_NOREPLACE;
    }
    let addr = hint.map_or(ptr::null_mut(), |a| a as *mut c_void);
    // SAFETY: as in `map_fd`: no existing mapping is replaced; the new one is the caller's.
    let got = unsafe { rustix::mm::mmap_anonymous(addr, len, prot(true), flags) }
        .map_err(|e| map_error(e, hint, "mmap anonymous shared memory"))?;
    check_hint(got, len, hint)
}

/// `munmap(2)`.
///
/// # Safety
/// `ptr..ptr+len` lies in mappings owned by the caller, and nothing refers to that memory
/// afterwards.
pub(crate) unsafe fn unmap(ptr: *mut u8, len: usize) -> Result<()> {
    // SAFETY: the caller owns the range and drops every reference into it.
    unsafe { rustix::mm::munmap(ptr.cast(), len) }.map_err(|e| os_err(e, "munmap"))
}

/// `msync(2)` with `MS_SYNC` (wait for the write-back) or `MS_ASYNC` (schedule it).
///
/// # Safety
/// `ptr` is page-aligned and `ptr..ptr+len` lies in a mapping owned by the caller.
pub(crate) unsafe fn sync(ptr: *mut u8, len: usize, wait: bool) -> Result<()> {
    let flags = if wait {
        MsyncFlags::SYNC
    } else {
        MsyncFlags::ASYNC
    };
    // SAFETY: the range is the caller's mapping; msync changes no memory contents.
    unsafe { rustix::mm::msync(ptr.cast(), len, flags) }.map_err(|e| os_err(e, "msync"))
}

/// `madvise(2)` with the POSIX advice (`DontNeed` is POSIX's, which does not discard data).
///
/// # Safety
/// `ptr` is page-aligned and `ptr..ptr+len` lies in a mapping owned by the caller.
pub(crate) unsafe fn advise(ptr: *mut u8, len: usize, advice: Advice) -> Result<()> {
    use rustix::mm::Advice as A;
    let a = match advice {
        Advice::Normal => A::Normal,
        Advice::Sequential => A::Sequential,
        Advice::Random => A::Random,
        Advice::WillNeed => A::WillNeed,
        Advice::DontNeed => A::DontNeed,
    };
    // SAFETY: the range is the caller's mapping; none of these advices changes memory contents
    // (rustix's `DontNeed` is the POSIX advice, not Linux's discarding MADV_DONTNEED).
    unsafe { rustix::mm::madvise(ptr.cast(), len, a) }.map_err(|e| os_err(e, "madvise"))
}
