//! [`ManagedMappedFile`]: a managed segment in a memory-mapped file.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::path::Path;

use super::index::{HashIndex, NameIndex};
use super::manager::{Mode, SegmentManager};
use super::open::{self, FileDev};
use crate::alloc::{BestFit, MemoryAlgorithm};
use crate::error::{Error, ErrorKind, Result};
use crate::region::{FileMapping, Permissions};
use crate::sync::named::object::Kind;

/// A managed segment in a file: Boost's `managed_mapped_file`. The same segment as
/// [`ManagedSharedMemory`](crate::ManagedSharedMemory), stored in a file, so its objects
/// survive closing and reopening, in this run or a later one (and a reboot, once
/// [`flush`](Self::flush)ed).
///
/// Files are created with `O_CREAT | O_EXCL | O_NOFOLLOW` (a new regular file, never through
/// a symbolic link) and opened with `O_NOFOLLOW`. The file's named-object header carries its
/// own kind, so a segment file copied into `/dev/shm` or the reverse is recognised as such.
/// Open modes, validation, the shared `flock` and the offline [`grow`](Self::grow) and
/// [`shrink_to_fit`](Self::shrink_to_fit) are as for shared memory.
///
/// If another process truncates the file while it is mapped, touching the lost pages raises
/// `SIGBUS` (the nature of file mappings, see [`FileMapping`]); opening a truncated file is an
/// error.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedMappedFile;
///
/// let path = std::env::temp_dir().join(format!("doc-mapped-file-{}", std::process::id()));
/// let _cleanup = shmkit::RemoveOnDrop::file(&path);
/// {
///     let seg: ManagedMappedFile = ManagedMappedFile::create(&path, 1 << 20)?;
///     seg.construct_array("greeting", 5, |i| b"hello"[i])?;
///     seg.flush()?;
/// }
/// let seg: ManagedMappedFile = ManagedMappedFile::open(&path)?;
/// assert_eq!(seg.find_array::<u8>("greeting")?, Some(&b"hello"[..]));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct ManagedMappedFile<M: MemoryAlgorithm = BestFit, I: NameIndex = HashIndex> {
    // Field order: unmap before closing the descriptor (which releases the shared flock).
    seg: SegmentManager<M, I>,
    dev: FileDev,
}

impl<M: MemoryAlgorithm, I: NameIndex> fmt::Debug for ManagedMappedFile<M, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedMappedFile")
            .field("path", &self.dev.path())
            .field("segment", &self.seg)
            .finish()
    }
}

impl ManagedMappedFile {
    /// Deletes the file at `path`; processes that have it open keep using it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`], or the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedMappedFile;
    /// let path = std::env::temp_dir().join(format!("doc-mapped-rm-{}", std::process::id()));
    /// let _seg: ManagedMappedFile = ManagedMappedFile::create(&path, 1 << 16)?;
    /// ManagedMappedFile::remove(&path)?;
    /// assert!(!path.exists());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(path: impl AsRef<Path>) -> Result<()> {
        FileMapping::remove(path)
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> ManagedMappedFile<M, I> {
    fn shared(dev: FileDev) -> Result<FileDev> {
        open::hold_shared(dev.file.fd(), &dev.lock_path())?;
        Ok(dev)
    }

    /// Creates the file `path` holding a segment of `size` bytes (permissions `0o600`);
    /// fails if the path exists (as anything, a symbolic link included).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`]; [`ErrorKind::InvalidArgument`] for a too small size;
    /// [`ErrorKind::OutOfMemory`] if the filesystem is full; the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedMappedFile};
    /// let path = std::env::temp_dir().join(format!("doc-mapped-create-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// let _seg: ManagedMappedFile = ManagedMappedFile::create(&path, 1 << 16)?;
    /// let err = <ManagedMappedFile>::create(&path, 1 << 16).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(path: impl AsRef<Path>, size: usize) -> Result<Self> {
        Self::create_with(path, size, Permissions::default())
    }

