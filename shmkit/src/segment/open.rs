//! Opening segments on devices: the named-object protocol of `sync/named/object.rs` with a
//! segment as payload, the open modes, the shared `flock` every opener holds, and the offline
//! grow and shrink that need it exclusively.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::index::NameIndex;
use super::manager::{Mode, SegmentManager, segment_layout};
use super::mem::Mem;
use crate::alloc::MemoryAlgorithm;
use crate::error::{Error, ErrorKind, Result};
use crate::region::{
    Access, FileMapping, MappedRegion, OpenMode, Permissions, XsiKey, XsiSharedMemory,
};
use crate::sync::named::object::{
    Device, Kind, OpenConfig, create_object, open_object, open_or_create_object,
};
use crate::sys::{self, LockKind};

/// How long an opener waits for an offline grow or shrink (which holds the exclusive `flock`)
/// to finish.
const SHARE_WAIT: Duration = Duration::from_secs(10);

/// Takes the shared `flock` an open segment holds for as long as it is open, waiting (bounded)
/// while a grow or shrink holds it exclusively.
pub(crate) fn hold_shared(fd: &sys::Fd, what: &Path) -> Result<()> {
    if flock_within(fd, LockKind::Shared, what, SHARE_WAIT)? {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Busy,
        format!(
            "{} is being grown or shrunk by another process (still after {SHARE_WAIT:?})",
            what.display()
        ),
    ))
}

/// How long an offline grow or shrink retries the exclusive `flock`. A handle closed a moment
/// ago can still hold its shared lock: a child that another thread of the process is forking
/// shares the descriptor (the same open file description, hence the same lock) until its
/// `exec` closes it. An open handle holds it for as long as it lives, far longer.
const EXCLUSIVE_PATIENCE: Duration = Duration::from_millis(100);

/// Takes the exclusive `flock` for an offline grow or shrink: `Busy` if it is still held after
/// [`EXCLUSIVE_PATIENCE`].
pub(crate) fn try_exclusive(fd: &sys::Fd, what: &Path) -> Result<()> {
    if flock_within(fd, LockKind::Exclusive, what, EXCLUSIVE_PATIENCE)? {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Busy,
        format!(
            "{} is open in another process (or another handle): it can only be grown or \
             shrunk while nobody has it open",
            what.display()
        ),
    ))
}

/// Tries the `flock` until it is granted (`true`) or `patience` has passed (`false`), napping
/// between tries (from 50 µs, doubling, at most 5 ms).
fn flock_within(fd: &sys::Fd, kind: LockKind, what: &Path, patience: Duration) -> Result<bool> {
    let deadline = Instant::now() + patience;
    let mut nap = Duration::from_micros(50);
    loop {
        if sys::flock_try_lock(fd, kind, what)? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(5));
    }
}

/// How an opener maps a segment.
pub(crate) fn access_for(mode: Mode) -> Access {
    match mode {
        Mode::ReadWrite => Access::ReadWrite,
        // Private even when read-only: a lock a user finds in a read-only segment and takes
        // writes its page, which must copy rather than fault.
        Mode::ReadOnly | Mode::CopyOnWrite => Access::CopyOnWrite,
    }
}

/// Creates a segment of `size` bytes on the freshly created `dev`.
pub(crate) fn create<D: Device, M: MemoryAlgorithm, I: NameIndex>(
    dev: &D,
    kind: Kind,
    size: usize,
) -> Result<SegmentManager<M, I>> {
    check_size::<M, I>(size)?;
    let region = create_object(dev, segment_layout(kind), size, |region, _| {
        Mem::scoped(region, SegmentManager::<M, I>::format)
    })?;
    // `attach` registers the mapping (base, len, segment id) in the pointer registry; the
    // manager drops the registration before it unmaps.
    SegmentManager::attach(Mem::from_region(region)?, Mode::ReadWrite, &dev.describe())
}

/// Opens the segment on `dev` as `mode`.
pub(crate) fn open<D: Device, M: MemoryAlgorithm, I: NameIndex>(
    dev: &D,
    kind: Kind,
    mode: Mode,
) -> Result<SegmentManager<M, I>> {
    let region = open_object(dev, segment_layout(kind), OpenConfig::default())?;
    attach(dev, region, mode)
}

