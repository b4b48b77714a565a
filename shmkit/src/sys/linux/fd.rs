//! An owned file descriptor and the calls made on it: `fstat`, `fchmod`, `fallocate`,
//! `ftruncate`, and opening and removing regular files.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FallocateFlags, Mode, OFlags};
use rustix::io::Errno;

use super::{os_err, retry};
use crate::error::{Error, ErrorKind, Result};

/// An open file or shared memory object. Closed on drop (`close(2)`).
#[derive(Debug)]
pub struct Fd(OwnedFd);

impl Fd {
    pub(crate) fn new(fd: OwnedFd) -> Fd {
        Fd(fd)
    }

    pub(crate) fn borrow(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// `fstat(2)`: the object's size in bytes.
    pub(crate) fn len(&self) -> Result<u64> {
        let st = rustix::fs::fstat(&self.0).map_err(|e| os_err(e, "fstat"))?;
        Ok(st.st_size as u64)
    }

    /// `fstat(2)`: the permission bits (`st_mode & 0o7777`).
    pub(crate) fn mode(&self) -> Result<u32> {
        let st = rustix::fs::fstat(&self.0).map_err(|e| os_err(e, "fstat"))?;
        Ok(st.st_mode & 0o7777)
    }

    /// `fstat(2)`: the owner's user id.
    pub(crate) fn owner_uid(&self) -> Result<u32> {
        let st = rustix::fs::fstat(&self.0).map_err(|e| os_err(e, "fstat"))?;
        Ok(st.st_uid)
    }

    /// `fchmod(2)`: sets the permission bits exactly (the umask does not apply).
    pub(crate) fn set_mode(&self, mode: u32) -> Result<()> {
        rustix::fs::fchmod(&self.0, Mode::from_raw_mode(mode)).map_err(|e| os_err(e, "fchmod"))
    }

    /// `ftruncate(2)`: sets the size without reserving storage.
    pub(crate) fn truncate(&self, len: u64) -> Result<()> {
        if len > i64::MAX as u64 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("size {len} is larger than the largest file size"),
            ));
        }
        retry(|| rustix::fs::ftruncate(&self.0, len))
            .map_err(|e| os_err(e, format_args!("ftruncate to {len} bytes")))
    }

    /// Sets the size to `len`, reserving the storage first: `fallocate(2)` (mode 0, the
    /// `posix_fallocate` semantics) then `ftruncate(2)`.
    ///
    /// Reserving makes a full filesystem (a full `/dev/shm`) an `ENOSPC` error here instead of a
    /// `SIGBUS` on first touch. Filesystems without `fallocate` (`EOPNOTSUPP`) fall back to
    /// `ftruncate` alone, as Boost does.
    pub(crate) fn reserve_len(&self, len: u64) -> Result<()> {
        if len > i64::MAX as u64 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("size {len} is larger than the largest file size"),
            ));
        }
        let current = self.len()?;
        if len > current {
            match retry(|| rustix::fs::fallocate(&self.0, FallocateFlags::empty(), 0, len)) {
                Ok(()) => {}
                Err(Errno::OPNOTSUPP) | Err(Errno::NODEV) => {}
                Err(Errno::FBIG) | Err(Errno::INVAL) => {
                    return Err(
                        os_err(Errno::FBIG, format_args!("fallocate to {len} bytes"))
                            .with_kind(ErrorKind::InvalidArgument),
                    );
                }
                Err(e) => return Err(os_err(e, format_args!("fallocate to {len} bytes"))),
            }
        }
        self.truncate(len)
    }
}

/// `open(2)` of an existing regular file, read-only or read-write, close-on-exec.
pub(crate) fn open_file(path: &Path, write: bool) -> Result<Fd> {
    let flags = if write { OFlags::RDWR } else { OFlags::RDONLY } | OFlags::CLOEXEC;
    open_regular(path, flags)
}

/// `open(2)` of an existing regular file without following a symbolic link in the last
/// component (`O_NOFOLLOW`), read-only or read-write, close-on-exec: the files of managed
/// segments.
pub(crate) fn open_file_nofollow(path: &Path, write: bool) -> Result<Fd> {
    let flags = if write { OFlags::RDWR } else { OFlags::RDONLY };
    open_regular(
        path,
        flags | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY,
    )
    .map_err(|e| {
        // With O_NOFOLLOW, ELOOP means the last component is a symbolic link: a caller's
        // mistake or a planted link, not an I/O failure.
        if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) {
            Error::from_io(
                std::io::Error::from(Errno::LOOP),
                format!(
                    "{} is a symbolic link (or its path loops); segment files are never opened \
                     through a link",
                    path.display()
                ),
            )
            .with_kind(ErrorKind::InvalidArgument)
        } else {
            e
        }
    })
}

/// `open(2)` with `O_CREAT | O_EXCL | O_NOFOLLOW`, read-write, close-on-exec: creates a new
/// regular file (never through a symbolic link, never an existing file), then sets exactly
/// `mode` with `fchmod(2)` so the umask does not filter it. The file is removed again if that
/// fails.
pub(crate) fn create_file(path: &Path, mode: u32) -> Result<Fd> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = retry(|| rustix::fs::open(path, flags, Mode::from_raw_mode(mode)))
        .map_err(|e| os_err(e, format_args!("create {}", path.display())))?;
    let fd = Fd::new(fd);
    if let Err(e) = fd.set_mode(mode) {
        let _ = rustix::fs::unlink(path);
        return Err(e);
    }
    Ok(fd)
}

/// `open(2)` of an existing regular file read-only, close-on-exec, for `flock`.
///
/// `O_NONBLOCK` (no effect on regular files) keeps the call from hanging when the path names a
/// FIFO with no writer, which the regular-file check then refuses; `O_NOCTTY` keeps a terminal
/// from becoming the controlling one.
pub(crate) fn open_file_to_lock(path: &Path) -> Result<Fd> {
    open_regular(
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
    )
}

/// `open(2)` with `flags`, then `fstat(2)`: refuses anything but a regular file.
fn open_regular(path: &Path, flags: OFlags) -> Result<Fd> {
    let fd = retry(|| rustix::fs::open(path, flags, Mode::empty()))
        .map_err(|e| os_err(e, format_args!("open {}", path.display())))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| os_err(e, "fstat"))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(Fd::new(fd))
}

/// `unlink(2)` of a file path.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    rustix::fs::unlink(path).map_err(|e| os_err(e, format_args!("remove {}", path.display())))
}
