//! Memory-mapped files: Boost's `file_mapping`.

use std::path::{Path, PathBuf};

use super::{Mappable, OpenMode, Source, sealed};
use crate::error::Result;
use crate::sys;

/// An existing file opened for mapping with [`MappedRegion`](crate::MappedRegion).
///
/// Never creates the file (as Boost). Changes made through a shared read-write mapping reach the
/// file; [`MappedRegion::flush`](crate::MappedRegion::flush) waits until they are written.
///
/// If another process truncates the file while it is mapped, touching the lost pages raises
/// `SIGBUS` in every process that maps it. This is the nature of file mappings (memmap2 documents
/// the same); only map files your programs own.
///
/// # Examples
///
/// ```
/// use shmkit::{FileMapping, MappedRegion, OpenMode};
///
/// let path = std::env::temp_dir().join(format!("doc-file-mapping-{}", std::process::id()));
/// std::fs::write(&path, b"0123456789")?;
///
/// let file = FileMapping::open(&path, OpenMode::ReadWrite)?;
/// let region = MappedRegion::options().offset(3).len(4).map(&file)?;
/// let mut buf = [0; 4];
/// region.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"3456");
///
/// region.write_at(0, b"ABCD")?;
/// region.flush(0, 0)?;
/// assert_eq!(std::fs::read(&path)?, b"012ABCD789");
/// FileMapping::remove(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FileMapping {
    fd: sys::Fd,
    path: PathBuf,
    mode: OpenMode,
}

impl FileMapping {
    /// Opens the existing regular file at `path` for mapping.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) if it does not exist;
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied) if the mode is refused;
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) if it is not a regular file.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{FileMapping, OpenMode};
    ///
    /// let path = std::env::temp_dir().join(format!("doc-file-open-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// std::fs::write(&path, [0u8; 100]).unwrap();
    /// let file = FileMapping::open(&path, OpenMode::ReadOnly)?;
    /// let region = shmkit::MappedRegion::map(&file)?;
    /// assert_eq!(region.len(), 100);
    /// let missing = FileMapping::open(path.with_extension("missing"), OpenMode::ReadOnly);
    /// assert_eq!(missing.unwrap_err().kind(), shmkit::ErrorKind::NotFound);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>, mode: OpenMode) -> Result<FileMapping> {
        let path = path.as_ref();
        let fd = sys::open_file(path, mode == OpenMode::ReadWrite)?;
        Ok(FileMapping {
            fd,
            path: path.to_owned(),
            mode,
        })
    }

    /// A file mapping over a descriptor opened elsewhere in the crate (the files of managed
    /// segments, opened with `O_NOFOLLOW` or created with `O_EXCL`).
    pub(crate) fn from_fd(fd: sys::Fd, path: &Path, mode: OpenMode) -> FileMapping {
        FileMapping {
            fd,
            path: path.to_owned(),
            mode,
        }
    }

    /// The descriptor, for `flock` and `fstat`.
    pub(crate) fn fd(&self) -> &sys::Fd {
        &self.fd
    }

    /// Deletes the file at `path` (`unlink`); existing mappings keep working.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) if it does not exist, or the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{FileMapping, OpenMode};
    ///
    /// let path = std::env::temp_dir().join(format!("doc-file-remove-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// std::fs::write(&path, [0u8; 100]).unwrap();
    /// FileMapping::remove(&path)?;
    /// assert!(!path.exists());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(path: impl AsRef<Path>) -> Result<()> {
        sys::remove_file(path.as_ref())
    }

    /// The file's current size in bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) if the OS cannot report it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{FileMapping, OpenMode};
    ///
    /// let path = std::env::temp_dir().join(format!("doc-file-len-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// std::fs::write(&path, [0u8; 100]).unwrap();
    /// assert_eq!(FileMapping::open(&path, OpenMode::ReadOnly)?.len()?, 100);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        self.fd.len()
    }

    /// Whether the file is empty (an empty file cannot be mapped).
    ///
    /// # Errors
    ///
    /// As [`len`](FileMapping::len).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{FileMapping, OpenMode};
    ///
    /// let path = std::env::temp_dir().join(format!("doc-file-is-empty-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// std::fs::write(&path, [0u8; 100]).unwrap();
    /// assert!(!FileMapping::open(&path, OpenMode::ReadOnly)?.is_empty()?);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The path the file was opened with.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{FileMapping, OpenMode};
    ///
    /// let path = std::env::temp_dir().join(format!("doc-file-path-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// std::fs::write(&path, [0u8; 100]).unwrap();
    /// assert_eq!(FileMapping::open(&path, OpenMode::ReadOnly)?.path(), path);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mode the file was opened with.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{FileMapping, OpenMode};
    ///
    /// let path = std::env::temp_dir().join(format!("doc-file-mode-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// std::fs::write(&path, [0u8; 100]).unwrap();
    /// let file = FileMapping::open(&path, OpenMode::ReadWrite)?;
    /// assert_eq!(file.mode(), OpenMode::ReadWrite);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn mode(&self) -> OpenMode {
        self.mode
    }
}

impl sealed::Sealed for FileMapping {
    fn source(&self) -> Source<'_> {
        Source::Fd {
            fd: &self.fd,
            mode: self.mode,
            what: format!("file {}", self.path.display()),
        }
    }
}

impl Mappable for FileMapping {}