/// Opens the segment read-only or copy-on-write as a process-local snapshot: a heap copy of its
/// bytes taken at open. For devices that cannot be mapped privately (System V segments attach
/// shared or read-only only, and a read-only attachment would fault on the first lock a found
/// `&Mutex` takes).
pub(crate) fn open_snapshot<D: Device, M: MemoryAlgorithm, I: NameIndex>(
    dev: &D,
    kind: Kind,
    mode: Mode,
) -> Result<SegmentManager<M, I>> {
    debug_assert_ne!(mode, Mode::ReadWrite);
    let region = open_object(dev, segment_layout(kind), OpenConfig::default())?;
    let copy = Mem::heap_snapshot(&region)?;
    drop(region);
    // A copy taken while a writer held the lock carries an odd change sequence that no one
    // will end: this private copy has no writers, so end it here (finds would otherwise wait
    // for it).
    let seq = copy.load(super::layout::C_SEQ);
    if seq & 1 == 1 {
        copy.store(super::layout::C_SEQ, seq.wrapping_add(1));
    }
    SegmentManager::attach(copy, mode, &dev.describe())
}

fn attach<D: Device, M: MemoryAlgorithm, I: NameIndex>(
    dev: &D,
    region: MappedRegion,
    mode: Mode,
) -> Result<SegmentManager<M, I>> {
    let region = if mode == Mode::ReadWrite {
        region
    } else {
        drop(region);
        dev.map_as(access_for(mode))?
    };
    // Registered by `attach` (see `create`).
    SegmentManager::attach(Mem::from_region(region)?, mode, &dev.describe())
}

/// Opens the segment, creating it with `size` bytes if missing (race-free; a segment whose
/// creator died while formatting it is replaced). `open_dev` opens or creates the device and
/// takes the shared `flock`.
pub(crate) fn open_or_create<D: Device, M: MemoryAlgorithm, I: NameIndex>(
    open_dev: impl FnMut() -> Result<D>,
    kind: Kind,
    size: usize,
) -> Result<(SegmentManager<M, I>, D)> {
    check_size::<M, I>(size)?;
    let (dev, region) = open_or_create_object(
        open_dev,
        segment_layout(kind),
        size,
        |region, _| Mem::scoped(region, SegmentManager::<M, I>::format),
        OpenConfig::default(),
    )?;
    let seg = attach(&dev, region, Mode::ReadWrite)?;
    Ok((seg, dev))
}

/// The largest segment: the longest mapping (2^56 bytes, the largest user address space of any
/// 64-bit Linux). A bigger size can never be mapped, so it is an invalid argument, not a
/// shortage of memory.
pub(crate) const MAX_SEGMENT_SIZE: u64 = crate::region::MAX_MAPPING_LEN;

pub(crate) fn check_size<M: MemoryAlgorithm, I: NameIndex>(size: usize) -> Result<()> {
    let min = SegmentManager::<M, I>::min_size();
    if size < min {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("a segment of {size} bytes is too small: at least {min} are needed"),
        ));
    }
    if size as u64 > MAX_SEGMENT_SIZE {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "a segment of {size} bytes is larger than any address space \
                 (at most {MAX_SEGMENT_SIZE} bytes)"
            ),
        ));
    }
    Ok(())
}

/// The size of a segment of `old` bytes grown by `extra` (at least 32, rounded up to 16).
///
/// # Errors
///
/// [`ErrorKind::InvalidArgument`] for `extra == 0` (growing by nothing is a caller's mistake,
/// not a request for the minimum) and for a result above [`MAX_SEGMENT_SIZE`].
pub(crate) fn grown_size(old: usize, extra: usize) -> Result<usize> {
    if extra == 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "growing a segment by 0 bytes: the extra size must be positive",
        ));
    }
    let area = (old - super::layout::AREA) & !15;
    extra
        .max(32)
        .checked_next_multiple_of(16)
        .and_then(|e| (super::layout::AREA + area).checked_add(e))
        .filter(|&new| new as u64 <= MAX_SEGMENT_SIZE)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "growing a segment of {old} bytes by {extra} makes it larger than any \
                     address space (at most {MAX_SEGMENT_SIZE} bytes)"
                ),
            )
        })
}

/// Grows the segment on `dev` (whose exclusive `flock` the caller holds) by `extra` bytes;
/// returns the new size.
pub(crate) fn grow<D: Device, M: MemoryAlgorithm, I: NameIndex>(
    dev: &D,
    kind: Kind,
    extra: usize,
) -> Result<usize> {
    let what = dev.describe();
    let seg = open::<D, M, I>(dev, kind, Mode::ReadWrite)?;
    // Repairs it first if a process died holding its lock.
    seg.atomic(|_| ())?;
    let old = seg.size();
    drop(seg);
    let new = grown_size(old, extra)?;
    dev.set_len(new as u64)?;
    let mem = Mem::from_region(dev.map()?)?;
    drop(SegmentManager::<M, I>::grow_in_place(mem, &what)?);
    Ok(new)
}

