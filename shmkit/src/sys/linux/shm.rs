//! POSIX shared memory objects: `shm_open(3)` and `shm_unlink(3)`.
//!
//! A name `n` (already validated by [`crate::name`]) becomes `/n`, which Linux backs with the
//! file `/dev/shm/n`.

use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::shm::OFlags;

use super::{Fd, os_err, retry};
use crate::error::{Error, ErrorKind, Result};

/// How [`shm_open`] treats an existing or missing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenHow {
    /// Open an existing object; missing is `NotFound`.
    Open,
    /// Create a new object; existing is `AlreadyExists`.
    CreateNew,
    /// Open it if it exists, create it otherwise (race-free: exactly one process creates).
    OpenOrCreate,
}

/// How many open/create rounds `OpenOrCreate` tries before giving up; only a peer that creates
/// and removes the name in a tight loop can exhaust it.
const OPEN_OR_CREATE_TRIES: u32 = 10_000;

/// `shm_open(3)` with the creation semantics of [`OpenHow`]. A created object gets exactly
/// `mode` (`fchmod(2)` after creation, so the umask does not filter it). Returns the descriptor
/// and whether this call created the object.
pub(crate) fn shm_open(name: &str, write: bool, how: OpenHow, mode: u32) -> Result<(Fd, bool)> {
    let path = format!("/{name}");
    let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
    let open = || retry(|| rustix::shm::open(path.as_str(), access, Mode::empty()));
    let create = || {
        retry(|| {
            rustix::shm::open(
                path.as_str(),
                access | OFlags::CREATE | OFlags::EXCL,
                Mode::from_raw_mode(mode),
            )
        })
    };
    let describe = |e: Errno, call: &str| os_err(e, format_args!("{call} shared memory `{name}`"));
    let created = |fd| -> Result<(Fd, bool)> {
        let fd = Fd::new(fd);
        if let Err(e) = fd.set_mode(mode) {
            let _ = rustix::shm::unlink(path.as_str());
            return Err(e);
        }
        Ok((fd, true))
    };
    match how {
        OpenHow::Open => open()
            .map(|fd| (Fd::new(fd), false))
            .map_err(|e| describe(e, "open")),
        OpenHow::CreateNew => match create() {
            Ok(fd) => created(fd),
            Err(e) => Err(describe(e, "create")),
        },
        OpenHow::OpenOrCreate => {
            for _ in 0..OPEN_OR_CREATE_TRIES {
                match open() {
                    Ok(fd) => return Ok((Fd::new(fd), false)),
                    Err(Errno::NOENT) => {}
                    Err(e) => return Err(describe(e, "open")),
                }
                match create() {
                    Ok(fd) => return created(fd),
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(describe(e, "create")),
                }
            }
            Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "shared memory `{name}` kept appearing and disappearing during open_or_create"
                ),
            ))
        }
    }
}

/// `shm_unlink(3)`: removes the name at once; the memory lives until the last mapping goes.
pub(crate) fn shm_unlink(name: &str) -> Result<()> {
    let path = format!("/{name}");
    rustix::shm::unlink(path.as_str())
        .map_err(|e| os_err(e, format_args!("remove shared memory `{name}`")))
}

/// `fstat(2)`: how many names the object behind `fd` has: 1 while its name exists, 0 once it
/// has been `shm_unlink`ed (the memory lives on while it is open or mapped).
pub(crate) fn shm_link_count(fd: &Fd) -> Result<u64> {
    let st = rustix::fs::fstat(fd.borrow()).map_err(|e| os_err(e, "fstat"))?;
    // `st_nlink`'s width differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    Ok(st.st_nlink as u64)
}
