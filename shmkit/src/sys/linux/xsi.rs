//! System V (XSI) shared memory: `ftok(3)`, `shmget(2)`, `shmat(2)`, `shmdt(2)`, `shmctl(2)`.
//! rustix does not wrap these, so this file calls `libc`.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};

fn last_os_error(what: impl std::fmt::Display) -> Error {
    Error::from_io(io::Error::last_os_error(), what.to_string())
}

/// `ftok(3)`: a key from an existing path and a non-zero id.
pub(crate) fn ftok(path: &Path, id: u8) -> Result<i32> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            "a key path may not contain a NUL byte",
        )
    })?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let key = unsafe { libc::ftok(c.as_ptr(), i32::from(id)) };
    if key == -1 {
        return Err(last_os_error(format_args!("ftok {}", path.display())));
    }
    Ok(key)
}

/// The key `IPC_PRIVATE`: a new segment only reachable by its id.
pub(crate) const IPC_PRIVATE: i32 = libc::IPC_PRIVATE;

/// How [`shmget`] treats an existing or missing segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XsiHow {
    Open,
    CreateNew,
    OpenOrCreate,
}

/// `shmget(2)`: returns the segment id and whether this call created it. Permission bits apply
/// exactly (System V IPC ignores the umask).
pub(crate) fn shmget(key: i32, size: usize, how: XsiHow, mode: u32) -> Result<(i32, bool)> {
    let perm = (mode & 0o777) as i32;
    let get = |flags: i32, size: usize| {
        // SAFETY: shmget takes plain integers and touches no memory of ours.
        let id = unsafe { libc::shmget(key, size, flags) };
        if id == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(id)
        }
    };
    let what = |call: &str| format!("{call} XSI shared memory with key {key:#x}");
    match how {
        XsiHow::Open => get(0, 0)
            .map(|id| (id, false))
            .map_err(|e| Error::from_io(e, what("open"))),
        XsiHow::CreateNew => get(libc::IPC_CREAT | libc::IPC_EXCL | perm, size)
            .map(|id| (id, true))
            .map_err(|e| Error::from_io(e, what("create"))),
        XsiHow::OpenOrCreate => {
            for _ in 0..10_000 {
                match get(libc::IPC_CREAT | libc::IPC_EXCL | perm, size) {
                    Ok(id) => return Ok((id, true)),
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                    Err(e) => return Err(Error::from_io(e, what("create"))),
                }
                match get(0, 0) {
                    Ok(id) => return Ok((id, false)),
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                    Err(e) => return Err(Error::from_io(e, what("open"))),
                }
            }
            Err(Error::new(
                ErrorKind::Busy,
                what("open_or_create (it kept disappearing)"),
            ))
        }
    }
}

/// `shmctl(IPC_STAT)`: the segment's size in bytes.
pub(crate) fn shm_size(id: i32) -> Result<u64> {
    // SAFETY: shmid_ds is plain data; all-zero is a valid value.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `ds` is a valid, writable shmid_ds for the kernel to fill.
    if unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) } == -1 {
        return Err(last_os_error(format_args!(
            "stat XSI shared memory id {id}"
        )));
    }
    Ok(ds.shm_segsz as u64)
}

/// `shmctl(IPC_RMID)`: marks the segment for removal once the last process detaches.
pub(crate) fn shm_remove(id: i32) -> Result<()> {
    // SAFETY: IPC_RMID ignores the buffer argument.
    if unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) } == -1 {
        return Err(last_os_error(format_args!(
            "remove XSI shared memory id {id}"
        )));
    }
    Ok(())
}

/// `shmat(2)`: attaches the segment read-only or read-write, at `hint` if given (which must be
/// page-aligned; an overlap with an existing mapping fails rather than replacing it).
pub(crate) fn shm_attach(id: i32, write: bool, hint: Option<usize>) -> Result<*mut u8> {
    let flags = if write { 0 } else { libc::SHM_RDONLY };
    let addr = hint.unwrap_or(0) as *const libc::c_void;
    // SAFETY: without SHM_REMAP the kernel refuses (EINVAL) to attach over an existing mapping,
    // so no memory in use is affected; the attachment is owned by the caller.
    let p = unsafe { libc::shmat(id, addr, flags) };
    if p as isize == -1 {
        let e = io::Error::last_os_error();
        if hint.is_some() && e.raw_os_error() == Some(libc::EINVAL) {
            return Err(Error::from_io(
                e,
                format!("attach XSI shared memory id {id} at the requested address"),
            )
            .with_kind(ErrorKind::Busy));
        }
        return Err(Error::from_io(
            e,
            format!("attach XSI shared memory id {id}"),
        ));
    }
    Ok(p.cast())
}

/// `shmdt(2)`.
///
/// # Safety
/// `ptr` was returned by [`shm_attach`] and nothing refers to the attachment afterwards.
pub(crate) unsafe fn shm_detach(ptr: *mut u8) -> Result<()> {
    // SAFETY: per the contract, `ptr` is a live attachment no one uses any more.
    if unsafe { libc::shmdt(ptr.cast()) } == -1 {
        return Err(last_os_error("detach XSI shared memory"));
    }
    Ok(())
}