/// Shrinks the segment on `dev` (exclusive `flock` held) to its last allocated block; returns
/// the new size.
pub(crate) fn shrink<D: Device, M: MemoryAlgorithm, I: NameIndex>(
    dev: &D,
    kind: Kind,
) -> Result<usize> {
    let seg = open::<D, M, I>(dev, kind, Mode::ReadWrite)?;
    let new = seg.shrink_in_place()?;
    drop(seg);
    dev.set_len(new as u64)?;
    Ok(new)
}

// ----- files --------------------------------------------------------------------------------

/// A segment's file: opened without following a symbolic link, created with `O_EXCL`.
#[derive(Debug)]
pub(crate) struct FileDev {
    pub(crate) file: FileMapping,
    created: bool,
}

impl FileDev {
    pub(crate) fn open(path: &Path, write: bool) -> Result<FileDev> {
        let mode = if write {
            OpenMode::ReadWrite
        } else {
            OpenMode::ReadOnly
        };
        let fd = sys::open_file_nofollow(path, write)?;
        Ok(FileDev {
            file: FileMapping::from_fd(fd, path, mode),
            created: false,
        })
    }

    pub(crate) fn create(path: &Path, permissions: Permissions) -> Result<FileDev> {
        let fd = sys::create_file(path, permissions.mode())?;
        Ok(FileDev {
            file: FileMapping::from_fd(fd, path, OpenMode::ReadWrite),
            created: true,
        })
    }

    /// Opens the file read-write, or creates it (race-free: exactly one process creates).
    pub(crate) fn open_or_create(path: &Path, permissions: Permissions) -> Result<FileDev> {
        for _ in 0..10_000 {
            match FileDev::open(path, true) {
                Ok(d) => return Ok(d),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            match FileDev::create(path, permissions) {
                Ok(d) => return Ok(d),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::Busy,
            format!(
                "{} kept appearing and disappearing during open_or_create",
                path.display()
            ),
        ))
    }

    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }

    pub(crate) fn lock_path(&self) -> PathBuf {
        self.file.path().to_owned()
    }
}

impl Device for FileDev {
    fn describe(&self) -> String {
        self.file.path().display().to_string()
    }

    fn created(&self) -> bool {
        self.created
    }

    fn len(&self) -> Result<u64> {
        self.file.len()
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.file.fd().reserve_len(len)
    }

    fn map(&self) -> Result<MappedRegion> {
        MappedRegion::map(&self.file)
    }

    fn map_as(&self, access: Access) -> Result<MappedRegion> {
        MappedRegion::options().access(access).map(&self.file)
    }

    fn link_count(&self) -> Result<u64> {
        sys::shm_link_count(self.file.fd())
    }

    fn unlink(&self) -> Result<()> {
        FileMapping::remove(self.file.path())
    }
}

// ----- System V -----------------------------------------------------------------------------

/// A segment's System V shared memory.
#[derive(Debug)]
pub(crate) struct XsiDev {
    pub(crate) xsi: XsiSharedMemory,
    pub(crate) key: XsiKey,
}

impl Device for XsiDev {
    fn describe(&self) -> String {
        format!(
            "XSI shared memory key {:#x} (id {})",
            self.key.raw(),
            self.xsi.id()
        )
    }

    fn created(&self) -> bool {
        self.xsi.created()
    }

    fn len(&self) -> Result<u64> {
        self.xsi.len()
    }

    fn set_len(&self, len: u64) -> Result<()> {
        if self.xsi.len()? == len {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Unsupported,
                "an XSI segment's size is fixed when it is created",
            ))
        }
    }

    fn map(&self) -> Result<MappedRegion> {
        MappedRegion::map(&self.xsi)
    }

    fn map_as(&self, access: Access) -> Result<MappedRegion> {
        MappedRegion::options().access(access).map(&self.xsi)
    }

    fn link_count(&self) -> Result<u64> {
        // "Still named": the key still leads to this segment.
        match XsiSharedMemory::open(self.key, OpenMode::ReadOnly) {
            Ok(x) if x.id() == self.xsi.id() => Ok(1),
            Ok(_) => Ok(0),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn unlink(&self) -> Result<()> {
        XsiSharedMemory::remove(self.xsi.id())
    }
}
