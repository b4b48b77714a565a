//! Whole-file advisory locks: `flock(2)`.
//!
//! An `flock` lock belongs to the open file description, not to the process: two descriptors
//! from two `open` calls exclude each other even in one process, and the lock goes away when
//! the last descriptor of its description closes (also when the process dies, `SIGKILL`
//! included). Calling `flock` again on a locked description *converts* the lock (not
//! atomically), so callers must not lock one descriptor twice.

use std::path::Path;

use rustix::fs::FlockOperation;
use rustix::io::Errno;

use super::{Fd, os_err, retry};
use crate::error::Result;

/// The two kinds of `flock` lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockKind {
    /// `LOCK_SH`: many holders at once.
    Shared,
    /// `LOCK_EX`: one holder.
    Exclusive,
}

impl LockKind {
    fn name(self) -> &'static str {
        match self {
            LockKind::Shared => "LOCK_SH",
            LockKind::Exclusive => "LOCK_EX",
        }
    }
}

/// `flock(fd, LOCK_SH | LOCK_EX)`: waits until the lock is granted. `EINTR` is retried.
/// `path` only names the file in error messages.
pub(crate) fn flock_lock(fd: &Fd, kind: LockKind, path: &Path) -> Result<()> {
    let op = match kind {
        LockKind::Shared => FlockOperation::LockShared,
        LockKind::Exclusive => FlockOperation::LockExclusive,
    };
    retry(|| rustix::fs::flock(fd.borrow(), op)).map_err(|e| {
        os_err(
            e,
            format_args!("flock({}) of {}", kind.name(), path.display()),
        )
    })
}

/// `flock(fd, (LOCK_SH | LOCK_EX) | LOCK_NB)`: `Ok(true)` if the lock was granted, `Ok(false)`
/// if another description holds a conflicting lock (`EWOULDBLOCK`). `EINTR` is retried.
pub(crate) fn flock_try_lock(fd: &Fd, kind: LockKind, path: &Path) -> Result<bool> {
    let op = match kind {
        LockKind::Shared => FlockOperation::NonBlockingLockShared,
        LockKind::Exclusive => FlockOperation::NonBlockingLockExclusive,
    };
    match retry(|| rustix::fs::flock(fd.borrow(), op)) {
        Ok(()) => Ok(true),
        Err(Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(os_err(
            e,
            format_args!("flock({}|LOCK_NB) of {}", kind.name(), path.display()),
        )),
    }
}

/// `flock(fd, LOCK_UN)`: releases this description's lock (a no-op if it holds none).
pub(crate) fn flock_unlock(fd: &Fd, path: &Path) -> Result<()> {
    retry(|| rustix::fs::flock(fd.borrow(), FlockOperation::Unlock))
        .map_err(|e| os_err(e, format_args!("flock(LOCK_UN) of {}", path.display())))
}