    /// [`create`](Self::create) with explicit permissions.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// use shmkit::{ManagedMappedFile, Permissions};
    /// let path = std::env::temp_dir().join(format!("doc-mapped-perm-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// let _seg: ManagedMappedFile =
    ///     ManagedMappedFile::create_with(&path, 1 << 16, Permissions::from_mode(0o640))?;
    /// assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o640);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_with(
        path: impl AsRef<Path>,
        size: usize,
        permissions: Permissions,
    ) -> Result<Self> {
        let path = path.as_ref();
        open::check_size::<M, I>(size)?;
        let dev = FileDev::create(path, permissions)?;
        let dev = Self::shared(dev).inspect_err(|_| {
            let _ = FileMapping::remove(path);
        })?;
        let seg = open::create::<_, M, I>(&dev, Kind::MappedFileSegment, size)?;
        Ok(ManagedMappedFile { seg, dev })
    }

    /// Opens the segment in the existing file `path`, read-write.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`]; [`ErrorKind::InvalidArgument`] if `path` is not a regular file
    /// or is a symbolic link; [`ErrorKind::Incompatible`] for a file that is not a shmkit
    /// segment of this layout, algorithm and index; [`ErrorKind::Corrupted`] for a truncated
    /// one, or one whose creator died formatting it; as
    /// [`ManagedSharedMemory::open`](crate::ManagedSharedMemory::open) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedMappedFile};
    /// let path = std::env::temp_dir().join(format!("doc-mapped-junk-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// std::fs::write(&path, vec![0x5Au8; 8192])?;
    /// let err = <ManagedMappedFile>::open(&path).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Incompatible);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let dev = Self::shared(FileDev::open(path.as_ref(), true)?)?;
        let seg = open::open::<_, M, I>(&dev, Kind::MappedFileSegment, Mode::ReadWrite)?;
        Ok(ManagedMappedFile { seg, dev })
    }

    /// Opens the segment in `path`, or creates the file with a segment of `size` bytes
    /// (race-free; [`created`](Self::created) tells which).
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open), without `NotFound` and
    /// `AlreadyExists`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedMappedFile;
    /// let path = std::env::temp_dir().join(format!("doc-mapped-ooc-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// let a: ManagedMappedFile = ManagedMappedFile::open_or_create(&path, 1 << 16)?;
    /// let b: ManagedMappedFile = ManagedMappedFile::open_or_create(&path, 1 << 16)?;
    /// assert!(a.created() && !b.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(path: impl AsRef<Path>, size: usize) -> Result<Self> {
        Self::open_or_create_with(path, size, Permissions::default())
    }

    /// [`open_or_create`](Self::open_or_create) with the permissions used if it creates.
    ///
    /// # Errors
    ///
    /// As [`open_or_create`](Self::open_or_create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedMappedFile, Permissions};
    /// let path = std::env::temp_dir().join(format!("doc-mapped-oocw-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// let seg: ManagedMappedFile =
    ///     ManagedMappedFile::open_or_create_with(&path, 1 << 16, Permissions::from_mode(0o600))?;
    /// assert!(seg.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create_with(
        path: impl AsRef<Path>,
        size: usize,
        permissions: Permissions,
    ) -> Result<Self> {
        let path = path.as_ref();
        open::check_size::<M, I>(size)?;
        let (seg, dev) = open::open_or_create::<_, M, I>(
            || Self::shared(FileDev::open_or_create(path, permissions)?),
            Kind::MappedFileSegment,
            size,
        )?;
        Ok(ManagedMappedFile { seg, dev })
    }

    /// Opens the segment in `path` read-only (see
    /// [`ManagedSharedMemory::open_read_only`](crate::ManagedSharedMemory::open_read_only)).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedMappedFile;
    /// let path = std::env::temp_dir().join(format!("doc-mapped-ro-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// <ManagedMappedFile>::create(&path, 1 << 16)?.construct("x", 1u8)?;
    /// let ro: ManagedMappedFile = ManagedMappedFile::open_read_only(&path)?;
    /// assert_eq!(ro.find::<u8>("x")?, Some(&1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        let dev = Self::shared(FileDev::open(path.as_ref(), false)?)?;
        let seg = open::open::<_, M, I>(&dev, Kind::MappedFileSegment, Mode::ReadOnly)?;
        Ok(ManagedMappedFile { seg, dev })
    }

    /// Opens the segment in `path` copy-on-write: changes stay in this process and never
    /// reach the file (see
    /// [`ManagedSharedMemory::open_copy_on_write`](crate::ManagedSharedMemory::open_copy_on_write)).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedMappedFile;
    /// let path = std::env::temp_dir().join(format!("doc-mapped-cow-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// drop(<ManagedMappedFile>::create(&path, 1 << 16)?);
    /// let cow: ManagedMappedFile = ManagedMappedFile::open_copy_on_write(&path)?;
    /// cow.construct("scratch", 1u8)?;
    /// drop(cow);
    /// let seg: ManagedMappedFile = ManagedMappedFile::open(&path)?;
    /// assert_eq!(seg.find::<u8>("scratch")?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_copy_on_write(path: impl AsRef<Path>) -> Result<Self> {
        let dev = Self::shared(FileDev::open(path.as_ref(), false)?)?;
        let seg = open::open::<_, M, I>(&dev, Kind::MappedFileSegment, Mode::CopyOnWrite)?;
        Ok(ManagedMappedFile { seg, dev })
    }

    /// Grows the segment in `path` by `extra` bytes, offline (see
    /// [`ManagedSharedMemory::grow`](crate::ManagedSharedMemory::grow)); returns the new size.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Busy`] while any process has the file open as a segment;
    /// [`ErrorKind::OutOfMemory`] if the file system is full; [`ErrorKind::InvalidArgument`] for
    /// `extra == 0` or a size beyond any address space (2^56 bytes); as [`open`](Self::open)
    /// otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedMappedFile;
    /// let path = std::env::temp_dir().join(format!("doc-mapped-grow-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// drop(<ManagedMappedFile>::create(&path, 1 << 16)?);
    /// assert_eq!(<ManagedMappedFile>::grow(&path, 4096)?, (1 << 16) + 4096);
    /// assert_eq!(std::fs::metadata(&path)?.len(), (1 << 16) + 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn grow(path: impl AsRef<Path>, extra: usize) -> Result<usize> {
        let dev = FileDev::open(path.as_ref(), true)?;
        open::try_exclusive(dev.file.fd(), &dev.lock_path())?;
        open::grow::<_, M, I>(&dev, Kind::MappedFileSegment, extra)
    }

    /// Shrinks the segment in `path` to end after its last allocated block, offline; returns
    /// the new size (and file length).
    ///
    /// # Errors
    ///
    /// As [`grow`](Self::grow).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedMappedFile;
    /// let path = std::env::temp_dir().join(format!("doc-mapped-shrink-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// drop(<ManagedMappedFile>::create(&path, 1 << 20)?);
    /// let size = <ManagedMappedFile>::shrink_to_fit(&path)?;
    /// assert_eq!(std::fs::metadata(&path)?.len(), size as u64);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shrink_to_fit(path: impl AsRef<Path>) -> Result<usize> {
        let dev = FileDev::open(path.as_ref(), true)?;
        open::try_exclusive(dev.file.fd(), &dev.lock_path())?;
        open::shrink::<_, M, I>(&dev, Kind::MappedFileSegment)
    }

    /// Writes the segment's modified pages to the file and waits for the write to finish
    /// (`msync`). Without it, the data reaches the file anyway (the page cache is shared), but a
    /// crash of the machine may lose it.
    ///
    /// # Errors
    ///
    /// The OS error; [`ErrorKind::Unsupported`] for a copy-on-write or read-only handle (their
    /// changes never reach the file).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedMappedFile;
    /// let path = std::env::temp_dir().join(format!("doc-mapped-flush-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// let seg: ManagedMappedFile = ManagedMappedFile::create(&path, 1 << 16)?;
    /// seg.construct("x", 1u64)?;
    /// seg.flush()?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn flush(&self) -> Result<()> {
        match self.seg.mem().region() {
            Some(r) if !r.access().is_private() => r.flush(0, 0),
            _ => Err(Error::new(
                ErrorKind::Unsupported,
                "a private (read-only or copy-on-write) view never reaches the file",
            )),
        }
    }

    /// The file's path.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedMappedFile;
    /// let path = std::env::temp_dir().join(format!("doc-mapped-path-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// let seg: ManagedMappedFile = ManagedMappedFile::create(&path, 1 << 16)?;
    /// assert_eq!(seg.path(), path);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        self.dev.path()
    }

    /// Whether this handle created the file.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedMappedFile;
    /// let path = std::env::temp_dir().join(format!("doc-mapped-created-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// let seg: ManagedMappedFile = ManagedMappedFile::create(&path, 1 << 16)?;
    /// assert!(seg.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        use crate::sync::named::object::Device;
        self.dev.created()
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> Deref for ManagedMappedFile<M, I> {
    type Target = SegmentManager<M, I>;

    fn deref(&self) -> &SegmentManager<M, I> {
        &self.seg
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> DerefMut for ManagedMappedFile<M, I> {
    fn deref_mut(&mut self) -> &mut SegmentManager<M, I> {
        &mut self.seg
    }
}
