//! Reading the filesystem for [`crate::inspect`]: directory listings, `lstat(2)`/`stat(2)`/
//! `fstat(2)`, `readlink(2)`, `pread(2)`, whole `/proc` files, and a read-only, non-blocking
//! open of a `/dev/shm` entry. Nothing here writes.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::{Fd, os_err, retry};
use crate::error::{Error, ErrorKind, Result};

/// Where Linux keeps POSIX shared memory objects: `shm_open("/n")` is `/dev/shm/n`.
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// The file behind the shared memory object `name` (not validated here; a `/dev/shm` entry
/// need not be UTF-8).
pub(crate) fn shm_path(name: impl AsRef<std::ffi::OsStr>) -> PathBuf {
    Path::new(SHM_DIR).join(name.as_ref())
}

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileType {
    /// A regular file: what every shared memory object is.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link (only `lstat` reports these).
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

/// A file's identity: the device (as `/proc/<pid>/maps` prints it) and the inode number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    pub(crate) dev_major: u32,
    pub(crate) dev_minor: u32,
    pub(crate) ino: u64,
}

/// What `stat(2)` says about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStat {
    pub(crate) id: FileId,
    pub(crate) file_type: FileType,
    pub(crate) size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub(crate) mode: u32,
    pub(crate) uid: u32,
}

fn file_type_of(mode: u32) -> FileType {
    match rustix::fs::FileType::from_raw_mode(mode) {
        rustix::fs::FileType::RegularFile => FileType::Regular,
        rustix::fs::FileType::Directory => FileType::Directory,
        rustix::fs::FileType::Symlink => FileType::Symlink,
        _ => FileType::Other,
    }
}

fn from_metadata(m: &std::fs::Metadata) -> FileStat {
    let dev = m.dev();
    FileStat {
        id: FileId {
            dev_major: rustix::fs::major(dev),
            dev_minor: rustix::fs::minor(dev),
            ino: m.ino(),
        },
        file_type: file_type_of(m.mode()),
        size: m.size(),
        mode: m.mode() & 0o7777,
        uid: m.uid(),
    }
}

fn io_err(e: io::Error, what: impl std::fmt::Display) -> Error {
    Error::from_io(e, what.to_string())
}

/// The names in directory `path` (`getdents64(2)` through `std::fs::read_dir`), without `.`
/// and `..`, in no particular order.
pub(crate) fn list_dir(path: &Path) -> Result<Vec<OsString>> {
    let what = || format!("list {}", path.display());
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| io_err(e, what()))? {
        match entry {
            Ok(entry) => names.push(entry.file_name()),
            // An entry that vanished while listing (a process exiting in /proc): skip it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e, what())),
        }
    }
    Ok(names)
}

/// `lstat(2)`: does not follow a final symbolic link.
pub(crate) fn lstat(path: &Path) -> Result<FileStat> {
    std::fs::symlink_metadata(path)
        .map(|m| from_metadata(&m))
        .map_err(|e| io_err(e, format_args!("lstat {}", path.display())))
}

/// `stat(2)`: follows symbolic links (for `/proc/<pid>/fd/<n>`, the open file itself).
pub(crate) fn stat(path: &Path) -> Result<FileStat> {
    std::fs::metadata(path)
        .map(|m| from_metadata(&m))
        .map_err(|e| io_err(e, format_args!("stat {}", path.display())))
}

/// `fstat(2)`.
pub(crate) fn fstat(fd: &Fd) -> Result<FileStat> {
    let st = rustix::fs::fstat(fd.borrow()).map_err(|e| os_err(e, "fstat"))?;
    // `st_dev`, `st_ino` and `st_mode` widths differ between architectures.
    #[allow(clippy::unnecessary_cast)]
    let (dev, ino, mode) = (st.st_dev as u64, st.st_ino as u64, st.st_mode as u32);
    Ok(FileStat {
        id: FileId {
            dev_major: rustix::fs::major(dev),
            dev_minor: rustix::fs::minor(dev),
            ino,
        },
        file_type: file_type_of(mode),
        size: st.st_size.max(0) as u64,
        mode: mode & 0o7777,
        uid: st.st_uid,
    })
}

/// `readlink(2)`.
pub(crate) fn read_link(path: &Path) -> Result<OsString> {
    std::fs::read_link(path)
        .map(PathBuf::into_os_string)
        .map_err(|e| io_err(e, format_args!("readlink {}", path.display())))
}

/// The whole content of a (small) file, such as `/proc/<pid>/maps`, whose size `stat` does not
/// tell: `open(2)` and `read(2)` to the end.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io_err(e, format_args!("read {}", path.display())))
}

/// `pread(2)` from `offset` until `buf` is full or the file ends; returns how many bytes were
/// read. Reading never faults, whatever another process does to the file meanwhile (a mapping
/// would `SIGBUS` past a new, shorter end).
pub(crate) fn read_at(fd: &Fd, offset: u64, buf: &mut [u8]) -> Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let at = offset + done as u64;
        match retry(|| rustix::io::pread(fd.borrow(), &mut buf[done..], at)) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) => return Err(os_err(e, format_args!("pread at offset {at}"))),
        }
    }
    Ok(done)
}

/// Opens the shared memory object `name` (its file in `/dev/shm`) for reading only, without
/// following a symbolic link (as glibc's `shm_open`), without blocking (a FIFO would otherwise
/// wait for a writer) and without becoming a controlling terminal; refuses anything but a
/// regular file. For inspection: the descriptor cannot write.
pub(crate) fn open_shm_for_reading(file: &std::ffi::OsStr) -> Result<Fd> {
    let path = shm_path(file);
    let name = file.to_string_lossy();
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match retry(|| rustix::fs::open(&path, flags | OFlags::NOCTTY, Mode::empty())) {
        Ok(fd) => Fd::new(fd),
        Err(Errno::LOOP) => {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{} is a symbolic link, not a shared memory object",
                    path.display()
                ),
            ));
        }
        Err(e) => return Err(os_err(e, format_args!("open shared memory `{name}`"))),
    };
    if fstat(&fd)?.file_type != FileType::Regular {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{} is not a shared memory object (not a regular file)",
                path.display()
            ),
        ));
    }
    Ok(fd)
}
